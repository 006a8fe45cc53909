"""The TASN demo: narrow TASN on the embedded synthetic set, on any CPU in a few minutes.

python main.py --config configs/tasn_demo.py --workdir runs/tasn_demo
"""

from configs import demo


def get_config():
  config = demo.get_config()
  config.model = 'tasn_resnet50'
  config.model_overrides = dict(sample_size=48, attention_width=8, part_depth=18,
                                part_width=16)
  return config
