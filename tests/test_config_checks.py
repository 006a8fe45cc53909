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
])
def test_bad_value_is_refused(field, value, message):
  config = default.get_config()
  config[field] = value
  with pytest.raises(ConfigError, match=message):
    check_config(config, device_count=4, process_count=1)


def test_default_config_passes():
  check_config(default.get_config(), device_count=4, process_count=2)
