"""The training and evaluation pipelines: shapes, value ranges, exact resume, exact eval."""

import collections
import dataclasses
import itertools

import numpy as np
import pytest
import tensorflow as tf

from cnl_jax import data
from cnl_jax.data import pipeline, sources
from configs.default import data_config

# The default normalisation (ImageNet's) on 0-255 pixels.
MEAN_RGB = tuple(255 * value for value in data.Augmentation().mean_rgb)
STDDEV_RGB = tuple(255 * value for value in data.Augmentation().std_rgb)

IMAGE_SIZE = 32
# Normalised pixel values lie between these: (0 - mean) / std and (255 - mean) / std.
LOW = min((0 - m) / s for m, s in zip(MEAN_RGB, STDDEV_RGB))
HIGH = max((255 - m) / s for m, s in zip(MEAN_RGB, STDDEV_RGB))


@pytest.fixture(scope='module')
def config(tmp_path_factory):
  """A tiny synthetic set: 5 classes, 20 train and 15 test images of 40 px."""
  config = data_config()
  config.cache_dir = str(tmp_path_factory.mktemp('cache'))
  config.synthetic_classes = 5
  config.synthetic_image_size = 40
  config.synthetic_train_per_class = 4
  config.synthetic_test_per_class = 3
  return config


def split_labels(config, split: str) -> collections.Counter:
  return collections.Counter(
      int(example['label'])
      for example in sources.prepared_builder(config).as_dataset(split=split).as_numpy_iterator())


def take(iterator, count: int) -> list[dict]:
  return list(itertools.islice(iterator, count))


def test_info(config):
  info = data.load_info(config)
  assert (info.num_classes, info.num_train, info.num_test) == (5, 20, 15)
  assert len(set(info.class_names)) == 5
  assert data.steps_per_epoch(info, 6) == 3


