"""Bad config values are refused before anything is built, each with its own message."""

import importlib
import pathlib

import ml_collections
import pytest

from cnl_jax import data
from cnl_jax.errors import ConfigError
from cnl_jax.training import check_config
from configs import default, rmg_pmsi_demo


@pytest.mark.parametrize('field,value,message', [
    ('model', 'resnet51', "Unknown model 'resnet51'; did you mean 'resnet50'.*valid models: "
     '.*resnet50_5cnl'),
    ('batch_size', 30, 'not divisible by the 4 devices'),
    ('eval_batch_size', 0, 'must be a positive integer'),
    ('learning_rate', 0.0, 'learning_rate=0.0 must be positive'),
    ('num_epochs', 0, 'num_epochs=0 must be a positive integer'),
    ('image_size', 16, 'image_size=16 does not fit .*must be at least 32'),
    ('eval_resize', 400, 'eval_resize=400 must be at least'),
    ('dtype', 'float16', "dtype='float16' must be one of"),
    ('warmup_per', 'batch', "warmup_per='batch' must be one of"),
    ('schedule', 'linear', "schedule='linear' must be one of"),
    ('cosine_steps', -1, 'cosine_steps=-1 must be 0'),
    ('cosine_per', 'batch', "cosine_per='batch' must be one of"),
    ('warmup_steps', -1, 'warmup_steps=-1 must be 0'),
    ('warmup_steps', 100, 'warmup_steps=100 and config.warmup_epochs=10 both set a warmup'),
    ('eval_tta', 'ten_crop', "eval_tta='ten_crop' must be one of"),
    ('epoch_eval_tta', 'mirror', "epoch_eval_tta='mirror' must be one of"),
    ('grad_accum_steps', 0, 'grad_accum_steps=0 must be a positive integer'),
    ('grad_accum_steps', 3, 'batch_size=32 is not divisible by config.grad_accum_steps=3'),
    ('grad_accum_steps', 16, '2 examples a micro-batch are not divisible by the 4 devices'),
])
def test_bad_value_is_refused(field, value, message):
  config = default.get_config()
  config[field] = value
  with pytest.raises(ConfigError, match=message):
    check_config(config, device_count=4, process_count=1)


def test_default_config_passes():
  check_config(default.get_config(), device_count=4, process_count=2)


CONFIGS = sorted(path.stem for path in (pathlib.Path(__file__).parents[1] / 'configs').glob(
    '*.py') if path.stem != '__init__')


@pytest.mark.parametrize('name', CONFIGS)
def test_every_shipped_config_passes(name):
  config = importlib.import_module(f'configs.{name}').get_config()
  check_config(config, device_count=1, process_count=1)
  data.augmentation(config.data)


@pytest.mark.parametrize('field,value,message', [
    ('label_smoothing', 1.0, r'label_smoothing=1.0 must lie in \[0, 1\)'),
])
def test_bad_classification_option_is_refused(field, value, message):
  config = default.get_config()
  config.method[field] = value
  with pytest.raises(ConfigError, match=message):
    check_config(config, device_count=1, process_count=1)


@pytest.mark.parametrize('field,value,message', [
    ('freeze_backbone_epochs', 200, 'freeze_backbone_epochs=200 must be an integer in'),
    ('backbone_learning_rate_factor', 0.0, 'backbone_learning_rate_factor=0.0 must be positive'),
    ('mosaic_mode', 'per_batch', "mosaic_mode='per_batch' must be one of"),
])
def test_bad_progressive_option_is_refused(field, value, message):
  config = rmg_pmsi_demo.get_config()
  config.method[field] = value
  with pytest.raises(ConfigError, match=message):
    check_config(config, device_count=1, process_count=1)


def test_an_image_size_the_mosaics_cannot_cut_is_refused():
  config = rmg_pmsi_demo.get_config()
  config.image_size = config.eval_resize = 68
  with pytest.raises(ConfigError, match='image_size=68 cannot be cut into the 8 x 8 mosaic'):
    check_config(config, device_count=1, process_count=1)


def test_a_config_that_sets_no_method_option_trains_any_preset():
  """The options come from the method of whatever model the config names."""
  config = default.get_config()
  config.model, config.model_overrides = 'tasn_resnet50', ml_collections.ConfigDict()
  config.image_size = config.eval_resize = 64
  check_config(config, device_count=1, process_count=1)
  config.method.distillation_temperature = 0.0
  with pytest.raises(ConfigError, match='distillation_temperature=0.0 must be positive'):
    check_config(config, device_count=1, process_count=1)


@pytest.mark.parametrize('model,option', [
    ('resnet18', 'backbone_learning_rate_factor'),  # set by the config, another method's
    ('rmg_pmsi_mobilenetv2', 'mosaic_mod'),          # misspelt
])
def test_an_option_the_method_lacks_is_named_with_the_valid_ones(model, option):
  config = rmg_pmsi_demo.get_config()
  config.model, config.model_overrides = model, ml_collections.ConfigDict()
  config.method[option] = 1.0
  with pytest.raises(ConfigError, match=rf'^config.method.{option} is not an option of method '
                     rf".*config.model='{model}'; its options: .*(label_smoothing|mosaic_mode)"):
    check_config(config, device_count=1, process_count=1)


def test_an_option_of_the_wrong_type_is_refused():
  config = default.get_config()
  config.method.label_smoothing = 'high'
  with pytest.raises(ConfigError, match="config.method.label_smoothing='high' has the wrong "
                     'type'):
    check_config(config, device_count=1, process_count=1)


def test_an_override_the_model_lacks_is_refused():
  config = default.get_config()
  config.model_overrides.widht = 16
  with pytest.raises(ConfigError, match="model_overrides=.*does not fit.*'widht'"):
    check_config(config, device_count=1, process_count=1)
