"""The CNL block: identity at init, equal to the equations, gradients, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnl_jax
from helpers import reference
from conftest import randomize

# Small odd sizes: query 3x5 with 16 channels, responses 7x9x6 and 5x3x10.
QUERY_SHAPE = (2, 3, 5, 16)
RESPONSE_SHAPES = ((2, 7, 9, 6), (2, 5, 3, 10))
INNER = 8


def make_inputs(rng):
  query = rng.normal(size=QUERY_SHAPE).astype(np.float32)
  responses = [rng.normal(size=shape).astype(np.float32) for shape in RESPONSE_SHAPES]
  return query, responses


def make_block(**kwargs):
  return cnl_jax.CNL(inner_features=INNER, response_channels=(6, 10), **kwargs)


def nchw(x):
  return np.asarray(x).transpose(0, 3, 1, 2)


@pytest.mark.parametrize('train', [False, True])
def test_identity_at_init(rng, train):
  query, responses = make_inputs(rng)
  block = make_block()
  variables = block.init(jax.random.key(0), query, responses)
  output, _ = block.apply(variables, query, responses, train=train, mutable=['batch_stats'])
  np.testing.assert_array_equal(output, query)


@pytest.mark.parametrize('reshape', ['paper', 'released'])
@pytest.mark.parametrize('train', [False, True])
def test_matches_numpy_equations(rng, reshape, train):
  query, responses = make_inputs(rng)
  block = make_block(reshape=reshape)
  variables = randomize(block.init(jax.random.key(0), query, responses))
  output, _ = block.apply(variables, query, responses, train=train, mutable=['batch_stats'])
  expected = reference.cnl(nchw(query), [nchw(r) for r in responses], variables['params'],
                           variables['batch_stats'], train, reshape)
  np.testing.assert_allclose(nchw(output), expected, atol=2e-5, rtol=1e-5)


def test_reshape_modes_differ(rng):
  query, responses = make_inputs(rng)
  variables = randomize(make_block().init(jax.random.key(0), query, responses))
  paper = make_block(reshape='paper').apply(variables, query, responses)
  released = make_block(reshape='released').apply(variables, query, responses)
  assert np.abs(paper - released).max() > 1e-3


def test_gradients_reach_every_parameter(rng):
  query, responses = make_inputs(rng)
  block = make_block()
  variables = randomize(block.init(jax.random.key(0), query, responses))
  direction = rng.normal(size=QUERY_SHAPE)

  def loss(params):
    output, _ = block.apply({**variables, 'params': params}, query, responses, train=True,
                            mutable=['batch_stats'])
    return jnp.sum(output * direction)

  grads = jax.grad(loss)(variables['params'])
  norms = {jax.tree_util.keystr(path): float(jnp.abs(g).sum())
           for path, g in jax.tree_util.tree_leaves_with_path(grads)}
  assert len(norms) == 2 + 3 * len(RESPONSE_SHAPES) + len(RESPONSE_SHAPES)
  assert all(norm > 0 for norm in norms.values()), norms


def test_attention_maps_are_recorded_on_request(rng):
  query, responses = make_inputs(rng)
  block = make_block()
  variables = randomize(block.init(jax.random.key(0), query, responses))
  plain = block.apply(variables, query, responses)
  output, state = block.apply(variables, query, responses, mutable=[cnl_jax.ATTENTION_MAPS])
  np.testing.assert_allclose(output, plain, atol=1e-5)
  maps = state[cnl_jax.ATTENTION_MAPS]
  for i, shape in enumerate(RESPONSE_SHAPES):
    (weights,) = maps[f'attention_{i}']['weights']
    assert weights.shape == (2, 3 * 5, shape[1] * shape[2])
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


def test_response_channels_must_match(rng):
  query, responses = make_inputs(rng)
  block = make_block()
  with pytest.raises(ValueError, match=r'configured for responses with channels \(6, 10\)'):
    block.init(jax.random.key(0), query, responses[::-1])
  with pytest.raises(ValueError, match='got 1 responses'):
    block.init(jax.random.key(0), query, responses[:1])


def test_unknown_reshape_is_rejected(rng):
  query, responses = make_inputs(rng)
  with pytest.raises(ValueError, match="reshape must be one of"):
    make_block(reshape='transposed').init(jax.random.key(0), query, responses)