@pytest.mark.parametrize('dtype', ['float32', 'bfloat16'])
def test_train_batches_shapes_dtypes_ranges(config, dtype):
  batches = take(data.train_batches(config, batch_size=6, image_size=IMAGE_SIZE, seed=0,
                                    dtype=dtype), 4)
  for batch in batches:
    assert set(batch) == {'image', 'label'}
    assert batch['image'].shape == (6, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert batch['image'].dtype == np.dtype(dtype)
    assert batch['label'].shape == (6,) and batch['label'].dtype == np.int32
    image = batch['image'].astype(np.float32)
    assert LOW - 0.02 <= image.min() and image.max() <= HIGH + 0.02
    assert image.std() > 0.1
    assert set(batch['label'].tolist()) <= set(range(5))


def test_each_epoch_is_a_permutation_and_epochs_differ(config):
  # 20 examples, batch 5: 4 steps per epoch, all examples used once per epoch.
  batches = take(data.train_batches(config, batch_size=5, image_size=IMAGE_SIZE, seed=3), 8)
  epochs = [np.concatenate([b['label'] for b in batches[i:i + 4]]) for i in (0, 4)]
  for labels in epochs:
    assert collections.Counter(labels.tolist()) == split_labels(config, 'train')
  assert not np.array_equal(epochs[0], epochs[1])


def test_train_stream_is_a_function_of_seed_and_step(config):
  def stream(seed, start_step=0, count=9):
    return take(data.train_batches(config, batch_size=6, image_size=IMAGE_SIZE, seed=seed,
                                   start_step=start_step), count)
  full = stream(seed=1)
  for start_step in (1, 3, 4, 7):  # 3 steps per epoch: within, at and past epoch boundaries.
    for resumed, expected in zip(stream(1, start_step, 9 - start_step), full[start_step:]):
      np.testing.assert_array_equal(resumed['image'], expected['image'])
      np.testing.assert_array_equal(resumed['label'], expected['label'])
  other = stream(seed=2, count=1)[0]
  assert not np.array_equal(other['image'], full[0]['image'])


@pytest.mark.parametrize('start_step', [0, 3])
def test_processes_split_the_global_batches_of_a_single_process(config, start_step):
  # Global batch 4: each of two processes yields its 2 rows of what one process yields.
  def stream(batch_size, process_index=0, process_count=1):
    return take(data.train_batches(config, batch_size=batch_size, image_size=IMAGE_SIZE,
                                   seed=0, start_step=start_step, process_index=process_index,
                                   process_count=process_count), 6)
  single = stream(4)
  halves = [stream(2, process_index, 2) for process_index in (0, 1)]
  for step, expected in enumerate(single):
    for key in ('image', 'label'):
      np.testing.assert_array_equal(
          np.concatenate([halves[0][step][key], halves[1][step][key]]), expected[key])


@pytest.mark.parametrize('process_count, batch_size', [(1, 4), (1, 15), (2, 4), (2, 7)])
def test_eval_masks_count_every_example_once(config, process_count, batch_size):
  labels, batch_counts = collections.Counter(), set()
  for process_index in range(process_count):
    batches = list(data.eval_batches(config, batch_size=batch_size, image_size=IMAGE_SIZE,
                                     eval_resize=36, process_index=process_index,
                                     process_count=process_count))
    batch_counts.add(len(batches))
    for batch in batches:
      assert batch['image'].shape == (batch_size, IMAGE_SIZE, IMAGE_SIZE, 3)
      assert batch['mask'].shape == (batch_size,) and batch['label'].dtype == np.int32
      assert batch['image'].dtype == np.float32
      assert LOW - 0.02 <= batch['image'].min() and batch['image'].max() <= HIGH + 0.02
      labels.update(batch['label'][batch['mask']].tolist())
  assert len(batch_counts) == 1  # Multi-host steps line up.
  assert labels == split_labels(config, 'test')


def test_five_crop_batches_count_every_example_once_and_centre_is_the_plain_crop(config):
  labels = collections.Counter()
  plain = data.eval_batches(config, batch_size=4, image_size=IMAGE_SIZE, eval_resize=36)
  five = data.eval_batches(config, batch_size=4, image_size=IMAGE_SIZE, eval_resize=36,
                           crops='five')
  for centre, batch in zip(plain, five, strict=True):
    assert batch['image'].shape == (4, 5, IMAGE_SIZE, IMAGE_SIZE, 3)
    np.testing.assert_array_equal(batch['image'][:, 4], centre['image'])
    np.testing.assert_array_equal(batch['mask'], centre['mask'])
    labels.update(batch['label'][batch['mask']].tolist())
  assert labels == split_labels(config, 'test')


@pytest.mark.parametrize('resize_mode', ['short_side', 'square'])
def test_five_crops_are_the_corners_and_centre_of_the_resized_image(resize_mode):
  # At eval_resize = the short side (or, for 'square', an image already square) nothing is
  # resized, so the five views are plain slices of the image, in torchvision's FiveCrop order.
  height, width = (40, 60) if resize_mode == 'short_side' else (40, 40)
  image = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
  transform = dataclasses.replace(data.augmentation(data_config()),
                                  resize_mode=resize_mode)
  views = pipeline.eval_crops(tf.io.encode_png(image), 32, 40, tf.float32, transform, 'five')
  bottom, right = height - 32, width - 32
  expected = [image[:32, :32], image[:32, right:], image[bottom:, :32],
              image[bottom:, right:], image[bottom // 2:bottom // 2 + 32,
                                             right // 2:right // 2 + 32]]
  normalised = (np.array(expected) - np.array(MEAN_RGB)) / np.array(STDDEV_RGB)
  np.testing.assert_allclose(views, normalised, atol=1e-4)


def test_eval_at_native_size_is_the_normalised_image(config):
  builder = sources.prepared_builder(config)
  expected = np.stack([example['image'] for example in
                       builder.as_dataset(split='test').take(4).as_numpy_iterator()])
  batch = next(data.eval_batches(config, batch_size=4, image_size=40, eval_resize=40))
  normalised = (expected - np.array(MEAN_RGB)) / np.array(STDDEV_RGB)
  np.testing.assert_allclose(batch['image'], normalised, atol=1e-4)
  assert batch['mask'].all()


def test_fused_jpeg_crop_matches_decoding_then_cropping():
  # Same seed, same window: the fused JPEG path and the generic path (PNG) give one image.
  # Without chroma subsampling the JPEG decoder has no edge effects at the crop border.
  image = np.random.default_rng(0).integers(0, 256, (60, 80, 3), np.uint8)
  jpeg = tf.io.encode_jpeg(image, chroma_downsampling=False)
  png = tf.io.encode_png(tf.io.decode_jpeg(jpeg))
  seed = tf.constant([4, 2], tf.int64)
  np.testing.assert_allclose(pipeline.train_image(jpeg, seed, 24, tf.float32),
                             pipeline.train_image(png, seed, 24, tf.float32), atol=1e-4)


def test_eval_keeps_the_centre_of_the_resized_image():
  # 80x120 image, white inside the central 40x40 and black around it. Resizing the short side
  # to 64 and cropping 32 keeps exactly the central 40x40 of the original: all white.
  image = np.zeros((80, 120, 3), np.uint8)
  image[20:60, 40:80] = 255
  result = pipeline.eval_image(tf.io.encode_png(image), 32, 64, tf.float32)
  white = (255 - np.array(MEAN_RGB)) / np.array(STDDEV_RGB)
  np.testing.assert_allclose(result, np.broadcast_to(white, (32, 32, 3)), atol=1e-4)
