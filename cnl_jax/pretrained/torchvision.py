"""torchvision ResNet state dicts -> the Flax ResNet's `params` and `batch_stats`.

torchvision names a tensor by module path and kind (`layer3.5.bn2.running_var`); the Flax
ResNet by collection, module path and leaf (`batch_stats/res4_5/bn2/var`). One rule,
`torchvision_name`, maps the second to the first, so every depth from 18 to 152 converts
the same way. Variables it has no name for (NL and CNL blocks) keep their init.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import traverse_util

Variables = Mapping[str, Any]
StateDict = Mapping[str, Any]

# Counters of PyTorch's BatchNorm: no Flax counterpart, expected and ignored.
IGNORED_SUFFIX = 'num_batches_tracked'

_BLOCK = re.compile(r'res(\d)_(\d+)')  # stage 2..5 = torchvision layer1..layer4
_MODULES = {
    'stem_conv': 'conv1', 'stem_bn': 'bn1', 'head': 'fc',
    'downsample_conv': 'downsample.0', 'downsample_bn': 'downsample.1',
}
_BLOCK_LAYERS = re.compile(r'(conv|bn)\d')  # conv1..conv3, bn1..bn3: same name in both
_LEAVES = {
    ('params', 'kernel'): 'weight', ('params', 'scale'): 'weight', ('params', 'bias'): 'bias',
    ('batch_stats', 'mean'): 'running_mean', ('batch_stats', 'var'): 'running_var',
}
_COLLECTIONS = ('params', 'batch_stats')
_HEAD = ('params', 'head', 'kernel')
_STEM = ('params', 'stem_conv', 'kernel')


def torchvision_name(collection: str, path: tuple[str, ...]) -> str | None:
  """The torchvision key of one Flax variable, or None if torchvision has no such tensor.

  E.g. ('batch_stats', ('res4_5', 'bn2', 'var')) -> 'layer3.5.bn2.running_var';
  ('params', ('res3_1_nonlocal', 'theta', 'kernel')) -> None.
  """
  *modules, leaf = path
  names = []
  for module in modules:
    block = _BLOCK.fullmatch(module)
    if block:
      names.append(f'layer{int(block[1]) - 1}.{block[2]}')
    elif module in _MODULES:
      names.append(_MODULES[module])
    elif _BLOCK_LAYERS.fullmatch(module):
      names.append(module)
    else:
      return None
  return '.'.join([*names, _LEAVES[collection, leaf]])


def _torch_shape(leaf: str, shape: tuple[int, ...]) -> tuple[int, ...]:
  """A Flax variable's shape in PyTorch layout: kernels HWIO -> OIHW and [in, out] -> [out, in]."""
  if leaf != 'kernel':
    return tuple(shape)
  if len(shape) == 4:
    height, width, in_features, out_features = shape
    return (out_features, in_features, height, width)
  return tuple(reversed(shape))


def _to_flax(leaf: str, value: np.ndarray) -> np.ndarray:
  """A PyTorch tensor in Flax layout: kernels OIHW -> HWIO and [out, in] -> [in, out]."""
  if leaf != 'kernel':
    return value
  return value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T


@dataclasses.dataclass(frozen=True)
class LoadReport:
  """What a load did, for the log and for callers that check it.

  Attributes:
    loaded: tensors copied into the model.
    ignored: `num_batches_tracked` tensors skipped.
    head_loaded: whether `fc` became the classifier; False when the class counts differ or
      the model has no classifier (a backbone inside a larger model, e.g. TASN's).
    kept_at_init: top-level Flax modules left at their init (NL/CNL blocks, a skipped head).
    classes: (state dict's, model's) class counts; the model's is 0 without a classifier.
  """
  loaded: int
  ignored: int
  head_loaded: bool
  kept_at_init: tuple[str, ...]
  classes: tuple[int, int]

  def __str__(self) -> str:
    head = ('fc loaded as the classifier' if self.head_loaded else
            'fc skipped: the model has no classifier' if not self.classes[1] else
            f'fc skipped: it has {self.classes[0]} classes, the model {self.classes[1]}')
    kept = ', '.join(self.kept_at_init) or 'nothing'
    return (f'loaded {self.loaded} tensors ({self.ignored} num_batches_tracked ignored); '
            f'{head}; kept at init: {kept}.')


class StateDictMismatchError(ValueError):
  """The state dict does not fit the model; nothing was loaded."""

  def __init__(self, missing: list[str], unexpected: list[str], wrong_shapes: list[str],
               hint: str):
    self.missing, self.unexpected, self.wrong_shapes = missing, unexpected, wrong_shapes
    lines = ['The state dict does not fit the model, so nothing was loaded.']
    for title, entries in (('missing keys', missing), ('unexpected keys', unexpected),
                           ('wrong shapes', wrong_shapes)):
      if entries:
        lines.append(f'{title} ({len(entries)}): {", ".join(entries)}')
    lines.append(hint)
    super().__init__('\n'.join(lines))


