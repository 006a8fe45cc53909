"""tf.data input pipelines: deterministic, resumable training batches and exact evaluation.

Batches are NumPy dicts: 'image' [batch, image_size, image_size, 3] normalised with the
ImageNet mean and std, 'label' [batch] int32, and for evaluation 'mask' [batch] bool.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cnl_jax.data.info import DatasetError, DatasetInfo, steps_per_epoch
from cnl_jax.data.sources import dataset_info, prepared_builder

MEAN_RGB = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STDDEV_RGB = (0.229 * 255, 0.224 * 255, 0.225 * 255)
# The paper's RandomResizedCrop aspect ratio range; its area range is (config.crop_min_area, 1).
CROP_ASPECT_RANGE = (3 / 4, 4 / 3)
_SKIP_DECODING = {'image': tfds.decode.SkipDecoding()}
# Each pipeline reads its split once; tfds's automatic in-memory cache would only add a copy.
_READ_CONFIG = tfds.ReadConfig(try_autocache=False)


def load_info(data_config: Any) -> DatasetInfo:
  """Sizes and class names of the configured dataset, preparing it on first use."""
  return dataset_info(data_config, prepared_builder(data_config))


def _image_shape(image_bytes: tf.Tensor) -> tf.Tensor:
  """[height, width, channels] of an encoded image, read from the JPEG header when it is one."""
  return tf.cond(tf.io.is_jpeg(image_bytes), lambda: tf.image.extract_jpeg_shape(image_bytes),
                 lambda: tf.shape(_decode(image_bytes)))


def _decode(image_bytes: tf.Tensor) -> tf.Tensor:
  return tf.io.decode_image(image_bytes, channels=3, expand_animations=False)


def _decode_and_crop(image_bytes: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
  """Decodes only `window` [offset_y, offset_x, height, width] of a JPEG (fused, fast)."""
  def other_format():
    image = _decode(image_bytes)
    return image[window[0]:window[0] + window[2], window[1]:window[1] + window[3]]
  return tf.cond(tf.io.is_jpeg(image_bytes),
                 lambda: tf.image.decode_and_crop_jpeg(image_bytes, window, channels=3),
                 other_format)


def _normalize(image: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
  """(image - mean) / std as one multiply-add, then cast to the output dtype."""
  scale = np.float32(1) / np.array(STDDEV_RGB, np.float32)
  return tf.cast(image * scale - np.array(MEAN_RGB, np.float32) * scale, dtype)


def _resize(image: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
  """Bilinear resize to `size` [2], float32; antialiased only where it shrinks the image,
  since that is the only case that needs it and the antialiased kernel is 2x slower."""
  shrinks = tf.reduce_any(tf.shape(image)[:2] > size)
  return tf.cond(shrinks, lambda: tf.image.resize(image, size, antialias=True),
                 lambda: tf.image.resize(image, size))


def train_image(image_bytes: tf.Tensor, seed: tf.Tensor, image_size: int, dtype: tf.DType,
                crop_min_area: float = 0.08) -> tf.Tensor:
  """Random-resized crop, horizontal flip and normalisation; a pure function of `seed` [2].

  The crop covers a fraction in [crop_min_area, 1] of the image. Returns [image_size,
  image_size, 3]. When no crop fits in 10 tries the whole image is used.
  """
  crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
      _image_shape(image_bytes), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
      seed=crop_seed, min_object_covered=0.0, aspect_ratio_range=CROP_ASPECT_RANGE,
      area_range=(crop_min_area, 1.0), max_attempts=10, use_image_if_no_bounding_boxes=True)
  image = _decode_and_crop(image_bytes, tf.stack([begin[0], begin[1], size[0], size[1]]))
  # Flip the uint8 crop, usually smaller than the output, rather than the float result.
  flip = tf.random.stateless_uniform([], flip_seed) < 0.5
  image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
  image = _resize(image, tf.constant([image_size, image_size]))
  image.set_shape([image_size, image_size, 3])
  return _normalize(image, dtype)


def eval_image(image_bytes: tf.Tensor, image_size: int, eval_resize: int,
               dtype: tf.DType) -> tf.Tensor:
  """Resize the short side to `eval_resize`, center-crop [image_size, image_size, 3].

  Fused: the window that resize-then-crop keeps is decoded and resized directly, which is the
  same image up to sub-pixel interpolation and decodes and resizes fewer pixels.
  """
  shape = _image_shape(image_bytes)[:2]
  window_size = tf.cast(tf.round(
      tf.cast(tf.reduce_min(shape), tf.float32) * image_size / eval_resize), tf.int32)
  window_size = tf.minimum(shape, window_size)
  offset = (shape - window_size) // 2
  image = _decode_and_crop(image_bytes, tf.concat([offset, window_size], axis=0))
  image = _resize(image, tf.constant([image_size, image_size]))
  image.set_shape([image_size, image_size, 3])
  return _normalize(image, dtype)


def _process_split(split: str, process_index: int, process_count: int):
  """This process's part of `split`: contiguous, sizes differing by at most one."""
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index must be in [0, {process_count}), got {process_index}.')
  return tfds.even_splits(split, n=process_count)[process_index]


