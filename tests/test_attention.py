"""The shared attention primitive: the fused API and the explicit-softmax path agree."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.models import attention


def qkv(rng, queries=6, keys=11, dim=8):
  return [rng.normal(size=(2, n, dim)).astype(np.float32) for n in (queries, keys, keys)]


def test_explicit_path_equals_jax_attention(rng):
  query, key, value = qkv(rng)
  output, weights = attention.explicit_attention(query, key, value)
  expected = jax.nn.dot_product_attention(query[:, :, None], key[:, :, None],
                                          value[:, :, None])[:, :, 0]
  np.testing.assert_allclose(output, expected, atol=1e-5)
  np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize('implementation', [None, 'xla', 'auto'])
def test_module_equals_explicit_path(rng, implementation):
  query, key, value = qkv(rng)
  module = attention.DotProductAttention(implementation)
  output = module.apply({}, query, key, value)
  np.testing.assert_allclose(output, attention.explicit_attention(query, key, value)[0],
                             atol=1e-5)


def test_cudnn_support_rules():
  assert attention.cudnn_supports(256, jnp.bfloat16)
  assert not attention.cudnn_supports(512, jnp.bfloat16)  # the res4 NL block
  assert not attention.cudnn_supports(256, jnp.float32)
  assert not attention.cudnn_supports(100, jnp.float16)