def _stage_sizes(block_keys: list[tuple[int, int]]) -> tuple[int, ...]:
  """Blocks per stage from (stage, index) pairs."""
  return tuple(sum(1 for s, _ in set(block_keys) if s == stage)
               for stage in sorted({s for s, _ in block_keys}))


def _hint(state_dict: StateDict, names: list[str]) -> str:
  """What to check, naming the blocks per stage on each side when they differ."""
  layers = re.compile(r'layer(\d)\.(\d+)\.')
  given = _stage_sizes([(int(m[1]), int(m[2])) for k in state_dict if (m := layers.match(k))])
  wanted = _stage_sizes([(int(m[1]), int(m[2])) for k in names if (m := layers.match(k))])
  if given and given != wanted:
    return (f'The state dict has {given} blocks per stage and the model {wanted}: load a '
            'checkpoint of the same ResNet depth, or build the model for this checkpoint.')
  return ('Expected a torchvision ResNet state dict (keys like conv1.weight, '
          'layer1.0.bn1.running_var, fc.weight) of the same depth as the model.')


def convert_torchvision_state_dict(variables: Variables, state_dict: StateDict
                                   ) -> tuple[dict[str, Any], LoadReport]:
  """Copies a torchvision ResNet state dict into Flax variables; returns them and a report.

  `variables` come from `model.init` of any `cnl_jax` ResNet (`jax.eval_shape` of it will
  do); `state_dict` maps torchvision keys to arrays (NumPy, or anything `np.asarray` reads).
  Every backbone tensor must be present with its shape, and no other key may be; otherwise
  `StateDictMismatchError` lists every problem and nothing is loaded. `fc` is loaded when
  its class count equals the model's and skipped (head kept at init) when it differs. NL and
  CNL blocks keep their init. Values are cast to the dtype of the variable they replace.
  """
  flat = traverse_util.flatten_dict({c: variables[c] for c in _COLLECTIONS if c in variables})
  if _STEM not in flat:
    raise ValueError('Expected the variables of a cnl_jax ResNet (`model.init(...)`), got '
                     f'collections {list(variables)} without {"/".join(_STEM)}.')
  targets, kept = {}, []  # torchvision key -> Flax key; Flax modules torchvision lacks
  for key in flat:
    name = torchvision_name(key[0], key[1:])
    if name is None:
      kept.append(key[1])
    else:
      targets[name] = key

  in_features, classes = flat[_HEAD].shape if _HEAD in flat else (None, 0)
  fc = state_dict.get('fc.weight')
  fc_classes = int(np.shape(fc)[0]) if fc is not None else classes
  if fc is not None and _HEAD not in flat:  # ResNet(classifier=False): fc has nowhere to go
    known = [*targets, 'fc.weight', 'fc.bias']
  # Another class count is a new task, not an error; other in-features are another depth.
  elif fc is not None and np.shape(fc)[1:] == (in_features,) and fc_classes != classes:
    targets = {name: key for name, key in targets.items() if key[1] != 'head'}
    known = [*targets, 'fc.weight', 'fc.bias']
    kept.append('head')
  else:
    known = list(targets)

  given = [name for name in state_dict if not name.endswith(IGNORED_SUFFIX)]
  missing = [name for name in known if name not in state_dict]
  unexpected = [name for name in given if name not in known]
  wrong_shapes = [
      f'{name} is {np.shape(state_dict[name])}, the model needs {wanted} (PyTorch layout)'
      for name, key in targets.items() if name in state_dict
      and np.shape(state_dict[name]) != (wanted := _torch_shape(key[-1], flat[key].shape))]
  if missing or unexpected or wrong_shapes:
    raise StateDictMismatchError(missing, unexpected, wrong_shapes, _hint(state_dict, known))

  for name, key in targets.items():
    flat[key] = jnp.asarray(_to_flax(key[-1], np.asarray(state_dict[name])),
                            dtype=flat[key].dtype)
  report = LoadReport(loaded=len(targets), ignored=len(state_dict) - len(given),
                      head_loaded=_HEAD in flat and 'head' not in kept,
                      kept_at_init=tuple(dict.fromkeys(kept)),
                      classes=(fc_classes, classes))
  return {**variables, **traverse_util.unflatten_dict(flat)}, report


def load_torchvision_state_dict(variables: Variables, state_dict: StateDict
                                ) -> dict[str, Any]:
  """`convert_torchvision_state_dict` that logs its report and returns only the variables."""
  converted, report = convert_torchvision_state_dict(variables, state_dict)
  logging.info('torchvision state dict: %s', report)
  return converted
