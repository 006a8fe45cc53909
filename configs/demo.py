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
  config.image_size = 64
  config.eval_resize = 73  # the paper's 512 / 448 ratio
  config.batch_size = 32
  config.eval_batch_size = 64
  config.num_epochs = 30
  config.learning_rate = 0.1
  config.warmup_epochs = 2
  config.warmup_start_lr = 0.01
  config.decay_epochs = (20, 26)
  config.log_every_steps = 10
  return config
