"""Checks of a training config that run before anything is built or compiled."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import ml_collections

from cnl_jax.errors import ConfigError
from cnl_jax.methods import build_method
from cnl_jax.training.eval_views import views_of
from cnl_jax.training.optimizer import OPTIMIZERS

DTYPES = ('float32', 'bfloat16')
WARMUP_UNITS = ('epoch', 'step')
SCHEDULES = ('step', 'cosine')
COSINE_UNITS = ('step', 'epoch')


def check_config(config: ml_collections.ConfigDict, device_count: int,
                 process_count: int) -> None:
  """Raises ConfigError for the first bad value: the generic fields, then the method's
  options (`Method.check`), then whether the model takes `image_size` (traced, not run)."""
  def require(ok: bool, message: str) -> None:
    if not ok:
      raise ConfigError(message)

  for field in ('batch_size', 'eval_batch_size'):
    value = config[field]
    require(isinstance(value, int) and value > 0,
            f'config.{field}={value!r} must be a positive integer.')
    require(value % device_count == 0,
            f'config.{field}={value} is not divisible by the {device_count} devices; '
            f'use a multiple of {device_count}.')
    require(value % process_count == 0,
            f'config.{field}={value} is not divisible by the {process_count} processes.')
  accum = config.grad_accum_steps
  require(isinstance(accum, int) and accum > 0,
          f'config.grad_accum_steps={accum!r} must be a positive integer.')
  require(config.batch_size % accum == 0,
          f'config.batch_size={config.batch_size} is not divisible by config.grad_accum_steps='
          f'{accum}; use a batch_size that is a multiple of it.')
  require(config.batch_size // accum % device_count == 0,
          f'config.batch_size / grad_accum_steps = {config.batch_size // accum} examples a '
          f'micro-batch are not divisible by the {device_count} devices; use a batch_size '
          f'that is a multiple of {accum * device_count}.')
  views_of(config.eval_tta, 'eval_tta')
  views_of(config.epoch_eval_tta, 'epoch_eval_tta')
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
  require(config.cosine_per in COSINE_UNITS,
          f'config.cosine_per={config.cosine_per!r} must be one of {COSINE_UNITS}.')
  require(isinstance(config.warmup_steps, int) and config.warmup_steps >= 0,
          f'config.warmup_steps={config.warmup_steps!r} must be 0 (off) or a positive number '
          'of batch steps.')
  require(not (config.warmup_steps and config.warmup_epochs),
          f'config.warmup_steps={config.warmup_steps} and config.warmup_epochs='
          f'{config.warmup_epochs} both set a warmup; set one of them to 0.')
  require(not (config.cosine_after_warmup and config.cosine_steps
               and config.cosine_steps <= config.warmup_steps),
          f'config.cosine_steps={config.cosine_steps} must exceed config.warmup_steps='
          f'{config.warmup_steps} for a cosine after the warmup.')
  require(config.eval_resize >= config.image_size,
          f'config.eval_resize={config.eval_resize} must be at least config.image_size='
          f'{config.image_size} (eval resizes the short side, then crops the center).')
  require(config.optimizer in OPTIMIZERS,
          f'config.optimizer={config.optimizer!r} must be one of {OPTIMIZERS}.')
  require(config.grad_clip_norm >= 0,
          f'config.grad_clip_norm={config.grad_clip_norm} must be 0 (no clipping) or positive.')
  require(config.dtype in DTYPES, f'config.dtype={config.dtype!r} must be one of {DTYPES}.')
  require(config.keep_checkpoints >= 1,
          f'config.keep_checkpoints={config.keep_checkpoints} must be at least 1.')
  method = build_method(config, num_classes=2)
  method.check(config)
  images = jax.ShapeDtypeStruct((1, config.image_size, config.image_size, 3), jnp.float32)
  try:
    jax.eval_shape(method.init, jax.random.key(0), images)
  except ValueError as error:
    raise ConfigError(f'config.image_size={config.image_size} does not fit '
                      f'config.model={config.model!r}: {error}') from error
