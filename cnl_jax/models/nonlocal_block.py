"""The non-local (NL) block: self-attention over one feature map, the paper's baseline."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.models.attention import DotProductAttention, Implementation
from cnl_jax.models.layers import Projection, ZeroBatchNorm


class NonLocal(nn.Module):
  """x + BN(z(softmax(theta(x) phi(x)^T / sqrt(d)) g(x))) with d = channels / 2.

  BN starts at zero, so the block is the identity at initialisation.
  Shapes: [batch, height, width, channels] -> the same.
  """
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
    batch, height, width, channels = x.shape
    if channels % 2:
      raise ValueError(f'NonLocal needs an even channel count, got {channels}.')
    inner = channels // 2
    project = lambda name, features: Projection(
        features, dtype=self.dtype, param_dtype=self.param_dtype, name=name)
    flat = lambda t: t.reshape(batch, height * width, inner)
    y = DotProductAttention(self.attention_implementation, name='attention')(
        flat(project('theta', inner)(x)),
        flat(project('phi', inner)(x)),
        flat(project('g', inner)(x)))
    z = project('z', channels)(y.reshape(batch, height, width, inner))
    z = ZeroBatchNorm(use_running_average=not train, dtype=self.dtype,
                      param_dtype=self.param_dtype, name='bn')(z)
    return x + z
