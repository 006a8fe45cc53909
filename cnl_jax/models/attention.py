"""Scaled dot-product attention shared by the NL and CNL blocks (one head) and the
transformers (several heads, an optional additive bias)."""

from __future__ import annotations

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

# Name of the variable collection that receives attention maps. Apply a model with
# `mutable=[ATTENTION_MAPS]` to get them; the model itself does not change.
ATTENTION_MAPS = 'attention_maps'
# The transformers' self-attention between tokens, per head, kept apart from the spatial
# maps of the NL and CNL blocks that `cnl-jax visualize` draws.
TOKEN_ATTENTION_MAPS = 'token_attention_maps'

Implementation = Literal['xla', 'cudnn', 'auto'] | None

# cuDNN's fused attention on Hopper takes head dims that are multiples of 8 up to 256,
# and only 16-bit inputs (docs/methods/cnl.md, `attention_implementation`).
_CUDNN_MAX_HEAD_DIM = 256
_CUDNN_DTYPES = (jnp.bfloat16, jnp.float16)


def cudnn_supports(head_dim: int, dtype: jnp.dtype) -> bool:
  """Whether the fused cuDNN kernel accepts this head dim and dtype."""
  return (head_dim % 8 == 0 and head_dim <= _CUDNN_MAX_HEAD_DIM
          and any(jnp.dtype(dtype) == jnp.dtype(d) for d in _CUDNN_DTYPES))


def _resolve(implementation: Implementation, head_dim: int, dtype: jnp.dtype) -> str | None:
  """Turns 'auto' into cuDNN where this GPU call can use it and XLA everywhere else."""
  if implementation != 'auto':
    return implementation
  on_gpu = jax.default_backend() == 'gpu'
  return 'cudnn' if on_gpu and cudnn_supports(head_dim, dtype) else 'xla'


def explicit_attention(query: jax.Array, key: jax.Array, value: jax.Array,
                       bias: jax.Array | None = None) -> tuple[jax.Array, jax.Array]:
  """Attention with the softmax written out, returning the maps as well.

  Shapes: query [batch, q, dim], key [batch, k, dim], value [batch, k, value_dim], or with
  heads [batch, q, heads, dim] etc.; bias broadcasts to [batch, heads, q, k] and is added to
  the scaled logits. Returns ([batch, q, value_dim] or [batch, q, heads, value_dim],
  weights [batch, q, k] or [batch, heads, q, k] in float32).
  """
  one_head = query.ndim == 3
  if one_head:
    query, key, value = query[:, :, None], key[:, :, None], value[:, :, None]
  scale = query.shape[-1] ** -0.5
  logits = jnp.einsum('bqhd,bkhd->bhqk', query, key,
                      preferred_element_type=jnp.float32) * scale
  if bias is not None:
    logits = logits + bias.astype(jnp.float32)
  weights = jax.nn.softmax(logits, axis=-1)
  output = jnp.einsum('bhqk,bkhd->bqhd', weights.astype(value.dtype), value)
  if one_head:
    return output[:, :, 0], weights[:, 0]
  return output, weights


class DotProductAttention(nn.Module):
  """softmax(query key^T / sqrt(dim) + bias) value, with one head or several.

  Uses `jax.nn.dot_product_attention` (XLA or the fused cuDNN kernel), unless the caller
  asked for attention maps by making its `collection` (`attention_maps` by default) mutable:
  then the explicit-softmax path runs and the maps are stored there under `weights`. With
  `return_weights` the explicit path always runs and the call returns (output, maps
  [batch, heads, q, k] or [batch, q, k] in float32): for networks that compute with the
  maps (TransFG's part selection), which a fused kernel does not return.
  Shapes: query [batch, q, dim], key and value [batch, k, dim] -> [batch, q, dim]; or with
  heads [batch, q, heads, dim] -> [batch, q, heads, dim]. `bias` (optional) broadcasts to
  [batch, heads, q, k]: Swin's relative positions and shift masks.
  """
  implementation: Implementation = None
  collection: str = ATTENTION_MAPS
  return_weights: bool = False

  @nn.compact
  def __call__(self, query: jax.Array, key: jax.Array, value: jax.Array,
               bias: jax.Array | None = None
               ) -> jax.Array | tuple[jax.Array, jax.Array]:
    # At init every collection is mutable; maps are recorded only when asked for at apply.
    recorded = self.is_mutable_collection(self.collection) and not self.is_initializing()
    if recorded or self.return_weights:
      output, weights = explicit_attention(query, key, value, bias)
      if recorded:
        self.sow(self.collection, 'weights', weights)
      return (output, weights) if self.return_weights else output
    implementation = _resolve(self.implementation, query.shape[-1], query.dtype)
    # jax.nn.dot_product_attention takes [batch, length, heads, dim].
    one_head = query.ndim == 3
    if one_head:
      query, key, value = query[:, :, None], key[:, :, None], value[:, :, None]
    output = jax.nn.dot_product_attention(
        query, key, value, None if bias is None else bias.astype(query.dtype),
        implementation=implementation)
    return output[:, :, 0] if one_head else output
