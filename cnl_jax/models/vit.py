"""timm's Vision Transformer (`vit_{small,base,large}_patch16`), block outputs tapped by name.

Layout and defaults as timm's `VisionTransformer` (huggingface/pytorch-image-models,
timm/models/vision_transformer.py): a patch-embedding conv, a class token, learned position
embeddings that include the class token's position, pre-norm blocks
(x + attn(norm1(x)); x + mlp(norm2(x))) with exact GELU and LayerNorm eps 1e-6, a final norm
over every token, the class token pooled into the head. Blocks are named `block0` ...
`block{depth - 1}` (timm's `blocks.i`).

CNL on ViT (`cnl_responses`): the query is the last layer's patch tokens after the final
norm, read back as their [grid_height, grid_width, width] map; the responses are earlier
blocks' patch tokens as maps. The head reads only the class token, which never sees the last
layer's output patch tokens, so the CNL's contribution (its output minus its query: the
cross-layer context it adds) is mean-pooled over the grid and added to the normalised class
token before the classifier. Adding keeps the head's input width, so a checkpoint's head
still loads, and since every CNL branch starts at zero (`ZeroBatchNorm`) the network at init
is exactly the plain ViT.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.models.attention import Implementation
from cnl_jax.models.cnl import CNL, Reshape
from cnl_jax.models.transformer_layers import (Attention, DropPath, Mlp, dense, dense_init,
                                               drop_path_rates, patch_embedding)

LAYER_NORM_EPSILON = 1e-6  # timm's ViT (vision_transformer.py: partial(nn.LayerNorm, 1e-6))


@dataclasses.dataclass(frozen=True)
class VitSize:
  """Width, blocks and heads of one ViT size (timm's `vit_*_patch16_224` model args)."""
  width: int
  depth: int
  num_heads: int


SIZES: dict[str, VitSize] = {
    'small': VitSize(384, 12, 6),
    'base': VitSize(768, 12, 12),
    'large': VitSize(1024, 24, 16),
}


class Block(nn.Module):
  """x + attn(norm1(x)); x + mlp(norm2(x)), each branch under stochastic depth.

  `mlp_dropout_rate`: dropout in the MLP (`Mlp`), 0 as in timm; TransFG's released blocks
  use 0.1. `return_attention`: return (x, the attention's post-softmax maps [batch, heads,
  tokens, tokens]), computed with the explicit softmax (TransFG's part selection reads them).
  """
  num_heads: int
  mlp_ratio: float = 4.0
  drop_path: float = 0.0
  norm_epsilon: float = LAYER_NORM_EPSILON
  mlp_dropout_rate: float = 0.0
  return_attention: bool = False
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool
               ) -> jax.Array | tuple[jax.Array, jax.Array]:
    """x [batch, tokens, width] -> same (and the maps with `return_attention`)."""
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    norm = lambda name: nn.LayerNorm(self.norm_epsilon, name=name, **common)
    y = Attention(self.num_heads, attention_implementation=self.attention_implementation,
                  return_weights=self.return_attention, name='attn', **common)(
                      norm('norm1')(x))
    y, weights = y if self.return_attention else (y, None)
    x = x + DropPath(self.drop_path)(y, train=train)
    y = Mlp(self.mlp_ratio, self.mlp_dropout_rate, name='mlp', **common)(
        norm('norm2')(x), train=train)
    x = x + DropPath(self.drop_path)(y, train=train)
    return (x, weights) if self.return_attention else x


class PatchGrid(nn.Module):
  """The patch tokens of a sequence as their map: [batch, 1 + h * w, width] ->
  [batch, h, w, width] (class token dropped). No parameters; a named point where Grad-CAM
  and CNL read a token sequence as a feature map."""
  grid: tuple[int, int]

  @nn.compact
  def __call__(self, tokens: jax.Array) -> jax.Array:
    return tokens[:, 1:].reshape(tokens.shape[0], *self.grid, tokens.shape[-1])


