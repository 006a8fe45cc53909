"""Convolution and batch-norm presets shared by the backbone and the attention blocks."""

from __future__ import annotations

import functools

import flax.linen as nn


def torch_padding(kernel: int) -> tuple[tuple[int, int], tuple[int, int]]:
  """PyTorch's symmetric padding k // 2 (not 'SAME', which pads differently on even sizes)."""
  return ((kernel // 2, kernel // 2),) * 2


# PyTorch BatchNorm2d defaults: eps 1e-5, momentum 0.1 (Flax counts the kept fraction).
BatchNorm = functools.partial(nn.BatchNorm, momentum=0.9, epsilon=1e-5, use_fast_variance=False)

# 1x1 projections of the NL and CNL blocks: no bias, N(0, 0.01) as in the released code.
Projection = functools.partial(
    nn.Conv, kernel_size=(1, 1), use_bias=False,
    kernel_init=nn.initializers.normal(stddev=0.01))

# BN after the output projection z starts at gamma = beta = 0: the block is the identity.
ZeroBatchNorm = functools.partial(
    BatchNorm, scale_init=nn.initializers.zeros, bias_init=nn.initializers.zeros)
