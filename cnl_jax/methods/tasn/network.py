"""TASN (Zheng et al., CVPR 2019): trilinear attention sampling network, as released.

An attention net (ResNet-18 at stride 8 + a shared-weight dilated head) yields feature maps
X; trilinear attention turns them into per-channel maps, from which a structure map (all
parts) and a detail map (one part) steer the attention-based sampler. One ResNet-50 (part
net = master net) classifies both sampled images (researchmm/tasn @ 5dba8cc,
tasn-mxnet/example/tasn/model.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.methods.tasn import sampler
from cnl_jax.models.layers import BatchNorm
from cnl_jax.models.resnet import ResNet, block_specs

HEADS = ('attention', 'part', 'master', 'part_shared', 'master_shared')

# MXNet's MSRAPrelu: gaussian, averaged fan, PReLU slope 0.25 (the dilated convs).
_dilated_init = nn.initializers.variance_scaling(2 / (1 + 0.25**2), 'fan_avg', 'normal')
# Xavier(gaussian, fan-in, magnitude 2), the released train script's initializer for every
# other new layer: the attention, part and master FCs (biases zero).
_fc_init = nn.initializers.variance_scaling(2.0, 'fan_in', 'normal')


class SharedDilatedConv(nn.Module):
  """One 3x3 conv (kernel and bias) applied at several dilations, ReLU each, summed.

  [batch, h, w, C] -> [batch, h, w, features]; padding = dilation keeps the size.
  """
  features: int
  dilations: Sequence[int]
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param('kernel', _dilated_init, (3, 3, x.shape[-1], self.features),
                        self.param_dtype)
    bias = self.param('bias', nn.initializers.zeros, (self.features,), self.param_dtype)
    out = 0
    for dilation in self.dilations:
      # An unbound nn.Conv fed the shared parameters, so the summary CLI counts its MACs.
      conv = nn.Conv(self.features, (3, 3), kernel_dilation=dilation,
                     padding=((dilation, dilation),) * 2, dtype=self.dtype,
                     param_dtype=self.param_dtype, parent=None)
      out = out + nn.relu(conv.apply({'params': {'kernel': kernel, 'bias': bias}}, x))
    return out


class TASN(nn.Module):
  """The attention net, the sampler and the part/master net with their five heads.

  Returns `(logits, outputs)`: logits {'attention', 'part', 'master', 'part_shared',
  'master_shared'} each [batch, num_classes]; outputs {'attention_maps' [batch, h, w, C]
  (trilinear), 'structure_map', 'detail_map' [batch, H, W], 'structure_images',
  'detail_images' [batch, sample_size, sample_size, 3]}. Training draws the detail channel
  from the 'sampling' PRNG stream.

  Attributes:
    num_classes: width of every classifier.
    sample_size: side of the sampled images (224 of 512; 336 in the released 336 variant).
    attention_size: side of the attention net's input (224 as released, whatever
      sample_size: its maps stay 28 x 28).
    density_cap, iterations: the sampler's cap (times the uniform density) and its passes.
    softmax_scale, dedup, released_cdf: the released code's quirks (attention_sampler).
    attention_depth, attention_width: the attention ResNet (18, 64).
    part_depth, part_width: the part/master ResNet (50, 64).
    dtype, param_dtype: compute and parameter dtypes.
  """
  num_classes: int
  sample_size: int = 224
  attention_size: int = 224
  density_cap: float = 4.0
  iterations: int = 5
  softmax_scale: float = 7.0
  dedup: sampler.Dedup = 'released'
  released_cdf: bool = True
  attention_depth: int = 18
  attention_width: int = 64
  part_depth: int = 50
  part_width: int = 64
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
    """images [batch, H, W, 3] (normalised) -> (logits per head, maps and sampled images)."""
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    size = images.shape[1:3]
    last_block = block_specs(self.attention_depth)[-1].name
    attention_input = sampler.resize_align_corners(images, (self.attention_size,) * 2)
    _, trunk = ResNet(self.attention_depth, num_classes=None, width=self.attention_width,
                      stage_strides=(1, 1, 2, 1), name='attention_net', **common)(
                          attention_input, train=train)
    x = trunk[last_block]
    channels = x.shape[-1]
    x = SharedDilatedConv(channels, (1, 2), name='dilated_conv1', **common)(x)
    x = SharedDilatedConv(channels, (1, 2, 3), name='dilated_conv2', **common)(x)
    # MXNet's eps 2e-5 (`att_bn1`).
    pooled = jnp.mean(nn.relu(BatchNorm(use_running_average=not train, epsilon=2e-5,
                                        name='attention_bn', **common)(x)), axis=(1, 2))
    dense = lambda name: nn.Dense(self.num_classes, kernel_init=_fc_init, name=name, **common)
    logits = {'attention': dense('attention_fc')(pooled)}

    maps = sampler.trilinear_attention(x.astype(jnp.float32), self.softmax_scale)
    structure = sampler.structure_map(maps, size, self.dedup)
    detail = sampler.detail_map(maps, size, self.make_rng('sampling') if train else None)
    sample = lambda attention_map: sampler.attention_sample(
        images, attention_map, self.sample_size, self.density_cap,
        self.iterations, self.released_cdf)
    detail_images, structure_images = sample(detail), sample(structure)

    features, _ = ResNet(self.part_depth, num_classes=None, width=self.part_width,
                         name='part_net', **common)(
                             jnp.concatenate([detail_images, structure_images]), train=train)
    part, master = jnp.split(features, 2)
    shared = dense('fc_shared')
    logits.update(part=dense('fc_part')(part), master=dense('fc_master')(master),
                  part_shared=shared(part), master_shared=shared(master))
    outputs = {'attention_maps': maps, 'structure_map': structure, 'detail_map': detail,
               'structure_images': structure_images, 'detail_images': detail_images}
    return {head: logits[head].astype(jnp.float32) for head in HEADS}, outputs
