"""Stand-in torchvision ResNet weights drawn with NumPy alone, to check the converter.

No real checkpoint can be downloaded in CI and CI has no torch, so
`tools/make_torchvision_reference.py` fills torchvision's own ResNets with these weights and
records their outputs, and `tests/test_pretrained.py` draws the same weights from the
recorded key names and shapes, converts them and runs the Flax model. Both sides draw here.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# State dict key names and shapes in torchvision's order: what the draw depends on.
Layout = Sequence[tuple[str, Sequence[int]]]

# Channels of each recorded feature map: a few spread over all of them keep the fixture small.
RECORDED_CHANNELS = 4


def draw_state_dict(layout: Layout, seed: int) -> dict[str, np.ndarray]:
  """Weights for every key of `layout`, drawn in its order from `RandomState(seed)`.

  Scales keep activations O(1) through ResNet-101 in eval mode, so an absolute tolerance
  stays meaningful: He-normal convs; BN scales in [0.5, 0.8], which make a block's branch a
  small fraction of its shortcut so 23 blocks in a row neither explode nor vanish; small
  normal BN shifts and means; running variances in [0.5, 1.5].
  """
  rng = np.random.RandomState(seed)
  return {name: _draw(rng, name, tuple(shape)) for name, shape in layout}


def _draw(rng: np.random.RandomState, name: str, shape: tuple[int, ...]) -> np.ndarray:
  kind = name.rsplit('.', 1)[-1]
  if kind == 'num_batches_tracked':
    return np.zeros(shape, np.int64)
  if kind == 'running_var':
    values = rng.uniform(0.5, 1.5, shape)
  elif kind in ('running_mean', 'bias'):
    values = 0.1 * rng.standard_normal(shape)
  elif len(shape) == 1:  # a BN scale
    values = rng.uniform(0.5, 0.8, shape)
  else:  # a conv [out, in, height, width] or the classifier [out, in]
    fan_in = int(np.prod(shape[1:]))
    gain = 2.0 if len(shape) == 4 else 1.0  # He init before ReLUs; unit gain for logits
    values = np.sqrt(gain / fan_in) * rng.standard_normal(shape)
  return values.astype(np.float32)


def recorded_channels(features: np.ndarray) -> np.ndarray:
  """The channels of a feature map [..., channels] that the fixture keeps."""
  keep = np.linspace(0, features.shape[-1] - 1, RECORDED_CHANNELS).round().astype(int)
  return features[..., keep]
