"""TASN's sampler and trilinear attention against plain resizes and NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.methods.tasn import sampler


def numpy_resize_align_corners(images, size):
  """Bilinear align-corners resize [batch, H, W, C] -> [batch, size, size, C], by loops."""
  batch, height, width, channels = images.shape
  out = np.zeros((batch, size, size, channels))
  for r in range(size):
    y = r * (height - 1) / (size - 1)
    y0 = min(int(np.floor(y)), height - 2)
    for c in range(size):
      x = c * (width - 1) / (size - 1)
      x0 = min(int(np.floor(x)), width - 2)
      dy, dx = y - y0, x - x0
      out[:, r, c] = ((1 - dy) * (1 - dx) * images[:, y0, x0]
                      + (1 - dy) * dx * images[:, y0, x0 + 1]
                      + dy * (1 - dx) * images[:, y0 + 1, x0]
                      + dy * dx * images[:, y0 + 1, x0 + 1])
  return out


def numpy_attention_sample(image, attention_map, size, dense=4.0, iterations=5):
  """The released sampler (researchmm/tasn @ 5dba8cc, att_sampler-inl.h) for one image
  [L, L, C] and map [L, L], literally, in float64."""
  length = attention_map.shape[0]
  p_y = attention_map.max(axis=1)
  p_x = attention_map.max(axis=0)
  m_y, m_x = size * p_y / p_y.sum(), size * p_x / p_x.sum()
  cap = size / length * dense
  for iteration in range(iterations):
    tau = min(m_x.max(), m_y.max())
    if iteration == 0:
      tau = min(tau, cap)
    m_y, m_x = np.minimum(m_y, tau), np.minimum(m_x, tau)
    m_y += (size - m_y.sum()) / length
    m_x += (size - m_x.sum()) / length

  def positions(m):
    cdf = np.zeros(length)
    cdf[0] = 1.0
    for k in range(1, length):
      cdf[k] = cdf[k - 1] + m[k]
    pos = np.zeros(size)
    for i in range(size):
      t = i * cdf[-1] / size
      k = next(k for k in range(length) if cdf[k] >= t)
      # The released kernel reads C[-1] here; the PyTorch port's convention is position 0.
      pos[i] = 0.0 if k == 0 else k - 1 + (t - cdf[k - 1]) / (cdf[k] - cdf[k - 1])
    return pos

  rows, cols = positions(m_y), positions(m_x)
  out = np.zeros((size, size, image.shape[-1]))
  for r in range(size):
    for c in range(size):
      y, x = rows[r], cols[c]
      y0, x0 = int(np.floor(y)), int(np.floor(x))
      for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
          if 0 <= yy < length and 0 <= xx < length:  # outside: zero padding
            out[r, c] += wy * wx * image[yy, xx]
  return out, rows, cols


def test_uniform_map_without_quirks_is_an_align_corners_resize(rng):
  images = rng.normal(size=(2, 20, 20, 3)).astype(np.float32)
  sampled = sampler.attention_sample(images, np.ones((2, 20, 20), np.float32), 12,
                                     released_cdf=False)
  np.testing.assert_allclose(sampled, numpy_resize_align_corners(images, 12), atol=1e-5)


def test_uniform_map_with_quirks_is_uniform_up_to_their_offsets():
  length, size = 512, 224
  rows, cols = sampler.sampling_grid(np.ones((1, length, length), np.float32), size)
  # C[k] = 1 + k·S/L and targets i·C[L-1]/S: the grid is shifted back by L/S (one output
  # pixel), its spacing is (L-1)/S + L/S² instead of (L-1)/(S-1), and the first sample is
  # clamped to 0. Here: position 0, then 0.006, 2.30, ... up to 508.7 (not 511).
  i = np.arange(size)
  spacing = (length - 1) / size + length / size**2
  expected = np.maximum(0.0, i * spacing - length / size)
  np.testing.assert_allclose(rows[0], expected, atol=2e-3)
  np.testing.assert_allclose(cols[0], expected, atol=2e-3)
  assert expected[-1] == pytest.approx(508.7, abs=0.05)


def test_bright_square_gets_more_pixels_than_a_resize():
  length, size = 64, 32
  attention_map = np.full((1, length, length), 0.1, np.float32)
  attention_map[0, 24:40, 24:40] = 1.0  # a quarter of the side
  rows, cols = sampler.sampling_grid(attention_map, size)
  for grid in (rows[0], cols[0]):
    assert np.all(np.diff(grid) > 0)
    inside = int(np.sum((grid >= 24) & (grid < 40)))
    resized = int(np.sum((np.arange(size) * (length - 1) / (size - 1) >= 24)
                         & (np.arange(size) * (length - 1) / (size - 1) < 40)))
    # Measured: 23 of 32 output rows (and columns) read the square; a resize gives it 8.
    assert (inside, resized) == (23, 8)


def test_equals_numpy_loop_implementation_on_random_maps(rng):
  length, size = 24, 14
  images = rng.uniform(size=(2, length, length, 3)).astype(np.float32)
  attention_map = rng.uniform(size=(2, length, length)).astype(np.float32) ** 4
  sampled = np.asarray(sampler.attention_sample(images, attention_map, size))
  rows, cols = sampler.sampling_grid(attention_map, size)
  for index in range(2):
    expected, expected_rows, expected_cols = numpy_attention_sample(
        images[index].astype(np.float64), attention_map[index].astype(np.float64), size)
    np.testing.assert_allclose(rows[index], expected_rows, atol=1e-5)
    np.testing.assert_allclose(cols[index], expected_cols, atol=1e-5)
    np.testing.assert_allclose(sampled[index], expected, atol=1e-5)


def numpy_trilinear_attention(features, scale):
  """M = softmax_rows(softmax_rows(scale·X) Xᵀ) X per image, X as [C, hw]."""
  def softmax(z):
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)
  out = []
  for x in features.astype(np.float64):
    x = x.reshape(-1, x.shape[-1]).T
    out.append((softmax(softmax(scale * x) @ x.T) @ x).T.reshape(features.shape[1:]))
  return np.stack(out)


def test_trilinear_attention_equals_numpy_reference_and_is_non_negative(rng):
  features = np.maximum(rng.normal(size=(2, 5, 5, 6)), 0).astype(np.float32)
  maps = np.asarray(sampler.trilinear_attention(features))
  np.testing.assert_allclose(maps, numpy_trilinear_attention(features, 7.0), rtol=1e-5,
                             atol=1e-6)
  assert np.all(maps >= 0)


def test_comparison_search_equals_jnp_interp(rng):
  # The sampler's bin search is written as comparisons for TFLite; it must be jnp.interp.
  for length in (3, 17, 56):
    density = rng.rand(4, length).astype(np.float32)
    density[:, rng.rand(length) < 0.3] = 0  # flat steps of the cdf
    cdf = np.cumsum(density, axis=-1)
    targets = (rng.rand(4, 29) * 1.2 - 0.1).astype(np.float32) * cdf[:, -1:]
    targets[:, :3] = cdf[:, :3]  # exactly on a step
    expected = jax.vmap(lambda t, c: jnp.interp(t, c, jnp.arange(length, dtype=c.dtype)))(
        targets, cdf)
    np.testing.assert_array_equal(jax.vmap(sampler._interp_positions)(targets, cdf),
                                  expected)


@pytest.mark.parametrize('channels', [1, 7, 40])
def test_comparison_ranking_equals_a_stable_argsort(rng, channels):
  maps = rng.randint(0, 3, (3, 2, 2, channels)).astype(np.float32)  # many equal sums
  sums = maps.sum(axis=(1, 2))
  order = np.argsort(sums, axis=-1, kind='stable')
  ranked = np.take_along_axis(sums, order, axis=-1)
  first = np.concatenate([np.ones_like(ranked[:, :1], bool), ranked[:, 1:] != ranked[:, :-1]],
                         axis=-1)
  got_order, got_first, got_distinct = sampler._sorted_first_occurrences(maps)
  np.testing.assert_array_equal(got_order, order)
  np.testing.assert_array_equal(got_first, first)
  # In channel order: the first-occurrence flags put back where the sort took them from.
  distinct = np.zeros_like(first)
  np.put_along_axis(distinct, order, first, axis=-1)
  np.testing.assert_array_equal(got_distinct, distinct)


@pytest.mark.parametrize('dedup', ['released', 'fixed', 'none'])
def test_structure_map_has_no_sort_or_scatter(dedup):
  # TFLite has no sort and tf2onnx no translation of TFLite's scatter: every mode exports.
  maps = jnp.ones((2, 4, 4, 8))
  program = str(jax.make_jaxpr(lambda m: sampler.structure_map(m, (6, 6), dedup))(maps))
  assert 'sort' not in program and 'scatter' not in program
