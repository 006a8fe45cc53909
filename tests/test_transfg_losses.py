"""TransFG's losses equal NumPy transcriptions of the released `con_loss` and
`LabelSmoothing` (TACJu/TransFG @ 9336fba, models/modeling.py)."""

import jax
import numpy as np
import pytest

from cnl_jax.methods.transfg import losses
from helpers.transfg_reference import released_con_loss, released_label_smoothing


def class_features(rng, batch=8, width=16, classes=3):
  # Features near their class's direction, so both the positive and the margin terms count.
  labels = rng.randint(classes, size=batch)
  centres = rng.normal(size=(classes, width))
  return (centres[labels] + rng.normal(size=(batch, width))).astype(np.float32), labels


def test_contrastive_loss_equals_the_released_con_loss(rng):
  features, labels = class_features(rng)
  expected = released_con_loss(features.astype(np.float64), labels)
  assert float(jax.jit(losses.contrastive_loss)(features, labels)) == pytest.approx(
      expected, rel=1e-5)


def test_contrastive_loss_margin_counts_only_similar_negatives(rng):
  features, labels = class_features(rng)
  # Margin 1 makes every negative term vanish: only the positives' 1 - cos remain.
  normalised = features / np.linalg.norm(features, axis=1, keepdims=True)
  same = labels[:, None] == labels[None]
  positives_only = np.sum(same * (1 - normalised @ normalised.T)) / len(labels) ** 2
  assert float(losses.contrastive_loss(features, labels, margin=1.0)) == pytest.approx(
      positives_only, rel=1e-5)


def test_contrastive_loss_groups_are_per_device_batches(rng):
  # The README run: 4 GPUs, each its own con_loss over its 16; pairs never cross GPUs.
  features, labels = class_features(rng, batch=12)
  per_device = [released_con_loss(f.astype(np.float64), l)
                for f, l in zip(np.split(features, 3), np.split(labels, 3))]
  grouped = float(losses.contrastive_loss(features, labels, groups=3))
  assert grouped == pytest.approx(np.mean(per_device), rel=1e-5)
  assert grouped != pytest.approx(float(losses.contrastive_loss(features, labels)), rel=1e-3)


def test_contrastive_loss_of_a_zero_feature_is_finite(rng):
  features, labels = class_features(rng)
  features[0] = 0
  expected = released_con_loss(features.astype(np.float64), labels)
  value, grads = jax.value_and_grad(losses.contrastive_loss)(features, labels)
  assert float(value) == pytest.approx(expected, rel=1e-5)
  assert np.all(np.isfinite(grads))


@pytest.mark.parametrize('groups', [0, 5])
def test_groups_must_divide_the_batch(rng, groups):
  features, labels = class_features(rng)
  with pytest.raises(ValueError, match=f'groups={groups}'):
    losses.contrastive_loss(features, labels, groups=groups)


@pytest.mark.parametrize('smoothing', [0.0, 0.1, 0.3])
def test_part_loss_equals_the_released_cross_entropy(rng, smoothing):
  logits = (rng.normal(size=(6, 5)) * 3).astype(np.float32)
  labels = rng.randint(5, size=6)
  expected = released_label_smoothing(logits.astype(np.float64), labels, smoothing)
  assert float(losses.part_loss(logits, labels, smoothing)) == pytest.approx(expected,
                                                                              rel=1e-5)


@pytest.mark.parametrize('smoothing', [-0.1, 1.0])
def test_label_smoothing_outside_its_range_is_refused(smoothing):
  with pytest.raises(ValueError, match=f'label_smoothing={smoothing}'):
    losses.part_loss(np.zeros((2, 3), np.float32), np.zeros(2, np.int32), smoothing)
