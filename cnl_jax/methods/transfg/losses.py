"""TransFG's training losses: cross-entropy on the part head, with the released label-smoothing
option, and the contrastive loss on the normalised class-token features.

After the released code (TACJu/TransFG @ 9336fba, models/modeling.py:45-65 `LabelSmoothing`,
299-311 `forward`, 364-375 `con_loss`; the /B² reduction since ff28b58). The released forward
returns the two losses' sum, weighted 1:1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

RELEASED_MARGIN = 0.4  # hard-coded in con_loss; the paper's alpha (its Eq. 9)


def part_loss(logits: jax.Array, labels: jax.Array, label_smoothing: float = 0.0
              ) -> jax.Array:
  """Mean cross-entropy of logits [batch, classes] against integer labels [batch].

  label_smoothing s (released `--smoothing_value`, default 0, which uses plain
  `CrossEntropyLoss`): the released `LabelSmoothing`, (1 - s)(-log p_y) + s·mean_c(-log p_c),
  which is cross-entropy against (1 - s)·one_hot + s / classes.
  """
  if not 0 <= label_smoothing < 1:
    raise ValueError(f'label_smoothing={label_smoothing} must lie in [0, 1).')
  targets = optax.smooth_labels(jax.nn.one_hot(labels, logits.shape[-1]), label_smoothing)
  return jnp.mean(optax.softmax_cross_entropy(logits, targets))


def contrastive_loss(features: jax.Array, labels: jax.Array, margin: float = RELEASED_MARGIN,
                     groups: int = 1) -> jax.Array:
  """The released `con_loss` on features [batch, width] with integer labels [batch].

  With z the L2-normalised features (norms below 1e-12 clamped, as `F.normalize`) and
  C = z zᵀ: L = (Σ_{y_i = y_j} (1 - C_ij) + Σ_{y_i ≠ y_j} max(C_ij - margin, 0)) / B², over
  all B² ordered pairs of the batch, the diagonal included (it adds 0 to the sum and 1 to
  each B).

  groups: the released loss sees one GPU's batch, so pairs never cross GPUs (the README run:
  4 GPUs of 16). With groups g the batch is split into g consecutive groups of B / g, the
  loss computed within each and averaged; groups=1 is one device's batch.
  """
  batch = features.shape[0]
  if groups < 1 or batch % groups:
    raise ValueError(f'groups={groups} must be a positive divisor of the batch ({batch}).')
  z = features.astype(jnp.float32)
  # max(|z|, 1e-12) written under the root, so a zero feature has a finite gradient.
  z = z * jax.lax.rsqrt(jnp.maximum(jnp.sum(z * z, axis=-1, keepdims=True), 1e-24))
  z = z.reshape(groups, batch // groups, -1)
  labels = labels.reshape(groups, batch // groups)
  similarity = jnp.einsum('gid,gjd->gij', z, z)
  positive = labels[:, :, None] == labels[:, None, :]
  pair_losses = jnp.where(positive, 1 - similarity, jax.nn.relu(similarity - margin))
  return jnp.mean(pair_losses)
