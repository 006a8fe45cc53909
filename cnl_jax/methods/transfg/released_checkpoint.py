"""Weights as the released TransFG code has them: the state dicts its train.py saves, and
what its `load_from` takes from the ImageNet-21k ViT checkpoint.

After TACJu/TransFG @ 9336fba, models/modeling.py:177-351 and train.py:55-66. The released
`load_from` reads the patch embedding, class token, position embedding (zoomed:
`position_embedding.py`), blocks 0 .. L-2 and, since ff28b58, `part_norm` from the
checkpoint's `encoder_norm`; it skips every encoder child named `part*`, so the part layer
(the checkpoint's last block is never read) and the head keep their random init
(`zero_head=True` is passed but unused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

# Released module path -> timm's ViT module path (TransFG's parameter names are the ViT's).
_MODULES = (
    (re.compile(r'transformer\.embeddings\.patch_embeddings\.'), 'patch_embed.proj.'),
    (re.compile(r'transformer\.embeddings\.cls_token'), 'cls_token'),
    (re.compile(r'transformer\.embeddings\.position_embeddings'), 'pos_embed'),
    (re.compile(r'transformer\.encoder\.layer\.(\d+)\.'), r'blocks.\1.'),
    (re.compile(r'transformer\.encoder\.part_layer\.'), 'blocks.{part}.'),
    (re.compile(r'transformer\.encoder\.part_norm\.'), 'norm.'),
    (re.compile(r'part_head\.'), 'head.'),
)
_BLOCK_MODULES = {'attention_norm.': 'norm1.', 'ffn_norm.': 'norm2.', 'ffn.fc1.': 'mlp.fc1.',
                  'ffn.fc2.': 'mlp.fc2.', 'attn.out.': 'attn.proj.'}
_BLOCK = re.compile(r'transformer\.encoder\.layer\.(\d+)\.')


def _timm_name(name: str, part_block: int) -> str:
  for pattern, replacement in _MODULES:
    if pattern.match(name):
      renamed = pattern.sub(replacement.replace('{part}', str(part_block)), name, count=1)
      break
  else:
    raise ValueError(f'{name!r} is not a tensor of the released TransFG VisionTransformer: '
                     'pass the state dict its train.py saves (checkpoint["model"]), keys like '
                     'transformer.encoder.layer.0.attn.query.weight.')
  for released, timm in _BLOCK_MODULES.items():
    renamed = renamed.replace(f'.{released}', f'.{timm}')
  return renamed


def timm_state_dict(released: Mapping[str, Any]) -> dict[str, np.ndarray]:
  """A released TransFG state dict -> timm's ViT names and layouts (the part layer as the
  last block `blocks.{L-1}`, `part_norm` as `norm`, `part_head` as `head`), the query, key
  and value projections fused into `attn.qkv` (rows [3, heads, head_dim]). Values are NumPy
  arrays in PyTorch layout ([out, in] kernels)."""
  part_block = 1 + max((int(m[1]) for name in released if (m := _BLOCK.match(name))),
                       default=-1)
  state, projections = {}, {}
  for name, value in released.items():
    renamed = _timm_name(name, part_block)
    match = re.fullmatch(r'(blocks\.\d+\.attn)\.(query|key|value)\.(weight|bias)', renamed)
    if match:
      projections[(match[1], match[3], match[2])] = np.asarray(value)
    else:
      state[renamed] = np.asarray(value)
  for module, leaf in {(module, leaf) for module, leaf, _ in projections}:
    parts = [projections.get((module, leaf, part)) for part in ('query', 'key', 'value')]
    if any(part is None for part in parts):
      raise ValueError(f'The released state dict lacks part of {module}\'s query, key and '
                       f'value {leaf}: pass a whole checkpoint["model"].')
    state[f'{module}.qkv.{leaf}'] = np.concatenate(parts)
  return state


def released_pretrained_params(pretrained: Mapping[str, Any], initial: Mapping[str, Any],
                               load_part_layer: bool = False) -> dict[str, Any]:
  """The params the released `load_from` starts training from: `pretrained` (the ImageNet
  checkpoint loaded into every TransFG parameter) except the part layer (the last block) and
  the head, which keep `initial` (their random init). `load_part_layer=True` keeps the
  checkpoint's last block too (the head always keeps its init)."""
  blocks = [int(name[len('block'):]) for name in initial if re.fullmatch(r'block\d+', name)]
  if not blocks or set(initial) != set(pretrained):
    raise ValueError('Expected two param trees of one TransFG (top-level block0 ... block{L-1}, '
                     f'head, ...), got {sorted(pretrained)[:6]} and {sorted(initial)[:6]}.')
  kept = ['head'] + ([] if load_part_layer else [f'block{max(blocks)}'])
  return {name: initial[name] if name in kept else value
          for name, value in pretrained.items()}
