"""PMG's jigsaw and RMG-PMSI's Recursive Mosaic Generator as pure, jittable functions.

Both cut images [batch, height, width, channels] into a grid of cells, build a permutation
of the cells (an "arrangement": for every grid position, the flat index of the original
cell now shown there) and gather. Cell sizes come from the image size; height and width
must be multiples of the grid.

The released code draws one arrangement per batch, with a swap procedure: shuffle the
list of cells, then swap each cell in that order with the top-left one. That reaches only
single-cycle permutations, so no cell ever stays in place (for 4 quadrants: 6 of the 24
orders). mode='released' does exactly that; mode='per_sample' draws an arrangement for
every image with the same procedure, so only the sharing across the batch changes.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp

Mode = Literal['released', 'per_sample']
MODES = ('released', 'per_sample')


def swap_permutation(key: jax.Array, count: int) -> jax.Array:
  """The released swap procedure on `count` cells -> source index [count] per position."""
  order = jax.random.permutation(key, count)

  def swap_with_first(i, source):
    cell = order[i]
    return source.at[0].set(source[cell]).at[cell].set(source[0])

  return jax.lax.fori_loop(0, count, swap_with_first, jnp.arange(count))


def _arrangement(key: jax.Array, grid: int, levels: tuple[int, ...]) -> jax.Array:
  """Arrangement [grid * grid] after permuting cells level by level.

  Level l cuts the current region (the whole grid at first) into levels[l] x levels[l]
  cells and permutes them, then picks one cell position uniformly as the next region.
  """
  index = jnp.arange(grid * grid).reshape(grid, grid)
  origin = jnp.zeros(2, jnp.int32)
  side = grid
  for level_key, cells in zip(jax.random.split(key, len(levels)), levels):
    permutation_key, choice_key = jax.random.split(level_key)
    cell = side // cells
    region = jax.lax.dynamic_slice(index, (origin[0], origin[1]), (side, side))
    blocks = region.reshape(cells, cell, cells, cell).transpose(0, 2, 1, 3)
    blocks = blocks.reshape(cells * cells, cell, cell)[swap_permutation(permutation_key,
                                                                        cells * cells)]
    region = blocks.reshape(cells, cells, cell, cell).transpose(0, 2, 1, 3)
    index = jax.lax.dynamic_update_slice(index, region.reshape(side, side),
                                         (origin[0], origin[1]))
    choice = jax.random.randint(choice_key, (), 0, cells * cells)
    origin = origin + cell * jnp.stack([choice // cells, choice % cells])
    side = cell
  return index.reshape(-1)


def _apply(images: jax.Array, key: jax.Array, grid: int, levels: tuple[int, ...],
           mode: Mode) -> jax.Array:
  """Gathers the cells of images [batch, height, width, channels] by drawn arrangements."""
  if mode not in MODES:
    raise ValueError(f'Mosaic mode must be one of {MODES}, got {mode!r}.')
  batch, height, width, channels = images.shape
  if height % grid or width % grid:
    raise ValueError(f'Images of {height}x{width} cannot be cut into a {grid}x{grid} grid: '
                     f'height and width must be multiples of {grid}.')
  if mode == 'released':
    index = jnp.broadcast_to(_arrangement(key, grid, levels), (batch, grid * grid))
  else:
    index = jax.vmap(lambda k: _arrangement(k, grid, levels))(jax.random.split(key, batch))
  cell_height, cell_width = height // grid, width // grid
  cells = images.reshape(batch, grid, cell_height, grid, cell_width, channels)
  cells = cells.transpose(0, 1, 3, 2, 4, 5).reshape(
      batch, grid * grid, cell_height, cell_width, channels)
  cells = jnp.take_along_axis(cells, index[:, :, None, None, None], axis=1)
  cells = cells.reshape(batch, grid, grid, cell_height, cell_width, channels)
  return cells.transpose(0, 1, 3, 2, 4, 5).reshape(images.shape)


def jigsaw(images: jax.Array, n: int, key: jax.Array, mode: Mode = 'released') -> jax.Array:
  """PMG's jigsaw: images [batch, height, width, channels] as an n x n grid, cells permuted."""
  return _apply(images, key, n, (n,), mode)


def recursive_mosaic(images: jax.Array, depth: int, key: jax.Array,
                     mode: Mode = 'released') -> jax.Array:
  """RMG: permute the 4 quadrants of a region, then recurse into one of them, `depth` times.

  images [batch, height, width, channels]; depth 1 is the 2 x 2 jigsaw (the same draw for
  the same key); depth 3 at 448 px leaves 3 cells of 224, 3 of 112 and 4 of 56, nested.
  """
  if depth < 1:
    raise ValueError(f'The mosaic depth must be at least 1, got {depth}.')
  return _apply(images, key, 2 ** depth, (2,) * depth, mode)
