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

import math
import re
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import numpy as np

from cnl_jax.errors import WeightsError
from cnl_jax.methods.transfg.position_embedding import zoom_position_embedding
from cnl_jax.pretrained import LoadReport, convert_timm_state_dict

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


def released_start(variables: Mapping[str, Any], state_dict: Mapping[str, np.ndarray],
                   load_part_layer: bool = False) -> tuple[dict[str, Any], LoadReport]:
  """A TransFG's variables (from its init) started as the released `load_from` starts it
  from a timm-named ViT state dict (`cnl_jax.pretrained.read_timm_source`: timm's
  ImageNet-21k file or Google's ViT-B_16.npz): position embeddings zoomed to the model's
  grid (`zoom_position_embedding`), the final norm into the part norm, and the part layer
  and head kept at init (`released_pretrained_params`). Returns them and the converter's
  report of what the file held."""
  tokens = variables['params']['pos_embed'].shape[1]
  side = math.isqrt(tokens - 1)
  if side * side != tokens - 1:
    raise WeightsError(f'The model has {tokens - 1} patches, not a square grid: build it for '
                       'square images to start from the released checkpoint.')
  state = dict(state_dict)
  if 'pos_embed' in state:
    state['pos_embed'] = zoom_position_embedding(state['pos_embed'], (side, side))
  converted, report = convert_timm_state_dict(variables, state)
  params = released_pretrained_params(converted['params'], variables['params'],
                                      load_part_layer)
  return {**converted, 'params': params}, report


def released_part_layer_init(block: Mapping[str, Any], rng: jax.Array) -> dict[str, Any]:
  """A ViT block's params (`block{L-1}`, the part layer) redrawn as the released code
  initialises its part layer, which `load_from` never overwrites (models/modeling.py:68-126):
  the query, key, value and output projections with PyTorch's Linear default (weights and
  biases U(±1/sqrt(fan_in))), the MLP's kernels Xavier-uniform and its biases N(0, 1e-6).
  The LayerNorms (ones, zeros) are timm's too. Shapes and dtypes are kept."""
  keys = iter(jax.random.split(rng, 8))

  def torch_linear(layer: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    bound = 1 / math.sqrt(layer['kernel'].shape[0])
    return {name: jax.random.uniform(next(keys), value.shape, value.dtype, -bound, bound)
            for name, value in layer.items()}

  def xavier(layer: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    kernel, bias = layer['kernel'], layer['bias']
    return {'kernel': nn.initializers.xavier_uniform()(next(keys), kernel.shape, kernel.dtype),
            'bias': 1e-6 * jax.random.normal(next(keys), bias.shape, bias.dtype)}

  attention, mlp = block['attn'], block['mlp']
  return {**block,
          'attn': {name: torch_linear(attention[name]) for name in ('qkv', 'proj')},
          'mlp': {name: xavier(mlp[name]) for name in ('fc1', 'fc2')}}
