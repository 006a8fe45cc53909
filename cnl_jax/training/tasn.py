"""TASN's training method: five cross-entropies and part-to-master distillation (TASN.md §4)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from cnl_jax.models.tasn import HEADS
from cnl_jax.training.methods import Metrics, ModelMethod

# The released code's distillation temperature and the weight of the four part/master CEs.
TEMPERATURE = 10.0
PART_MASTER_WEIGHT = 0.5


def distillation_loss(teacher_logits: jax.Array, student_logits: jax.Array,
                      temperature: float = TEMPERATURE) -> jax.Array:
  """Mean over the batch of −Σ_k softmax(teacher/T)_k · log softmax(student/T)_k.

  Teacher = part net (detail images), student = master net (structure images). As released:
  weight 1, no T² factor, and no stop_gradient on the soft targets, so the teacher's logits
  get gradients from this term too. logits [batch, num_classes] -> scalar.
  """
  targets = jax.nn.softmax(teacher_logits / temperature, axis=-1)
  return jnp.mean(optax.softmax_cross_entropy(student_logits / temperature, targets))


class TASNMethod(ModelMethod):
  """Loss, metrics and predictions of a `TASN` model.

  Loss per batch (means over the batch): CE(attention) + 0.5·[CE(part) + CE(master) +
  CE(part_shared) + CE(master_shared)] + distillation(part -> master). The attention net
  gets gradients only from its own CE: the trilinear maps and the sampler stop them.
  The reported head is 'master_shared', the shared FC on the structure (master) images:
  TASN.md §4 finds the README's 87.0% consistent with it (`master_net_aux` in the only
  public training log); the paper needs only the master net at test. All five heads are
  evaluated.
  """

  updates_per_step = 1
  reported_head = 'master_shared'

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """Mean loss over the batch, the new model state and per-head metrics."""
    del update  # one update per batch
    (logits, _), new_state = self.train_forward(params, model_state, batch['image'],
                                                {'sampling': rng})
    labels = batch['label']
    metrics = {}
    for head in HEADS:
      metrics[f'{head}/loss'] = optax.softmax_cross_entropy_with_integer_labels(
          logits[head], labels).mean()
      metrics[f'{head}/top1'] = jnp.mean(jnp.argmax(logits[head], -1) == labels)
    metrics['distillation_loss'] = distillation_loss(logits['part'], logits['master'])
    loss = (metrics['attention/loss']
            + PART_MASTER_WEIGHT * sum(metrics[f'{head}/loss'] for head in HEADS[1:])
            + metrics['distillation_loss'])
    metrics.update(loss=loss, top1=metrics[f'{self.reported_head}/top1'])
    return loss, (new_state, metrics)

  def predict(self, variables: dict[str, Any], images: jax.Array) -> dict[str, jax.Array]:
    """Logits [batch, num_classes] of every head in eval mode (test-time detail map: the
    sum of all maps, so no randomness)."""
    logits, _ = self.model.apply(variables, images, train=False)
    return logits
