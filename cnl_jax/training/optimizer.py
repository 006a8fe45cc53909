"""SGD with momentum and coupled weight decay, optionally with a backbone parameter group.

The CNL recipe trains every parameter alike. Methods that fine-tune a pretrained backbone
beside new layers (RMG-PMSI) give the backbone its own learning rate and may freeze it for
the first epochs; the backbone is the model's `pretrained_backbones` subtrees.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

BACKBONE, NEW_LAYERS = 'backbone', 'new_layers'


def backbone_subtrees(model: nn.Module) -> tuple[str, ...]:
  """Top-level params subtrees of `model` that hold a pretrained backbone; () when the
  pretrained weights fill the whole model (a ResNet), which then has one parameter group."""
  return tuple(subtree for subtree in model.pretrained_backbones if subtree)


def _sgd(config: ml_collections.ConfigDict, schedule: Callable[[jnp.ndarray], jnp.ndarray]
         ) -> optax.GradientTransformation:
  """PyTorch `SGD(momentum, weight_decay)`: decay is added to every gradient, BN included."""
  return optax.chain(
      optax.add_decayed_weights(config.weight_decay),
      optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov))


def create_optimizer(config: ml_collections.ConfigDict,
                     learning_rate_fn: Callable[[jnp.ndarray], jnp.ndarray],
                     steps_per_epoch: int, updates_per_step: int = 1,
                     backbone: Sequence[str] = ()) -> optax.GradientTransformation:
  """The optimizer of `config`; its schedule stays a function of the batch step.

  `updates_per_step` is the number of optimizer updates a method makes per batch. With
  `backbone` subtrees, those run at `backbone_learning_rate_factor` x the rate and make no
  update at all for the first `freeze_backbone_epochs` (parameters and momentum untouched,
  the schedule position kept in step with the other group).
  """
  schedule = lambda count: learning_rate_fn(count // updates_per_step)
  if not backbone:
    return _sgd(config, schedule)
  frozen_updates = config.freeze_backbone_epochs * steps_per_epoch * updates_per_step
  factor = config.backbone_learning_rate_factor
  # The frozen group's own update count starts when it thaws; shift it to the batch step.
  backbone_tx = _sgd(config, lambda count: factor * schedule(count + frozen_updates))
  if frozen_updates:
    backbone_tx = optax.transforms.conditionally_mask(
        backbone_tx, lambda count: count >= frozen_updates)

  def labels(params: Any) -> Any:
    return {name: jax.tree.map(lambda _: BACKBONE if name in backbone else NEW_LAYERS, subtree)
            for name, subtree in params.items()}

  return optax.multi_transform({BACKBONE: backbone_tx, NEW_LAYERS: _sgd(config, schedule)},
                               labels)
