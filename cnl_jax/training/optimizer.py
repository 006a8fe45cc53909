"""SGD with momentum and coupled weight decay, with optional parameter groups.

A group (`cnl_jax.methods.ParameterGroup`: a path pattern, a learning-rate factor and a
number of frozen epochs) trains its parameters at its own rate and may freeze them for the
first epochs; every parameter in no group follows the schedule itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import flax.traverse_util
import jax.numpy as jnp
import ml_collections
import optax

from cnl_jax.methods.base import ParameterGroup

DEFAULT_GROUP = 'default'


def _sgd(config: ml_collections.ConfigDict, schedule: Callable[[jnp.ndarray], jnp.ndarray]
         ) -> optax.GradientTransformation:
  """PyTorch `SGD(momentum, weight_decay)`: decay is added to every gradient, BN included."""
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay),
      optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov))


def group_labels(params: Any, groups: Sequence[ParameterGroup]) -> Any:
  """The tree of `params` with each leaf replaced by the index (as a string) of the first
  group whose pattern matches its '/'-joined path, or DEFAULT_GROUP."""
  flat = flax.traverse_util.flatten_dict(params, sep='/')
  labels = {}
  for path in flat:
    matches = [str(index) for index, group in enumerate(groups)
               if re.fullmatch(group.pattern, path)]
    labels[path] = matches[0] if matches else DEFAULT_GROUP
  return flax.traverse_util.unflatten_dict(labels, sep='/')


def create_optimizer(config: ml_collections.ConfigDict,
                     learning_rate_fn: Callable[[jnp.ndarray], jnp.ndarray],
                     steps_per_epoch: int, updates_per_step: int = 1,
                     groups: Sequence[ParameterGroup] = ()) -> optax.GradientTransformation:
  """The optimizer of `config`; its schedule stays a function of the batch step.

  `updates_per_step` is the number of optimizer updates a method makes per batch. Each group
  runs at its `learning_rate_factor` x the rate and makes no update at all for its first
  `frozen_epochs` (parameters and momentum untouched, its schedule position kept in step with
  the batch step).
  """
  schedule = lambda count: learning_rate_fn(count // updates_per_step)
  if not groups:
    return _sgd(config, schedule)

  def group_tx(group: ParameterGroup) -> optax.GradientTransformation:
    frozen_updates = group.frozen_epochs * steps_per_epoch * updates_per_step
    factor = group.learning_rate_factor
    # A frozen group's own update count starts when it thaws; shift it to the batch step.
    tx = _sgd(config, lambda count: factor * schedule(count + frozen_updates))
    if frozen_updates:
      tx = optax.transforms.conditionally_mask(tx, lambda count: count >= frozen_updates)
    return tx

  transforms = {str(index): group_tx(group) for index, group in enumerate(groups)}
  transforms[DEFAULT_GROUP] = _sgd(config, schedule)
  return optax.multi_transform(transforms, lambda params: group_labels(params, groups))
