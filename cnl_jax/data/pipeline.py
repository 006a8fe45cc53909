"""tf.data input pipelines: deterministic, resumable training batches and exact evaluation.

Batches are NumPy dicts: 'image' [batch, image_size, image_size, 3] normalised with the
data config's mean and std (ImageNet's by default), 'label' [batch] int32, and for evaluation 'mask' [batch] bool.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cnl_jax.data.config import Augmentation, augmentation
from cnl_jax.data.info import DatasetError, DatasetInfo, steps_per_epoch
from cnl_jax.data.sources import dataset_info, prepared_builder

# torchvision's RandomResizedCrop aspect ratio range, as the released CNL code uses it; the
# area range is (config.crop_min_area, config.crop_max_area).
CROP_ASPECT_RANGE = (3 / 4, 4 / 3)
# torchvision's RandomResizedCrop draws up to this many windows before its centre-crop fallback.
CROP_ATTEMPTS = 10
# Eval views of each image, by name: the centre crop, or torchvision's FiveCrop (the corners
# and the centre); the number of views.
EVAL_CROPS = {'center': 1, 'five': 5}
# Rotation fills the corners white, as TASN's MXNet pipeline does.
ROTATION_FILL = 255.0
# ITU-R 601 luma (OpenCV's RGB2GRAY): the grey image of the contrast and saturation jitter.
GRAY_WEIGHTS = (0.299, 0.587, 0.114)
# AlexNet PCA lighting: ImageNet RGB eigenvalues on 0-255 pixels (255 x (0.2175, 0.0188,
# 0.0045), as in MXNet's ImageRecordIter) and eigenvectors (columns, rows R, G, B), as in
# fb.resnet.torch.
PCA_EIGENVALUES = (55.46, 4.794, 1.148)
PCA_EIGENVECTORS = ((-0.5675, 0.7192, 0.4009),
                    (-0.5808, -0.0045, -0.8140),
                    (-0.5836, -0.6948, 0.4203))
_SKIP_DECODING = {'image': tfds.decode.SkipDecoding()}
# Each pipeline reads its split once; tfds's automatic in-memory cache would only add a copy.
_READ_CONFIG = tfds.ReadConfig(try_autocache=False)


def load_info(data_config: Any) -> DatasetInfo:
  """Sizes and class names of the configured dataset, preparing it on first use.

  Checks the augmentation fields first, so that a bad value fails before anything is built.
  """
  augmentation(data_config)
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


def _normalize(image: tf.Tensor, dtype: tf.DType, transform: Augmentation) -> tf.Tensor:
  """(image / 255 - mean) / std (the transform's) as one multiply-add, cast to `dtype`."""
  scale = np.float32(1) / (255 * np.array(transform.std_rgb, np.float32))
  offset = np.array(transform.mean_rgb, np.float32) / np.array(transform.std_rgb, np.float32)
  return tf.cast(image * scale - offset, dtype)


def _resize(image: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
  """Bilinear resize to `size` [2], float32; antialiased only where it shrinks the image,
  since that is the only case that needs it and the antialiased kernel is 2x slower."""
  shrinks = tf.reduce_any(tf.shape(image)[:2] > size)
  return tf.cond(shrinks, lambda: tf.image.resize(image, size, antialias=True),
                 lambda: tf.image.resize(image, size))


def _resized_size(shape: tf.Tensor, resize: int, resize_mode: str) -> tf.Tensor:
  """[height, width] of an image of `shape` [2] resized as `resize_mode` to `resize`."""
  if resize_mode == 'square':
    return tf.constant([resize, resize])
  return shape * resize // tf.reduce_min(shape)  # The long side rounds down, as in torchvision.


def rotate(image: tf.Tensor, degrees: tf.Tensor) -> tf.Tensor:
  """[height, width, 3] float32 rotated counter-clockwise by `degrees` about its centre.

  Same size, bilinear; what comes from outside the image is white (ROTATION_FILL).
  """
  angle = tf.cast(degrees, tf.float32) * (math.pi / 180)
  cos, sin = tf.cos(angle), tf.sin(angle)
  size = tf.shape(image)[:2]
  center_y, center_x = tf.unstack((tf.cast(size, tf.float32) - 1) / 2)
  # Maps each output pixel (x, y) to the input pixel it reads: the inverse rotation.
  transform = tf.stack([cos, -sin, center_x - cos * center_x + sin * center_y,
                        sin, cos, center_y - sin * center_x - cos * center_y, 0.0, 0.0])
  return tf.raw_ops.ImageProjectiveTransformV3(
      images=image[None], transforms=transform[None], output_shape=size,
      fill_value=ROTATION_FILL, interpolation='BILINEAR', fill_mode='CONSTANT')[0]


def _blend(image: tf.Tensor, other: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
  """factor * image + (1 - factor) * other, clipped to pixel values [0, 255]."""
  return tf.clip_by_value(factor * image + (1 - factor) * other, 0.0, 255.0)


def color_jitter(image: tf.Tensor, strength: float, seed: tf.Tensor) -> tf.Tensor:
  """Brightness, contrast and saturation of [height, width, 3] 0-255 pixels, in a random order.

  Each factor is uniform in [1 - strength, 1 + strength]; brightness blends with black,
  contrast with the mean grey level, saturation with the pixel's grey, as MXNet's
  ImageRecordIter does (its random order, and clipping after each step like its uint8).
  """
  factor_seed, order_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  factors = tf.random.stateless_uniform([3], factor_seed, 1 - strength, 1 + strength)
  order = tf.argsort(tf.random.stateless_uniform([3], order_seed))

  def adjust(image, kind):
    factor = factors[kind]
    def gray():
      return tf.tensordot(image, tf.constant(GRAY_WEIGHTS), axes=1)[..., None]
    return tf.switch_case(kind, [lambda: _blend(image, 0.0, factor),
                                 lambda: _blend(image, tf.reduce_mean(gray()), factor),
                                 lambda: _blend(image, gray(), factor)])
  for step in range(3):
    image = adjust(image, order[step])
  return image


def pca_lighting(image: tf.Tensor, std: float, seed: tf.Tensor) -> tf.Tensor:
  """[height, width, 3] 0-255 pixels plus one RGB offset, the eigenvectors weighted by
  eigenvalue x N(0, std); clipped to [0, 255]."""
  alpha = tf.random.stateless_normal([3], seed, stddev=std)
  offset = tf.linalg.matvec(tf.constant(PCA_EIGENVECTORS),
                            alpha * tf.constant(PCA_EIGENVALUES))
  return tf.clip_by_value(image + offset, 0.0, 255.0)


def _centre_window(size: tf.Tensor, aspect_range: tuple[float, float]) -> tf.Tensor:
  """torchvision's fallback window of an image of `size` [height, width] float64: the whole
  image, narrowed to the nearer bound of `aspect_range` when its aspect lies outside, centred.
  Returns int32 [offset_y, offset_x, height, width]."""
  height, width = size[0], size[1]
  ratio = width / height
  crop = tf.stack([
      tf.where(ratio < aspect_range[0], tf.round(width / aspect_range[0]), height),
      tf.where(ratio > aspect_range[1], tf.round(height * aspect_range[1]), width)])
  crop = tf.cast(crop, tf.int32)
  return tf.concat([(tf.cast(size, tf.int32) - crop) // 2, crop], axis=0)


def random_resized_window(shape: tf.Tensor, seed: tf.Tensor, area_range: tuple[float, float],
                          aspect_range: tuple[float, float] = CROP_ASPECT_RANGE) -> tf.Tensor:
  """int32 [offset_y, offset_x, height, width] of a crop of an image of `shape` [height,
  width, ...], sampled as torchvision's `RandomResizedCrop.get_params`; a pure function of
  `seed` [2].

  CROP_ATTEMPTS tries, drawn at once: an area fraction uniform in `area_range` and an aspect
  (width / height) log-uniform in `aspect_range` give the sides, rounded half to even like
  Python's round; the first try that fits in the image is placed uniformly at random, and
  when none fits the window is _centre_window's. (pytorch/vision @ 6247d96d,
  torchvision/transforms/transforms.py, RandomResizedCrop.get_params.)
  """
  size = tf.cast(shape[:2], tf.float64)
  area_seed, aspect_seed, top_seed, left_seed = tf.unstack(
      tf.random.experimental.stateless_split(seed, 4))
  areas = size[0] * size[1] * tf.random.stateless_uniform(
      [CROP_ATTEMPTS], area_seed, area_range[0], area_range[1], tf.float64)
  aspects = tf.exp(tf.random.stateless_uniform(
      [CROP_ATTEMPTS], aspect_seed, math.log(aspect_range[0]), math.log(aspect_range[1]),
      tf.float64))
  crops = tf.round(tf.stack([tf.sqrt(areas / aspects), tf.sqrt(areas * aspects)], axis=1))
  fits = tf.reduce_all((crops > 0) & (crops <= size), axis=1)
  first = tf.reduce_min(tf.where(fits, tf.range(CROP_ATTEMPTS), CROP_ATTEMPTS))

  def placed():
    crop = tf.cast(crops[first], tf.int32)
    room = tf.cast(size, tf.int32) - crop + 1  # torch.randint's bound is exclusive.
    top = tf.random.stateless_uniform([], top_seed, 0, room[0], tf.int32)
    left = tf.random.stateless_uniform([], left_seed, 0, room[1], tf.int32)
    return tf.concat([tf.stack([top, left]), crop], axis=0)

  return tf.cond(first < CROP_ATTEMPTS, placed, lambda: _centre_window(size, aspect_range))


def train_image(image_bytes: tf.Tensor, seed: tf.Tensor, image_size: int, dtype: tf.DType,
                transform: Augmentation | None = None, resize: int | None = None) -> tf.Tensor:
  """Crop, rotation, flip, colour and normalisation as `transform` (default: the data
  config's defaults) says; a pure function of `seed` [2]. Returns [image_size, image_size, 3].

  'random_resized': torchvision's RandomResizedCrop window (random_resized_window, area
  fraction in [crop_min_area, crop_max_area]), resized to image_size; without rotation only
  the window is decoded (fused), with it the whole image is decoded and rotated first.
  'random': resize as resize_mode to `resize`, rotate, pad crop_padding black pixels on
  every side, then a uniform random image_size window. Colour jitter and PCA lighting act on the image_size result.
  """
  transform = transform or Augmentation()
  crop_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
  rotation_seed, jitter_seed, lighting_seed = tf.unstack(tf.random.experimental.stateless_split(
      tf.random.experimental.stateless_fold_in(seed, 1), 3))
  degrees = transform.rotation_degrees

  def rotated(image):
    angle = tf.random.stateless_uniform([], rotation_seed, -degrees, degrees + 1, tf.int32)
    return rotate(tf.cast(image, tf.float32), angle)

  if transform.train_crop == 'random':
    if resize is None or resize < image_size:
      raise ValueError(f"config.data.train_crop='random' crops image_size={image_size} from "
                       'the image resized to `resize` (the config\'s eval_resize), which must '
                       f'be at least {image_size}; got resize={resize}.')
    image = _decode(image_bytes)
    image = _resize(image, _resized_size(tf.shape(image)[:2], resize, transform.resize_mode))
    if degrees:
      image = rotated(image)
    padding = transform.crop_padding
    image = tf.pad(image, [[padding, padding], [padding, padding], [0, 0]])
    image = tf.image.stateless_random_crop(image, [image_size, image_size, 3], crop_seed)
  else:
    window = random_resized_window(_image_shape(image_bytes), crop_seed,
                                   (transform.crop_min_area, transform.crop_max_area))
    if degrees:
      image = rotated(_decode(image_bytes))[window[0]:window[0] + window[2],
                                            window[1]:window[1] + window[3]]
    else:
      image = _decode_and_crop(image_bytes, window)
  # Flip before the resize: the random-resized crop is usually smaller than the output.
  flip = tf.random.stateless_uniform([], flip_seed) < 0.5
  image = tf.cond(flip, lambda: tf.reverse(image, axis=[1]), lambda: image)
  if transform.train_crop == 'random_resized':
    image = _resize(image, tf.constant([image_size, image_size]))
  if transform.color_jitter:
    image = color_jitter(image, transform.color_jitter, jitter_seed)
  if transform.pca_lighting:
    image = pca_lighting(image, transform.pca_lighting, lighting_seed)
  image.set_shape([image_size, image_size, 3])
  return _normalize(image, dtype, transform)


def _eval_windows(shape: tf.Tensor, image_size: int, eval_resize: int, resize_mode: str,
                  crops: str) -> tf.Tensor:
  """int32 [crops, 4] windows [offset_y, offset_x, height, width] of an image of `shape` [2]
  that resize-to-eval_resize-then-crop-image_size keeps: the centre for 'center'; for
  'five', torchvision's FiveCrop order (top-left, top-right, bottom-left, bottom-right,
  centre) of the whole resized image."""
  # The original extent that becomes eval_resize: both sides for 'square', else the short side.
  extent = shape if resize_mode == 'square' else tf.reduce_min(shape)
  window_size = tf.cast(tf.round(
      tf.cast(extent, tf.float32) * image_size / eval_resize), tf.int32)
  window_size = tf.minimum(shape, window_size)
  room = shape - window_size
  offsets = [room // 2]
  if crops == 'five':
    top, left = room[0], room[1]
    offsets = [tf.stack([0, 0]), tf.stack([0, left]), tf.stack([top, 0]), tf.stack([top, left]),
               room // 2]
  return tf.stack([tf.concat([offset, window_size], axis=0) for offset in offsets])


def eval_crops(image_bytes: tf.Tensor, image_size: int, eval_resize: int, dtype: tf.DType,
               transform: Augmentation | None = None, crops: str = 'center') -> tf.Tensor:
  """[crops, image_size, image_size, 3] views of the resized image (1 for 'center', 5 for
  'five', in _eval_windows' order), normalised; see eval_image."""
  if crops not in EVAL_CROPS:
    raise ValueError(f'crops={crops!r} must be one of {tuple(EVAL_CROPS)}.')
  transform = transform or Augmentation()
  windows = _eval_windows(_image_shape(image_bytes)[:2], image_size, eval_resize,
                          transform.resize_mode, crops)
  views = []
  for index in range(windows.shape[0]):
    view = _resize(_decode_and_crop(image_bytes, windows[index]),
                   tf.constant([image_size, image_size]))
    view.set_shape([image_size, image_size, 3])
    views.append(_normalize(view, dtype, transform))
  return tf.stack(views)


def eval_image(image_bytes: tf.Tensor, image_size: int, eval_resize: int, dtype: tf.DType,
               transform: Augmentation | None = None) -> tf.Tensor:
  """Resize to `eval_resize` as the transform's resize_mode says (default: the data
  config's defaults), center-crop [image_size, image_size, 3], normalise.

  'short_side' resizes the short side to eval_resize (aspect kept), 'square' the image to
  eval_resize x eval_resize. Fused: the window that resize-then-crop keeps is decoded and
  resized directly, which is the same image up to sub-pixel interpolation and decodes and
  resizes fewer pixels.
  """
  return eval_crops(image_bytes, image_size, eval_resize, dtype, transform)[0]


def _process_split(split: str, process_index: int, process_count: int):
  """This process's part of `split`: contiguous, sizes differing by at most one."""
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index must be in [0, {process_count}), got {process_index}.')
  return tfds.even_splits(split, n=process_count)[process_index]


def train_batches(data_config: Any, *, batch_size: int, image_size: int, seed: int,
                  start_step: int = 0, process_index: int = 0, process_count: int = 1,
                  dtype: str = 'float32',
                  resize: int | None = None) -> Iterator[dict[str, np.ndarray]]:
  """Infinite per-process training batches; the stream is a pure function of (seed, step).

  Epoch e visits a permutation of the whole train split drawn from (seed, e), cut into
  `steps_per_epoch` global batches of `batch_size * process_count`; process p yields rows
  [p * batch_size, (p + 1) * batch_size) of each. Each example's augmentation is drawn from
  (seed, e, position in the epoch). So the global batches do not depend on the process
  count (a 2-process run sees what a 1-process run with the same global batch sees), and a
  run resumed at `start_step` yields exactly the batches the uninterrupted run would have;
  whole epochs are skipped arithmetically. Every process holds the encoded train images in
  memory (CUB: about 1 GB) and decodes only its own rows. `resize` is the size
  data_config.train_crop='random' resizes to before cropping (the config's eval_resize).
  """
  if not 0 <= process_index < process_count:
    raise ValueError(f'process_index must be in [0, {process_count}), got {process_index}.')
  transform = augmentation(data_config)
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
                        transform, resize)
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
                 process_index: int = 0, process_count: int = 1, dtype: str = 'float32',
                 crops: str = 'center') -> Iterator[dict[str, np.ndarray]]:
  """One pass over this process's part of the eval split, padded to whole batches.

  'image' is [batch, image_size, image_size, 3] for crops='center' and [batch, 5,
  image_size, image_size, 3] for 'five' (eval_crops' views, for test-time augmentation).
  'mask' [batch] is True for real examples. Every process yields the same number of batches,
  ceil(ceil(num_test / process_count) / batch_size), so multi-host steps line up, and the
  masks over all processes count each test example exactly once.
  """
  transform = augmentation(data_config)
  builder = prepared_builder(data_config)
  info = dataset_info(data_config, builder)
  split = _process_split(data_config.eval_split, process_index, process_count)
  num_local = int(builder.info.splits[split].num_examples)
  num_batches = math.ceil(math.ceil(info.num_test / process_count) / batch_size)
  tf_dtype = tf.dtypes.as_dtype(dtype)

  def load(example):
    views = eval_crops(example['image'], image_size, eval_resize, tf_dtype, transform, crops)
    return {'image': views[0] if crops == 'center' else views,
            'label': tf.cast(example['label'], tf.int32), 'mask': tf.constant(True)}

  image_shape = [image_size, image_size, 3]
  if crops != 'center':
    image_shape = [EVAL_CROPS[crops], *image_shape]
  padding = tf.data.Dataset.from_tensors({
      'image': tf.zeros(image_shape, tf_dtype),
      'label': tf.constant(0, tf.int32), 'mask': tf.constant(False)})
  dataset = (builder.as_dataset(split=split, decoders=_SKIP_DECODING,
                                read_config=_READ_CONFIG, shuffle_files=False)
             .map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
             .concatenate(padding.repeat(num_batches * batch_size - num_local))
             .batch(batch_size)
             .prefetch(tf.data.AUTOTUNE))
  return dataset.as_numpy_iterator()
