"""The TransFG network: a ViT whose last block sees only the class token and the patch each
head of the earlier blocks' attention chain points at.

After the released code (TACJu/TransFG @ 9336fba, models/modeling.py:139-313: `Embeddings`,
`Encoder`, `Part_Attention`, `VisionTransformer`; ViT-B_16 sizes in models/configs.py:18-33).
Parameters carry the ViT's names, so one converter serves both: `patch_embed`, `cls_token`,
`pos_embed`, `block0` .. `block{depth - 2}` (the released `encoder.layer`), `block{depth - 1}`
(`part_layer`), `norm` (`part_norm`), `head` (`part_head`).

The blocks are the ViT's (`cnl_jax.models.vit.Block`), as released: pre-norm, LayerNorm
eps 1e-6, exact GELU, dropout 0.1 in the MLP and none on the attention; the first depth - 1
return their post-softmax attention maps for the part selection.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cnl_jax.methods.transfg.part_selection import PartSelector
from cnl_jax.methods.transfg.patches import PATCH_SIZE, Split, patch_stride, patches_per_side
from cnl_jax.models.attention import Implementation
from cnl_jax.models.layers import torch_dense
from cnl_jax.models.transformer_layers import patch_embedding
from cnl_jax.models.vit import SIZES, Block, PatchGrid, VitSize

LAYER_NORM_EPSILON = 1e-6  # the released part_norm (modeling.py:258)


class TransFG(nn.Module):
  """TransFG returning `(logits, features)`.

  features: `patch_embed` [batch, h, w, width]; each block's output `block{i}` (the last one
  [batch, 1 + heads, width]); `class_token_attention` [batch, heads, tokens], the class
  token's row of the first depth - 1 blocks' attention chain (the rollout map drawn by the
  tools); `part_indices` [batch, heads], the token each head selected; `norm` (the part
  norm's output) and `pooled` [batch, width], its class token: the classifier's input and
  the contrastive loss's features. With `num_classes=None` there is no classifier and the
  first output is `pooled`.

  Attributes:
    num_classes: classes of the part head, or None for none.
    width: token width (768 for ViT-B/16).
    depth: blocks in all, the part layer included (the released `num_layers`, 12).
    num_heads: attention heads per block, hence parts selected (12).
    mlp_ratio: hidden width of each MLP over the block width (3072 / 768).
    patch_size, split, slide_step: the patch embedding (`patches.patch_stride`); the
      released CLI default is 'non-overlap', its README and paper use 'overlap' with 12.
    dropout_rate: dropout on the embedded tokens and in every MLP (the released
      `dropout_rate` 0.1).
    dtype: compute dtype; param_dtype: parameter dtype.
    attention_implementation: the part layer's attention ('xla', 'cudnn', 'auto'); the
      other blocks run the explicit softmax, since the selection reads their maps.
  """
  num_classes: int | None
  width: int = 768
  depth: int = 12
  num_heads: int = 12
  mlp_ratio: float = 4.0
  patch_size: int = PATCH_SIZE
  split: Split = 'overlap'
  slide_step: int = 12
  dropout_rate: float = 0.1
  dtype: Any = jnp.float32
  param_dtype: Any = jnp.float32
  attention_implementation: Implementation = None

  @property
  def architecture(self) -> str | None:
    """The ViT whose pretrained weights fit ('vit_base_patch16'), or None for a size that
    has none."""
    size = VitSize(self.width, self.depth, self.num_heads)
    names = [name for name, known in SIZES.items() if known == size]
    return f'vit_{names[0]}_patch{self.patch_size}' if names else None

  def grid_size(self, height: int, width: int) -> tuple[int, int]:
    """Patches per column and per row of an image of `height` x `width` pixels."""
    return tuple(patches_per_side(side, self.split, self.slide_step, self.patch_size)
                 for side in (height, width))

  @nn.compact
  def __call__(self, images: jax.Array, *, train: bool = False
               ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """images [batch, height, width, 3] -> (logits [batch, num_classes], features)."""
    self._check(images)
    common = dict(dtype=self.dtype, param_dtype=self.param_dtype)
    features = {}
    stride = patch_stride(self.split, self.slide_step, self.patch_size)
    x = patch_embedding(images, self.width, self.patch_size, stride, **common)
    features['patch_embed'] = x
    batch = x.shape[0]
    # Zeros as released (modeling.py:158-159); both are loaded from the checkpoint.
    cls_token = self.param('cls_token', nn.initializers.zeros, (1, 1, self.width),
                           self.param_dtype)
    x = jnp.concatenate([jnp.broadcast_to(cls_token, (batch, 1, self.width)).astype(x.dtype),
                         x.reshape(batch, -1, self.width)], axis=1)
    position = self.param('pos_embed', nn.initializers.zeros, (1, x.shape[1], self.width),
                          self.param_dtype)
    x = nn.Dropout(self.dropout_rate)(x + position.astype(x.dtype), deterministic=not train)

    block = lambda index, **kwargs: Block(
        self.num_heads, self.mlp_ratio, mlp_dropout_rate=self.dropout_rate,
        name=f'block{index}', **kwargs, **common)
    grid = self.grid_size(*images.shape[1:3])
    maps = []
    for index in range(self.depth - 1):
      if index == self.depth - 2:  # the last selection block's input patches: Grad-CAM's map
        patches = PatchGrid(grid, name='last_selection_block_input')(x)
        x = jnp.concatenate([x[:, :1], patches.reshape(batch, -1, self.width)], axis=1)
      x, weights = block(index, return_attention=True)(x, train=train)
      features[f'block{index}'] = x
      maps.append(weights)
    selection = PartSelector(name='part_selection')(maps, x)
    features['class_token_attention'] = selection.class_token_attention
    features['part_indices'] = selection.indices
    x = block(self.depth - 1, attention_implementation=self.attention_implementation)(
        selection.tokens, train=train)
    features[f'block{self.depth - 1}'] = x
    x = nn.LayerNorm(LAYER_NORM_EPSILON, name='norm', **common)(x)
    features['norm'] = x
    pooled = x[:, 0]
    features['pooled'] = pooled
    if self.num_classes is None:
      return pooled, features
    # PyTorch's default Linear init: the released load_from never touches part_head.
    logits = torch_dense(self.num_classes, self.width, 'head', **common)(pooled)
    return logits.astype(jnp.float32), features

  def final_feature_map(self) -> tuple[str, ...]:
    """Grad-CAM's feature map: the patch tokens entering the last block before the part
    selection, as a map. The class token and the selected tokens the part layer reads are
    computed from them there; the argmax of the selection passes no gradient."""
    return ('last_selection_block_input',)

  def _check(self, images: jax.Array) -> None:
    if images.ndim != 4 or images.shape[-1] != 3:
      raise ValueError(f'TransFG takes images [batch, height, width, 3], got {images.shape}.')
    if self.depth < 2:
      raise ValueError(f'TransFG needs at least 2 blocks (selection and part layer), got '
                       f'depth={self.depth}.')
    stride = patch_stride(self.split, self.slide_step, self.patch_size)
    height, width = images.shape[1:3]
    if min(height, width) < self.patch_size or (height - self.patch_size) % stride or (
        width - self.patch_size) % stride:
      raise ValueError(
          f'Images of {height}x{width} do not tile into {self.patch_size} px patches at '
          f'stride {stride} (split={self.split!r}): use sides of {self.patch_size} + a '
          f'multiple of {stride} (448 for the released runs, 304 for iNat).')
