"""The optimizer of the released recipe: SGD with momentum and coupled weight decay."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
import ml_collections
import optax


def create_optimizer(config: ml_collections.ConfigDict,
                     learning_rate_fn: Callable[[jnp.ndarray], jnp.ndarray],
                     updates_per_step: int = 1) -> optax.GradientTransformation:
  """PyTorch `SGD(momentum, weight_decay)`: decay is added to every gradient, BN included.

  `updates_per_step` is the number of optimizer updates a method makes per batch; the
  schedule stays a function of the batch step.
  """
  schedule = lambda count: learning_rate_fn(count // updates_per_step)
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay),
      optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov))
