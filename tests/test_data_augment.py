"""Augmentation options: each acts only when on, keeps its stated property, and stays a pure
function of the example's seed."""

import dataclasses
import math

import numpy as np
import pytest
import tensorflow as tf

from cnl_jax import data
from cnl_jax.data import image_files, pipeline
from configs.default import data_config

# The default normalisation (ImageNet's) on 0-255 pixels.
MEAN_RGB = tuple(255 * value for value in data.Augmentation().mean_rgb)
STDDEV_RGB = tuple(255 * value for value in data.Augmentation().std_rgb)

DEFAULTS = data.augmentation(data_config())
SQUARE = dataclasses.replace(DEFAULTS, resize_mode='square')
LUMA = np.array(pipeline.GRAY_WEIGHTS)
RED = (255, 0, 0)


def png(image: np.ndarray) -> tf.Tensor:
  """Lossless encoding, so that pixel values survive exactly."""
  return tf.io.encode_png(image)


def pixels(image) -> np.ndarray:
  """A normalised pipeline output back to float 0-255 pixels."""
  return np.asarray(image, np.float32) * np.array(STDDEV_RGB) + np.array(
      MEAN_RGB)


def train(image_bytes, seed: int, image_size: int = 24, resize: int | None = None,
          **fields) -> np.ndarray:
  """train_image as 0-255 pixels, with the given augmentation fields changed."""
  transform = dataclasses.replace(DEFAULTS, **fields)
  return pixels(pipeline.train_image(image_bytes, tf.constant([seed, 7], tf.int64), image_size,
                                     tf.float32, transform, resize))


def noise_image(height: int = 40, width: int = 56, low: int = 0, high: int = 256) -> np.ndarray:
  return np.random.default_rng(0).integers(low, high, (height, width, 3), np.uint8)


def bordered_image() -> np.ndarray:
  """40x80 grey with a red border: 5 px at top and bottom, 10 px at the sides, i.e. 4 px on
  each side once squashed to 32x32."""
  image = np.full((40, 80, 3), 128, np.uint8)
  image[:5], image[-5:], image[:, :10], image[:, -10:] = RED, RED, RED, RED
  return image


def is_red(image: np.ndarray) -> np.ndarray:
  return np.all(np.abs(image - np.array(RED)) < 1, axis=-1)


@pytest.mark.parametrize('fields', [
    {'train_crop': 'random'},
    {'rotation_degrees': 20},
    {'color_jitter': 0.4},
    {'pca_lighting': 0.1},
    {'train_crop': 'random', 'resize_mode': 'square'},
])
def test_each_option_changes_the_training_image(fields):
  image = png(noise_image())
  baseline = dict(train_crop='random') if 'resize_mode' in fields else {}
  for seed in range(3):
    assert not np.allclose(train(image, seed, resize=32, **fields),
                           train(image, seed, resize=32, **baseline), atol=1e-3)


def test_resize_mode_leaves_the_random_resized_crop_alone():
  image = png(noise_image())
  np.testing.assert_array_equal(train(image, 0, resize_mode='square'), train(image, 0))


def test_rotation_by_zero_is_the_identity():
  image = tf.constant(noise_image(), tf.float32)
  np.testing.assert_array_equal(pipeline.rotate(image, tf.constant(0)), image)
  # With angles in {-1, 0, 1}, the seeds that draw 0 give exactly the unrotated image, crop
  # and flip included; the others do not.
  encoded = png(noise_image())
  for crop in ('random_resized', 'random'):
    unrotated = [train(encoded, seed, resize=32, train_crop=crop) for seed in range(12)]
    rotated = [train(encoded, seed, resize=32, train_crop=crop, rotation_degrees=1)
               for seed in range(12)]
    same = [np.array_equal(a, b) for a, b in zip(rotated, unrotated)]
    assert 0 < sum(same) < len(same)


