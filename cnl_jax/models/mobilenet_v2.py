"""torchvision-layout MobileNetV2 whose stem, blocks and last conv can be tapped by name.

Names follow torchvision's `features` index: `stem` (features[0]), `block1` ... `block17`
(the inverted residual blocks, features[1..17]) and `last` (the 1x1 conv to 1280,
features[18]), so the converter maps them one to one and RMG-PMSI's taps read `block6`,
`block13` and `last`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.models.layers import BatchNorm, kaiming_fan_out_init, torch_padding

# torchvision's convs take kaiming_normal_(mode='fan_out'); its Linear N(0, 0.01), zero bias.
_dense_init = nn.initializers.normal(stddev=0.01)

# (expansion t, output channels c, blocks n, first stride s) of torchvision's MobileNetV2.
INVERTED_RESIDUAL_SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
STEM_CHANNELS = 32
LAST_CHANNELS = 1280


def make_divisible(value: float, divisor: int = 8) -> int:
  """torchvision's `_make_divisible`: the nearest multiple of `divisor`, never 10% below."""
  rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
  return rounded + divisor if rounded < 0.9 * value else rounded


@dataclasses.dataclass(frozen=True)
class BlockSpec:
  """One inverted residual block: its tap name (torchvision features index) and shape."""
  name: str
  expansion: int
  in_channels: int
  out_channels: int
  stride: int


def block_specs(width_multiplier: float = 1.0) -> tuple[BlockSpec, ...]:
  """Every inverted residual block in order, `block1` ... `block17`."""
  specs = []
  in_channels = make_divisible(STEM_CHANNELS * width_multiplier)
  for expansion, channels, count, first_stride in INVERTED_RESIDUAL_SETTING:
    out_channels = make_divisible(channels * width_multiplier)
    for index in range(count):
      specs.append(BlockSpec(f'block{len(specs) + 1}', expansion, in_channels, out_channels,
                             first_stride if index == 0 else 1))
      in_channels = out_channels
  return tuple(specs)


NUM_BLOCKS = len(block_specs())  # 17: `last` is torchvision's features[NUM_BLOCKS + 1]

# How the depthwise convs run: 'grouped' (one grouped convolution: cuDNN's depthwise kernels
# on GPU, and what LiteRT and ONNX have kernels for) or 'shifted' (`ShiftedDepthwiseConv`,
# the fast one under XLA:CPU). Same parameters and results.
Depthwise = Literal['grouped', 'shifted']
DEPTHWISE = ('grouped', 'shifted')


def fastest_depthwise(backend: str) -> Depthwise:
  """The depthwise lowering that runs fastest on JAX backend `backend` ('cpu', 'gpu', ...)."""
  return 'shifted' if backend == 'cpu' else 'grouped'


class ShiftedDepthwiseConv(nn.Conv):
  """A depthwise conv (`feature_group_count` = channels, no bias, PyTorch padding k // 2)
  written as k x k shifted multiply-adds.

  XLA:CPU fuses them into one elementwise loop: ~30x faster forward and ~5x faster backward
  there than its grouped convolution (0.3 vs 9 GMAC/s, BENCHMARKS.md); on GPUs and under
  LiteRT the grouped convolution is faster. The parameter is `nn.Conv`'s, and it is still an
  `nn.Conv`, so `cnl_jax.summary` counts its MACs.
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel_height, kernel_width = self.kernel_size
    stride_height, stride_width = self.strides
    channels = x.shape[-1]
    kernel = self.param('kernel', self.kernel_init, (kernel_height, kernel_width, 1, channels),
                        self.param_dtype)
    x, kernel = nn.dtypes.promote_dtype(x, kernel, dtype=self.dtype)
    padded = jnp.pad(x, ((0, 0), (kernel_height // 2,) * 2, (kernel_width // 2,) * 2, (0, 0)))
    height = (padded.shape[1] - kernel_height) // stride_height + 1
    width = (padded.shape[2] - kernel_width) // stride_width + 1
    return sum(padded[:, i:i + stride_height * (height - 1) + 1:stride_height,
                      j:j + stride_width * (width - 1) + 1:stride_width] * kernel[i, j, 0]
               for i in range(kernel_height) for j in range(kernel_width))


class ConvNormActivation(nn.Module):
  """Conv (no bias) + BN + optional ReLU6: torchvision's `Conv2dNormActivation`."""
  features: int
  kernel: int = 1
  stride: int = 1
  groups: int = 1
  activation: bool = True
  depthwise: Depthwise = 'grouped'
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    shifted = self.depthwise == 'shifted' and self.groups == self.features == x.shape[-1]
    conv = ShiftedDepthwiseConv if shifted else nn.Conv
    x = conv(self.features, (self.kernel, self.kernel), (self.stride, self.stride),
             padding=torch_padding(self.kernel), feature_group_count=self.groups,
             use_bias=False, kernel_init=kaiming_fan_out_init, name='conv', **common)(x)
    x = BatchNorm(use_running_average=not train, name='bn', **common)(x)
    return jax.nn.relu6(x) if self.activation else x


