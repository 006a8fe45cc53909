"""timm's Swin Transformer (`swin_{tiny,small,base,large}_patch4_window{7,12}`), block outputs
tapped by name.

Layout and defaults as timm's `SwinTransformer` (huggingface/pytorch-image-models,
timm/models/swin_transformer.py): a 4x4 patch-embedding conv and LayerNorm; four stages of
pre-norm blocks whose attention runs inside non-overlapping windows with a learned
relative-position bias, every odd block's windows shifted by half a window (the wrapped
regions masked with -100, not -inf, as timm); stages 1-3 *start* with patch merging
(Microsoft's code merges at the end of stages 0-2: same network, other names); LayerNorm
eps 1e-5 (torch's, flax's is 1e-6); a final norm, mean over positions, the head. Blocks are
named `stage{s}_{b}` (timm's `layers.s.blocks.b`), merges `stage{s}_merge`
(`layers.s.downsample`). Every map is [batch, height, width, channels].

Only image sizes whose every stage the windows tile are accepted (224 and 448 for window 7,
384 for window 12): timm pads other sizes after the cyclic shift and builds the shift mask
on the padded grid, so wrapped rows share windows with non-neighbours and padded zeros are
attended, which is not a shifted window.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cnl_jax.models.attention import Implementation
from cnl_jax.models.cnl import CNL, Reshape
from cnl_jax.models.resnet import CNLPlacement
from cnl_jax.models.transformer_layers import (Attention, DropPath, Mlp, dense, drop_path_rates,
                                               patch_embedding)

LAYER_NORM_EPSILON = 1e-5  # torch nn.LayerNorm's default, which timm's Swin keeps
MASKED = -100.0            # timm's shift-mask value between different regions


@dataclasses.dataclass(frozen=True)
class SwinSize:
  """Width of stage 0, blocks and heads per stage of one Swin size (timm's model args)."""
  width: int
  depths: tuple[int, ...]
  num_heads: tuple[int, ...]


SIZES: dict[str, SwinSize] = {
    'tiny': SwinSize(96, (2, 2, 6, 2), (3, 6, 12, 24)),
    'small': SwinSize(96, (2, 2, 18, 2), (3, 6, 12, 24)),
    'base': SwinSize(128, (2, 2, 18, 2), (4, 8, 16, 32)),
    'large': SwinSize(192, (2, 2, 18, 2), (6, 12, 24, 48)),
}


def window_partition(x: jax.Array, window: int) -> jax.Array:
  """[batch, height, width, c] -> [batch * windows, window^2, c], windows row-major per
  image, images one after another (timm `window_partition`)."""
  batch, height, width, channels = x.shape
  x = x.reshape(batch, height // window, window, width // window, window, channels)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(-1, window * window, channels)


def window_reverse(windows: jax.Array, window: int, height: int, width: int) -> jax.Array:
  """Inverse of `window_partition`."""
  channels = windows.shape[-1]
  x = windows.reshape(-1, height // window, width // window, window, window, channels)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


def shift_mask(height: int, width: int, window: int, shift: int) -> np.ndarray:
  """[windows, 1, window^2, window^2]: 0 between positions of the same region of the
  cyclically shifted map, -100 between regions that are not neighbours in the image (timm
  `SwinTransformerBlock.get_attn_mask`)."""
  labels = np.zeros((height, width))
  regions = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
  for index, (rows, columns) in enumerate((r, c) for r in regions for c in regions):
    labels[rows, columns] = index
  windows = np.asarray(window_partition(labels[None, :, :, None], window))[..., 0]
  different = windows[:, None, :] != windows[:, :, None]
  return np.where(different, MASKED, 0.0).astype(np.float32)[:, None]


class SwinBlock(nn.Module):
  """x + attn(norm1(x)) inside (shifted) windows; x + mlp(norm2(x))."""
  num_heads: int
  window: int
  shift: int
  mlp_ratio: float = 4.0
  drop_path: float = 0.0
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    """x [batch, height, width, channels] -> same."""
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    _, height, width, _ = x.shape
    y = nn.LayerNorm(LAYER_NORM_EPSILON, name='norm1', **common)(x)
    mask = None
    if self.shift:
      y = jnp.roll(y, (-self.shift, -self.shift), axis=(1, 2))
      mask = shift_mask(height, width, self.window, self.shift)
    y = Attention(self.num_heads, self.window,
                  attention_implementation=self.attention_implementation, name='attn',
                  **common)(window_partition(y, self.window), mask)
    y = window_reverse(y, self.window, height, width)
    if self.shift:
      y = jnp.roll(y, (self.shift, self.shift), axis=(1, 2))
    x = x + DropPath(self.drop_path)(y, train=train)
    y = Mlp(self.mlp_ratio, name='mlp', **common)(
        nn.LayerNorm(LAYER_NORM_EPSILON, name='norm2', **common)(x))
    return x + DropPath(self.drop_path)(y, train=train)


class PatchMerging(nn.Module):
  """Each 2x2 neighbourhood's channels concatenated as (0,0), (1,0), (0,1), (1,1) (row,
  column), LayerNorm, a bias-free linear map to twice the input channels."""
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    """x [batch, height, width, c] -> [batch, height / 2, width / 2, 2 c]."""
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    batch, height, width, channels = x.shape
    x = x.reshape(batch, height // 2, 2, width // 2, 2, channels).transpose(0, 1, 3, 4, 2, 5)
    x = x.reshape(batch, height // 2, width // 2, 4 * channels)
    x = nn.LayerNorm(LAYER_NORM_EPSILON, name='norm', **common)(x)
    return dense(2 * channels, 'reduction', use_bias=False, **common)(x)


def block_names(depths: tuple[int, ...]) -> tuple[str, ...]:
  """Every block's name in order, `stage0_0` ... ."""
  return tuple(f'stage{stage}_{index}' for stage, depth in enumerate(depths)
               for index in range(depth))


class SwinTransformer(nn.Module):
  """Swin Transformer returning `(logits, features)`.

  features: `patch_embed`, every block's output `stage{s}_{b}` (each [batch, height, width,
  channels]), the CNL output `cnl`, `norm` (the final norm's map) and `pooled`
  [batch, channels]. With `num_classes=None` there is no classifier and the first output is
  `pooled`. Attention maps [batch x windows, heads, window^2, window^2] of every block are
  recorded when the `token_attention_maps` collection is mutable.

  Attributes:
    num_classes: width of the classifier, or None for none.
    width, depths, num_heads: the size (`SIZES`).
    window: side of the attention windows (7 or 12).
    patch_size: side of the patch-embedding conv's patches (4).
    mlp_ratio: hidden width of each MLP over the block width.
    drop_path_rate: stochastic depth of the last block, linear from 0 at the first (timm's
      default for Swin is 0.1).
    cnl: the CNL's query block and response blocks, as on ResNet: its output replaces the
      query block's and feeds the next block.
    cnl_inner_features, cnl_reshape: passed to `CNL`.
    dtype: compute dtype; param_dtype: parameter dtype.
    attention_implementation: passed to every attention ('xla', 'cudnn', 'auto').
  """
  num_classes: int | None
  width: int = 96
  depths: tuple[int, ...] = (2, 2, 6, 2)
  num_heads: tuple[int, ...] = (3, 6, 12, 24)
  window: int = 7
  patch_size: int = 4
  mlp_ratio: float = 4.0
  drop_path_rate: float = 0.1
  cnl: CNLPlacement | None = None
  cnl_inner_features: int = 256
  cnl_reshape: Reshape = 'paper'
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None

  @property
  def architecture(self) -> str | None:
    """The name of its pretrained weights' architecture ('swin_base_patch4_window7'), or
    None for a size that has none."""
    size = SwinSize(self.width, tuple(self.depths), tuple(self.num_heads))
    names = [name for name, known in SIZES.items() if known == size]
    return (f'swin_{names[0]}_patch{self.patch_size}_window{self.window}' if names
            else None)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """images [batch, height, width, 3] -> (logits [batch, num_classes], features)."""
    self._check(images)
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    features = {}
    x = patch_embedding(images, self.width, self.patch_size, self.patch_size, **common)
    x = nn.LayerNorm(LAYER_NORM_EPSILON, name='patch_embed_norm', **common)(x)
    features['patch_embed'] = x
    names = block_names(self.depths)
    rates = dict(zip(names, drop_path_rates(self.drop_path_rate, len(names))))
    channels = dict(zip(names, (self.width * 2 ** stage for stage, depth in
                                enumerate(self.depths) for _ in range(depth))))
    streams = {}  # what each block hands to the next, after a CNL attached to it
    for stage, (depth, heads) in enumerate(zip(self.depths, self.num_heads)):
      if stage:
        x = PatchMerging(name=f'stage{stage}_merge', **common)(x)
      # A map no larger than the window is one window, never shifted (timm).
      shift = self.window // 2 if x.shape[1] > self.window else 0
      for index in range(depth):
        name = f'stage{stage}_{index}'
        x = SwinBlock(heads, self.window, shift if index % 2 else 0, self.mlp_ratio,
                      rates[name], attention_implementation=self.attention_implementation,
                      name=name, **common)(x, train=train)
        features[name] = x
        if self.cnl is not None and name == self.cnl.query:
          x = CNL(inner_features=self.cnl_inner_features,
                  response_channels=tuple(channels[r] for r in self.cnl.responses),
                  reshape=self.cnl_reshape,
                  attention_implementation=self.attention_implementation, name='cnl',
                  **common)(x, [streams[r] for r in self.cnl.responses], train=train)
          features['cnl'] = x
        streams[name] = x
    x = nn.LayerNorm(LAYER_NORM_EPSILON, name='norm', **common)(x)
    features['norm'] = x
    pooled = jnp.mean(x, axis=(1, 2))
    features['pooled'] = pooled
    if self.num_classes is None:
      return pooled, features
    logits = dense(self.num_classes, 'head', **common)(pooled)
    return logits.astype(jnp.float32), features

  def layers(self) -> tuple[tuple[str, ...], ...]:
    """Top-level modules by depth, input side first, for layer-wise learning-rate decay:
    the patch embedding, then each block, a stage's patch merging with its first block
    (timm's `group_matcher`). The final norm, the head and the CNL come after them all."""
    return (('patch_embed', 'patch_embed_norm'),
            *((f'stage{stage}_{index}',) + ((f'stage{stage}_merge',) if stage and not index
                                            else ())
              for stage, depth in enumerate(self.depths) for index in range(depth)))

  def final_feature_map(self) -> tuple[str, ...]:
    """Grad-CAM's feature map: the last block's output, or the CNL attached to it."""
    last = block_names(self.depths)[-1]
    return ('cnl',) if self.cnl is not None and self.cnl.query == last else (last,)

  def _check(self, images: jax.Array) -> None:
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f'Swin takes images [batch, height, width, 3], got {images.shape}.')
    if len(self.depths) != len(self.num_heads):
      raise ValueError(f'Swin depths {self.depths} and num_heads {self.num_heads} must '
                       'have one entry per stage.')
    side = self.patch_size * 2 ** (len(self.depths) - 1) * self.window
    if images.shape[1] % side or images.shape[2] % side:
      raise ValueError(
          f'Swin with window {self.window} needs image sides that are multiples of {side} '
          f'px (every stage a whole number of windows), got {images.shape[1]}x'
          f'{images.shape[2]}; timm pads other sizes into windows that are not shifted '
          'windows.')
    if self.cnl is not None:
      order = block_names(self.depths)
      unknown = [n for n in (self.cnl.query, *self.cnl.responses) if n not in order]
      if unknown:
        raise ValueError(f'Unknown block names {unknown}; valid names are {order[0]} ... '
                         f'{order[-1]}.')
      late = [r for r in self.cnl.responses if order.index(r) >= order.index(self.cnl.query)]
      if late:
        raise ValueError(f'CNL responses {late} do not come before the query '
                         f'{self.cnl.query}: a response must be an earlier block.')
