"""torchvision-layout ResNet v1.5 whose block outputs can be tapped by name.

Blocks are named `res{stage}_{index}` in the paper's terms (stage 2..5 = torchvision
`layer1..layer4`, index 0-based), e.g. `res3_1`, `res5_1`. NL blocks and the CNL block
attach to blocks by these names.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.models.attention import Implementation
from cnl_jax.models.cnl import CNL, Reshape
from cnl_jax.models.layers import (BatchNorm, kaiming_fan_out_init, torch_bias_init,
                                   torch_padding)
from cnl_jax.models.nonlocal_block import NonLocal


class ResidualBlock(nn.Module):
  """What the two residual block types share: conv and BN presets and the shortcut."""
  features: int
  stride: int = 1
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  expansion = 1

  def conv(self, features: int, kernel: int, stride: int, name: str) -> nn.Conv:
    return nn.Conv(features, (kernel, kernel), (stride, stride), padding=torch_padding(kernel),
                   use_bias=False, kernel_init=kaiming_fan_out_init, dtype=self.dtype,
                   param_dtype=self.param_dtype, name=name)

  def norm(self, name: str, train: bool) -> BatchNorm:
    return BatchNorm(use_running_average=not train, dtype=self.dtype,
                     param_dtype=self.param_dtype, name=name)

  def shortcut(self, x: jax.Array, train: bool) -> jax.Array:
    """Identity, or a strided 1x1 conv + BN where the shape changes (torchvision `downsample`)."""
    out_features = self.features * self.expansion
    if self.stride == 1 and x.shape[-1] == out_features:
      return x
    return self.norm('downsample_bn', train)(
        self.conv(out_features, 1, self.stride, 'downsample_conv')(x))


class BasicBlock(ResidualBlock):
  """Two 3x3 convs (ResNet-18/34); the stride sits on the first."""
  expansion = 1

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = nn.relu(self.norm('bn1', train)(self.conv(self.features, 3, self.stride, 'conv1')(x)))
    y = self.norm('bn2', train)(self.conv(self.features, 3, 1, 'conv2')(y))
    return nn.relu(y + self.shortcut(x, train))


class Bottleneck(ResidualBlock):
  """1x1 -> 3x3 -> 1x1 (x4 channels); v1.5: the stride sits on the 3x3 conv."""
  expansion = 4

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    y = nn.relu(self.norm('bn1', train)(self.conv(self.features, 1, 1, 'conv1')(x)))
    y = nn.relu(self.norm('bn2', train)(self.conv(self.features, 3, self.stride, 'conv2')(y)))
    y = self.norm('bn3', train)(self.conv(self.features * 4, 1, 1, 'conv3')(y))
    return nn.relu(y + self.shortcut(x, train))


@dataclasses.dataclass(frozen=True)
class Architecture:
  """Block type and blocks per stage (res2..res5) of one ResNet depth."""
  block: type[BasicBlock] | type[Bottleneck]
  stage_sizes: tuple[int, int, int, int]


ARCHITECTURES: dict[int, Architecture] = {
    18: Architecture(BasicBlock, (2, 2, 2, 2)),
    34: Architecture(BasicBlock, (3, 4, 6, 3)),
    50: Architecture(Bottleneck, (3, 4, 6, 3)),
    101: Architecture(Bottleneck, (3, 4, 23, 3)),
    152: Architecture(Bottleneck, (3, 8, 36, 3)),
}

# Each stage halves the resolution (res2 by the stem's max-pool); the stem conv halves it too.
# Strides of the first block of res2..res5 (res2's input is already halved by the max-pool).
STAGE_STRIDES = (1, 2, 2, 2)


@dataclasses.dataclass(frozen=True)
class BlockSpec:
  """One residual block: its tap name, width, stride and output channels."""
  name: str
  features: int
  stride: int
  out_channels: int


def block_specs(depth: int, width: int = 64,
                stage_strides: tuple[int, int, int, int] = STAGE_STRIDES
                ) -> tuple[BlockSpec, ...]:
  """Every residual block of a ResNet depth in order, named `res{stage}_{index}`.

  `width` is the stem's and res2's channel count (64 in every torchvision ResNet); each
  later stage doubles it. `stage_strides` are the strides of each stage's first block.
  """
  if depth not in ARCHITECTURES:
    raise ValueError(f'ResNet depth must be one of {sorted(ARCHITECTURES)}, got {depth}.')
  arch = ARCHITECTURES[depth]
  specs = []
  for stage_index, size in enumerate(arch.stage_sizes):
    features = width * 2 ** stage_index
    for index in range(size):
      stride = stage_strides[stage_index] if index == 0 else 1
      specs.append(BlockSpec(f'res{stage_index + 2}_{index}', features, stride,
                             features * arch.block.expansion))
  return tuple(specs)


@dataclasses.dataclass(frozen=True)
class CNLPlacement:
  """Where a CNL block sits: its query block and the blocks whose outputs it attends to."""
  query: str
  responses: tuple[str, ...]


class ResNet(nn.Module):
  """ResNet v1.5 (torchvision layout) with optional NL blocks and one optional CNL block.

  Returns `(logits, features)`: logits [batch, num_classes] (with `num_classes=None`, no
  dropout or classifier: the pooled features [batch, channels], for a backbone inside a larger
  model) and a dict of every block output
  (`res2_0` ... `res5_2`), each NL output (`<block>_nonlocal`), the CNL output (`cnl`),
  `stem` and `pooled`. Under `jax.jit` the features nobody reads cost nothing. The
  classifier starts as the released CNL code's (kaiming-normal fan-out weights, PyTorch's
  default bias) unless `head_std` is set; every BN is PyTorch's (`layers.BatchNorm`).

  Attributes:
    depth: 18, 34, 50, 101 or 152.
    num_classes: width of the classifier, or None for none.
    width: channels of the stem and res2 (64 in the paper; smaller for quick experiments).
    nonlocal_after: blocks followed by an NL block; its output feeds the next block.
    cnl: the CNL block's query and responses; its output replaces the query's block output.
    cnl_inner_features, cnl_reshape: passed to `CNL`.
    dropout_rate: dropout before the classifier (0.5 in the paper's code).
    head_std: None for the released classifier init; a number for N(0, head_std) weights
      and zero bias instead. The released init, N(0, 2 / classes), suits a pretrained trunk
      and 200 classes; on a trunk trained from scratch with few classes (the demo) its
      logits start in the tens and the loss with them.
    dtype: compute dtype; param_dtype: parameter dtype (BN statistics stay float32).
    attention_implementation: passed to every NL and CNL attention ('xla', 'cudnn', 'auto').
    stage_strides: strides of the first block of res2..res5; TASN's attention net uses
      (1, 1, 2, 1) for a stride-8 res5 (the parameters do not change).
    remat_blocks: recompute each residual block's activations in the backward pass instead
      of keeping them (`nn.remat`): less memory for about one more forward pass of compute,
      to fit larger batches. Same parameters and results.
  """
  depth: int
  num_classes: int | None
  width: int = 64
  nonlocal_after: tuple[str, ...] = ()
  cnl: CNLPlacement | None = None
  cnl_inner_features: int = 256
  cnl_reshape: Reshape = 'paper'
  dropout_rate: float = 0.5
  head_std: float | None = None
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None
  stage_strides: tuple[int, int, int, int] = STAGE_STRIDES
  remat_blocks: bool = False

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """images [batch, height, width, 3] -> (logits [batch, num_classes], features)."""
    specs = block_specs(self.depth, self.width, self.stage_strides)
    self._check(images, specs)
    out_channels = {spec.name: spec.out_channels for spec in specs}
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    features = {}

    x = nn.Conv(self.width, (7, 7), (2, 2), padding=torch_padding(7), use_bias=False,
                kernel_init=kaiming_fan_out_init, name='stem_conv',
                **common)(images.astype(self.dtype))
    x = nn.relu(BatchNorm(use_running_average=not train, name='stem_bn', **common)(x))
    # Zero padding, not max_pool's -inf: the same result after the ReLU, and a range that
    # int8 post-training quantization can represent (cnl_jax.export).
    x = nn.max_pool(jnp.pad(x, ((0, 0), *torch_padding(3), (0, 0))), (3, 3), (2, 2))
    features['stem'] = x
    streams = {}  # what each block hands to the next, after any attention attached to it
    block = ARCHITECTURES[self.depth].block
    if self.remat_blocks:
      block = nn.remat(block, static_argnums=(2,))  # argument 2 (after self, x) is `train`
    for spec in specs:
      x = block(spec.features, spec.stride, name=spec.name, **common)(x, train)
      features[spec.name] = x
      if spec.name in self.nonlocal_after:
        x = NonLocal(attention_implementation=self.attention_implementation,
                     name=f'{spec.name}_nonlocal', **common)(x, train=train)
        features[f'{spec.name}_nonlocal'] = x
      if self.cnl is not None and spec.name == self.cnl.query:
        x = CNL(inner_features=self.cnl_inner_features,
                response_channels=tuple(out_channels[r] for r in self.cnl.responses),
                reshape=self.cnl_reshape,
                attention_implementation=self.attention_implementation,
                name='cnl', **common)(x, [streams[r] for r in self.cnl.responses], train=train)
        features['cnl'] = x
      streams[spec.name] = x

    x = jnp.mean(x, axis=(1, 2))
    features['pooled'] = x
    if self.num_classes is None:
      return x, features
    x = nn.Dropout(self.dropout_rate, deterministic=not train)(x)
    # The released CNL code's new classifier: kaiming_normal_(fan_out) weights, N(0, 2 /
    # num_classes), and PyTorch's default bias (FouriYe/CNL-ICIP2020 @ a10a8c4, train_val.py).
    if self.head_std is None:
      kernel_init, bias_init = kaiming_fan_out_init, torch_bias_init(x.shape[-1])
    else:
      kernel_init, bias_init = nn.initializers.normal(self.head_std), nn.initializers.zeros
    logits = nn.Dense(self.num_classes, kernel_init=kernel_init, bias_init=bias_init,
                      name='head', **common)(x)
    return logits.astype(jnp.float32), features

  def final_feature_map(self) -> tuple[str, ...]:
    """Path of the submodule whose output [batch, h, w, channels] the classifier pools:
    the last block, or the NL or CNL block attached to it (Grad-CAM's feature map)."""
    last = block_specs(self.depth, self.width, self.stage_strides)[-1].name
    if self.cnl is not None and self.cnl.query == last:
      return ('cnl',)
    if last in self.nonlocal_after:
      return (f'{last}_nonlocal',)
    return (last,)

  def _check(self, images: jax.Array, specs: tuple[BlockSpec, ...]) -> None:
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f'ResNet takes images [batch, height, width, 3], got {images.shape}.')
    total_stride = 4 * math.prod(self.stage_strides)
    if min(images.shape[1:3]) < total_stride:
      raise ValueError(
          f'Images of {images.shape[1]}x{images.shape[2]} are too small: ResNet taps down to '
          f'1/{total_stride} resolution, so height and width must be at least {total_stride}.')
    order = [spec.name for spec in specs]
    named = list(self.nonlocal_after)
    if self.cnl is not None:
      named += [self.cnl.query, *self.cnl.responses]
    unknown = [name for name in named if name not in order]
    if unknown:
      raise ValueError(f'Unknown block names {unknown} for ResNet-{self.depth}; valid names '
                       f'are {order[0]} ... {order[-1]}: {", ".join(order)}.')
    if self.cnl is not None:
      late = [r for r in self.cnl.responses if order.index(r) >= order.index(self.cnl.query)]
      if late:
        raise ValueError(f'CNL responses {late} do not come before the query '
                         f'{self.cnl.query}: a response must be an earlier block.')
