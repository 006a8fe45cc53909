"""Layers and initialisers shared by the networks, with PyTorch's semantics: the released code
of every method here ran on PyTorch's (or cuDNN's) layers."""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def torch_padding(kernel: int) -> tuple[tuple[int, int], tuple[int, int]]:
  """PyTorch's symmetric padding k // 2 (not 'SAME', which pads differently on even sizes)."""
  return ((kernel // 2, kernel // 2),) * 2


# torch.nn.init.kaiming_normal_(mode='fan_out', nonlinearity='relu'): N(0, 2 / fan_out).
kaiming_fan_out_init = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')

# PyTorch's default conv and linear weight init, U(+-1/sqrt(fan_in)).
torch_kernel_init = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')


def torch_bias_init(fan_in: int) -> nn.initializers.Initializer:
  """PyTorch's default bias init, U(+-1/sqrt(fan_in))."""
  bound = 1 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype,
                                                                  -bound, bound)


def torch_dense(features: int, fan_in: int, name: str, **common: Any) -> nn.Dense:
  """nn.Linear(fan_in, features) with PyTorch's default init."""
  return nn.Dense(features, kernel_init=torch_kernel_init, bias_init=torch_bias_init(fan_in),
                  name=name, **common)


class BatchNorm(nn.Module):
  """Batch normalisation over every axis but the last, with PyTorch's defaults.

  Normalises with the biased batch variance, as every framework does, but moves the running
  variance toward the unbiased one (n / (n - 1) times it, n = values per channel in the
  batch), as PyTorch's BatchNorm and cuDNN's (MXNet's GPU BatchNorm) do; Flax's stores the
  biased one. `unbiased_running_var=False` is Flax's update. Variables are Flax's:
  params `scale`, `bias`; batch_stats `mean`, `var` (float32). Statistics are those of the
  array it is given: under the jitted train step, the global batch over every device.

  Attributes:
    use_running_average: normalise with the running statistics (eval) instead of the batch's.
    momentum: the kept fraction of the running statistics per update (PyTorch's 0.1 = 0.9).
    epsilon: added to the variance (PyTorch's 1e-5).
    unbiased_running_var: the running variance's update, PyTorch's (True) or Flax's.
    dtype: output dtype (statistics are computed in float32, or float64 for float64 input);
      param_dtype: of scale, bias.
    scale_init, bias_init: initialisers of scale (ones) and bias (zeros).
  """
  use_running_average: bool = False
  momentum: float = 0.9
  epsilon: float = 1e-5
  unbiased_running_var: bool = True
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  scale_init: nn.initializers.Initializer = nn.initializers.ones
  bias_init: nn.initializers.Initializer = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x [..., channels] -> the same shape, in `dtype`."""
    channels = x.shape[-1]
    axes = tuple(range(x.ndim - 1))
    running_mean = self.variable('batch_stats', 'mean', jnp.zeros, (channels,), jnp.float32)
    running_var = self.variable('batch_stats', 'var', jnp.ones, (channels,), jnp.float32)
    values = x.astype(jnp.promote_types(x.dtype, jnp.float32))  # float32, or float64
    if self.use_running_average:
      mean, var = running_mean.value, running_var.value
    else:
      mean = jnp.mean(values, axes)
      var = jnp.mean(jnp.square(values - mean), axes)
      if not self.is_initializing():
        count = math.prod(x.shape[:-1])
        if self.unbiased_running_var and count < 2:
          raise ValueError(f'BatchNorm in training needs more than one value per channel, got '
                           f'input {x.shape}; use a larger batch.')
        batch_var = var * count / (count - 1) if self.unbiased_running_var else var
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = self.momentum * running_var.value + (1 - self.momentum) * batch_var
    scale = self.param('scale', self.scale_init, (channels,), self.param_dtype)
    bias = self.param('bias', self.bias_init, (channels,), self.param_dtype)
    multiplier = jax.lax.rsqrt(var + self.epsilon) * scale
    return ((values - mean) * multiplier + bias).astype(self.dtype)


# 1x1 projections of the NL and CNL blocks: no bias, N(0, 0.01) as in the released code.
Projection = functools.partial(
    nn.Conv, kernel_size=(1, 1), use_bias=False,
    kernel_init=nn.initializers.normal(stddev=0.01))

# BN after the output projection z starts at gamma = beta = 0: the block is the identity.
ZeroBatchNorm = functools.partial(
    BatchNorm, scale_init=nn.initializers.zeros, bias_init=nn.initializers.zeros)