def _image_and_label(example: dict[str, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
  return example['image'], example['label']


def train_batches(data_config: Any, *, batch_size: int, image_size: int, seed: int,
                  start_step: int = 0, process_index: int = 0, process_count: int = 1,
                  dtype: str = 'float32') -> Iterator[dict[str, np.ndarray]]:
  """Infinite per-process training batches; the stream is a pure function of (seed, step).

  Epoch e visits a permutation of the whole train split drawn from (seed, e), cut into
  `steps_per_epoch` global batches of `batch_size * process_count`; process p yields rows
  [p * batch_size, (p + 1) * batch_size) of each. Each example's augmentation is drawn from
  (seed, e, position in the epoch). So the global batches do not depend on the process
  count (a 2-process run sees what a 1-process run with the same global batch sees), and a
  run resumed at `start_step` yields exactly the batches the uninterrupted run would have;
  whole epochs are skipped arithmetically. Every process holds the encoded train images in
  memory (CUB: about 1 GB) and decodes only its own rows.
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index must be in [0, {process_count}), got {process_index}.')
  builder = prepared_builder(data_config)
  info = dataset_info(data_config, builder)
  global_batch = batch_size * process_count
  steps = steps_per_epoch(info, global_batch)
  if steps < 1:
    raise DatasetError(f'{info.num_train} training examples cannot fill one global batch of '
                       f'{batch_size} x {process_count} processes; use a smaller batch_size.')
  examples = builder.as_dataset(split=data_config.train_split, decoders=_SKIP_DECODING,
                                read_config=_READ_CONFIG, shuffle_files=False)
  images, labels = examples.map(lambda ex: (ex['image'], ex['label'])).batch(
      info.num_train).get_single_element()

  key = tf.constant([seed, 0], tf.int64)
  shuffle_key = tf.random.experimental.stateless_fold_in(key, 0)
  augment_key = tf.random.experimental.stateless_fold_in(key, 1)
  # Positions in the epoch's permutation that this process reads, batch after batch.
  local_positions = tf.reshape(
      tf.reshape(tf.range(steps * global_batch, dtype=tf.int64), [steps, global_batch])
      [:, process_index * batch_size:(process_index + 1) * batch_size], [-1])

  def epoch_positions(epoch):
    order = tf.argsort(tf.random.stateless_uniform(
        [info.num_train], tf.random.experimental.stateless_fold_in(shuffle_key, epoch)))
    return tf.data.Dataset.from_tensor_slices(
        (tf.fill([steps * batch_size], epoch), local_positions,
         tf.gather(order, local_positions)))

  def load(epoch, position, index):
    seed = tf.random.experimental.stateless_fold_in(
        tf.random.experimental.stateless_fold_in(augment_key, epoch), position)
    image = train_image(tf.gather(images, index), seed, image_size, tf.dtypes.as_dtype(dtype),
                        data_config.crop_min_area)
    return {'image': image, 'label': tf.cast(tf.gather(labels, index), tf.int32)}

  first_epoch, step_in_epoch = divmod(start_step, steps)
  dataset = (tf.data.Dataset.range(first_epoch, np.iinfo(np.int64).max)
             .flat_map(epoch_positions)
             .skip(step_in_epoch * batch_size)
             .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
             .batch(batch_size, drop_remainder=True)
             .prefetch(tf.data.AUTOTUNE))
  return dataset.as_numpy_iterator()


def eval_batches(data_config: Any, *, batch_size: int, image_size: int, eval_resize: int,
                 process_index: int = 0, process_count: int = 1,
                 dtype: str = 'float32') -> Iterator[dict[str, np.ndarray]]:
  """One pass over this process's part of the eval split, padded to whole batches.

  'mask' [batch] is True for real examples. Every process yields the same number of batches,
  ceil(ceil(num_test / process_count) / batch_size), so multi-host steps line up, and the
  masks over all processes count each test example exactly once.
  """
  builder = prepared_builder(data_config)
  info = dataset_info(data_config, builder)
  split = _process_split(data_config.eval_split, process_index, process_count)
  num_local = int(builder.info.splits[split].num_examples)
  num_batches = math.ceil(math.ceil(info.num_test / process_count) / batch_size)
  tf_dtype = tf.dtypes.as_dtype(dtype)

  def load(example):
    return {'image': eval_image(example['image'], image_size, eval_resize, tf_dtype),
            'label': tf.cast(example['label'], tf.int32), 'mask': tf.constant(True)}

  padding = tf.data.Dataset.from_tensors({
      'image': tf.zeros([image_size, image_size, 3], tf_dtype),
      'label': tf.constant(0, tf.int32), 'mask': tf.constant(False)})
  dataset = (builder.as_dataset(split=split, decoders=_SKIP_DECODING,
                                read_config=_READ_CONFIG, shuffle_files=False)
             .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
             .concatenate(padding.repeat(num_batches * batch_size - num_local))
             .batch(batch_size)
             .prefetch(tf.data.AUTOTUNE))
  return dataset.as_numpy_iterator()
