"""Checks of a training config that run before anything is built or compiled."""

from __future__ import annotations

import ml_collections

from cnl_jax.models import MODELS, create_model
from cnl_jax.models.resnet import TOTAL_STRIDE
from cnl_jax.training.mosaics import MODES as MOSAIC_MODES
from cnl_jax.training.optimizer import backbone_subtrees

DTYPES = ('float32', 'bfloat16')
WARMUP_UNITS = ('epoch', 'step')
SCHEDULES = ('step', 'cosine')


class ConfigError(ValueError):
  """A config value that cannot work; the message names the field and what to set."""


def check_config(config: ml_collections.ConfigDict, device_count: int,
                 process_count: int) -> None:
  """Raises ConfigError for the first bad value."""
  def require(ok: bool, message: str) -> None:
    if not ok:
      raise ConfigError(message)

  require(config.model in MODELS,
          f'config.model={config.model!r} is unknown; valid models: {", ".join(sorted(MODELS))}.')
  for field in ('batch_size', 'eval_batch_size'):
    value = config[field]
    require(isinstance(value, int) and value > 0,
            f'config.{field}={value!r} must be a positive integer.')
    require(value % device_count == 0,
            f'config.{field}={value} is not divisible by the {device_count} devices; '
            f'use a multiple of {device_count}.')
    require(value % process_count == 0,
            f'config.{field}={value} is not divisible by the {process_count} processes.')
  require(config.learning_rate > 0,
          f'config.learning_rate={config.learning_rate} must be positive.')
  require(config.warmup_start_lr > 0,
          f'config.warmup_start_lr={config.warmup_start_lr} must be positive.')
  require(isinstance(config.num_epochs, int) and config.num_epochs > 0,
          f'config.num_epochs={config.num_epochs!r} must be a positive integer.')
  require(0 <= config.warmup_epochs <= config.num_epochs,
          f'config.warmup_epochs={config.warmup_epochs} must lie in [0, num_epochs].')
  require(config.warmup_per in WARMUP_UNITS,
          f'config.warmup_per={config.warmup_per!r} must be one of {WARMUP_UNITS}.')
  require(config.schedule in SCHEDULES,
          f'config.schedule={config.schedule!r} must be one of {SCHEDULES}.')
  require(isinstance(config.cosine_steps, int) and config.cosine_steps >= 0,
          f'config.cosine_steps={config.cosine_steps!r} must be 0 (the whole run) or a '
          'positive number of batch steps.')
  require(isinstance(config.freeze_backbone_epochs, int)
          and 0 <= config.freeze_backbone_epochs <= config.num_epochs,
          f'config.freeze_backbone_epochs={config.freeze_backbone_epochs!r} must be an '
          'integer in [0, num_epochs].')
  require(config.backbone_learning_rate_factor > 0,
          f'config.backbone_learning_rate_factor={config.backbone_learning_rate_factor} '
          'must be positive.')
  if (config.backbone_learning_rate_factor != 1 or config.freeze_backbone_epochs) and not (
      backbone_subtrees(create_model(config.model, 1, **config.model_overrides))):
    raise ConfigError(
        f'config.model={config.model!r} has no separate pretrained backbone, so '
        'config.backbone_learning_rate_factor must be 1 and config.freeze_backbone_epochs 0.')
  require(config.mosaic_mode in MOSAIC_MODES,
          f'config.mosaic_mode={config.mosaic_mode!r} must be one of {MOSAIC_MODES}.')
  require(config.image_size >= TOTAL_STRIDE,
          f'config.image_size={config.image_size} is too small: the model needs at least '
          f'{TOTAL_STRIDE} px.')
  require(config.eval_resize >= config.image_size,
          f'config.eval_resize={config.eval_resize} must be at least config.image_size='
          f'{config.image_size} (eval resizes the short side, then crops the center).')
  require(config.dtype in DTYPES, f'config.dtype={config.dtype!r} must be one of {DTYPES}.')
  require(config.keep_checkpoints >= 1,
          f'config.keep_checkpoints={config.keep_checkpoints} must be at least 1.')
