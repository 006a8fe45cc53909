"""Learning-rate schedules: warmup, then step decay (the released CNL recipe) or a cosine."""

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
  Afterwards, with `schedule == 'step'`, the rate is
  `learning_rate * decay_factor ** (number of decay_epochs <= epoch)` (epochs 0-based, as in
  the released training loop); with `schedule == 'cosine'` it is
  `learning_rate * (1 + cos(pi * step / T)) / 2`, PyTorch's CosineAnnealingLR stepped per
  batch, with T = `cosine_steps` (0: the run's number of steps), held at 0 after T; with
  `cosine_per == 'epoch'` the step is that of the epoch's first batch, so the rate changes
  once an epoch, `lr / 2 * (cos(pi * epoch / epochs) + 1)`.

  `warmup_steps` > 0 warms up over that many steps instead (with `warmup_epochs` 0), and
  `cosine_after_warmup` starts the cosine where the warmup ends, reaching 0 at step T:
  `lr * (1 + cos(pi * (step - W) / (T - W))) / 2` for a warmup of W steps. With W = w - 1,
  warmup_start_lr = lr / w and T = t - 1 this is the WarmupCosineSchedule of the ViT-pytorch
  code TransFG releases (warmup w, t steps), which steps its scheduler before each update.
  """
  peak, start = config.learning_rate, config.warmup_start_lr
  warmup_epochs = config.warmup_epochs
  boundaries = jnp.asarray(sorted(config.decay_epochs), jnp.int32).reshape(-1)
  warmup_length = config.warmup_steps or warmup_epochs * steps_per_epoch

  def learning_rate(step):
    epoch = step // steps_per_epoch
    if config.warmup_steps:
      progress, warming_up = step / config.warmup_steps, step < config.warmup_steps
    elif config.warmup_per == 'epoch':
      progress, warming_up = epoch / max(warmup_epochs - 1, 1), epoch < warmup_epochs
    else:
      progress = step / max(warmup_epochs * steps_per_epoch, 1)
      warming_up = epoch < warmup_epochs
    warmup = start + (peak - start) * jnp.minimum(progress, 1.0)
    if config.schedule == 'cosine':
      horizon = config.cosine_steps or config.num_epochs * steps_per_epoch
      position = epoch * steps_per_epoch if config.cosine_per == 'epoch' else step
      if config.cosine_after_warmup:
        position, horizon = position - warmup_length, horizon - warmup_length
      fraction = jnp.clip(position / horizon, 0.0, 1.0)
      decayed = peak * 0.5 * (1 + jnp.cos(jnp.pi * fraction))
    else:
      decayed = peak * config.decay_factor ** jnp.sum(epoch >= boundaries)
    return jnp.where(warming_up, warmup, decayed)

  return learning_rate
