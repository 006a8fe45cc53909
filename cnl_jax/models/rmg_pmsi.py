"""RMG-PMSI's network: MobileNetV2 taps, smooth convs, Multi-Stage Interaction and four heads.

Follows the released code (RMG_PMSI.md section 3): three taps of a MobileNetV2 trunk (the
last 32-, 96- and 1280-channel outputs), each through a smooth conv and a global max pool
to v_i; the MSI gate u_i = v_i + sigmoid(m * v_i) * v_i with m computed from all three;
one classifier per stage on u_i and a concat classifier on [u1; u2; u3]. New layers use
PyTorch's default init, U(+-1/sqrt(fan_in)) for weights and biases.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.models.layers import BatchNorm, torch_padding
from cnl_jax.models.mobilenet_v2 import MobileNetV2

# The trunk outputs each stage reads: the last 32-, 96- and 1280-channel outputs
# (torchvision features[6], [13], [18]).
TAPS = ('block6', 'block13', 'last')
HEADS = ('stage1', 'stage2', 'stage3', 'concat')

# PyTorch's default conv and linear weight init, U(+-1/sqrt(fan_in)).
_torch_kernel_init = nn.initializers.variance_scaling(1 / 3, 'fan_in', 'uniform')


def _torch_bias_init(fan_in: int) -> nn.initializers.Initializer:
  """PyTorch's default bias init, U(+-1/sqrt(fan_in))."""
  bound = 1 / math.sqrt(fan_in)
  return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype,
                                                                  -bound, bound)


def torch_dense(features: int, fan_in: int, name: str, **common: Any) -> nn.Dense:
  """nn.Linear(fan_in, features) with PyTorch's default init."""
  return nn.Dense(features, kernel_init=_torch_kernel_init, bias_init=_torch_bias_init(fan_in),
                  name=name, **common)


class SmoothConv(nn.Module):
  """1x1 conv -> BN -> ReLU -> 3x3 conv -> BN -> ReLU, then a global max pool.

  [batch, height, width, channels] -> v [batch, features]. The BNs keep 0.99 of their
  running statistics per update (PyTorch momentum 0.01, as released).
  """
  inner_features: int = 320
  features: int = 640
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    for index, (features, kernel) in enumerate(((self.inner_features, 1),
                                                (self.features, 3))):
      x = nn.Conv(features, (kernel, kernel), padding=torch_padding(kernel), use_bias=False,
                  kernel_init=_torch_kernel_init, name=f'conv{index + 1}', **common)(x)
      x = BatchNorm(use_running_average=not train, momentum=0.99, name=f'bn{index + 1}',
                    **common)(x)
      x = nn.relu(x)
    return jnp.max(x, axis=(1, 2))


class MultiStageInteraction(nn.Module):
  """The MSI gate: u_i = v_i + g_i * v_i, g_i = sigmoid(m * v_i).

  m = map2(Dropout(map1([v1; v2; v3]))) is one vector per image shared by all stages (no
  activation between the two maps, as released), so every stage's gate depends on all three.
  Takes and returns a list of [batch, features] arrays.
  """
  inner_features: int = 320
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, stages: Sequence[jax.Array], *, train: bool) -> list[jax.Array]:
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    concatenated = jnp.concatenate(stages, -1)
    m = torch_dense(self.inner_features, concatenated.shape[-1], 'map1', **common)(concatenated)
    m = nn.Dropout(self.dropout_rate, deterministic=not train)(m)
    m = torch_dense(stages[0].shape[-1], self.inner_features, 'map2', **common)(m)
    return [v + jax.nn.sigmoid(m * v) * v for v in stages]


class Classifier(nn.Module):
  """BN1d -> Linear -> BN1d -> ELU -> Linear: PMG's classifier, [batch, in] -> [batch, K]."""
  num_classes: int
  inner_features: int = 320
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    x = BatchNorm(use_running_average=not train, name='bn1', **common)(x)
    x = torch_dense(self.inner_features, x.shape[-1], 'fc1', **common)(x)
    x = nn.elu(BatchNorm(use_running_average=not train, name='bn2', **common)(x))
    return torch_dense(self.num_classes, self.inner_features, 'fc2', **common)(x)


class RMGPMSI(nn.Module):
  """MobileNetV2 with RMG-PMSI's heads: images -> {'stage1', 'stage2', 'stage3', 'concat'}.

  Each entry is logits [batch, num_classes] (float32). At 448 px and 200 classes the model
  has 10,527,072 trainable parameters (RMG_PMSI.md).

  Attributes:
    num_classes: width of every classifier.
    stem_stride: the trunk's stem stride. 1 as released (its comment says "for cifar-10"):
      taps at 1/4, 1/8, 1/16 of the image; 2 is torchvision's MobileNetV2 and the shapes the
      released comments state, 1/8, 1/16, 1/32 (PMG's grid), about 4x cheaper.
    width_multiplier: the trunk's width (torchvision's ImageNet weights are 1.0).
    smooth_inner_features, features: the smooth convs' widths (320 -> 640 as released).
    classifier_features: hidden width of the classifiers and of the MSI's first map (320).
    dropout_rate: dropout inside the MSI (0.5).
    dtype: compute dtype; param_dtype: parameter dtype (BN statistics stay float32).
  """
  num_classes: int
  stem_stride: int = 1
  width_multiplier: float = 1.0
  smooth_inner_features: int = 320
  features: int = 640
  classifier_features: int = 320
  dropout_rate: float = 0.5
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @property
  def pretrained_backbones(self) -> dict[str, str]:
    """The `backbone` subtree is torchvision's MobileNetV2 without its classifier."""
    return {'backbone': 'mobilenet_v2'}

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False) -> dict[str, jax.Array]:
    """images [batch, height, width, 3] -> {head: logits [batch, num_classes]}."""
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    _, features = MobileNetV2(None, width_multiplier=self.width_multiplier,
                              stem_stride=self.stem_stride, name='backbone', **common)(
                                  images, train=train)
    pooled = [SmoothConv(self.smooth_inner_features, self.features, name=f'smooth{i + 1}',
                         **common)(features[tap], train=train) for i, tap in enumerate(TAPS)]
    gated = MultiStageInteraction(self.classifier_features, self.dropout_rate,
                                  name='interaction', **common)(pooled, train=train)
    heads = [Classifier(self.num_classes, self.classifier_features, name=f'classifier{i + 1}',
                        **common)(u, train=train) for i, u in enumerate(gated)]
    heads.append(Classifier(self.num_classes, self.classifier_features,
                            name='concat_classifier', **common)(
                                jnp.concatenate(gated, -1), train=train))
    return {name: logits.astype(jnp.float32) for name, logits in zip(HEADS, heads)}