def test_rotation_fills_the_corners_white():
  black = tf.zeros([16, 16, 3])
  rotated = pipeline.rotate(black, tf.constant(45)).numpy()
  for corner in (rotated[0, 0], rotated[0, -1], rotated[-1, 0], rotated[-1, -1]):
    np.testing.assert_array_equal(corner, [255, 255, 255])
  np.testing.assert_array_equal(rotated[4:12, 4:12], 0)
  # In the pipeline: the crop is the whole (black) resized image, so white can only come
  # from the fill; the largest angles fill the corners entirely.
  encoded = png(np.zeros((32, 32, 3), np.uint8))
  corners = np.stack([train(encoded, seed, image_size=32, resize=32, train_crop='random',
                            rotation_degrees=45)[::31, ::31] for seed in range(10)])
  assert corners.min() >= -1e-3 and np.abs(corners.max() - 255) < 1e-3
  assert np.all(corners.max(axis=(1, 2, 3)) > 1)  # Every seed turns the image a bit.


def test_square_resize_keeps_the_whole_image():
  image = png(bordered_image())
  square = pixels(pipeline.eval_image(image, 32, 32, tf.float32, SQUARE))
  assert square.shape == (32, 32, 3)
  for edge in (square[:3], square[-3:], square[:, :3], square[:, -3:]):
    assert is_red(edge).all()
  assert not is_red(square[6:26, 6:26]).any()
  # The short side keeps the aspect and crops the sides away.
  short_side = pixels(pipeline.eval_image(image, 32, 32, tf.float32, DEFAULTS))
  assert is_red(short_side[:3]).all() and not is_red(short_side[8:-8, :3]).any()
  # Training with a 'random' crop as large as the resized image sees the whole image too.
  trained = train(image, 0, image_size=32, resize=32, train_crop='random', resize_mode='square')
  np.testing.assert_allclose(trained, square, atol=1e-3)


def test_eval_and_read_eval_image_share_the_square_resize(tmp_path):
  path = tmp_path / 'bordered.png'
  path.write_bytes(png(bordered_image()).numpy())
  np.testing.assert_array_equal(
      image_files.read_eval_image(str(path), 24, 28, transform=SQUARE),
      pipeline.eval_image(png(bordered_image()), 24, 28, tf.float32, SQUARE))


@pytest.mark.parametrize('resize_mode', ['short_side', 'square'])
def test_random_crop_windows_vary_and_stay_inside(resize_mode):
  # Red encodes the row and green the column, so each output pixel says where it came from.
  rows, cols = np.meshgrid(np.arange(48), np.arange(48), indexing='ij')
  image = png(np.stack([rows * 5, cols * 5, np.zeros_like(rows)], axis=-1).astype(np.uint8))
  offsets = set()
  for seed in range(12):
    crop = np.round(train(image, seed, image_size=16, resize=48, train_crop='random',
                          resize_mode=resize_mode)).astype(int)
    top, left = crop[0, 0, 0] // 5, crop[..., 1].min() // 5
    window = np.arange(16)
    np.testing.assert_array_equal(crop[:, 0, 0], (top + window) * 5)
    np.testing.assert_array_equal(np.sort(crop[0, :, 1]), (left + window) * 5)  # maybe flipped
    assert 0 <= top <= 32 and 0 <= left <= 32
    offsets.add((top, left))
  assert len(offsets) >= 8


def torchvision_fallback(height: int, width: int) -> tuple[int, int, int, int]:
  """torchvision's centre crop when no try fits: the whole image, its aspect clipped."""
  low, high = pipeline.CROP_ASPECT_RANGE
  crop_height, crop_width = height, width
  if width / height < low:
    crop_height = int(round(width / low))
  elif width / height > high:
    crop_width = int(round(height * high))
  return (height - crop_height) // 2, (width - crop_width) // 2, crop_height, crop_width


def torchvision_window(rng: np.random.Generator, height: int, width: int,
                       area_range: tuple[float, float]) -> tuple[int, int, int, int]:
  """(top, left, height, width) as torchvision's RandomResizedCrop.get_params draws it, with
  NumPy draws (pytorch/vision @ 6247d96d, torchvision/transforms/transforms.py)."""
  log_ratio = [math.log(bound) for bound in pipeline.CROP_ASPECT_RANGE]
  for _ in range(10):
    target_area = height * width * rng.uniform(*area_range)
    aspect = math.exp(rng.uniform(*log_ratio))
    crop_width = int(round(math.sqrt(target_area * aspect)))
    crop_height = int(round(math.sqrt(target_area / aspect)))
    if 0 < crop_width <= width and 0 < crop_height <= height:
      return (int(rng.integers(0, height - crop_height + 1)),
              int(rng.integers(0, width - crop_width + 1)), crop_height, crop_width)
  return torchvision_fallback(height, width)


