"""Where ViT and Swin weights come from: timm's files on the Hugging Face hub by name
('imagenet21k', 'imagenet21k_augreg', 'imagenet'), a local timm-format .safetensors or .pth
file, or Google's original ViT .npz (`ViT-B_16.npz`, what TransFG and IELT start from).

Each becomes a timm-named state dict of NumPy arrays and the position-embedding resampling
that the code which made it uses at another image size: timm's bicubic for timm's files,
timm's bilinear for Google's .npz (timm/models/vision_transformer.py, `_load_weights`).
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Mapping

import numpy as np

from cnl_jax.errors import WeightsError
from cnl_jax.pretrained.position_embedding import Resampling
from cnl_jax.pretrained.sources import download_from_hub, read_safetensors, read_torch

# timm's hub repositories (`timm/<model>.<tag>`) by architecture and source name. Heads:
# orig_in21k none (timm: "classifier not valid"), augreg_in21k 21843 classes, ms_in22k
# 21841, *_in1k 1000 (timm/models/vision_transformer.py and swin_transformer.py
# default_cfgs). ViT-S/16 has no original Google ImageNet-21k release: its 'imagenet21k' is
# AugReg's. The weights expect inputs normalised with `NORMALIZATION`.
HUB_WEIGHTS: dict[str, dict[str, str]] = {
    'vit_base_patch16': {
        'imagenet21k': 'vit_base_patch16_224.orig_in21k',
        'imagenet21k_augreg': 'vit_base_patch16_224.augreg_in21k',
        'imagenet': 'vit_base_patch16_224.orig_in21k_ft_in1k',
    },
    'vit_small_patch16': {
        'imagenet21k': 'vit_small_patch16_224.augreg_in21k',
        'imagenet21k_augreg': 'vit_small_patch16_224.augreg_in21k',
        'imagenet': 'vit_small_patch16_224.augreg_in21k_ft_in1k',
    },
    'swin_base_patch4_window7': {
        'imagenet21k': 'swin_base_patch4_window7_224.ms_in22k',
        'imagenet': 'swin_base_patch4_window7_224.ms_in22k_ft_in1k',
    },
    'swin_tiny_patch4_window7': {
        'imagenet21k': 'swin_tiny_patch4_window7_224.ms_in22k',
        'imagenet': 'swin_tiny_patch4_window7_224.ms_in22k_ft_in1k',
    },
}
ARCHITECTURES = tuple(HUB_WEIGHTS)

# (mean, std) per RGB channel that each family's weights were trained with (timm's cfgs):
# Google's ViTs scale pixels to [-1, 1]; Swin uses ImageNet's statistics.
NORMALIZATION = {
    'vit': ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    'swin': ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def read_timm_source(source: str | os.PathLike, architecture: str
                     ) -> tuple[dict[str, np.ndarray], Resampling]:
  """(timm-named state dict, position-embedding resampling) of `source` for an
  architecture of `HUB_WEIGHTS` ('vit_base_patch16')."""
  if architecture not in HUB_WEIGHTS:
    raise WeightsError(f'No timm weights for architecture {architecture!r}; known: '
                       f'{", ".join(ARCHITECTURES)}.')
  named = HUB_WEIGHTS[architecture]
  if isinstance(source, str) and source in named:
    repo = f'timm/{named[source]}'
    return read_safetensors(download_from_hub(repo, source, f'{source} weights for '
                                              f'{architecture} ({repo})')), 'bicubic'
  path = pathlib.Path(source)
  if path.suffix not in ('.safetensors', '.pth', '.pt', '.npz'):
    raise WeightsError(
        f'Unknown pretrained source {str(source)!r} for {architecture}; use one of '
        f'{", ".join(map(repr, named))}, a path to a timm .safetensors or .pth file, a '
        "Google ViT .npz file, or None.")
  if not path.is_file():
    raise WeightsError(f'Pretrained weights file {str(path)!r} does not exist; pass the '
                       f'path of a timm {architecture} checkpoint or one of '
                       f'{", ".join(map(repr, named))}.')
  if path.suffix == '.npz':
    return google_vit_state_dict(dict(np.load(path))), 'bilinear'
  if path.suffix == '.safetensors':
    return read_safetensors(path), 'bicubic'
  return read_torch(path), 'bicubic'


_BLOCK = re.compile(r'Transformer/encoderblock_(\d+)/')
_IGNORED = ('pre_logits/',)  # the in21k files' representation layer, unused by timm's ViT


def google_vit_state_dict(arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Google's ViT .npz (google-research/vision_transformer: `embedding`, `cls`,
  `Transformer/posembed_input/pos_embedding`, `Transformer/encoderblock_i/...`,
  `Transformer/encoder_norm`, `head`) -> timm's names and PyTorch layouts, as timm's
  `_load_weights` converts them: conv HWIO -> OIHW, dense [in, out] -> [out, in], q, k, v
  [width, heads, head_dim] fused into qkv rows, out [heads, head_dim, width] -> [width,
  width]. A key it does not know is a one-line WeightsError naming it."""
  remaining = dict(arrays)

  def take(name: str) -> np.ndarray:
    if name not in remaining:
      raise WeightsError(f'The .npz file has no {name!r}: expected Google\'s ViT checkpoint '
                         '(google-research/vision_transformer, e.g. ViT-B_16.npz).')
    return np.asarray(remaining.pop(name), np.float32)

  state = {'patch_embed.proj.weight': take('embedding/kernel').transpose(3, 2, 0, 1),
           'patch_embed.proj.bias': take('embedding/bias'),
           'cls_token': take('cls'),
           'pos_embed': take('Transformer/posembed_input/pos_embedding')}
  width = state['cls_token'].shape[-1]
  norms = {'norm1': 'LayerNorm_0', 'norm2': 'LayerNorm_2'}
  for index in sorted({int(m[1]) for name in arrays if (m := _BLOCK.match(name))}):
    source, target = f'Transformer/encoderblock_{index}/', f'blocks.{index}.'
    for norm, name in norms.items():
      state[f'{target}{norm}.weight'] = take(f'{source}{name}/scale')
      state[f'{target}{norm}.bias'] = take(f'{source}{name}/bias')
    attention = f'{source}MultiHeadDotProductAttention_1/'
    state[f'{target}attn.qkv.weight'] = np.concatenate(
        [take(f'{attention}{part}/kernel').reshape(width, width).T
         for part in ('query', 'key', 'value')])
    state[f'{target}attn.qkv.bias'] = np.concatenate(
        [take(f'{attention}{part}/bias').reshape(-1) for part in ('query', 'key', 'value')])
    state[f'{target}attn.proj.weight'] = take(f'{attention}out/kernel').reshape(width, width).T
    state[f'{target}attn.proj.bias'] = take(f'{attention}out/bias')
    for layer, name in (('fc1', 'Dense_0'), ('fc2', 'Dense_1')):
      state[f'{target}mlp.{layer}.weight'] = take(f'{source}MlpBlock_3/{name}/kernel').T
      state[f'{target}mlp.{layer}.bias'] = take(f'{source}MlpBlock_3/{name}/bias')
  state['norm.weight'] = take('Transformer/encoder_norm/scale')
  state['norm.bias'] = take('Transformer/encoder_norm/bias')
  if 'head/kernel' in remaining:
    state['head.weight'] = take('head/kernel').T
    state['head.bias'] = take('head/bias')
  unknown = [name for name in remaining if not name.startswith(_IGNORED)]
  if unknown:
    raise WeightsError(f'The .npz file holds {unknown[0]!r}, which Google\'s ViT checkpoint '
                       'format does not have; pass a google-research/vision_transformer ViT '
                       'file (big_vision files are not read).')
  return state
