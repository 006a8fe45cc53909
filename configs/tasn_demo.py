"""The TASN demo: a narrow TASN on the embedded synthetic set (configs/demo.py's data and
schedule), on any CPU in a few minutes.

python main.py --config configs/tasn_demo.py --workdir runs/tasn_demo

Sampled images of 48 px from the 64 px inputs; the part/master net is a width-16 ResNet-18
(a width-8 ResNet-50 on 32 px samples reached only 22% in 3.6 min). On 2 shared CPU cores:
7 min 43 s wall, final test top-1 85.0% (master_shared, the reported head).
"""

from configs import demo


def get_config():
  config = demo.get_config()
  config.model = 'tasn_resnet50'
  config.model_overrides = dict(sample_size=48, attention_width=8, part_depth=18,
                                part_width=16)
  return config