def pipeline_windows(height: int, width: int, area_range: tuple[float, float],
                     count: int) -> np.ndarray:
  """[count, 4] (top, left, height, width) of the windows train_image crops for seeds
  0..count-1, read back from its output.

  Red is the row and green the column of each pixel; the output is at least as large as any
  window, so the resize only enlarges and the output's edge pixels are the window's edges.
  """
  rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
  image = png(np.stack([rows, cols, np.zeros_like(rows)], axis=-1).astype(np.uint8))
  transform = dataclasses.replace(DEFAULTS, crop_min_area=area_range[0],
                                  crop_max_area=area_range[1])
  mean, std = np.array(MEAN_RGB, np.float32), np.array(STDDEV_RGB, np.float32)

  def edges(seed):
    output = pipeline.train_image(image, tf.stack([seed, 7]), max(height, width), tf.float32,
                                  transform) * std + mean
    return tf.stack([output[0, 0, 0], output[-1, 0, 0], tf.reduce_min(output[0, :, 1]),
                     tf.reduce_max(output[0, :, 1])])

  top, bottom, left, right = np.round(
      tf.data.Dataset.range(count).map(edges).batch(count).get_single_element().numpy()
  ).astype(int).T
  return np.stack([top, left, bottom - top + 1, right - left + 1], axis=1)


def window_statistics(windows: np.ndarray, height: int, width: int) -> dict[str, np.ndarray]:
  """Per-window quantities whose means the torchvision comparison checks."""
  top, left, crop_height, crop_width = windows.T
  area = crop_height * crop_width / (height * width)
  return {'area fraction': area, 'under 30%': area < 0.3, 'aspect': crop_width / crop_height,
          'fallback': np.all(windows == torchvision_fallback(height, width), axis=1),
          # Uniform placement puts the window's centre at the image's centre on average.
          'centre row': (top + crop_height / 2) / height,
          'centre column': (left + crop_width / 2) / width}


def ks_distance(sample: np.ndarray, reference: np.ndarray) -> float:
  """The two-sample Kolmogorov-Smirnov statistic: the largest gap between the CDFs."""
  points = np.union1d(sample, reference)
  return float(np.max(np.abs(np.searchsorted(np.sort(sample), points, 'right') / len(sample)
                             - np.searchsorted(np.sort(reference), points, 'right')
                             / len(reference))))


@pytest.mark.parametrize('height, width, area_range', [
    (200, 150, (0.08, 1.25)),  # the released code's scale, portrait
    (150, 200, (0.08, 1.25)),  # landscape
    (40, 200, (0.08, 1.25)),  # too wide for 3/4-4/3: a third of the draws fall back
    (200, 40, (0.35, 1.0)),  # too tall, the demo's lower bound, the usual upper bound
])
def test_random_resized_crop_samples_like_torchvision(height, width, area_range):
  count, reference_count = 2000, 20000
  windows = pipeline_windows(height, width, area_range, count)
  top, left, crop_height, crop_width = windows.T
  assert np.all((top >= 0) & (crop_height > 0) & (top + crop_height <= height))
  assert np.all((left >= 0) & (crop_width > 0) & (left + crop_width <= width))
  rng = np.random.default_rng(0)
  reference = np.array([torchvision_window(rng, height, width, area_range)
                        for _ in range(reference_count)])
  ours = window_statistics(windows, height, width)
  theirs = window_statistics(reference, height, width)
  for name, values in theirs.items():
    # Four standard errors of the difference of two sample means.
    tolerance = 4 * values.std() * math.sqrt(1 / count + 1 / reference_count) + 1e-9
    assert abs(ours[name].mean() - values.mean()) <= tolerance, (
        name, ours[name].mean(), values.mean(), tolerance)
  # The KS statistic's 0.1% critical value for these sample sizes.
  critical = 1.95 * math.sqrt(1 / count + 1 / reference_count)
  assert ks_distance(ours['area fraction'], theirs['area fraction']) < critical


