"""Resampling a ViT's learned position embeddings to another patch grid, as the code that
made the checkpoint does when it loads it at another image size."""

from __future__ import annotations

import math
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from cnl_jax.errors import WeightsError

# 'bicubic': timm's `resample_abs_pos_embed` for hub weights (torch bicubic, antialias=True,
# which is PIL's a = -0.5 kernel: jax.image.resize's 'cubic' with its default antialias
# reproduces it to 1e-6). 'bilinear': timm's `_load_weights` for Google's .npz files (torch
# bilinear, antialias=False, half-pixel centres).
Resampling = Literal['bicubic', 'bilinear']
RESAMPLINGS = ('bicubic', 'bilinear')


def resample_position_embedding(position: np.ndarray, grid: tuple[int, int],
                                method: Resampling = 'bicubic', prefix_tokens: int = 1
                                ) -> np.ndarray:
  """[1, prefix + n * n, width] embeddings of a square n x n grid -> [1, prefix + h * w,
  width] for grid (h, w); the class token's row (the first `prefix_tokens`) stays as it is.
  Computed in float32; unchanged when the grid already fits."""
  if method not in RESAMPLINGS:
    raise ValueError(f'Position embedding resampling must be one of {RESAMPLINGS}, got '
                     f'{method!r}.')
  position = np.asarray(position, np.float32)
  prefix, patches = position[:, :prefix_tokens], position[0, prefix_tokens:]
  side = math.isqrt(patches.shape[0])
  if side * side != patches.shape[0]:
    raise WeightsError(f'Position embeddings {position.shape} with {prefix_tokens} class '
                       f'token(s) do not form a square grid of patches; resample them to '
                       'the grid yourself.')
  if (side, side) == tuple(grid):
    return position
  patches = patches.reshape(side, side, -1)
  kernel, antialias = ('cubic', True) if method == 'bicubic' else ('linear', False)
  resized = jax.image.resize(jnp.asarray(patches), (*grid, patches.shape[-1]), kernel,
                             antialias=antialias)
  return np.concatenate([prefix, np.asarray(resized).reshape(1, -1, patches.shape[-1])], 1)
