"""RMG-PMSI's network: MobileNetV2 taps, smooth convs, Multi-Stage Interaction and four heads.

Follows the released code (cj-wade/Progressive-Multi-stage-Interactive-Training-in-Mobile-
Network-for-FGVC @ 857ba00, models/network/PMSI.py, models/backbone/MobilenetV2_for_PMSI.py):
three taps of a MobileNetV2 trunk (the last 32-, 96- and 1280-channel outputs), each through
a smooth conv and a global max pool to v_i; the MSI gate u_i = v_i + sigmoid(m * v_i) * v_i with m computed from all three;
one classifier per stage on u_i and a concat classifier on [u1; u2; u3]. The conv blocks
and classifiers are PMG's (`cnl_jax.methods.pmg.heads`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.methods.pmg.heads import Classifier, ConvBlock
from cnl_jax.models.layers import torch_dense
from cnl_jax.models.mobilenet_v2 import Depthwise, MobileNetV2

# The trunk outputs each stage reads: the last 32-, 96- and 1280-channel outputs
# (torchvision features[6], [13], [18]).
TAPS = ('block6', 'block13', 'last')
HEADS = ('stage1', 'stage2', 'stage3', 'concat')


class MultiStageInteraction(nn.Module):
  """The MSI gate: u_i = v_i + g_i * v_i, g_i = sigmoid(m * v_i).

  m = map2(Dropout(map1([v1; v2; v3]))) is one vector per image shared by all stages (no
  activation between the two maps, as released), so every stage's gate depends on all three.
  Takes and returns a list of [batch, features] arrays.
  """
  inner_features: int = 320
  dropout_rate: float = 0.5
  depthwise: Depthwise = 'grouped'
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


class RMGPMSI(nn.Module):
  """MobileNetV2 with RMG-PMSI's heads.

  Returns `(logits, features)`: logits {'stage1', 'stage2', 'stage3', 'concat'} each
  [batch, num_classes] (float32); features: the gated vectors u_i [batch, features] under
  'stage1', 'stage2', 'stage3', and the trunk's taps by name (`TAPS`).

  Attributes:
    num_classes: width of every classifier.
    stem_stride: the trunk's stem stride. 1 as released (its comment says "for cifar-10"):
      taps at 1/4, 1/8, 1/16 of the image; 2 is torchvision's MobileNetV2 and the shapes the
      released comments state, 1/8, 1/16, 1/32 (PMG's grid), about 4x cheaper.
    width_multiplier: the trunk's width (torchvision's ImageNet weights are 1.0).
    smooth_inner_features, features: the smooth convs' widths (320 -> 640 as released).
    classifier_features: hidden width of the classifiers and of the MSI's first map (320).
    dropout_rate: dropout inside the MSI (0.5).
    depthwise: how the trunk's depthwise convs run (`MobileNetV2.depthwise`).
    dtype: compute dtype; param_dtype: parameter dtype (BN statistics stay float32).
  """
  num_classes: int
  stem_stride: int = 1
  width_multiplier: float = 1.0
  smooth_inner_features: int = 320
  features: int = 640
  classifier_features: int = 320
  dropout_rate: float = 0.5
  depthwise: Depthwise = 'grouped'
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """images [batch, height, width, 3] -> ({head: logits [batch, num_classes]}, features)."""
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    _, trunk = MobileNetV2(None, width_multiplier=self.width_multiplier,
                           stem_stride=self.stem_stride, depthwise=self.depthwise,
                           name='backbone', **common)(
                               images, train=train)
    pooled = [ConvBlock(self.smooth_inner_features, self.features, name=f'smooth{i + 1}',
                        **common)(trunk[tap], train=train) for i, tap in enumerate(TAPS)]
    gated = MultiStageInteraction(self.classifier_features, self.dropout_rate,
                                  name='interaction', **common)(pooled, train=train)
    heads = [Classifier(self.num_classes, self.classifier_features, name=f'classifier{i + 1}',
                        **common)(u, train=train) for i, u in enumerate(gated)]
    heads.append(Classifier(self.num_classes, self.classifier_features,
                            name='concat_classifier', **common)(
                                jnp.concatenate(gated, -1), train=train))
    features = {**{tap: trunk[tap] for tap in TAPS},
                **{head: u for head, u in zip(HEADS, gated)}}
    return {name: logits.astype(jnp.float32) for name, logits in zip(HEADS, heads)}, features