def test_color_jitter_scales_the_mean_grey_by_the_brightness_factor():
  # Contrast and saturation keep the mean grey level; brightness scales it by a factor in
  # [0.6, 1.4]. Mid-range pixels stay clear of clipping.
  image = noise_image(16, 16, 80, 150).astype(np.float32)
  ratios = []
  for seed in range(20):
    jittered = pipeline.color_jitter(tf.constant(image), 0.4, tf.constant([seed, 0])).numpy()
    assert 0 <= jittered.min() and jittered.max() <= 255
    ratios.append((jittered @ LUMA).mean() / (image @ LUMA).mean())
  assert 0.6 - 1e-4 <= min(ratios) and max(ratios) <= 1.4 + 1e-4
  assert max(ratios) - min(ratios) > 0.2
  # Contrast and saturation act too: the image is not just a multiple of the input.
  jittered = pipeline.color_jitter(tf.constant(image), 0.4, tf.constant([0, 0])).numpy()
  assert not np.allclose(jittered / image, ratios[0], atol=1e-3)


def test_pca_lighting_adds_one_rgb_offset_per_image():
  image = png(noise_image(low=60, high=190))
  offsets = []
  for seed in range(4):
    difference = (train(image, seed, resize=32, train_crop='random', pca_lighting=0.1)
                  - train(image, seed, resize=32, train_crop='random'))
    offset = difference[0, 0]
    np.testing.assert_allclose(difference, np.broadcast_to(offset, difference.shape), atol=1e-3)
    assert 0.05 < np.abs(offset).max() < 60
    offsets.append(offset)
  assert len({tuple(np.round(offset, 3)) for offset in offsets}) == 4


ALL_ON = dict(train_crop='random', resize_mode='square', rotation_degrees=30, color_jitter=0.4,
              pca_lighting=0.1)


def test_augmentation_is_a_function_of_the_seed():
  image = png(noise_image())
  first = train(image, 3, resize=32, **ALL_ON)
  np.testing.assert_array_equal(train(image, 3, resize=32, **ALL_ON), first)
  assert not np.allclose(train(image, 4, resize=32, **ALL_ON), first, atol=1e-3)


@pytest.fixture(scope='module')
def augmented_config(tmp_path_factory):
  """A tiny synthetic set with every augmentation on."""
  config = data_config()
  config.cache_dir = str(tmp_path_factory.mktemp('cache'))
  config.synthetic_classes = 4
  config.synthetic_image_size = 40
  config.synthetic_train_per_class = 2
  config.synthetic_test_per_class = 1
  config.update(ALL_ON)
  return config


def test_augmented_batches_resume_and_split_across_processes(augmented_config):
  def stream(start_step=0, batch_size=4, process_index=0, process_count=1):
    batches = data.train_batches(augmented_config, batch_size=batch_size, image_size=24, seed=0,
                                 start_step=start_step, process_index=process_index,
                                 process_count=process_count, resize=28)
    return [next(batches)['image'] for _ in range(3 - start_step)]
  full = stream()
  for resumed, expected in zip(stream(start_step=1), full[1:]):
    np.testing.assert_array_equal(resumed, expected)
  halves = [stream(batch_size=2, process_index=index, process_count=2) for index in (0, 1)]
  for step, expected in enumerate(full):
    np.testing.assert_array_equal(np.concatenate([halves[0][step], halves[1][step]]), expected)


def test_square_eval_batches(augmented_config):
  batch = next(data.eval_batches(augmented_config, batch_size=4, image_size=24, eval_resize=28))
  assert batch['image'].shape == (4, 24, 24, 3)


def test_random_crop_needs_the_resize_size(augmented_config):
  with pytest.raises(ValueError, match="train_crop='random'.*resize=None"):
    data.train_batches(augmented_config, batch_size=4, image_size=24, seed=0)


