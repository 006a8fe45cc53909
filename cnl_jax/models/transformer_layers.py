"""The layers ViT and Swin share, with timm's semantics (huggingface/pytorch-image-models):
multi-head self-attention with a fused qkv projection, the GELU MLP, stochastic depth."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnl_jax.models.attention import TOKEN_ATTENTION_MAPS, DotProductAttention, Implementation
from cnl_jax.models.layers import torch_bias_init, torch_kernel_init

# timm's ViT init (`init_weights_vit_timm`): truncated N(0, 0.02) weights, zero biases.
dense_init = nn.initializers.truncated_normal(stddev=0.02)


def dense(features: int, name: str, **common: Any) -> nn.Dense:
  """nn.Linear with timm's ViT init."""
  return nn.Dense(features, kernel_init=dense_init, name=name, **common)


def patch_embedding(images: jax.Array, width: int, patch_size: int, stride: int,
                    **common: Any) -> jax.Array:
  """images [batch, height, width, 3] -> patch features [batch, rows, columns, width]: the
  `patch_embed` conv of timm's ViT and Swin (PyTorch's default init), its patches `stride`
  apart (overlapping where stride < patch_size). Called inside a compact module."""
  return nn.Conv(width, (patch_size,) * 2, (stride,) * 2, padding='VALID',
                 kernel_init=torch_kernel_init, bias_init=torch_bias_init(3 * patch_size ** 2),
                 name='patch_embed', **common)(images.astype(common.get('dtype', images.dtype)))


def drop_path_rates(rate: float, blocks: int) -> tuple[float, ...]:
  """Block i's drop-path rate: linear from 0 to `rate` over all blocks (timm's
  `torch.linspace(0, drop_path_rate, depth)`)."""
  return tuple(float(r) for r in np.linspace(0, rate, blocks)) if blocks else ()


class DropPath(nn.Module):
  """Stochastic depth: in training, zeroes a residual branch for a whole sample with
  probability `rate` and scales the kept ones by 1 / (1 - rate) (timm's `DropPath`).
  Draws from the 'dropout' rng."""
  rate: float

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    if not train or self.rate == 0:
      return x
    keep = 1 - self.rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    kept = jax.random.bernoulli(self.make_rng('dropout'), keep, shape)
    return jnp.where(kept, x / keep, jnp.zeros_like(x))


# Chebyshev fit of erfc (Numerical Recipes, `erfcc`): relative error below 1.2e-7 for every
# argument, float32's precision.
_ERFC_COEFFICIENTS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                      0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def _erfc(z: jax.Array) -> jax.Array:
  """erfc without branches that overflow: XLA's erfc evaluates a polynomial in 1 / z^2 for
  every element and selects, which once exported to LiteRT and ONNX becomes inf x 0 = NaN
  near z = 0 (`lax.erf` does not export at all)."""
  t = 1 / (1 + 0.5 * jnp.abs(z))
  polynomial = 0.0
  for coefficient in reversed(_ERFC_COEFFICIENTS[1:]):
    polynomial = t * (coefficient + polynomial)
  tail = t * jnp.exp(-z * z + _ERFC_COEFFICIENTS[0] + polynomial)
  return jnp.where(z >= 0, tail, 2 - tail)


def exact_gelu(x: jax.Array) -> jax.Array:
  """x Phi(x) = x erfc(-x / sqrt 2) / 2, torch's default GELU (timm's), to float32
  precision, computed in float32; JAX's gelu defaults to the tanh approximation."""
  x32 = x.astype(jnp.float32)
  return (x32 * _erfc(-x32 * np.sqrt(0.5)) / 2).astype(x.dtype)


class Mlp(nn.Module):
  """fc1 -> exact GELU -> dropout -> fc2 -> dropout, hidden width `ratio` x the input's
  (timm's `Mlp`). timm's ViT and Swin use no dropout (`dropout_rate` 0); the ViT-pytorch
  code TransFG builds on uses 0.1 after the GELU and after fc2. Dropout draws from the
  'dropout' rng in training."""
  ratio: float = 4.0
  dropout_rate: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    dropout = lambda y: nn.Dropout(self.dropout_rate)(y, deterministic=not train)
    hidden = dropout(exact_gelu(dense(int(x.shape[-1] * self.ratio), 'fc1', **common)(x)))
    return dropout(dense(x.shape[-1], 'fc2', **common)(hidden))


def relative_position_index(window: int) -> np.ndarray:
  """[window^2, window^2] index into Swin's bias table of each (query, key) pair of a
  window: (dy + window - 1) (2 window - 1) + (dx + window - 1), dy = y_query - y_key
  (timm `get_relative_position_index`)."""
  coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing='ij'))
  coords = coords.reshape(2, -1)
  relative = (coords[:, :, None] - coords[:, None, :]).transpose(1, 2, 0) + window - 1
  return relative[..., 0] * (2 * window - 1) + relative[..., 1]


class Attention(nn.Module):
  """Multi-head self-attention: fused `qkv` projection (rows [3, heads, head_dim], timm's
  layout), scaled dot-product attention per head, output projection `proj`.

  With `window` set (Swin's `WindowAttention`) it adds a learned bias per head and
  relative position, `relative_position_bias_table` [(2 window - 1)^2, heads], to the
  logits; `mask` adds more (the shifted windows' -100s). The attention itself runs through
  `DotProductAttention`, so cuDNN's kernel applies on GPUs and the maps [batch, heads,
  tokens, tokens] are recorded in the `token_attention_maps` collection when it is mutable.
  With `return_weights` the call returns (output, maps) and always runs the explicit softmax.
  Shapes: x [batch, tokens, dim]; mask [batch or windows, 1, tokens, tokens], where a
  batch of images x windows (image-major, as Swin orders it) repeats a per-window mask.
  """
  num_heads: int
  window: int | None = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None
  return_weights: bool = False

  @nn.compact
  def __call__(self, x: jax.Array, mask: jax.Array | None = None
               ) -> jax.Array | tuple[jax.Array, jax.Array]:
    batch, tokens, dim = x.shape
    if dim % self.num_heads:
      raise ValueError(f'Width {dim} does not split into {self.num_heads} heads.')
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    qkv = dense(3 * dim, 'qkv', **common)(x).reshape(batch, tokens, 3, self.num_heads, -1)
    bias = mask
    if self.window is not None:
      table = self.param('relative_position_bias_table', dense_init,
                         ((2 * self.window - 1) ** 2, self.num_heads), self.param_dtype)
      index = relative_position_index(self.window)
      relative = table[index.reshape(-1)].reshape(tokens, tokens, -1).transpose(2, 0, 1)
      bias = relative[None] if mask is None else relative[None] + mask
    if bias is not None and bias.shape[0] not in (1, batch):
      bias = jnp.tile(bias, (batch // bias.shape[0], 1, 1, 1))  # per window, every image
    attended = DotProductAttention(self.attention_implementation, TOKEN_ATTENTION_MAPS,
                                   self.return_weights, name='attention')(
        qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], bias)
    attended, weights = attended if self.return_weights else (attended, None)
    output = dense(dim, 'proj', **common)(attended.reshape(batch, tokens, dim))
    return (output, weights) if self.return_weights else output

