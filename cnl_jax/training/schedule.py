"""The learning-rate schedule of the released recipe: warmup, then step decay."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import ml_collections


def create_learning_rate_fn(config: ml_collections.ConfigDict, steps_per_epoch: int
                            ) -> Callable[[jnp.ndarray], jnp.ndarray]:
  """Maps a batch step to its learning rate.

  Warmup runs linearly from `warmup_start_lr` to `learning_rate` over `warmup_epochs`:
  per epoch as the released code does (`numpy.linspace(start, peak, warmup_epochs)[epoch]`,
  so the last warmup epoch already uses the peak), or per step when `warmup_per == 'step'`.
  Afterwards the rate is `learning_rate * decay_factor ** (number of decay_epochs <= epoch)`.
  Epochs are 0-based, as in the released training loop.
  """
  peak, start = config.learning_rate, config.warmup_start_lr
  warmup_epochs = config.warmup_epochs
  boundaries = jnp.asarray(sorted(config.decay_epochs), jnp.int32).reshape(-1)

  def learning_rate(step):
    epoch = step // steps_per_epoch
    if config.warmup_per == 'epoch':
      progress = epoch / max(warmup_epochs - 1, 1)
    else:
      progress = step / (warmup_epochs * steps_per_epoch)
    warmup = start + (peak - start) * jnp.minimum(progress, 1.0)
    decayed = peak * config.decay_factor ** jnp.sum(epoch >= boundaries)
    return jnp.where(epoch < warmup_epochs, warmup, decayed)

  return learning_rate
