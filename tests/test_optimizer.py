"""The optimizer: one SGD group by default; parameter groups with their own rate and freeze."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cnl_jax.methods import ParameterGroup
from cnl_jax.training.optimizer import create_optimizer, group_labels
from configs import default

STEPS_PER_EPOCH = 3


def params():
  return {'backbone': {'kernel': jnp.ones((2, 3))}, 'head': {'kernel': jnp.ones((3,))}}


def run(config, updates, updates_per_step=1, factor=1.0, frozen_epochs=0, grouped=True):
  """Parameters and optimizer state after each of `updates` updates with unit gradients."""
  groups = (ParameterGroup('backbone/.*', factor, frozen_epochs),) if grouped else ()
  tx = create_optimizer(config, lambda step: 0.1 * (step + 1), STEPS_PER_EPOCH,
                        updates_per_step, groups)
  values, state = params(), None
  state = tx.init(values)
  history = []
  for _ in range(updates):
    grads = jax.tree.map(jnp.ones_like, values)
    update, state = tx.update(grads, state, values)
    values = optax.apply_updates(values, update)
    history.append((values, state))
  return history


def test_frozen_backbone_keeps_params_and_momentum_while_the_head_learns():
  config = default.get_config()
  history = run(config, 2 * STEPS_PER_EPOCH + 1, frozen_epochs=2)
  initial = params()['backbone']['kernel']
  frozen_values, _ = history[2 * STEPS_PER_EPOCH - 1]
  np.testing.assert_array_equal(frozen_values['backbone']['kernel'], initial)
  assert not np.allclose(frozen_values['head']['kernel'], params()['head']['kernel'])
  # No momentum gathered while frozen: the first thawed move is a fresh optimizer's first
  # move, scaled by the schedule (0.1 * (update + 1): 0.7 at update 6, 0.1 at update 0).
  thawed_values, _ = history[-1]
  (fresh_values, _), = run(config, 1)
  np.testing.assert_allclose(initial - thawed_values['backbone']['kernel'],
                             7 * (initial - fresh_values['backbone']['kernel']), rtol=1e-5)


def test_backbone_rate_is_the_factor_times_the_schedule_at_the_batch_step():
  config = default.get_config()
  config.momentum, config.weight_decay = 0.0, 0.0
  updates_per_step = 2
  history = run(config, 2 * STEPS_PER_EPOCH * updates_per_step, updates_per_step, factor=0.1,
                frozen_epochs=1)
  first_thawed = STEPS_PER_EPOCH * updates_per_step  # update index of the first backbone move
  before, _ = history[first_thawed - 1]
  after, _ = history[first_thawed]
  batch_step = first_thawed // updates_per_step
  step_size = float(before['backbone']['kernel'][0, 0] - after['backbone']['kernel'][0, 0])
  assert step_size == pytest.approx(0.1 * 0.1 * (batch_step + 1), rel=1e-5)
  head_step = float(before['head']['kernel'][0] - after['head']['kernel'][0])
  assert head_step == pytest.approx(0.1 * (batch_step + 1), rel=1e-5)


def test_one_group_without_a_backbone_is_plain_sgd_with_coupled_decay():
  config = default.get_config()
  config.momentum, config.weight_decay = 0.0, 0.5
  (values, _), = run(config, 1, grouped=False)
  # w - lr * (grad + decay * w) = 1 - 0.1 * (1 + 0.5)
  np.testing.assert_allclose(values['backbone']['kernel'], 0.85, rtol=1e-6)
  np.testing.assert_allclose(values['head']['kernel'], 0.85, rtol=1e-6)


def test_each_parameter_takes_the_first_group_whose_pattern_matches_its_path():
  tree = {'backbone': {'stem': {'kernel': 0}, 'head': {'kernel': 0}}, 'head': {'kernel': 0}}
  groups = (ParameterGroup('backbone/head/.*', 0.5), ParameterGroup('backbone/.*', 0.1))
  assert group_labels(tree, groups) == {
      'backbone': {'stem': {'kernel': '1'}, 'head': {'kernel': '0'}},
      'head': {'kernel': 'default'}}


def params_with_bias():
  return {'layer': {'kernel': jnp.ones((2, 3)), 'bias': jnp.ones((3,))}}


def one_update(config, grads, groups=()):
  tx = create_optimizer(config, lambda step: 0.1, STEPS_PER_EPOCH, 1, groups)
  values = params_with_bias()
  update, _ = tx.update(grads, tx.init(values), values)
  return optax.apply_updates(values, update)


def test_adamw_decays_kernels_only_and_decoupled_from_the_gradient():
  config = default.get_config()
  config.optimizer, config.weight_decay = 'adamw', 0.5
  zero = jax.tree.map(jnp.zeros_like, params_with_bias())
  for groups in ((), (ParameterGroup('layer/bias', 0.5),)):
    values = one_update(config, zero, groups)
    # No gradient: Adam's step is 0; the kernel shrinks by lr x decay, the bias not at all.
    np.testing.assert_allclose(values['layer']['kernel'], 1 - 0.1 * 0.5, rtol=1e-6)
    np.testing.assert_array_equal(values['layer']['bias'], 1)


def test_gradients_are_clipped_to_the_global_norm():
  config = default.get_config()
  config.momentum, config.weight_decay, config.grad_clip_norm = 0.0, 0.0, 1.0
  grads = jax.tree.map(lambda leaf: 10 * jnp.ones_like(leaf), params_with_bias())
  values = one_update(config, grads)
  norm = 10 * np.sqrt(2 * 3 + 3)
  np.testing.assert_allclose(values['layer']['kernel'], 1 - 0.1 * 10 / norm, rtol=1e-5)
