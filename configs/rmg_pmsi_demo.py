"""The embedded demo with RMG-PMSI: a narrow MobileNetV2 and heads on the synthetic set.

No download; trains in a few minutes on 2 CPU cores (the figures and the command are in
the README):

  python main.py --config configs/rmg_pmsi_demo.py --workdir /tmp/rmg_demo
"""

import ml_collections

from configs import demo


def get_config():
  config = demo.get_config()  # the synthetic set at 64 px, batch 32
  config.model = 'rmg_pmsi_mobilenetv2'
  # stem stride 1 as released: taps at 16, 8, 4 px of the 64 px images. Narrow everything.
  config.model_overrides = ml_collections.ConfigDict({
      'stem_stride': 1, 'width_multiplier': 0.35, 'smooth_inner_features': 32,
      'features': 64, 'classifier_features': 32})
  config.pretrained = None
  config.mosaic_mode = 'released'
  config.num_epochs = 12
  config.learning_rate = 0.05
  config.backbone_learning_rate_factor = 1.0  # no pretrained backbone to protect
  config.freeze_backbone_epochs = 0
  config.weight_decay = 5e-4
  config.schedule = 'cosine'
  config.cosine_steps = 0  # over the real run
  config.warmup_epochs = 1
  config.warmup_start_lr = 0.005
  return config
