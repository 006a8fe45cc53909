"""Training methods: what a model's loss is and how many updates one batch makes.

The train loop and steps are shared; a method (plain classification here; TASN's heads
and distillation, or RMG-PMSI's progressive sub-steps later) supplies only these pieces.
"""

from __future__ import annotations

from typing import Any, Protocol

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

Metrics = dict[str, jax.Array]


class Method(Protocol):
  """The interface the shared train and eval steps call."""

  model: nn.Module
  updates_per_step: int  # optimizer updates per batch; each calls `loss` with its index
  reported_head: str     # the head of `predict` whose top-1 is the run's top-1

  def init(self, rng: jax.Array, images: jax.Array) -> dict[str, Any]:
    """Variables of the model for images shaped like `images`."""

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """(scalar loss, (new model state, metrics)) for one update on one batch."""

  def predict(self, variables: dict[str, Any], images: jax.Array) -> dict[str, jax.Array]:
    """Class logits [batch, num_classes] of every head, by head name, in eval mode."""


class ModelMethod:
  """What the methods here share: one Flax model, initialised and trained the same way."""

  def __init__(self, model: nn.Module, num_classes: int):
    self.model = model
    self.num_classes = num_classes

  def init(self, rng: jax.Array, images: jax.Array) -> dict[str, Any]:
    """Variables of the model for images shaped like `images`."""
    return self.model.init(rng, images, train=False)

  def train_forward(self, params: Any, model_state: Any, images: jax.Array,
                    rngs: dict[str, jax.Array]) -> tuple[Any, Any]:
    """(model outputs, new model state) of a train-mode forward pass."""
    return self.model.apply({'params': params, **model_state}, images, train=True,
                            mutable=list(model_state), rngs=rngs)


class Classification(ModelMethod):
  """Softmax cross-entropy on the model's logits: the CNL, NL and ResNet recipe."""

  updates_per_step = 1
  reported_head = 'logits'

  def __init__(self, model: nn.Module, num_classes: int, label_smoothing: float = 0.0):
    super().__init__(model, num_classes)
    self.label_smoothing = label_smoothing

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """Mean loss over the batch, the new model state and per-batch metrics."""
    del update  # one update per batch
    (logits, _), new_state = self.train_forward(params, model_state, batch['image'],
                                                {'dropout': rng})
    labels = jax.nn.one_hot(batch['label'], self.num_classes)
    labels = optax.smooth_labels(labels, self.label_smoothing)
    loss = optax.softmax_cross_entropy(logits, labels).mean()
    top1 = jnp.mean(jnp.argmax(logits, -1) == batch['label'])
    return loss, (new_state, {'loss': loss, 'top1': top1})

  def predict(self, variables: dict[str, Any], images: jax.Array) -> dict[str, jax.Array]:
    """{'logits': class logits [batch, num_classes]} in eval mode."""
    logits, _ = self.model.apply(variables, images, train=False)
    return {'logits': logits}

