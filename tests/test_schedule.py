"""The learning-rate schedule gives the released recipe's values at its boundaries."""

import math

import numpy as np
import pytest

from cnl_jax.training import create_learning_rate_fn
from configs import default, transfg_cub

STEPS_PER_EPOCH = 7


def rate_at(config, epoch, step_in_epoch=0):
  schedule = create_learning_rate_fn(config, STEPS_PER_EPOCH)
  return float(schedule(epoch * STEPS_PER_EPOCH + step_in_epoch))


def test_cub_recipe_boundaries():
  config = default.get_config()
  assert rate_at(config, 0) == pytest.approx(1e-5)
  # Per-epoch warmup: numpy.linspace(1e-5, 1e-2, 10)[epoch], constant within an epoch.
  warmup = np.linspace(1e-5, 1e-2, 10)
  for epoch in range(10):
    assert rate_at(config, epoch, 3) == pytest.approx(warmup[epoch], rel=1e-5)
  assert rate_at(config, 10) == pytest.approx(1e-2)
  assert rate_at(config, 40, 6) == pytest.approx(1e-2)
  assert rate_at(config, 41) == pytest.approx(1e-3)
  assert rate_at(config, 60, 6) == pytest.approx(1e-3)
  assert rate_at(config, 61) == pytest.approx(1e-4)
  assert rate_at(config, 81) == pytest.approx(1e-5)
  assert rate_at(config, 109, 6) == pytest.approx(1e-5)


def test_per_step_warmup_is_linear_in_steps():
  config = default.get_config()
  config.warmup_per = 'step'
  warmup_steps = 10 * STEPS_PER_EPOCH
  schedule = create_learning_rate_fn(config, STEPS_PER_EPOCH)
  assert float(schedule(0)) == pytest.approx(1e-5)
  half = 1e-5 + (1e-2 - 1e-5) * 0.5
  assert float(schedule(warmup_steps // 2)) == pytest.approx(half, rel=0.02)
  assert float(schedule(warmup_steps)) == pytest.approx(1e-2)


@pytest.mark.parametrize('warmup_per', ['epoch', 'step'])
def test_no_warmup_starts_at_the_peak(warmup_per):
  config = default.get_config()
  config.warmup_per, config.warmup_epochs = warmup_per, 0
  assert rate_at(config, 0) == pytest.approx(1e-2) == rate_at(config, 0, 3)


def test_cosine_runs_from_the_peak_to_zero_over_its_horizon():
  config = default.get_config()
  config.schedule, config.warmup_epochs, config.num_epochs = 'cosine', 0, 10
  total = 10 * STEPS_PER_EPOCH
  schedule = create_learning_rate_fn(config, STEPS_PER_EPOCH)
  assert float(schedule(0)) == pytest.approx(1e-2)
  assert float(schedule(total // 2)) == pytest.approx(0.5e-2, rel=1e-5)
  assert float(schedule(total)) == pytest.approx(0.0, abs=1e-9)
  assert float(schedule(total + 5)) == pytest.approx(0.0, abs=1e-9)


def test_cosine_with_a_horizon_beyond_the_run_barely_decays():
  """RMG-PMSI's released T_max (epochs x images, not batches) keeps the rate ~constant."""
  config = default.get_config()
  config.schedule, config.warmup_epochs, config.num_epochs = 'cosine', 0, 150
  config.cosine_steps = 150 * 5994
  schedule = create_learning_rate_fn(config, 187)
  assert float(schedule(150 * 187)) / 1e-2 == pytest.approx(0.9976, abs=1e-4)


def released_warmup_cosine(step, warmup, total):
  """ViT-pytorch's `WarmupCosineSchedule.lr_lambda` (TACJu/TransFG @ 9336fba,
  utils/scheduler.py:46-63), cycles 0.5."""
  if step < warmup:
    return float(step) / float(max(1.0, warmup))
  progress = float(step - warmup) / float(max(1, total - warmup))
  return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))


def test_transfg_recipe_is_the_released_warmup_cosine():
  """The released loop steps its scheduler before each update, so update k (0-based) runs at
  lr x lambda(k + 1); configs/transfg_cub.py's fields give that, and 0 after the last."""
  config = transfg_cub.get_config()
  schedule = create_learning_rate_fn(config, 93)
  steps = np.array([0, 1, 250, 498, 499, 500, 501, 5000, 9998, 9999, 10_000, 10_043])
  expected = [0.03 * released_warmup_cosine(min(k + 1, 10_000), 500, 10_000) for k in steps]
  np.testing.assert_allclose(np.asarray(schedule(steps)), expected, rtol=1e-5, atol=1e-9)
