"""RMG-PMSI's training method: progressive training on Recursive Mosaic Generator mosaics of
depth 3, 2, 1, then the clean image (cj-wade/Progressive-Multi-stage-Interactive-Training-in-
Mobile-Network-for-FGVC @ 857ba00, main.py and utils.py)."""

from __future__ import annotations

import ml_collections

from cnl_jax.methods.progressive import Granularity, Progressive, recursive_mosaic
from cnl_jax.methods.rmg_pmsi.network import TAPS


class RMGPMSIMethod(Progressive):
  """Four updates per batch: stage 1, 2, 3 heads on mosaics of depth 3, 2, 1, then the
  concat head (weight 2) on the clean batch; predicts with each head and 'mix', their sum.
  The backbone is torchvision's MobileNetV2 at 0.1 x the rate, frozen for 5 epochs."""

  name = 'rmg_pmsi'
  reported_head = 'mix'
  schedule = (Granularity(recursive_mosaic(3), 8, 'stage1', 1.0),
              Granularity(recursive_mosaic(2), 4, 'stage2', 1.0),
              Granularity(recursive_mosaic(1), 2, 'stage3', 1.0),
              Granularity(None, 1, 'concat', 2.0))

  @classmethod
  def default_options(cls) -> ml_collections.ConfigDict:
    options = super().default_options()
    options.freeze_backbone_epochs = 5
    return options

  def pretrained_backbones(self) -> dict[str, str]:
    """The `backbone` subtree is torchvision's MobileNetV2 without its classifier."""
    return {'backbone': 'mobilenet_v2'}

  def stage_feature_maps(self) -> tuple[tuple[str, ...], ...]:
    """The trunk's three taps (`TAPS`)."""
    return tuple(('backbone', tap) for tap in TAPS)
