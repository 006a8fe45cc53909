"""Every model preset, the method that trains it, and how both are built by name.

Adding a method: write its folder (network and method class with its options) and add its
presets to `PRESETS`; the loop, the tools and the preset tests pick them up.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from cnl_jax.errors import ConfigError
from cnl_jax.methods.base import Method
from cnl_jax.methods.classification import Classification
from cnl_jax.methods.pmg import PMG, PMGMethod
from cnl_jax.methods.rmg_pmsi import RMGPMSI, RMGPMSIMethod
from cnl_jax.methods.tasn import TASN, TASNMethod
from cnl_jax.methods.transfg import TransFG, TransFGMethod
from cnl_jax.models import swin, vit
from cnl_jax.models.mobilenet_v2 import Depthwise, MobileNetV2, fastest_depthwise
from cnl_jax.models.resnet import ARCHITECTURES, CNLPlacement, ResNet


@dataclasses.dataclass(frozen=True)
class Preset:
  """A named model: the method that trains it, its module class and the attributes that
  define it."""
  method: type[Method]
  module: type[nn.Module]
  kwargs: dict[str, Any]


# Where the paper's released code attaches its blocks (0-based block indices). NL blocks sit
# after the same blocks that feed the CNL responses (FouriYe/CNL-ICIP2020, cnlnet_5CNL.py and
# the paper's Table 2 parameter counts pin the stages).
PAPER_PLACEMENTS: dict[int, CNLPlacement] = {
    50: CNLPlacement('res5_1', ('res3_1', 'res3_3', 'res4_1', 'res4_3', 'res4_5')),
    101: CNLPlacement('res5_1', ('res3_1', 'res3_3', 'res4_5', 'res4_12', 'res4_19')),
}
# Not in the paper: ResNet-34 has ResNet-50's blocks per stage, so it takes the same
# placement; ResNet-18 (two blocks a stage) queries res5_0 with the last block of res3, res4.
PLACEMENTS: dict[int, CNLPlacement] = {
    18: CNLPlacement('res5_0', ('res3_1', 'res4_1')),
    34: PAPER_PLACEMENTS[50],
    **PAPER_PLACEMENTS,
}


def _resnet_presets() -> dict[str, Preset]:
  """resnet<depth>, and resnet<depth>_<n>nl / _<n>cnl with the blocks at `PLACEMENTS`."""
  presets = {f'resnet{depth}': Preset(Classification, ResNet, dict(depth=depth))
             for depth in ARCHITECTURES}
  for depth, placement in PLACEMENTS.items():
    count = len(placement.responses)
    presets[f'resnet{depth}_{count}nl'] = Preset(
        Classification, ResNet, dict(depth=depth, nonlocal_after=placement.responses))
    presets[f'resnet{depth}_{count}cnl'] = Preset(Classification, ResNet,
                                                  dict(depth=depth, cnl=placement))
  return presets


# Transformer backbones as timm builds them (`vit_*_patch16_224`, `swin_*_patch4_window7_224`
# at any size their patches and windows tile), and CNL across their layers. Not in the
# paper: the CNL placements mirror ResNet-50's (five responses spread over the middle of the
# network; Swin's query is the second-to-last block, as res5_1 is ResNet's). ViT's query is
# its last layer's patch tokens (models/vit.py says where the CNL enters the head).
VIT_CNL_RESPONSES = ('block1', 'block3', 'block5', 'block7', 'block9')
SWIN_BASE_CNL = CNLPlacement('stage3_0', ('stage1_1', 'stage2_5', 'stage2_9', 'stage2_13',
                                          'stage2_17'))


def _transformer_presets() -> dict[str, Preset]:
  """vit_{small,base}_patch16, swin_{tiny,base}_patch4_window7 and the base models' CNL."""
  vit_sizes = {name: dataclasses.asdict(vit.SIZES[name]) for name in ('small', 'base')}
  swin_sizes = {name: dataclasses.asdict(swin.SIZES[name]) for name in ('tiny', 'base')}
  return {
      **{f'vit_{name}_patch16': Preset(Classification, vit.VisionTransformer, size)
         for name, size in vit_sizes.items()},
      'vit_base_patch16_cnl': Preset(Classification, vit.VisionTransformer, dict(
          **vit_sizes['base'], cnl_responses=VIT_CNL_RESPONSES)),
      **{f'swin_{name}_patch4_window7': Preset(Classification, swin.SwinTransformer, size)
         for name, size in swin_sizes.items()},
      'swin_base_patch4_window7_cnl': Preset(Classification, swin.SwinTransformer, dict(
          **swin_sizes['base'], cnl=SWIN_BASE_CNL)),
  }


