"""Named model presets: the paper's backbones, their NL and CNL variants, and the other
methods' models; each preset names the training method that trains it."""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn

from cnl_jax.models.mobilenet_v2 import MobileNetV2
from cnl_jax.models.resnet import ARCHITECTURES, CNLPlacement, ResNet
from cnl_jax.models.rmg_pmsi import RMGPMSI
from cnl_jax.models.tasn import TASN

# Where the paper's released code attaches its blocks (0-based block indices). NL blocks sit
# after the same blocks that feed the CNL responses (PAPER.md: the counts pin the stages).
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


@dataclasses.dataclass(frozen=True)
class Preset:
  """A named model: its module class, the attributes that define it, and its training method
  ('classification', 'tasn' or 'progressive'; see `cnl_jax.training.loop.METHODS`)."""
  module: type[nn.Module]
  kwargs: dict[str, Any]
  method: str = 'classification'


def _resnet_presets() -> dict[str, Preset]:
  presets = {f'resnet{depth}': Preset(ResNet, dict(depth=depth)) for depth in ARCHITECTURES}
  for depth, placement in PLACEMENTS.items():
    count = len(placement.responses)
    presets[f'resnet{depth}_{count}nl'] = Preset(
        ResNet, dict(depth=depth, nonlocal_after=placement.responses))
    presets[f'resnet{depth}_{count}cnl'] = Preset(ResNet, dict(depth=depth, cnl=placement))
  return presets


MODELS: dict[str, Preset] = {
    **_resnet_presets(),
    # TASN.md: ResNet-18 attention net, ResNet-50 part/master net (depths and widths are
    # attributes, so a demo overrides them).
    'tasn_resnet50': Preset(TASN, {}, 'tasn'),
    # RMG_PMSI.md: torchvision's MobileNetV2, and the released RMG-PMSI network on it.
    'mobilenet_v2': Preset(MobileNetV2, {}),
    'rmg_pmsi_mobilenetv2': Preset(RMGPMSI, {}, 'progressive'),
}


def create_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
  """Builds a preset by name, e.g. `create_model('resnet50_5cnl', 200, dtype=jnp.bfloat16)`.

  `overrides` replace or add any attribute of the preset's module (dtype, cnl_reshape,
  dropout_rate, width, ...).
  """
  if name not in MODELS:
    raise ValueError(f'Unknown model {name!r}; valid names are: {", ".join(sorted(MODELS))}.')
  if not isinstance(num_classes, int) or num_classes < 1:
    raise ValueError(f'num_classes must be a positive integer, got {num_classes!r}.')
  preset = MODELS[name]
  return preset.module(num_classes=num_classes, **{**preset.kwargs, **overrides})
