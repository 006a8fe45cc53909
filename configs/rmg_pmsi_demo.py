"""The embedded demo with RMG-PMSI: a narrow MobileNetV2 and heads on the synthetic set.

No download; the demo table of docs/benchmarks.md has its figures and command.

  python main.py --config configs/rmg_pmsi_demo.py --workdir runs/rmg_demo
"""

import ml_collections

from configs import demo


def get_config():
  config = demo.get_config()  # the synthetic set at 64 px, batch 32
  config.model = 'rmg_pmsi_mobilenetv2'
  # Four forward and backward passes per batch: to fit in minutes on 2 cores the demo uses
  # torchvision's stem stride 2 (taps at 8, 4, 2 px) and narrow layers everywhere.
  config.model_overrides = ml_collections.ConfigDict({
      'stem_stride': 2, 'width_multiplier': 0.35, 'smooth_inner_features': 32,
      'features': 64, 'classifier_features': 32})
  config.pretrained = None
  # The CNL demo's earlier crops, which the RMG-PMSI and PMG demo figures were measured with.
  config.data.crop_min_area = 0.35
  config.data.crop_max_area = 1.25
  config.num_epochs = 16
  config.learning_rate = 0.05
  config.method.backbone_learning_rate_factor = 1.0  # no pretrained backbone to protect
  config.method.freeze_backbone_epochs = 0
  config.weight_decay = 5e-4
  config.schedule = 'cosine'
  config.cosine_steps = 0  # over the real run
  config.warmup_epochs = 1
  config.warmup_start_lr = 0.005
  return config