# Every model preset (`config.model`), by name.
PRESETS: dict[str, Preset] = {
    **_resnet_presets(),
    **_transformer_presets(),
    'mobilenet_v2': Preset(Classification, MobileNetV2, {}),
    'tasn_resnet50': Preset(TASNMethod, TASN, {}),
    'rmg_pmsi_mobilenetv2': Preset(RMGPMSIMethod, RMGPMSI, {}),
    'pmg_resnet50': Preset(PMGMethod, PMG, {}),
    # ViT-B/16 with overlapping patches (stride 12), as the released README trains it.
    'transfg_vit_base_patch16': Preset(TransFGMethod, TransFG,
                                       dataclasses.asdict(vit.SIZES['base'])),
}


def list_models(pattern: str | None = None) -> list[str]:
  """The preset names, sorted; those matching the shell-style `pattern` ('resnet50*')."""
  names = sorted(PRESETS)
  return names if pattern is None else fnmatch.filter(names, pattern)


def get_preset(name: str) -> Preset:
  """The preset called `name`. The one error for an unknown model name (`config.model`,
  a tool's --model, `create_model`): a ConfigError with the closest names and every name."""
  if name not in PRESETS:
    close = difflib.get_close_matches(name, PRESETS, n=3)
    hint = f'did you mean {" or ".join(map(repr, close))}? ' if close else ''
    raise ConfigError(f'Unknown model {name!r}; {hint}valid models: '
                      f'{", ".join(sorted(PRESETS))}.')
  return PRESETS[name]


def create_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
  """The network of preset `name` with `num_classes` outputs, e.g. `create_model(
  'resnet50_5cnl', 200, dtype=jnp.bfloat16)`; `overrides` replace or add attributes of its
  module (dtype, cnl_reshape, dropout_rate, width, ...)."""
  preset = get_preset(name)
  if not isinstance(num_classes, int) or num_classes < 1:
    raise ValueError(f'num_classes must be a positive integer, got {num_classes!r}.')
  return preset.module(num_classes=num_classes, **{**preset.kwargs, **overrides})


def method_options(model: str, overrides: Any) -> ml_collections.ConfigDict:
  """The options of the method that trains `model`: its defaults, with `overrides` (the
  `config.method` section) in place of the ones it sets.

  Raises ConfigError naming an option the method does not have, and the ones it has.
  """
  method = get_preset(model).method
  options = method.default_options()
  for name, value in dict(overrides).items():
    if name not in options:
      raise ConfigError(
          f'config.method.{name} is not an option of method {method.name!r}, which trains '
          f'config.model={model!r}; its options: {", ".join(sorted(options)) or "none"}.')
    try:
      options[name] = value
    except TypeError as error:  # ConfigDict keeps each default's type (int -> float is fine)
      raise ConfigError(f'config.method.{name}={value!r} has the wrong type: {error}') from error
  return options


def resolved_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """A copy of `config` whose `method` section holds every option of the model's method,
  the defaults merged in: what a run records in its config.json and compares on resume, so
  that a later change of a default cannot change a saved run."""
  config = config.copy_and_resolve_references()
  config.method = method_options(config.model, config.method)
  return config


def build_method(config: ml_collections.ConfigDict, num_classes: int,
                 depthwise: Depthwise | None = None) -> Method:
  """The model `config.model` names, wrapped in its method with its options
  (`method_options`).

  `depthwise`, when given, is how MobileNetV2 trunks run their depthwise convs (export asks
  for 'grouped', the kernel LiteRT and ONNX have); else `config.model_overrides.depthwise`,
  else the fastest for JAX's backend. The results are the same.
  """
  preset = get_preset(config.model)
  options = method_options(config.model, config.method)
  overrides = dict(config.model_overrides)
  if any(field.name == 'depthwise' for field in dataclasses.fields(preset.module)):
    overrides['depthwise'] = (depthwise or overrides.get('depthwise')
                              or fastest_depthwise(jax.default_backend()))
  try:
    model = create_model(config.model, num_classes, dtype=jnp.dtype(config.dtype), **overrides)
  except TypeError as error:  # an attribute the module does not have
    raise ConfigError(f'config.model_overrides={dict(config.model_overrides)} does not fit '
                      f'config.model={config.model!r} ({error}); start from a config of that '
                      'model (configs/) or leave the field out.') from error
  return preset.method(model, num_classes, options)