@pytest.mark.parametrize('field, value, valid', [
    ('train_crop', 'center', "'random_resized', 'random'"),
    ('resize_mode', 'long_side', "'short_side', 'square'"),
    ('rotation_degrees', 7.5, 'an integer in [0, 180]'),
    ('rotation_degrees', -3, 'an integer in [0, 180]'),
    ('color_jitter', 1.5, 'a number in [0, 1]'),
    ('pca_lighting', -0.1, 'a number >= 0'),
    ('crop_min_area', 0.0, 'a number in (0, 1]'),
    ('crop_max_area', 0.05, 'a number >= crop_min_area=0.08'),
    ('crop_max_area', float('inf'), 'a number >= crop_min_area=0.08'),
    ('crop_padding', -1, 'an integer >= 0'),
    ('crop_padding', 8, "0 with train_crop='random_resized'"),
    ('mean_rgb', (0.5, 0.5), 'three numbers, one per RGB channel'),
    ('std_rgb', (0.5, 0.0, 0.5), 'each > 0'),
])
def test_bad_values_name_the_field_and_the_valid_values(field, value, valid):
  config = data_config().to_dict()  # a plain dict takes any type
  config[field] = value
  with pytest.raises(data.DatasetError) as error:
    data.augmentation(config)
  assert f'config.data.{field}={value!r}' in str(error.value)
  assert valid in str(error.value)


def test_bad_values_fail_before_the_dataset_is_built(tmp_path):
  config = data_config()
  config.cache_dir = str(tmp_path)
  config.train_crop = 'center'
  for entry in (data.load_info, lambda config: data.eval_batches(
      config, batch_size=4, image_size=24, eval_resize=28)):
    with pytest.raises(data.DatasetError, match='config.data.train_crop'):
      entry(config)
  assert not any(tmp_path.iterdir())


def test_configs_saved_before_the_fields_existed_get_the_defaults():
  config = data_config().to_dict()
  for field in ('train_crop', 'crop_max_area', 'resize_mode', 'rotation_degrees',
                'crop_padding', 'color_jitter', 'pca_lighting', 'mean_rgb', 'std_rgb'):
    del config[field]
  assert data.augmentation(config) == DEFAULTS


def test_crop_padding_adds_black_borders_as_torchvision_random_crop():
  # A white image, resized to 16 and padded by 4: every window of 16 is inside the 24 x 24
  # padded image, its black part a band of at most 4 rows and 4 columns at its edges, and
  # over seeds the offsets cover the whole range 0-8 (RandomCrop's offset range).
  white = png(np.full((16, 16, 3), 255, np.uint8))
  windows = [train(white, seed, image_size=16, resize=16, train_crop='random',
                   crop_padding=4) for seed in range(40)]
  black_rows, black_cols = set(), set()
  for window in windows:
    black = np.all(window < 1e-3, axis=-1)
    assert np.all((window < 1e-3) | (np.abs(window - 255) < 1e-3))
    rows, cols = black.all(axis=1), black.all(axis=0)
    # Black pixels are whole rows or whole columns, at the edges.
    assert np.array_equal(black, rows[:, None] | cols[None, :])
    black_rows.add((rows[:4].sum(), rows[-4:].sum()))
    black_cols.add((cols[:4].sum(), cols[-4:].sum()))
    assert rows[4:-4].sum() == 0 and cols[4:-4].sum() == 0
  assert {(4, 0), (0, 4), (0, 0)} <= black_rows | black_cols


def test_normalisation_is_the_configured_mean_and_std():
  image = png(np.full((8, 8, 3), (0, 128, 255), np.uint8))
  half = dataclasses.replace(DEFAULTS, mean_rgb=(0.5, 0.5, 0.5), std_rgb=(0.5, 0.5, 0.25))
  normalised = pipeline.eval_image(image, 8, 8, tf.float32, half).numpy()
  np.testing.assert_allclose(normalised[0, 0], [-1.0, (128 / 255 - 0.5) / 0.5, 2.0], atol=1e-6)
  np.testing.assert_array_equal(image_files.to_pixels(normalised, half)[0, 0], (0, 128, 255))
