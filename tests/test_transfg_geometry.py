"""TransFG's patch geometry and position-embedding resize as the released code has them
(TACJu/TransFG @ 9336fba, models/modeling.py:145-156 and 323-346)."""

import flax.linen as nn
import jax
import numpy as np
import pytest
from scipy import ndimage

from cnl_jax.methods.transfg import patches, position_embedding
from helpers.transfg_reference import released_zoom


@pytest.mark.parametrize('image_size, split, side', [
    (448, 'overlap', 37), (448, 'non-overlap', 28), (304, 'overlap', 25),
    (304, 'non-overlap', 19)])
def test_patch_counts_are_the_released_ones(image_size, split, side):
  # The released formulas (modeling.py:147-153): img // 16, or (img - 16) // 12 + 1.
  assert patches.patches_per_side(image_size, split, 12) == side
  conv = nn.Conv(2, (16, 16), strides=patches.patch_stride(split, 12), padding='VALID')
  images = np.zeros((1, image_size, image_size, 3), np.float32)
  shape = jax.eval_shape(lambda x: conv.init_with_output(jax.random.key(0), x)[0], images)
  assert shape.shape[1:3] == (side, side)


@pytest.mark.parametrize('split, slide_step', [('overlapping', 12), ('overlap', 0),
                                               ('overlap', 17)])
def test_bad_split_settings_are_refused(split, slide_step):
  with pytest.raises(ValueError, match='split|slide_step'):
    patches.patch_stride(split, slide_step)


@pytest.mark.parametrize('grid', [37, 28, 25, 14])
def test_position_zoom_equals_the_released_scipy_zoom(rng, grid):
  position = rng.normal(size=(1, 197, 8)).astype(np.float32)
  expected = released_zoom(position, grid * grid + 1)
  resized = position_embedding.zoom_position_embedding(position, (grid, grid))
  assert resized.shape == expected.shape and resized.dtype == position.dtype
  np.testing.assert_allclose(resized, expected, atol=1e-7)
  np.testing.assert_array_equal(resized[:, 0], position[:, 0])


def test_rectangular_grids_zoom_each_side_as_scipy(rng):
  position = rng.normal(size=(1, 197, 4)).astype(np.float32)
  expected = ndimage.zoom(position[0, 1:].reshape(14, 14, 4), (20 / 14, 37 / 14, 1), order=1)
  resized = position_embedding.zoom_position_embedding(position, (20, 37))
  np.testing.assert_allclose(resized[0, 1:], expected.reshape(-1, 4), atol=1e-7)


@pytest.mark.parametrize('shape', [(1, 196, 8), (2, 197, 8), (197, 8)])
def test_position_embeddings_without_a_square_grid_are_refused(shape):
  with pytest.raises(ValueError, match='not \\[1, 1 \\+ n \\* n, width\\]'):
    position_embedding.zoom_position_embedding(np.zeros(shape, np.float32), (37, 37))
