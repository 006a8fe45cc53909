"""RMG-PMSI's progressive training: four sequential updates per batch, coarse to clean.

Update u feeds the batch through the Recursive Mosaic Generator at depth 3, 2, 1 (u = 0,
1, 2), then the clean batch (u = 3), and takes softmax cross-entropy on one head: stage 1,
2, 3, then the concat head with weight 2 (RMG_PMSI.md section 4). Every update runs the
whole network in train mode, so BN statistics move 4 times per batch and MSI dropout is on.
The shared train step applies each update before the next forward pass.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from cnl_jax.models.rmg_pmsi import HEADS
from cnl_jax.training.methods import Metrics, ModelMethod
from cnl_jax.training.mosaics import MODES, Mode, recursive_mosaic

# Per update: the mosaic depth (None: the clean image), the head trained, its loss weight.
SCHEDULE: tuple[tuple[int | None, str, float], ...] = (
    (3, 'stage1', 1.0), (2, 'stage2', 1.0), (1, 'stage3', 1.0), (None, 'concat', 2.0))


class Progressive(ModelMethod):
  """RMG-PMSI's method: `updates_per_step` = 4 updates of SCHEDULE; predicts by 'mix'."""

  updates_per_step = len(SCHEDULE)
  reported_head = 'mix'

  def __init__(self, model: nn.Module, num_classes: int, mosaic_mode: Mode = 'released'):
    if mosaic_mode not in MODES:
      raise ValueError(f'mosaic_mode must be one of {MODES}, got {mosaic_mode!r}.')
    super().__init__(model, num_classes)
    self.mosaic_mode = mosaic_mode

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """Weighted CE of update `update`'s head on its mosaic; metrics are that head's CE, top-1."""
    depth, head, weight = SCHEDULE[update]
    mosaic_rng, dropout_rng = jax.random.split(rng)
    images = batch['image']
    if depth is not None:
      images = recursive_mosaic(images, depth, mosaic_rng, self.mosaic_mode)
    outputs, new_state = self.train_forward(params, model_state, images,
                                            {'dropout': dropout_rng})
    logits = outputs[head]
    cross_entropy = optax.softmax_cross_entropy_with_integer_labels(
        logits, batch['label']).mean()
    top1 = jnp.mean(jnp.argmax(logits, -1) == batch['label'])
    return weight * cross_entropy, (new_state, {f'{head}/loss': cross_entropy,
                                                f'{head}/top1': top1})

  def predict(self, variables: dict[str, Any], images: jax.Array) -> dict[str, jax.Array]:
    """Each head's logits [batch, num_classes] on the clean images, and 'mix', their sum."""
    outputs = self.model.apply(variables, images, train=False)
    return {**outputs, 'mix': sum(outputs[head] for head in HEADS)}

