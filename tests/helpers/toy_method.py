"""A tiny conv-and-dense classifier as a Method, for step tests that must compile in seconds."""

import flax.linen as nn

from cnl_jax.methods.base import Method, cross_entropy_metrics

NUM_CLASSES = 4


class _ConvDense(nn.Module):
  """3x3 conv, optional batch norm, ReLU, then a dense layer over every position (so that a
  mirrored image has other logits)."""
  batch_norm: bool

  @nn.compact
  def __call__(self, images, train):
    features = nn.Conv(4, (3, 3))(images)
    if self.batch_norm:
      features = nn.BatchNorm(use_running_average=not train)(features)
    features = nn.relu(features).reshape(features.shape[0], -1)
    return nn.Dense(NUM_CLASSES)(features), {}


class ToyMethod(Method):
  """Cross-entropy on the one head; update u of a batch weighs its loss by u + 1, so that
  the updates of a multi-update method differ."""
  name = 'toy'
  reported_head = 'logits'

  def __init__(self, updates_per_step: int = 1, batch_norm: bool = False):
    super().__init__(_ConvDense(batch_norm), NUM_CLASSES)
    self.updates_per_step = updates_per_step

  def loss(self, params, model_state, batch, rng, update):
    (logits, _), new_state = self.train_forward(params, model_state, batch['image'], rng)
    metrics = cross_entropy_metrics(logits, batch['label'])
    return (update + 1) * metrics['loss'], (new_state, metrics)
