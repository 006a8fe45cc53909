"""The NL block: identity at init, equal to the equations, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnl_jax
from helpers import reference
from conftest import randomize

SHAPE = (2, 5, 7, 12)


def nchw(x):
  return np.asarray(x).transpose(0, 3, 1, 2)


@pytest.mark.parametrize('train', [False, True])
def test_identity_at_init(rng, train):
  x = rng.normal(size=SHAPE).astype(np.float32)
  block = cnl_jax.NonLocal()
  variables = block.init(jax.random.key(0), x)
  output, _ = block.apply(variables, x, train=train, mutable=['batch_stats'])
  np.testing.assert_array_equal(output, x)


@pytest.mark.parametrize('train', [False, True])
def test_matches_numpy_equations(rng, train):
  x = rng.normal(size=SHAPE).astype(np.float32)
  block = cnl_jax.NonLocal()
  variables = randomize(block.init(jax.random.key(0), x))
  assert variables['params']['theta']['kernel'].shape == (1, 1, 12, 6)
  output, _ = block.apply(variables, x, train=train, mutable=['batch_stats'])
  expected = reference.nonlocal_block(nchw(x), variables['params'], variables['batch_stats'],
                                      train)
  np.testing.assert_allclose(nchw(output), expected, atol=2e-5, rtol=1e-5)


def test_gradients_reach_every_parameter(rng):
  x = rng.normal(size=SHAPE).astype(np.float32)
  block = cnl_jax.NonLocal()
  variables = randomize(block.init(jax.random.key(0), x))
  direction = rng.normal(size=SHAPE)

  def loss(params):
    output, _ = block.apply({**variables, 'params': params}, x, train=True,
                            mutable=['batch_stats'])
    return jnp.sum(output * direction)

  grads = jax.tree.leaves(jax.grad(loss)(variables['params']))
  assert len(grads) == 6
  assert all(float(jnp.abs(g).sum()) > 0 for g in grads)


def test_odd_channel_count_is_rejected(rng):
  with pytest.raises(ValueError, match='even channel count'):
    cnl_jax.NonLocal().init(jax.random.key(0), np.zeros((1, 3, 3, 5), np.float32))
