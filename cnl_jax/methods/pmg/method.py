"""PMG's training method: progressive training on jigsaws of 8 x 8, 4 x 4 and 2 x 2 cells,
then the whole image (PRIS-CV/PMG-Progressive-Multi-Granularity-Training @ db7a7d7,
train.py and utils.py)."""

from __future__ import annotations

from cnl_jax.methods.pmg.network import stage_taps
from cnl_jax.methods.progressive import Granularity, Progressive, jigsaw


class PMGMethod(Progressive):
  """Four updates per batch: the stage 1, 2, 3 heads on 8 x 8, 4 x 4 and 2 x 2 jigsaws,
  then the concat head (weight 2) on the clean batch; predicts with each head and
  'combined', their sum (the released `test_acc_combined`). The ResNet trunk runs at 0.1 x
  the heads' rate (0.0002 against 0.002 as released)."""

  name = 'pmg'
  reported_head = 'combined'
  schedule = (Granularity(jigsaw(8), 8, 'stage1', 1.0),
              Granularity(jigsaw(4), 4, 'stage2', 1.0),
              Granularity(jigsaw(2), 2, 'stage3', 1.0),
              Granularity(None, 1, 'concat', 2.0))

  def pretrained_backbones(self) -> dict[str, str]:
    """The `backbone` subtree is torchvision's ResNet without its classifier."""
    return {'backbone': f'resnet{self.model.depth}'}

  def stage_feature_maps(self) -> tuple[tuple[str, ...], ...]:
    """The last blocks of res3, res4 and res5."""
    return tuple(('backbone', block) for block, _ in stage_taps(self.model.depth,
                                                               self.model.width))