class InvertedResidual(nn.Module):
  """1x1 expansion (absent when t = 1) -> 3x3 depthwise -> linear 1x1 projection (+ input)."""
  spec: BlockSpec
  depthwise: Depthwise = 'grouped'
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    spec, common = self.spec, dict(dtype=self.dtype, param_dtype=self.param_dtype)
    hidden = int(round(spec.in_channels * spec.expansion))
    y = x
    if spec.expansion != 1:
      y = ConvNormActivation(hidden, name='expand', **common)(y, train=train)
    y = ConvNormActivation(hidden, 3, spec.stride, groups=hidden, depthwise=self.depthwise,
                           name='depthwise', **common)(y, train=train)
    y = ConvNormActivation(spec.out_channels, activation=False, name='project',
                           **common)(y, train=train)
    if spec.stride == 1 and spec.in_channels == spec.out_channels:
      return x + y
    return y


class MobileNetV2(nn.Module):
  """MobileNetV2 (torchvision layout) returning `(logits, features)`.

  features: `stem`, `block1` ... `block17`, `last` (each [batch, height, width, channels])
  and `pooled` [batch, last channels]. With `num_classes=None` there is no classifier (a
  trunk for other heads) and the first output is `pooled`.

  Attributes:
    num_classes: width of the classifier, or None for the trunk alone.
    width_multiplier: scales every width, rounded to multiples of 8 as torchvision does
      (the last conv keeps 1280 below 1.0).
    stem_stride: 2 in torchvision; 1 keeps twice the resolution in every tap (RMG-PMSI's
      released code).
    dropout_rate: dropout before the classifier (0.2 in torchvision).
    depthwise: how the depthwise convs run, 'grouped' or 'shifted' (`DEPTHWISE`); whoever
      builds the model picks the fast one for where it runs (`fastest_depthwise`).
    dtype: compute dtype; param_dtype: parameter dtype (BN statistics stay float32).
  """
  num_classes: int | None
  width_multiplier: float = 1.0
  stem_stride: int = 2
  dropout_rate: float = 0.2
  depthwise: Depthwise = 'grouped'
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  def final_feature_map(self) -> tuple[str, ...]:
    """Path of the submodule whose output [batch, h, w, 1280] the classifier pools (Grad-CAM's
    feature map): the last conv."""
    return ('last',)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """images [batch, height, width, 3] -> (logits [batch, num_classes], features)."""
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f'MobileNetV2 takes images [batch, height, width, 3], got '
                       f'{images.shape}.')
    if self.stem_stride not in (1, 2):
      raise ValueError(f'stem_stride must be 1 or 2, got {self.stem_stride!r}.')
    if self.depthwise not in DEPTHWISE:
      raise ValueError(f'depthwise must be one of {DEPTHWISE}, got {self.depthwise!r}.')
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    features = {}
    x = ConvNormActivation(make_divisible(STEM_CHANNELS * self.width_multiplier), 3,
                           self.stem_stride, name='stem', **common)(
                               images.astype(self.dtype), train=train)
    features['stem'] = x
    for spec in block_specs(self.width_multiplier):
      x = InvertedResidual(spec, self.depthwise, name=spec.name, **common)(x, train=train)
      features[spec.name] = x
    last_channels = make_divisible(LAST_CHANNELS * max(1.0, self.width_multiplier))
    x = ConvNormActivation(last_channels, name='last', **common)(x, train=train)
    features['last'] = x
    x = jnp.mean(x, axis=(1, 2))
    features['pooled'] = x
    if self.num_classes is None:
      return x, features
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    logits = nn.Dense(self.num_classes, kernel_init=_dense_init, name='head', **common)(x)
    return logits.astype(jnp.float32), features
