"""PMG's per-stage heads, which RMG-PMSI inherits: a conv block that pools
a stage's map to a vector, and a two-layer classifier.

Both follow PMG's released code (PRIS-CV/PMG-Progressive-Multi-Granularity-Training @
db7a7d7, model.py: `BasicConv`, `conv_block*`, `classifier*`): PyTorch's default init for
every new layer, U(+-1/sqrt(fan_in)) for weights and biases, and BatchNorm2d momentum 0.01.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.models.layers import BatchNorm, torch_dense, torch_kernel_init, torch_padding


class ConvBlock(nn.Module):
  """1x1 conv -> BN -> ReLU -> 3x3 conv -> BN -> ReLU, then a global max pool.

  [batch, height, width, channels] -> [batch, features]. The BNs keep 0.99 of their running
  statistics per update (PyTorch momentum 0.01, as released). PMG's max pool has the map's
  size as its kernel at 448 px, i.e. a global max.
  """
  inner_features: int
  features: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    for index, (features, kernel) in enumerate(((self.inner_features, 1),
                                                (self.features, 3))):
      x = nn.Conv(features, (kernel, kernel), padding=torch_padding(kernel), use_bias=False,
                  kernel_init=torch_kernel_init, name=f'conv{index + 1}', **common)(x)
      x = BatchNorm(use_running_average=not train, momentum=0.99, name=f'bn{index + 1}',
                    **common)(x)
      x = nn.relu(x)
    return jnp.max(x, axis=(1, 2))


class Classifier(nn.Module):
  """BN1d -> Linear -> BN1d -> ELU -> Linear: [batch, in] -> logits [batch, num_classes]."""
  num_classes: int
  inner_features: int
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = BatchNorm(use_running_average=not train, name='bn1', **common)(x)
    x = torch_dense(self.inner_features, x.shape[-1], 'fc1', **common)(x)
    x = nn.elu(BatchNorm(use_running_average=not train, name='bn2', **common)(x))
    return torch_dense(self.num_classes, self.inner_features, 'fc2', **common)(x)
