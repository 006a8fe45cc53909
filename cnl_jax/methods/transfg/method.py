"""TransFG's training method: cross-entropy on the part head plus the contrastive loss on the
class token it reads, the released pretrained start, and its inspection panels.

After the released code (TACJu/TransFG @ 9336fba: models/modeling.py:299-311 `forward`,
315-351 `load_from`; train.py:126-133 for the eval loss). Each quirk of the released code is
an option whose default is the released behaviour.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from cnl_jax.errors import ConfigError
from cnl_jax.grad_cam import CamTarget
from cnl_jax.methods.base import Method, Metrics, Panel
from cnl_jax.methods.transfg.losses import RELEASED_MARGIN, contrastive_loss, part_loss
from cnl_jax.methods.transfg.patches import patch_stride
from cnl_jax.methods.transfg.released_checkpoint import (released_part_layer_init,
                                                         released_start)
from cnl_jax.pretrained import read_timm_source

PART_LAYER_INITS = ('released', 'timm')


def selected_patches_map(part_indices: np.ndarray, grid: tuple[int, int], patch_size: int,
                         stride: int, image_shape: tuple[int, int]) -> np.ndarray:
  """How many heads selected a patch covering each pixel: [height, width] from one image's
  part_indices [heads] (token indices 1 .. patches, row-major over `grid`)."""
  counts = np.zeros(image_shape, np.float32)
  for index in np.asarray(part_indices) - 1:
    row, column = divmod(int(index), grid[1])
    counts[row * stride:row * stride + patch_size,
           column * stride:column * stride + patch_size] += 1
  return counts


class TransFGMethod(Method):
  """Loss, head, pretrained start and panels of a `TransFG` network.

  Loss per batch: CE(part head) (label-smoothed by `label_smoothing`) + the contrastive loss
  on the normalised class token the head reads (`contrastive_loss`), weights 1:1, as the
  released forward returns it. The one head is the part head; its eval loss is plain CE,
  as the released `valid` logs it.
  """

  name = 'transfg'
  reported_head = 'part_head'
  head_titles = {'part_head': 'part head'}

  @classmethod
  def default_options(cls) -> ml_collections.ConfigDict:
    options = super().default_options()
    # The released --smoothing_value defaults to 0 (plain CrossEntropyLoss, train.py:353).
    options.label_smoothing = 0.0
    # The released con_loss (always on) and its hard-coded margin (the paper's alpha).
    options.contrastive_loss = True
    options.contrastive_margin = RELEASED_MARGIN
    # The released con_loss sees one GPU's batch, so its pairs never cross GPUs: pairs are
    # formed within consecutive groups of this many images (the README run: 16, a GPU's
    # batch); 0: the whole batch an update sees, as on one GPU.
    options.contrastive_group_size = 0
    # The released load_from skips every module named part*, so the checkpoint's last block
    # is never read and the part layer trains from random init; True loads it.
    options.pretrained_part_layer = False
    # The part layer's random init: 'released' (PyTorch's Linear default for the attention,
    # Xavier for the MLP, `released_part_layer_init`) or 'timm' (the ViT's, as the others).
    options.part_layer_init = 'released'
    return options

  def check(self, config: ml_collections.ConfigDict) -> None:
    options = self.options
    if options.part_layer_init not in PART_LAYER_INITS:
      raise ConfigError(f'config.method.part_layer_init={options.part_layer_init!r} must be '
                        f'one of {PART_LAYER_INITS}.')
    if not 0 <= options.label_smoothing < 1:
      raise ConfigError(f'config.method.label_smoothing={options.label_smoothing} must lie '
                        'in [0, 1).')
    if not -1 <= options.contrastive_margin <= 1:
      raise ConfigError(f'config.method.contrastive_margin={options.contrastive_margin} '
                        'must lie in [-1, 1] (a cosine similarity); the released is 0.4.')
    micro_batch = config.batch_size // config.grad_accum_steps
    size = options.contrastive_group_size
    if size < 0 or (size and micro_batch % size):
      raise ConfigError(
          f'config.method.contrastive_group_size={size} must be 0 (the whole batch) or '
          f'divide the batch each update sees ({micro_batch} = batch_size / '
          'grad_accum_steps).')

  def init(self, rng: jax.Array, images: jax.Array) -> dict[str, Any]:
    """Variables of the model, the part layer initialised as `part_layer_init` says."""
    model_rng, part_layer_rng = jax.random.split(rng)
    variables = super().init(model_rng, images)
    if self.options.part_layer_init == 'timm':
      return variables
    part_layer = f'block{self.model.depth - 1}'
    params = {**variables['params'], part_layer: released_part_layer_init(
        variables['params'][part_layer], part_layer_rng)}
    return {**variables, 'params': params}

  def loss(self, params: Any, model_state: Any, batch: dict[str, jax.Array], rng: jax.Array,
           update: int) -> tuple[jax.Array, tuple[Any, Metrics]]:
    """Mean loss over the batch, the new model state and the loss's parts."""
    del update  # one update per batch
    (logits, features), new_state = self.train_forward(params, model_state, batch['image'],
                                                       rng)
    labels = batch['label']
    metrics = {'part_loss': part_loss(logits, labels, self.options.label_smoothing)}
    loss = metrics['part_loss']
    if self.options.contrastive_loss:
      size = self.options.contrastive_group_size or labels.shape[0]
      metrics['contrastive_loss'] = contrastive_loss(
          features['pooled'], labels, self.options.contrastive_margin,
          labels.shape[0] // size)
      loss = loss + metrics['contrastive_loss']
    metrics.update(loss=loss, top1=jnp.mean(jnp.argmax(logits, -1) == labels))
    return loss, (new_state, metrics)

  def pretrained_backbones(self) -> dict[str, str]:
    """The whole network takes a ViT's weights (`load_pretrained` says which parts)."""
    architecture = self.model.architecture
    return {'': architecture} if architecture else {}

  def load_pretrained(self, variables: dict[str, Any], source: str | os.PathLike
                      ) -> dict[str, Any]:
    """The released start: the ViT's weights ('imagenet21k' from the hub, or Google's
    ViT-B_16.npz) with the position embeddings zoomed as the released `load_from` does
    (align-corners bilinear), the final norm into the part norm, and the part layer and head
    left at their random init (`pretrained_part_layer` loads the part layer)."""
    (architecture,) = self.pretrained_backbones().values()
    state, _ = read_timm_source(source, architecture)
    started, report = released_start(variables, state, self.options.pretrained_part_layer)
    kept = ['head'] + ([] if self.options.pretrained_part_layer
                       else [f'block{self.model.depth - 1}'])
    logging.info('Pretrained weights from %s as TransFG loads them (position embeddings '
                 'zoomed, %d tensors read); kept at init: %s.', source, report.loaded,
                 ', '.join(kept))
    return started

  def panels(self, variables: dict[str, Any], image: jax.Array) -> dict[str, Panel]:
    """The patch each head selected (how many heads chose each pixel's patch) and the
    attention rollout the selection reads (the class token's row of the attention chain,
    averaged over heads, over the patch grid)."""
    _, features = self.model.apply(variables, image[None], train=False)
    model = self.model
    grid = model.grid_size(*image.shape[:2])
    stride = patch_stride(model.split, model.slide_step, model.patch_size)
    selected = selected_patches_map(np.asarray(features['part_indices'][0]), grid,
                                    model.patch_size, stride, image.shape[:2])
    rollout = np.asarray(features['class_token_attention'][0]).mean(0)[1:].reshape(grid)
    return {'selected_parts': Panel('heatmap', selected),
            'attention_rollout': Panel('heatmap', rollout)}

  def cam_targets(self) -> tuple[CamTarget, ...]:
    """The part head on the patch tokens entering the last block before the selection (the
    part layer reads the class token and the selected tokens computed from them)."""
    return (CamTarget(self.reported_head, self.model.final_feature_map()),)
