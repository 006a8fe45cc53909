"""The embedded demo with RMG-PMSI: a narrow MobileNetV2 and heads on the synthetic set.

No download. Measured once on the project's 2-core CPU machine while two other training
runs shared the cores: 6 min 48 s wall for 6 epochs (372 batches, 4 updates each), test
top-1 of 'mix' (the reported head) 22.0% (top-5 73.0%); concat head 24.4%, stage 1 17.6%,
stage 2 14.8%, stage 3 15.0% (chance 5%). Far below the CNL demo: from scratch at 32 px the
mosaics of depth 3 are 4 px cells, and each batch costs four passes.

  time python main.py --config configs/rmg_pmsi_demo.py --workdir /tmp/rmg_demo
"""

import ml_collections

from configs import demo


def get_config():
  config = demo.get_config()  # the synthetic set, batch 32
  config.model = 'rmg_pmsi_mobilenetv2'
  # Four forward and backward passes per batch, and XLA's CPU depthwise convolutions are
  # slow: the demo trains at 32 px with torchvision's stem stride 2 (taps at 4, 2, 1 px) and
  # narrow layers everywhere, to fit in minutes on 2 cores.
  config.image_size = 32
  config.eval_resize = 37
  config.model_overrides = ml_collections.ConfigDict({
      'stem_stride': 2, 'width_multiplier': 0.35, 'smooth_inner_features': 32,
      'features': 64, 'classifier_features': 32})
  config.pretrained = None
  config.mosaic_mode = 'released'
  config.num_epochs = 6
  config.learning_rate = 0.05
  config.backbone_learning_rate_factor = 1.0  # no pretrained backbone to protect
  config.freeze_backbone_epochs = 0
  config.weight_decay = 5e-4
  config.schedule = 'cosine'
  config.cosine_steps = 0  # over the real run
  config.warmup_epochs = 1
  config.warmup_start_lr = 0.005
  return config