class VisionTransformer(nn.Module):
  """ViT returning `(logits, features)`.

  features: `patch_embed` [batch, h, w, width], every block's output `block{i}`
  [batch, 1 + h * w, width], `norm` (the final norm's output), `cnl` (the CNL's output map,
  with `cnl_responses`) and `pooled` [batch, width]. With `num_classes=None` there is no
  classifier and the first output is `pooled`. Attention maps [batch, heads, tokens, tokens]
  of every block are recorded when the `token_attention_maps` collection is mutable.

  Attributes:
    num_classes: width of the classifier, or None for none.
    width, depth, num_heads: the size (`SIZES`).
    patch_size: side of each patch (16).
    patch_stride: stride of the patch-embedding conv; None = `patch_size` (ViT). Smaller
      strides overlap the patches (TransFG's `split='overlap'`, stride 12).
    mlp_ratio: hidden width of each MLP over the block width.
    drop_path_rate: stochastic depth of the last block, linear from 0 at the first (timm).
    cnl_responses: blocks whose patch tokens the CNL's query (the last layer's patch tokens)
      attends to; empty for no CNL (see the module docstring for where it enters the head).
    cnl_inner_features, cnl_reshape: passed to `CNL`.
    dtype: compute dtype; param_dtype: parameter dtype.
    attention_implementation: passed to every attention ('xla', 'cudnn', 'auto').
  """
  num_classes: int | None
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  patch_size: int = 16
  patch_stride: int | None = None
  mlp_ratio: float = 4.0
  drop_path_rate: float = 0.0
  cnl_responses: tuple[str, ...] = ()
  cnl_inner_features: int = 256
  cnl_reshape: Reshape = 'paper'
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None

  @property
  def architecture(self) -> str | None:
    """The name of its pretrained weights' architecture ('vit_base_patch16'), or None for a
    size that has none."""
    size = VitSize(self.width, self.depth, self.num_heads)
    names = [name for name, known in SIZES.items() if known == size]
    return f'vit_{names[0]}_patch{self.patch_size}' if names else None

  @property
  def stride(self) -> int:
    """The patch-embedding stride in pixels."""
    return self.patch_stride or self.patch_size

  def grid_size(self, height: int, width: int) -> tuple[int, int]:
    """Patches per column and per row of an image of `height` x `width` pixels."""
    return ((height - self.patch_size) // self.stride + 1,
            (width - self.patch_size) // self.stride + 1)

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """images [batch, height, width, 3] -> (logits [batch, num_classes], features)."""
    self._check(images)
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    features = {}
    x = patch_embedding(images, self.width, self.patch_size, self.stride, **common)
    features['patch_embed'] = x
    batch, *grid, _ = x.shape
    grid = tuple(grid)
    cls_token = self.param('cls_token', nn.initializers.normal(1e-6), (1, 1, self.width),
                           self.param_dtype)
    x = jnp.concatenate([jnp.broadcast_to(cls_token, (batch, 1, self.width)).astype(x.dtype),
                         x.reshape(batch, -1, self.width)], axis=1)
    position = self.param('pos_embed', dense_init, (1, x.shape[1], self.width),
                          self.param_dtype)
    x = x + position.astype(x.dtype)

    for index, rate in enumerate(drop_path_rates(self.drop_path_rate, self.depth)):
      if index == self.depth - 1:  # the last block's input patches, where Grad-CAM reads
        patches = PatchGrid(grid, name='last_block_input')(x)
        x = jnp.concatenate([x[:, :1], patches.reshape(batch, -1, self.width)], axis=1)
      x = Block(self.num_heads, self.mlp_ratio, rate,
                attention_implementation=self.attention_implementation,
                name=f'block{index}', **common)(x, train=train)
      features[f'block{index}'] = x
    x = nn.LayerNorm(LAYER_NORM_EPSILON, name='norm', **common)(x)
    features['norm'] = x
    pooled = x[:, 0]
    if self.cnl_responses:
      query = PatchGrid(grid)(x)
      output = CNL(inner_features=self.cnl_inner_features,
                   response_channels=(self.width,) * len(self.cnl_responses),
                   reshape=self.cnl_reshape,
                   attention_implementation=self.attention_implementation, name='cnl',
                   **common)(query, [PatchGrid(grid)(features[name])
                                     for name in self.cnl_responses], train=train)
      features['cnl'] = output
      pooled = pooled + jnp.mean(output - query, axis=(1, 2))
    features['pooled'] = pooled
    if self.num_classes is None:
      return pooled, features
    logits = dense(self.num_classes, 'head', **common)(pooled)
    return logits.astype(jnp.float32), features

  def layers(self) -> tuple[tuple[str, ...], ...]:
    """Top-level modules and parameters by depth, input side first, for layer-wise
    learning-rate decay: the embeddings, then each block (timm's `group_matcher`). The final
    norm, the head and the CNL come after them all."""
    return (('patch_embed', 'cls_token', 'pos_embed'),
            *((f'block{index}',) for index in range(self.depth)))

  def final_feature_map(self) -> tuple[str, ...]:
    """Grad-CAM's feature map: the patch tokens entering the last block as a map. The class
    token the head reads is computed from them there; the last block's own output patch
    tokens never reach the head."""
    return ('last_block_input',)

  def _check(self, images: jax.Array) -> None:
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f'ViT takes images [batch, height, width, 3], got {images.shape}.')
    height, width = images.shape[1:3]
    if min(height, width) < self.patch_size or (height - self.patch_size) % self.stride or (
        width - self.patch_size) % self.stride:
      raise ValueError(
          f'Images of {height}x{width} do not tile into {self.patch_size} px patches at '
          f'stride {self.stride}: use sides of {self.patch_size} + a multiple of '
          f'{self.stride} (e.g. 224 or 448 for ViT/16).')
    blocks = [f'block{index}' for index in range(self.depth - 1)]
    unknown = [name for name in self.cnl_responses if name not in blocks]
    if unknown:
      raise ValueError(f'CNL responses {unknown} are not blocks before the last; valid '
                       f'names are block0 ... block{self.depth - 2}.')
