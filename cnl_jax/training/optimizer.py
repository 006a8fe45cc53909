"""SGD with momentum and coupled weight decay, or AdamW; optional gradient clipping and
parameter groups.

A group (`cnl_jax.methods.ParameterGroup`: a path pattern, a learning-rate factor and a
number of frozen epochs) trains its parameters at its own rate and may freeze them for the
first epochs; every parameter in no group follows the schedule itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import flax.traverse_util
import jax
import jax.numpy as jnp
import ml_collections
import optax

from cnl_jax.errors import ConfigError
from cnl_jax.methods.base import ParameterGroup

DEFAULT_GROUP = 'default'
OPTIMIZERS = ('sgd', 'adamw')
Schedule = Callable[[jnp.ndarray], jnp.ndarray]


def _sgd(config: ml_collections.ConfigDict, schedule: Schedule) -> optax.GradientTransformation:
  """PyTorch `SGD(momentum, weight_decay)`: decay is added to every gradient, BN included."""
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay),
      optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov))


def _decays(params: Any) -> Any:
  """True for conv and dense kernels: timm's AdamW recipes leave biases, norms, class token,
  position embeddings and Swin's bias tables undecayed (`param_groups_weight_decay` with the
  models' `no_weight_decay`)."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], 'key', None) == 'kernel', params)


def _adamw(config: ml_collections.ConfigDict, schedule: Schedule
           ) -> optax.GradientTransformation:
  """PyTorch `AdamW`: decoupled decay, learning rate x weight_decay x the weight, on kernels."""
  return optax.adamw(schedule, b1=config.adam_b1, b2=config.adam_b2, eps=config.adam_eps,
                     weight_decay=config.weight_decay, mask=_decays)


def _base(config: ml_collections.ConfigDict, schedule: Schedule
          ) -> optax.GradientTransformation:
  """The optimizer `config.optimizer` names, on one schedule."""
  if config.optimizer not in OPTIMIZERS:
    raise ConfigError(f'config.optimizer={config.optimizer!r} must be one of {OPTIMIZERS}.')
  return _sgd(config, schedule) if config.optimizer == 'sgd' else _adamw(config, schedule)


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
  the batch step). With `config.grad_clip_norm` set, the whole gradient is first clipped to
  that global norm.
  """
  schedule = lambda count: learning_rate_fn(count // updates_per_step)
  tx = _grouped(config, schedule, steps_per_epoch * updates_per_step, groups)
  if config.grad_clip_norm:
    return optax.chain(optax.clip_by_global_norm(config.grad_clip_norm), tx)
  return tx


def _grouped(config: ml_collections.ConfigDict, schedule: Schedule, updates_per_epoch: int,
             groups: Sequence[ParameterGroup]) -> optax.GradientTransformation:
  """The base optimizer, or one per group on its scaled schedule with its freeze."""
  if not groups:
    return _base(config, schedule)

  def group_tx(group: ParameterGroup) -> optax.GradientTransformation:
    frozen_updates = group.frozen_epochs * updates_per_epoch
    factor = group.learning_rate_factor
    # A frozen group's own update count starts when it thaws; shift it to the batch step.
    tx = _base(config, lambda count: factor * schedule(count + frozen_updates))
    if frozen_updates:
      tx = optax.transforms.conditionally_mask(tx, lambda count: count >= frozen_updates)
    return tx

  transforms = {str(index): group_tx(group) for index, group in enumerate(groups)}
  transforms[DEFAULT_GROUP] = _base(config, schedule)
  return optax.multi_transform(transforms, lambda params: group_labels(params, groups))
