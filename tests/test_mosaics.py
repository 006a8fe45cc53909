"""PMG's jigsaw and the Recursive Mosaic Generator: permutations of cells, never the identity."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.methods import mosaics

KEYS = jax.random.split(jax.random.key(0), 64)
jigsaw = jax.jit(mosaics.jigsaw, static_argnums=(1, 3))
recursive_mosaic = jax.jit(mosaics.recursive_mosaic, static_argnums=(1, 3))


def numbered(batch=2, height=16, width=24, channels=3):
  """Images whose every value is distinct, so a permutation of pixels can be read back."""
  return jnp.arange(batch * height * width * channels, dtype=jnp.float32).reshape(
      batch, height, width, channels)


def cell_map(images, mosaic, grid):
  """[..., batch, grid * grid]: for every position, the index of the original cell there."""
  height, width = images.shape[1:3]
  corners = lambda x: np.asarray(x[..., ::height // grid, ::width // grid, 0]).reshape(
      *x.shape[:-3], grid * grid)
  originals = corners(images)  # increasing along each image's cells
  return np.vectorize(np.searchsorted, signature='(n),(n)->(n)')(originals, corners(mosaic))


def cell_maps(make, images, grid, count=64):
  """cell_map of `make(images, key)` for `count` keys: [count, batch, grid * grid]."""
  mosaics_per_key = jax.jit(jax.vmap(lambda key: make(images, key)))(KEYS[:count])
  return cell_map(images, mosaics_per_key, grid)


@pytest.mark.parametrize('make, grid', [
    (lambda x, k, m: jigsaw(x, 4, k, m), 4),
    (lambda x, k, m: recursive_mosaic(x, 3, k, m), 8)])
@pytest.mark.parametrize('mode', mosaics.MODES)
def test_pixels_are_permuted_not_changed(make, grid, mode):
  images = numbered(height=16, width=24)
  mosaic = make(images, KEYS[0], mode)
  assert mosaic.shape == images.shape
  for before, after in zip(images, mosaic):
    np.testing.assert_array_equal(np.sort(before.ravel()), np.sort(after.ravel()))
  assert not np.array_equal(mosaic, images)


def test_depth_one_is_the_2x2_jigsaw():
  images = numbered()
  np.testing.assert_array_equal(
      jax.jit(jax.vmap(lambda key: mosaics.recursive_mosaic(images, 1, key)))(KEYS[:8]),
      jax.jit(jax.vmap(lambda key: mosaics.jigsaw(images, 2, key)))(KEYS[:8]))


@pytest.mark.parametrize('make, grid', [
    (lambda x, k: mosaics.jigsaw(x, 2, k), 2), (lambda x, k: mosaics.jigsaw(x, 8, k), 8),
    (lambda x, k: mosaics.recursive_mosaic(x, 2, k), 4),
    (lambda x, k: mosaics.recursive_mosaic(x, 3, k), 8)])
def test_released_mode_moves_every_cell_and_shares_the_batch(make, grid):
  maps = cell_maps(make, numbered(height=16, width=16), grid)
  assert (maps[:, 0] == maps[:, 1]).all()  # one arrangement for the whole batch
  assert not (maps == np.arange(grid * grid)).any()  # so never the identity either


def test_quadrant_orders_are_the_six_four_cycles():
  maps = cell_maps(lambda x, k: mosaics.recursive_mosaic(x, 1, k), numbered(), 2)
  seen = {tuple(order) for order in maps[:, 0]}

  def is_four_cycle(order):
    position, length = 0, 1
    while order[position] != 0:
      position, length = order[position], length + 1
    return length == 4

  assert seen == {order for order in itertools.permutations(range(4)) if is_four_cycle(order)}


def test_depth_three_nests_cells_of_three_sizes():
  # 3 quadrants stay whole, one is re-tiled: 3 cells of 1/2, 3 of 1/4 and 4 of 1/8 the side.
  images = numbered(batch=1, height=8, width=8, channels=1)
  mosaic = np.asarray(recursive_mosaic(images, 3, KEYS[1]))[0, :, :, 0]
  original = np.asarray(images)[0, :, :, 0]
  whole = [(r, c) for r in (0, 4) for c in (0, 4)
           if any((mosaic[r:r + 4, c:c + 4] == original[i:i + 4, j:j + 4]).all()
                  for i in (0, 4) for j in (0, 4))]
  assert len(whole) == 3


def test_per_sample_mode_differs_across_the_batch():
  images = jnp.broadcast_to(numbered(batch=1), (8, 16, 24, 3))
  mosaic = recursive_mosaic(images, 2, KEYS[0], 'per_sample')
  assert len({np.asarray(m).tobytes() for m in mosaic}) > 1
  released = recursive_mosaic(images, 2, KEYS[0], 'released')
  assert len({np.asarray(m).tobytes() for m in released}) == 1


def test_sizes_that_do_not_divide_are_named():
  with pytest.raises(ValueError, match='15x16 cannot be cut into a 8x8 grid'):
    mosaics.recursive_mosaic(jnp.zeros((1, 15, 16, 3)), 3, KEYS[0])
  with pytest.raises(ValueError, match="got 'batch'"):
    mosaics.jigsaw(jnp.zeros((1, 16, 16, 3)), 2, KEYS[0], 'batch')
