"""timm ViT and Swin state dicts -> Flax `params` of `cnl_jax.models.vit` and `.swin`.

timm names a tensor by module path (`blocks.3.attn.qkv.weight`,
`layers.2.blocks.5.attn.relative_position_bias_table`, `layers.1.downsample.reduction.weight`);
the Flax models by module path and leaf (`block3/attn/qkv/kernel`, ...). `timm_name` maps
the second to the first; the qkv projection is fused on both sides (rows [3, heads,
head_dim]), so every tensor converts by a transpose at most. A ViT position embedding made
for another grid is resampled as timm does (`position_embedding.py`); Swin's
relative-position tables carry over unchanged and its buffers (`relative_position_index`,
`attn_mask`, rebuilt from the image size) are not loaded. Variables timm has no name for (the
CNL block) keep their init.
"""

from __future__ import annotations

import re
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from cnl_jax.errors import WeightsError
from cnl_jax.pretrained.position_embedding import Resampling, resample_position_embedding
from cnl_jax.pretrained.torchvision import LoadReport, StateDict, Variables

# Buffers of timm's Swin that some checkpoints hold: rebuilt from the image size, not loaded.
BUFFERS = ('relative_position_index', 'attn_mask')
HEADS = {'vit': 'head', 'swin': 'head.fc'}
EXAMPLE_KEYS = {'vit': 'cls_token, pos_embed, blocks.0.attn.qkv.weight, head.weight',
                'swin': 'patch_embed.norm.weight, layers.0.blocks.0.attn.qkv.weight, '
                        'layers.1.downsample.reduction.weight, head.fc.weight'}
_MODULES = (
    (re.compile(r'block(\d+)'), r'blocks.\1'),
    (re.compile(r'stage(\d+)_merge'), r'layers.\1.downsample'),
    (re.compile(r'stage(\d+)_(\d+)'), r'layers.\1.blocks.\2'),
    (re.compile(r'patch_embed'), 'patch_embed.proj'),
    (re.compile(r'patch_embed_norm'), 'patch_embed.norm'),
    (re.compile(r'norm'), 'norm'),
)
_LEAVES = {'kernel': 'weight', 'scale': 'weight'}


def family_of(params: Any) -> str:
  """'vit' or 'swin': which cnl_jax transformer the params belong to."""
  if 'cls_token' in params:
    return 'vit'
  if 'patch_embed_norm' in params:
    return 'swin'
  raise ValueError('Expected the params of a cnl_jax VisionTransformer or SwinTransformer, '
                   f'got top-level modules {sorted(params)[:8]}.')


def timm_name(path: tuple[str, ...], family: str) -> str | None:
  """The timm key of one Flax parameter, or None if timm has no such tensor.

  E.g. ('block3', 'attn', 'qkv', 'kernel') -> 'blocks.3.attn.qkv.weight';
  ('stage1_merge', 'reduction', 'kernel') -> 'layers.1.downsample.reduction.weight';
  ('cnl', 'theta', 'kernel') -> None.
  """
  if len(path) == 1:  # cls_token, pos_embed
    return path[0]
  top, *middle, leaf = path
  if top == 'head':
    module = HEADS[family]
  else:
    module = next((pattern.sub(replacement, top) for pattern, replacement in _MODULES
                   if pattern.fullmatch(top)), None)
    if module is None:
      return None
  return '.'.join([module, *middle, _LEAVES.get(leaf, leaf)])


def _torch_shape(leaf: str, shape: tuple[int, ...]) -> tuple[int, ...]:
  """A Flax parameter's shape in PyTorch layout: HWIO -> OIHW, [in, out] -> [out, in]."""
  if leaf != 'kernel':
    return tuple(shape)
  if len(shape) == 4:
    return (shape[3], shape[2], shape[0], shape[1])
  return tuple(reversed(shape))


