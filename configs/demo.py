"""The embedded demo: a small CNL model on the synthetic fine-grained set, on any CPU.

No download: the data are generated from a seed on first use. Runs in a few minutes on
2 CPU cores (README states the figures and the command).
"""

from configs import default


def get_config():
  config = default.get_config()
  config.model = 'resnet18_2cnl'
  config.model_overrides.width = 16
  config.model_overrides.cnl_inner_features = 32
  config.pretrained = None
  config.data.name = 'synthetic'
  config.data.synthetic_train_per_class = 100  # 2,000 train and 500 test images of 64 px
  config.data.synthetic_test_per_class = 25
  config.data.crop_min_area = 0.35  # crops of 8% of a 64 px image would miss the details
  config.image_size = 64
  config.eval_resize = 73  # the paper's 512 / 448 ratio
  config.batch_size = 32
  config.eval_batch_size = 64
  config.num_epochs = 18
  config.learning_rate = 0.05
  config.warmup_epochs = 2
  config.warmup_start_lr = 0.005
  config.decay_epochs = (12, 16)
  config.log_every_steps = 10
  return config
