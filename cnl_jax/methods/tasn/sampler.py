"""TASN's trilinear attention, its two sampling maps and the attention-based sampler.

Pure, jittable functions after the released code (researchmm/tasn @ 5dba8cc, model.py
`trilinear_att` and the att_sampler operator in tasn-mxnet/src/operator/contrib/): no custom
op, so they run on CPU, GPU and TPU. Where the released MXNet code has a quirk, the released
behaviour is the default and the argument that switches it off is named after it:

- `softmax_scale=7`: the spatial softmax of the trilinear attention runs on 7·X.
- `dedup='released'`: the structure map's duplicate mask is computed in sorted order but
  applied in channel order (researchmm/tasn#3).
- `released_cdf=True`: the sampler's cumulative density starts at C[0] = 1 and its targets
  are spaced C[L-1]/S, so a uniform map does not give a plain resize.

The released kernel's out-of-bounds read C[-1] is fixed as the authors' PyTorch port does:
targets below C[0] sample position 0.
"""

from __future__ import annotations

from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

Dedup = Literal['released', 'fixed', 'none']


def align_corners_matrix(in_size: int, out_size: int) -> jax.Array:
  """Linear interpolation weights [out_size, in_size] with the corners aligned.

  Output k reads the input at k·(in−1)/(out−1), as PyTorch's and MXNet's align_corners=True
  resizes do (`jax.image.resize` samples half-pixel centres instead).
  """
  if out_size == 1:
    positions = jnp.zeros((1,), jnp.float32)
  else:
    positions = jnp.arange(out_size, dtype=jnp.float32) * (in_size - 1) / (out_size - 1)
  return interpolation_matrix(positions, in_size)


def interpolation_matrix(positions: jax.Array, size: int) -> jax.Array:
  """Weights [..., n, size] that read a length-`size` axis linearly at `positions` [..., n].

  A neighbour outside 0..size-1 contributes zero (zero padding).
  """
  lower = jnp.floor(positions)
  fraction = (positions - lower)[..., None]
  lower = lower.astype(jnp.int32)
  return ((1 - fraction) * jax.nn.one_hot(lower, size, dtype=positions.dtype)
          + fraction * jax.nn.one_hot(lower + 1, size, dtype=positions.dtype))


def resize_align_corners(maps: jax.Array, size: tuple[int, int]) -> jax.Array:
  """Bilinear resize with aligned corners: `[batch, h, w, ...] -> [batch, *size, ...]`."""
  rows = align_corners_matrix(maps.shape[1], size[0]).astype(maps.dtype)
  cols = align_corners_matrix(maps.shape[2], size[1]).astype(maps.dtype)
  return jnp.einsum('yh,bhw...,xw->byx...', rows, maps, cols)


def trilinear_attention(features: jax.Array, softmax_scale: float = 7.0) -> jax.Array:
  """M(X) = N(N(X) Xᵀ) X: one attention map per channel, [batch, h, w, C] -> same shape.

  With X as [C, hw]: A = softmax over positions of (softmax_scale·X), R = row-wise softmax of
  A Xᵀ [C, C], M = R X. For non-negative X every map is non-negative. The released code
  uses softmax_scale 7 (its PyTorch port 2); gradients are stopped, so the attention net
  learns only from its own classifier.
  """
  batch, height, width, channels = features.shape
  x = jnp.swapaxes(features.reshape(batch, height * width, channels), 1, 2)  # [b, C, hw]
  spatial = jax.nn.softmax(softmax_scale * x, axis=-1)
  relation = jax.nn.softmax(jnp.einsum('bcp,bdp->bcd', spatial, x), axis=-1)
  maps = jnp.einsum('bcd,bdp->bcp', relation, x)
  return jax.lax.stop_gradient(jnp.swapaxes(maps, 1, 2).reshape(features.shape))