def _to_flax(leaf: str, value: np.ndarray) -> np.ndarray:
  if leaf != 'kernel':
    return value
  return value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T


def _square_grid(tokens: int) -> tuple[int, int]:
  """The patch grid of a ViT with a class token and `tokens` tokens in all; only square
  grids are resampled (the model was built for one image size, square in every config)."""
  side = int(np.sqrt(tokens - 1))
  if side * side != tokens - 1:
    raise WeightsError(f'The model has {tokens - 1} patches, not a square grid: build it '
                       'for square images to load position embeddings of another size.')
  return side, side


def _mismatch(family: str, problem: str) -> WeightsError:
  return WeightsError(f'The weights do not fit the model, so nothing was loaded: {problem}; '
                      f'expected a timm {family} state dict of the same size (keys like '
                      f'{EXAMPLE_KEYS[family]}).')


def convert_timm_state_dict(variables: Variables, state_dict: StateDict, *,
                            position_resampling: Resampling = 'bicubic'
                            ) -> tuple[dict[str, Any], LoadReport]:
  """Copies a timm ViT or Swin state dict into Flax variables; returns them and a report.

  `variables` come from `model.init` of a cnl_jax VisionTransformer or SwinTransformer
  (`jax.eval_shape` of it will do). Every backbone tensor must be present with its shape,
  except the ViT position embedding, which is resampled to the model's grid with
  `position_resampling`; otherwise a one-line WeightsError names the first bad key and
  nothing is loaded. The classifier is loaded when its class count equals the model's and
  skipped (kept at init) when it differs, is absent (ImageNet-21k files without a head) or
  the model has none.
  """
  params = traverse_util.flatten_dict(variables['params'])
  family = family_of(variables['params'])
  head = HEADS[family]
  targets, kept = {}, []
  for path in params:
    name = timm_name(path, family)
    if name is None:
      kept.append(path[0])
    else:
      targets[name] = path
  given = {name: value for name, value in state_dict.items()
           if name.rsplit('.', 1)[-1] not in BUFFERS}
  head_names = (f'{head}.weight', f'{head}.bias')
  source_classes = (int(np.shape(given[head_names[0]])[0]) if head_names[0] in given
                    else None)
  model_classes = params[('head', 'kernel')].shape[1] if ('head', 'kernel') in params else None
  head_loaded = source_classes is not None and source_classes == model_classes
  if not head_loaded:
    targets = {name: path for name, path in targets.items() if path[0] != 'head'}
    given = {name: value for name, value in given.items() if name not in head_names}
    if model_classes is not None:
      kept.append('head')

  for name, path in targets.items():
    if name not in given:
      raise _mismatch(family, f'{name} is missing')
    shape, wanted = np.shape(given[name]), _torch_shape(path[-1], params[path].shape)
    resizable = name == 'pos_embed' and len(shape) == 3 and shape[2] == wanted[2]
    if shape != wanted and not resizable:
      raise _mismatch(family, f'{name} is {shape}, the model needs {wanted} (PyTorch layout)')
  unexpected = [name for name in given if name not in targets]
  if unexpected:
    raise _mismatch(family, f'{unexpected[0]} is not a tensor of the model')

  for name, path in targets.items():
    value = np.asarray(given[name])
    if name == 'pos_embed':
      value = resample_position_embedding(value, _square_grid(params[path].shape[1]),
                                          position_resampling)
    params[path] = jnp.asarray(_to_flax(path[-1], value), dtype=params[path].dtype)
  buffers = [name for name in state_dict if name.rsplit('.', 1)[-1] in BUFFERS]
  report = LoadReport(loaded=len(targets), ignored=len(buffers), head_loaded=head_loaded,
                      kept_at_init=tuple(dict.fromkeys(kept)),
                      classes=(source_classes, model_classes), head=head,
                      ignored_kind='Swin buffers')
  return {**variables, 'params': traverse_util.unflatten_dict(params)}, report
