"""Named model presets: the paper's backbones, their NL and CNL variants, and MobileNetV2.

A preset is a module class and the attributes that define it; the training methods
(`cnl_jax.methods`) list the presets they train, these among them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn

from cnl_jax.models import swin, vit
from cnl_jax.models.mobilenet_v2 import MobileNetV2
from cnl_jax.models.resnet import ARCHITECTURES, CNLPlacement, ResNet

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


@dataclasses.dataclass(frozen=True)
class Preset:
  """A named model: its module class and the attributes that define it."""
  module: type[nn.Module]
  kwargs: dict[str, Any]

  def build(self, num_classes: int, **overrides: Any) -> nn.Module:
    """The module with `num_classes` outputs; `overrides` replace or add attributes."""
    if not isinstance(num_classes, int) or num_classes < 1:
      raise ValueError(f'num_classes must be a positive integer, got {num_classes!r}.')
    return self.module(num_classes=num_classes, **{**self.kwargs, **overrides})


def _resnet_presets() -> dict[str, Preset]:
  presets = {f'resnet{depth}': Preset(ResNet, dict(depth=depth)) for depth in ARCHITECTURES}
  for depth, placement in PLACEMENTS.items():
    count = len(placement.responses)
    presets[f'resnet{depth}_{count}nl'] = Preset(
        ResNet, dict(depth=depth, nonlocal_after=placement.responses))
    presets[f'resnet{depth}_{count}cnl'] = Preset(ResNet, dict(depth=depth, cnl=placement))
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
  vit_sizes = {name: dataclasses.asdict(vit.SIZES[name]) for name in ('small', 'base')}
  swin_sizes = {name: dataclasses.asdict(swin.SIZES[name]) for name in ('tiny', 'base')}
  return {
      **{f'vit_{name}_patch16': Preset(vit.VisionTransformer, size)
         for name, size in vit_sizes.items()},
      'vit_base_patch16_cnl': Preset(vit.VisionTransformer, dict(
          **vit_sizes['base'], cnl_responses=VIT_CNL_RESPONSES)),
      **{f'swin_{name}_patch4_window7': Preset(swin.SwinTransformer, size)
         for name, size in swin_sizes.items()},
      'swin_base_patch4_window7_cnl': Preset(swin.SwinTransformer, dict(
          **swin_sizes['base'], cnl=SWIN_BASE_CNL)),
  }


MODELS: dict[str, Preset] = {
    **_resnet_presets(),
    'mobilenet_v2': Preset(MobileNetV2, {}),
    **_transformer_presets(),
}


def create_model(name: str, num_classes: int, **overrides: Any) -> nn.Module:
  """Builds a backbone preset by name, e.g. `create_model('resnet50_5cnl', 200,
  dtype=jnp.bfloat16)`; `overrides` replace or add any attribute of the preset's module
  (dtype, cnl_reshape, dropout_rate, width, ...). `cnl_jax.create_model` also builds the
  other methods' networks."""
  if name not in MODELS:
    raise ValueError(f'Unknown model {name!r}; valid names are: {", ".join(sorted(MODELS))}.')
  return MODELS[name].build(num_classes, **overrides)