def _sorted_first_occurrences(maps: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
  """Channel order by map sum [batch, C]; in that order, whether each is the first of its sum
  [batch, C]; and the same in channel order [batch, C]. Channels with equal sums count as
  duplicates (zero channels of X give identical maps); the first is the lowest channel."""
  # A stable argsort written as comparisons (TFLite has no sort, and C is at most a few
  # thousand): channel j goes to rank #{i: s_i < s_j} + #{i < j: s_i = s_j}.
  sums = jnp.sum(maps, axis=(1, 2))
  channels = jnp.arange(sums.shape[-1])
  earlier = channels[None, :] < channels[:, None]  # [j, i]: i before j
  equal = sums[:, None, :] == sums[:, :, None]  # [batch, j, i]
  repeats = jnp.any(equal & earlier, axis=-1)  # [batch, j]: an earlier channel has its sum
  rank = (jnp.sum(sums[:, None, :] < sums[:, :, None], axis=-1)
          + jnp.sum(equal & earlier, axis=-1))
  at_rank = rank[:, None, :] == channels[None, :, None]  # [batch, k, j]: j has rank k
  order = jnp.sum(jnp.where(at_rank, channels, 0), axis=-1)
  first = jnp.any(at_rank & ~repeats[:, None, :], axis=-1)
  return order, first, ~repeats


def structure_map(maps: jax.Array, size: tuple[int, int], dedup: Dedup = 'released'
                  ) -> jax.Array:
  """Sum of the distinct attention maps, resized and squared: `[batch, h, w, C] -> [batch, *size]`.

  dedup: 'released' applies the mask of first occurrences, computed in sorted order, to the
  channels in channel order (the released bug, #3; with few ties the mask is nearly all
  ones); 'fixed' applies it to the right channels; 'none' sums every map. Squaring (released
  code: optional) stresses the strong regions.
  """
  _, first, distinct = _sorted_first_occurrences(maps)
  if dedup == 'released':
    mask = first
  elif dedup == 'fixed':
    mask = distinct
  elif dedup == 'none':
    mask = jnp.ones_like(first)
  else:
    raise ValueError(f"dedup must be 'released', 'fixed' or 'none', got {dedup!r}.")
  summed = jnp.einsum('bhwc,bc->bhw', maps, mask.astype(maps.dtype))
  return jnp.square(resize_align_corners(summed, size))


def detail_map(maps: jax.Array, size: tuple[int, int], rng: jax.Array | None = None
               ) -> jax.Array:
  """One attention map per image, resized: `[batch, h, w, C] -> [batch, *size]`.

  Training (`rng` given): a channel drawn uniformly per image among the first occurrences
  of distinct map sums, so that each part is equally likely however often it repeats.
  Test (`rng` None): the sum of all maps (neither deduplicated nor squared, as released).
  """
  if rng is None:
    chosen = jnp.sum(maps, axis=-1)
  else:
    order, first, _ = _sorted_first_occurrences(maps)
    index = jax.random.categorical(rng, jnp.where(first, 0.0, -jnp.inf), axis=-1)
    channel = jnp.take_along_axis(order, index[:, None], axis=-1)[:, 0]
    chosen = jnp.take_along_axis(maps, channel[:, None, None, None], axis=-1)[..., 0]
  return resize_align_corners(chosen, size)


def _capped_density(marginal_y: jax.Array, marginal_x: jax.Array, output_size: int,
                    density_cap: float, iterations: int) -> tuple[jax.Array, jax.Array]:
  """Samples per input row and column, [batch, L] each, summing to `output_size`, at most
  about `density_cap` times the uniform output_size / L.

  Each pass clips both axes at the smaller of their maxima (the first also at the cap) and
  spreads the removed mass uniformly over the axis, as the released kernel does.
  """
  m_y, m_x = output_size * marginal_y, output_size * marginal_x
  cap_y = density_cap * output_size / m_y.shape[-1]
  cap_x = density_cap * output_size / m_x.shape[-1]
  for index in range(iterations):
    threshold = jnp.minimum(jnp.max(m_y, axis=-1), jnp.max(m_x, axis=-1))[:, None]
    threshold_y = jnp.minimum(threshold, cap_y) if index == 0 else threshold
    threshold_x = jnp.minimum(threshold, cap_x) if index == 0 else threshold
    m_y, m_x = jnp.minimum(m_y, threshold_y), jnp.minimum(m_x, threshold_x)
    m_y = m_y + (output_size - jnp.sum(m_y, axis=-1, keepdims=True)) / m_y.shape[-1]
    m_x = m_x + (output_size - jnp.sum(m_x, axis=-1, keepdims=True)) / m_x.shape[-1]
  return m_y, m_x


def _inverse_cdf(density: jax.Array, output_size: int, released_cdf: bool) -> jax.Array:
  """Input positions [batch, output_size] of the output rows (or columns) for a density
  [batch, L]: a piecewise-linear inverse of its cumulative sum at evenly spaced targets.

  released_cdf: C[0] = 1 (not density[0]) and targets i·C[L−1]/S, i < S (the released
  kernel); otherwise C[0] = 0 and targets i·C[L−1]/(S−1), so the first and last outputs
  sit on the first and last input pixel and a uniform density gives an align-corners
  resize. Targets below C[0] sample position 0 (the authors' PyTorch port).
  """
  length = density.shape[-1]
  first = 1.0 if released_cdf else 0.0
  # density with its first entry replaced (a concatenation: ONNX has no translation of
  # TFLite's scatter).
  cdf = jnp.cumsum(jnp.concatenate([jnp.full_like(density[:, :1], first), density[:, 1:]],
                                   axis=-1), axis=-1)
  steps = output_size if released_cdf else max(output_size - 1, 1)
  targets = jnp.arange(output_size, dtype=density.dtype)[None] * cdf[:, -1:] / steps
  return jax.vmap(_interp_positions)(targets, cdf)


def _interp_positions(targets: jax.Array, cdf: jax.Array) -> jax.Array:
  """`jnp.interp(targets, cdf, arange(L))`, with the bin search written as plain comparisons:
  jnp.searchsorted lowers to a loop with an integer division or to total-order compares,
  neither of which TFLite can convert, and L is a few hundred, so comparing all is cheap."""
  length = cdf.shape[-1]
  # searchsorted(cdf, targets, side='right'): the count of cdf values <= each target.
  upper = jnp.clip(jnp.sum(cdf[None, :] <= targets[:, None], axis=-1), 1, length - 1)
  low, high = cdf[upper - 1], cdf[upper]
  step = high - low
  flat = jnp.abs(step) <= np.spacing(np.finfo(cdf.dtype).eps)  # as jnp.interp: no NaN
  positions = (upper - 1).astype(cdf.dtype) + jnp.where(
      flat, 0, (targets - low) / jnp.where(flat, 1, step))
  positions = jnp.where(targets < cdf[0], 0, positions)
  return jnp.where(targets > cdf[-1], length - 1, positions)


def sampling_grid(attention_map: jax.Array, output_size: int, density_cap: float = 4.0,
                  iterations: int = 5, released_cdf: bool = True
                  ) -> tuple[jax.Array, jax.Array]:
  """Input row and column positions [batch, output_size] each of the sampled image.

  attention_map [batch, L_y, L_x], non-negative: its row and column maxima, normalised,
  give each input row and column a share of the output's rows and columns, capped by
  `density_cap` times the uniform share (4 and 5 `iterations` in the released code).
  """
  marginal_y = jnp.max(attention_map, axis=2)
  marginal_x = jnp.max(attention_map, axis=1)
  marginal_y = marginal_y / jnp.sum(marginal_y, axis=-1, keepdims=True)
  marginal_x = marginal_x / jnp.sum(marginal_x, axis=-1, keepdims=True)
  m_y, m_x = _capped_density(marginal_y, marginal_x, output_size, density_cap, iterations)
  return (_inverse_cdf(m_y, output_size, released_cdf),
          _inverse_cdf(m_x, output_size, released_cdf))


def resample(images: jax.Array, rows: jax.Array, cols: jax.Array) -> jax.Array:
  """Separable bilinear sampling with zero padding: images [batch, H, W, channels] read at
  rows [batch, S_y] x cols [batch, S_x] (pixel positions) -> [batch, S_y, S_x, channels]."""
  row_weights = interpolation_matrix(rows, images.shape[1]).astype(images.dtype)
  col_weights = interpolation_matrix(cols, images.shape[2]).astype(images.dtype)
  return jnp.einsum('byh,bhwc,bxw->byxc', row_weights, images, col_weights)


def attention_sample(images: jax.Array, attention_map: jax.Array, output_size: int,
                     density_cap: float = 4.0, iterations: int = 5, released_cdf: bool = True
                     ) -> jax.Array:
  """TASN's attention-based sampler: images [batch, H, W, channels] and a non-negative map
  [batch, H, W] -> [batch, output_size, output_size, channels], rows and columns drawn
  densely where the map is high.

  No gradient flows to either input (the released op returns zeros by design). A zero
  outside the image is the mean colour of the normalised input.
  """
  if attention_map.shape != images.shape[:3]:
    raise ValueError(f'The attention map {attention_map.shape} must be [batch, height, width] '
                     f'of the images {images.shape}; resize it to the image first.')
  # The grid in float32 whatever the images' dtype: a bfloat16 cumulative sum would drift.
  rows, cols = sampling_grid(jax.lax.stop_gradient(attention_map).astype(jnp.float32),
                             output_size, density_cap, iterations, released_cdf)
  return jax.lax.stop_gradient(resample(images, rows, cols))
