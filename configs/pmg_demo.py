"""The embedded demo with PMG: a narrow ResNet-18 trunk and PMG's heads on the synthetic set,
with the RMG-PMSI demo's schedule (configs/rmg_pmsi_demo.py: four updates per batch too).

No download; the demo table of docs/benchmarks.md has its figures and command.

  python main.py --config configs/pmg_demo.py --workdir runs/pmg_demo
"""

import ml_collections

from configs import rmg_pmsi_demo


def get_config():
  config = rmg_pmsi_demo.get_config()  # the synthetic set at 64 px, 16 epochs of a cosine
  config.model = 'pmg_resnet50'
  config.method.backbone_learning_rate_factor = 1.0  # no pretrained trunk to protect
  # To fit in minutes on 2 cores: a width-16 ResNet-18 trunk and narrow heads.
  config.model_overrides = ml_collections.ConfigDict({
      'depth': 18, 'width': 16, 'feature_size': 32})
  return config
