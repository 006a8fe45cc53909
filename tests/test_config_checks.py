"""Bad config values are refused before anything is built, each with its own message."""

import pytest

from cnl_jax.training import ConfigError, check_config
from configs import default


@pytest.mark.parametrize('field,value,message', [
    ('model', 'resnet51', 'config.model=.resnet51. is unknown; valid models: .*resnet50_5cnl'),
    ('batch_size', 30, 'not divisible by the 4 devices'),
    ('eval_batch_size', 0, 'must be a positive integer'),
    ('learning_rate', 0.0, 'learning_rate=0.0 must be positive'),
    ('num_epochs', 0, 'num_epochs=0 must be a positive integer'),
    ('image_size', 16, 'image_size=16 is too small'),
    ('eval_resize', 400, 'eval_resize=400 must be at least'),
    ('dtype', 'float16', "dtype='float16' must be one of"),
    ('warmup_per', 'batch', "warmup_per='batch' must be one of"),
    ('mosaic_mode', 'per_batch', "mosaic_mode='per_batch' must be one of"),
])
def test_bad_value_is_refused(field, value, message):
  config = default.get_config()
  config[field] = value
  with pytest.raises(ConfigError, match=message):
    check_config(config, device_count=4, process_count=1)


def test_default_config_passes():
  check_config(default.get_config(), device_count=4, process_count=2)


@pytest.mark.parametrize('field,value,message', [
    ('schedule', 'linear', "schedule='linear' must be one of"),
    ('cosine_steps', -1, 'cosine_steps=-1 must be 0'),
    ('freeze_backbone_epochs', 200, 'freeze_backbone_epochs=200 must be an integer in'),
    ('backbone_learning_rate_factor', 0.0, 'backbone_learning_rate_factor=0.0 must be positive'),
])
def test_bad_schedule_and_group_values_are_refused(field, value, message):
  config = default.get_config()
  config[field] = value
  with pytest.raises(ConfigError, match=message):
    check_config(config, device_count=1, process_count=1)


@pytest.mark.parametrize('field,value', [('backbone_learning_rate_factor', 0.1),
                                         ('freeze_backbone_epochs', 5)])
def test_backbone_group_needs_a_model_with_a_separate_backbone(field, value):
  config = default.get_config()
  config[field] = value
  with pytest.raises(ConfigError, match="'resnet50_5cnl' has no separate pretrained backbone"):
    check_config(config, device_count=1, process_count=1)
