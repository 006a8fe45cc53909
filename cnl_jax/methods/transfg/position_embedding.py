"""The released resize of ImageNet-21k ViT position embeddings to TransFG's patch grid.

After the released `VisionTransformer.load_from` (TACJu/TransFG @ 9336fba,
models/modeling.py:323-346): the class token's embedding is kept, the 14 x 14 grid of the
224 px checkpoint is zoomed with `scipy.ndimage.zoom(grid, (g / 14, g / 14, 1), order=1)`.
With scipy's default `grid_mode=False` that is bilinear with the corners aligned (output k
reads input k·(n - 1)/(g - 1)), not timm's bicubic nor torch's half-pixel bilinear.
"""

from __future__ import annotations

import math

import numpy as np



def _align_corners_weights(in_size: int, out_size: int) -> np.ndarray:
  """Linear interpolation weights [out_size, in_size] with the corners aligned, in float64
  as scipy computes them: output k reads the input at k·(in_size - 1)/(out_size - 1)."""
  positions = np.arange(out_size) * ((in_size - 1) / max(out_size - 1, 1))
  lower = np.minimum(np.floor(positions).astype(int), in_size - 1)
  upper = np.minimum(lower + 1, in_size - 1)
  fraction = positions - lower
  weights = np.zeros((out_size, in_size))
  np.add.at(weights, (np.arange(out_size), lower), 1 - fraction)
  np.add.at(weights, (np.arange(out_size), upper), fraction)
  return weights


def zoom_position_embedding(position: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
  """[1, 1 + n * n, width] embeddings of a square n x n grid -> [1, 1 + h * w, width] for
  grid (h, w), as the released `ndimage.zoom(..., order=1)`; the class token's row is kept.

  The released code takes g = int(sqrt(new tokens)), a square grid; (h, w) zooms each side
  by its own factor, as `ndimage.zoom` does with two factors.
  """
  position = np.asarray(position)
  side = math.isqrt(position.shape[1] - 1) if position.ndim == 3 else 0
  if position.ndim != 3 or position.shape[0] != 1 or side * side != position.shape[1] - 1:
    raise ValueError(f'Position embeddings {position.shape} are not [1, 1 + n * n, width] '
                     '(a class token and a square grid of patches).')
  if min(grid) < 1:
    raise ValueError(f'Patch grid {grid} must have at least one row and column.')
  patches = position[0, 1:].reshape(side, side, -1).astype(np.float64)
  rows = _align_corners_weights(side, grid[0])
  columns = _align_corners_weights(side, grid[1])
  resized = np.einsum('yh,hwc,xw->yxc', rows, patches, columns)
  return np.concatenate([position[:, :1], resized.reshape(1, -1, position.shape[-1])],
                        axis=1).astype(position.dtype)
