"""MobileNetV2: torchvision's widths, sizes and parameter counts; the stem stride and
depthwise options."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.models.mobilenet_v2 import (MobileNetV2, ShiftedDepthwiseConv, block_specs,
                                         make_divisible)


def shapes(model, size):
  images = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images)
  outputs = jax.eval_shape(lambda v, x: model.apply(v, x), variables, images)
  return variables, outputs


def count(variables):
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(variables['params']))


def test_parameter_counts_equal_torchvision():
  # torchvision.models.mobilenet_v2(): 3,504,872; without `classifier`: 2,223,872.
  assert count(shapes(MobileNetV2(1000), 64)[0]) == 3_504_872
  assert count(shapes(MobileNetV2(None), 64)[0]) == 2_223_872


@pytest.mark.parametrize('stem_stride, grid', [(2, (56, 28, 14)), (1, (112, 56, 28))])
def test_taps_at_448(stem_stride, grid):
  _, (logits, features) = shapes(MobileNetV2(200, stem_stride=stem_stride), 448)
  assert logits.shape == (1, 200)
  assert features['block6'].shape == (1, grid[0], grid[0], 32)
  assert features['block13'].shape == (1, grid[1], grid[1], 96)
  assert features['last'].shape == (1, grid[2], grid[2], 1280)


def test_width_multiplier_rounds_like_torchvision():
  # torchvision's _make_divisible: 0.35 x 32 -> 16; 0.35 x 24 = 8.4 -> 8; 0.75 x 96 -> 72.
  assert [make_divisible(c * 0.35) for c in (32, 24, 96)] == [16, 8, 32]
  assert make_divisible(96 * 0.75) == 72
  assert make_divisible(10) == 16  # never more than 10% below: 8 would be
  specs = block_specs(0.5)
  assert [s.out_channels for s in specs][::4] == [8, 16, 32, 48, 160]
  _, (_, features) = shapes(MobileNetV2(None, width_multiplier=0.5), 64)
  assert features['stem'].shape[-1] == 16 and features['last'].shape[-1] == 1280


def test_bfloat16_compute():
  model = MobileNetV2(10, dtype=jnp.bfloat16)
  _, (logits, features) = shapes(model, 32)
  assert features['block6'].dtype == jnp.bfloat16 and logits.dtype == jnp.float32


def test_bad_stem_stride_is_named():
  with pytest.raises(ValueError, match='stem_stride must be 1 or 2, got 4'):
    shapes(MobileNetV2(10, stem_stride=4), 32)


@pytest.mark.parametrize('stride, size', [(1, 9), (2, 9), (2, 8)])
def test_shifted_depthwise_conv_equals_grouped_convolution(stride, size):
  """The shifted multiply-adds take nn.Conv's parameter and give its grouped convolution."""
  x = np.random.RandomState(0).normal(size=(2, size, size + 3, 6)).astype(np.float32)
  layer = ShiftedDepthwiseConv(6, (3, 3), (stride, stride), padding=((1, 1), (1, 1)),
                               feature_group_count=6, use_bias=False)
  params = layer.init(jax.random.key(0), x)
  reference = nn.Conv(6, (3, 3), (stride, stride), padding=((1, 1), (1, 1)),
                      feature_group_count=6, use_bias=False)
  np.testing.assert_allclose(layer.apply(params, x), reference.apply(params, x),
                             rtol=1e-5, atol=1e-5)


def test_depthwise_option_changes_how_not_what():
  """Both depthwise lowerings share one parameter tree and give the same logits."""
  images = np.random.RandomState(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
  grouped = MobileNetV2(10, width_multiplier=0.35)
  shifted = MobileNetV2(10, width_multiplier=0.35, depthwise='shifted')
  variables = grouped.init(jax.random.key(0), images)
  assert (jax.tree.structure(shifted.init(jax.random.key(0), images))
          == jax.tree.structure(variables))
  np.testing.assert_allclose(shifted.apply(variables, images)[0],
                             grouped.apply(variables, images)[0], rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match="depthwise must be one of .*'fast'"):
    MobileNetV2(10, depthwise='fast').init(jax.random.key(0), images)

