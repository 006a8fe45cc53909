"""torchvision ResNet and MobileNetV2 state dicts -> Flax `params` and `batch_stats`.

torchvision names a tensor by module path and kind (`layer3.5.bn2.running_var`,
`features.4.conv.1.1.weight`); the Flax models by collection, module path and leaf
(`batch_stats/res4_5/bn2/var`, `params/block4/depthwise/bn/scale`). One rule per family,
`torchvision_name`, maps the second to the first, so every ResNet depth and every
MobileNetV2 converts the same way. Variables it has no name for (NL and CNL blocks) keep
their init.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import traverse_util

from cnl_jax.errors import UserError
from cnl_jax.models import mobilenet_v2

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


def _resnet_modules(modules: list[str]) -> list[str] | None:
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
  return names


_MOBILENET_BLOCK = re.compile(r'block(\d+)')
_MOBILENET_EXPANSION = {spec.name: spec.expansion for spec in mobilenet_v2.block_specs()}


def _mobilenet_v2_modules(modules: list[str]) -> list[str] | None:
  """stem, block{i}, last are torchvision's features[0], [i], [18]; a block's layers are its
  `conv` Sequential: [expand (absent when t = 1)], depthwise, project conv, project BN."""
  top, *rest = modules
  if top == 'head':
    return ['classifier.1'] if not rest else None
  layer = {'conv': '0', 'bn': '1'}
  if top in ('stem', 'last') and len(rest) == 1 and rest[0] in layer:
    index = 0 if top == 'stem' else mobilenet_v2.NUM_BLOCKS + 1
    return [f'features.{index}', layer[rest[0]]]
  if not _MOBILENET_BLOCK.fullmatch(top) or top not in _MOBILENET_EXPANSION or len(rest) != 2:
    return None
  sequence = ['depthwise', 'project']
  if _MOBILENET_EXPANSION[top] != 1:
    sequence.insert(0, 'expand')
  part, kind = rest
  if part not in sequence or kind not in layer:
    return None
  position = sequence.index(part)
  if part == 'project':  # a bare Conv2d and BatchNorm2d, not a Conv2dNormActivation
    return [f'features.{top[5:]}.conv.{position + int(layer[kind])}']
  return [f'features.{top[5:]}.conv.{position}', layer[kind]]


@dataclasses.dataclass(frozen=True)
class Family:
  """How one torchvision model family names its modules, and what its state dicts look like."""
  modules: Callable[[list[str]], list[str] | None]
  head: str         # torchvision's classifier module
  description: str  # for errors: the expected keys


FAMILIES: dict[str, Family] = {
    'resnet': Family(_resnet_modules, 'fc',
                     'a torchvision ResNet state dict (keys like conv1.weight, '
                     'layer1.0.bn1.running_var, fc.weight) of the same depth as the model'),
    'mobilenet_v2': Family(_mobilenet_v2_modules, 'classifier.1',
                           'a torchvision MobileNetV2 state dict (keys like '
                           'features.0.0.weight, features.2.conv.1.1.running_var, '
                           'classifier.1.weight) of the same width as the model'),
}


def torchvision_name(collection: str, path: tuple[str, ...], family: str = 'resnet'
                     ) -> str | None:
  """The torchvision key of one Flax variable, or None if torchvision has no such tensor.

  E.g. ('batch_stats', ('res4_5', 'bn2', 'var')) -> 'layer3.5.bn2.running_var';
  ('params', ('res3_1_nonlocal', 'theta', 'kernel')) -> None;
  ('params', ('block2', 'depthwise', 'conv', 'kernel'), 'mobilenet_v2')
  -> 'features.2.conv.1.0.weight'.
  """
  *modules, leaf = path
  names = FAMILIES[family].modules(modules) if modules else None
  if names is None:
    return None
  return '.'.join([*names, _LEAVES[collection, leaf]])


def family_of(variables: Variables) -> str:
  """'resnet' or 'mobilenet_v2': which cnl_jax model the variables belong to."""
  top = set(variables.get('params', {}))
  if 'stem_conv' in top:
    return 'resnet'
  if {'stem', 'last'} <= top:
    return 'mobilenet_v2'
  raise ValueError('Expected the variables of a cnl_jax ResNet or MobileNetV2 '
                   f'(`model.init(...)`), got collections {list(variables)} with top-level '
                   f'modules {sorted(top)[:8]}.')


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
    ignored: tensors skipped by design (`ignored_kind`).
    head_loaded: whether torchvision's classifier became the model's; False when the class
      counts differ or the model has no classifier (a trunk: the classifier is dropped).
    kept_at_init: top-level Flax modules left at their init (NL/CNL blocks, a skipped head).
    classes: (state dict's, model's) class counts; the model's is None without a classifier.
    head: the checkpoint's name of the classifier ('fc', 'classifier.1', 'head.fc').
    ignored_kind: what the ignored tensors are.
  """
  loaded: int
  ignored: int
  head_loaded: bool
  kept_at_init: tuple[str, ...]
  classes: tuple[int | None, int | None]
  head: str = 'fc'
  ignored_kind: str = 'num_batches_tracked'

  def __str__(self) -> str:
    if self.head_loaded:
      head = f'{self.head} loaded as the classifier'
    elif self.classes[1] is None:
      head = f'{self.head} dropped: the model has no classifier'
    elif self.classes[0] is None:
      head = 'the checkpoint has no classifier'
    else:
      head = (f'{self.head} skipped: it has {self.classes[0]} classes, the model '
              f'{self.classes[1]}')
    kept = ', '.join(self.kept_at_init) or 'nothing'
    return (f'loaded {self.loaded} tensors ({self.ignored} {self.ignored_kind} ignored); '
            f'{head}; kept at init: {kept}.')


