"""The TASN demo: a narrow TASN on the embedded synthetic set (configs/demo.py's data and
schedule), on any CPU in a few minutes.

python main.py --config configs/tasn_demo.py --workdir runs/tasn_demo

Sampled images of 48 px from the 64 px inputs, and the attention net's input 48 px (224 as
released); the part/master net is a width-16 ResNet-18 (the demo table of docs/benchmarks.md
has the figures, and why not a narrow ResNet-50).
"""

from configs import demo


def get_config():
  config = demo.get_config()
  config.model = 'tasn_resnet50'
  config.model_overrides = dict(sample_size=48, attention_size=48, attention_width=8,
                                part_depth=18, part_width=16)
  # The CNL demo's earlier recipe, which the TASN demo figure was measured with.
  config.num_epochs = 18
  config.decay_epochs = (12, 16)
  config.data.crop_min_area = 0.35
  config.data.crop_max_area = 1.25
  return config
