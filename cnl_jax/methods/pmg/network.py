"""PMG's network: a ResNet trunk whose last three stages each feed a conv block and a
classifier, plus a classifier on their concatenation (PRIS-CV/PMG-Progressive-Multi-
Granularity-Training @ db7a7d7, model.py)."""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.methods.pmg.heads import Classifier, ConvBlock
from cnl_jax.models.resnet import ResNet, block_specs

HEADS = ('stage1', 'stage2', 'stage3', 'concat')


def stage_taps(depth: int, width: int) -> tuple[tuple[str, int], ...]:
  """(block name, channels) of the last block of res3, res4 and res5: the released
  `xf3`, `xf4`, `xf5` (torchvision layer2, layer3, layer4)."""
  last = {}
  for spec in block_specs(depth, width):
    last[spec.name.split('_')[0]] = (spec.name, spec.out_channels)
  return tuple(last[stage] for stage in ('res3', 'res4', 'res5'))


class PMG(nn.Module):
  """ResNet with PMG's heads.

  Returns `(logits, features)`: logits {'stage1', 'stage2', 'stage3', 'concat'} each
  [batch, num_classes] (float32); features: each stage's pooled conv-block vector
  [batch, last channels / 2] under the head's name, and the trunk's block outputs.

  Attributes:
    num_classes: width of every classifier.
    depth, width: the trunk ResNet (50 and 64 as released).
    feature_size: inner width of the conv blocks and classifiers (512 as released); each
      conv block ends at half the trunk's last channels (1024).
    dtype: compute dtype; param_dtype: parameter dtype (BN statistics stay float32).
  """
  num_classes: int
  depth: int = 50
  width: int = 64
  feature_size: int = 512
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """images [batch, height, width, 3] -> ({head: logits [batch, num_classes]}, features)."""
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    _, trunk = ResNet(self.depth, None, width=self.width, name='backbone', **common)(
        images, train=train)
    taps = stage_taps(self.depth, self.width)
    block_features = taps[-1][1] // 2
    pooled = [ConvBlock(self.feature_size, block_features, name=f'conv_block{i + 1}',
                        **common)(trunk[tap], train=train) for i, (tap, _) in enumerate(taps)]
    logits = [Classifier(self.num_classes, self.feature_size, name=f'classifier{i + 1}',
                         **common)(v, train=train) for i, v in enumerate(pooled)]
    logits.append(Classifier(self.num_classes, self.feature_size, name='classifier_concat',
                             **common)(jnp.concatenate(pooled, -1), train=train))
    features = {**trunk, **dict(zip(HEADS, pooled))}
    return {head: value.astype(jnp.float32) for head, value in zip(HEADS, logits)}, features