class StateDictMismatchError(UserError, ValueError):
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


def _hint(state_dict: StateDict, names: list[str], family: str) -> str:
  """What to check, naming a ResNet's blocks per stage on each side when they differ."""
  layers = re.compile(r'layer(\d)\.(\d+)\.')
  if family != 'resnet':
    return f'Expected {FAMILIES[family].description}.'
  given = _stage_sizes([(int(m[1]), int(m[2])) for k in state_dict if (m := layers.match(k))])
  wanted = _stage_sizes([(int(m[1]), int(m[2])) for k in names if (m := layers.match(k))])
  if given and given != wanted:
    return (f'The state dict has {given} blocks per stage and the model {wanted}: load a '
            'checkpoint of the same ResNet depth, or build the model for this checkpoint.')
  return f'Expected {FAMILIES[family].description}.'


def convert_torchvision_state_dict(variables: Variables, state_dict: StateDict
                                   ) -> tuple[dict[str, Any], LoadReport]:
  """Copies a torchvision state dict into Flax variables; returns them and a report.

  `variables` come from `model.init` of any `cnl_jax` ResNet or MobileNetV2 (`jax.eval_shape`
  of it will do; the family is read from them); `state_dict` maps torchvision keys to arrays
  (NumPy, or anything `np.asarray` reads). Every backbone tensor must be present with its
  shape, and no other key may be; otherwise `StateDictMismatchError` lists every problem and
  nothing is loaded. The classifier is loaded when its class count equals the model's,
  skipped (head kept at init) when it differs and dropped when the model has none (a trunk,
  e.g. RMG-PMSI's backbone). NL and CNL blocks keep their init. Values are cast to the dtype
  of the variable they replace.
  """
  family = family_of(variables)
  head = FAMILIES[family].head
  flat = traverse_util.flatten_dict({c: variables[c] for c in _COLLECTIONS if c in variables})
  targets, kept = {}, []  # torchvision key -> Flax key; Flax modules torchvision lacks
  for key in flat:
    name = torchvision_name(key[0], key[1:], family)
    if name is None:
      kept.append(key[1])
    else:
      targets[name] = key

  head_tensors = [f'{head}.weight', f'{head}.bias']
  fc = state_dict.get(head_tensors[0])
  fc_classes = int(np.shape(fc)[0]) if fc is not None else None
  known = list(targets)
  if _HEAD not in flat:  # a trunk: torchvision's classifier has no place to go
    classes = None
    known += [name for name in head_tensors if name in state_dict]
  else:
    in_features, classes = flat[_HEAD].shape
    # Another class count is a new task, not an error; other in-features are another depth.
    if fc is not None and np.shape(fc)[1:] == (in_features,) and fc_classes != classes:
      targets = {name: key for name, key in targets.items() if key[1] != 'head'}
      known = [*targets, *head_tensors]
      kept.append('head')

  given = [name for name in state_dict if not name.endswith(IGNORED_SUFFIX)]
  missing = [name for name in known if name not in state_dict]
  unexpected = [name for name in given if name not in known]
  wrong_shapes = [
      f'{name} is {np.shape(state_dict[name])}, the model needs {wanted} (PyTorch layout)'
      for name, key in targets.items() if name in state_dict
      and np.shape(state_dict[name]) != (wanted := _torch_shape(key[-1], flat[key].shape))]
  if missing or unexpected or wrong_shapes:
    raise StateDictMismatchError(missing, unexpected, wrong_shapes,
                                 _hint(state_dict, known, family))

  for name, key in targets.items():
    flat[key] = jnp.asarray(_to_flax(key[-1], np.asarray(state_dict[name])),
                            dtype=flat[key].dtype)
  report = LoadReport(loaded=len(targets), ignored=len(state_dict) - len(given),
                      head_loaded=classes is not None and 'head' not in kept,
                      kept_at_init=tuple(dict.fromkeys(kept)),
                      classes=(fc_classes or classes, classes), head=head)
  return {**variables, **traverse_util.unflatten_dict(flat)}, report


def load_torchvision_state_dict(variables: Variables, state_dict: StateDict
                                ) -> dict[str, Any]:
  """`convert_torchvision_state_dict` that logs its report and returns only the variables."""
  converted, report = convert_torchvision_state_dict(variables, state_dict)
  logging.info('torchvision state dict: %s', report)
  return converted
