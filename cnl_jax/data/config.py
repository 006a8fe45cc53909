"""Every field of a data config, with its default and meaning, in one place."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

import ml_collections

from cnl_jax.data.info import DatasetError

TRAIN_CROPS = ('random_resized', 'random')
RESIZE_MODES = ('short_side', 'square')
# torchvision's ImageNet normalisation, on pixels scaled to [0, 1].
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


def default_data_config() -> ml_collections.ConfigDict:
  """The data config of the demo: the embedded synthetic fine-grained set.

  Other configs change `name` and the paths, e.g. `name='cub'` with `manual_dir` set.
  """
  config = ml_collections.ConfigDict()
  # 'synthetic', 'cub', 'dogs', 'cars', 'aircraft', 'nabirds', 'image_folder', or
  # 'tfds:<catalog name>' (e.g. 'tfds:caltech_birds2011', 'tfds:stanford_dogs',
  # 'tfds:cars196'; prepared in data_dir).
  config.name = 'synthetic'
  # Where tfds keeps prepared datasets (TFRecords); built here on first use.
  config.data_dir = '~/tensorflow_datasets'
  # Where the original distribution files are (archives or extracted); for 'image_folder' the
  # root holding <split>/<class>/<image> folders.
  config.manual_dir = ''
  # Split names read for training and evaluation.
  config.train_split = 'train'
  config.eval_split = 'test'
  # For 'cub', 'dogs', 'cars', 'aircraft', 'nabirds': require the official split sizes (the
  # paper's Table 1 for the first three), so that a partial download cannot pass silently.
  # Turn off only for deliberate subsets.
  config.check_split_sizes = True
  # Area fraction range of the training random-resized crop, torchvision's RandomResizedCrop
  # `scale`: the released CNL code's (0.08, 1.25) (FouriYe/CNL-ICIP2020 @ 124f4105,
  # train_val.py). A try with a fraction above 1 is too large for the image (bar rounding), so
  # crop_max_area > 1 only adds rejected tries: the crops come from the fractions below 1, and
  # a few more images fall back to the centre crop. Small demo models at small image sizes
  # learn faster from larger crops (a larger crop_min_area).
  config.crop_min_area = 0.08
  config.crop_max_area = 1.25
  # Augmentation (see docs/data.md, "Pipelines"); the defaults are the paper's. TASN's recipe:
  # train_crop='random', rotation_degrees=30, color_jitter=0.4, pca_lighting=0.1. RMG-PMSI's:
  # train_crop='random', resize_mode='square'.
  # Training crop: 'random_resized' (torchvision's RandomResizedCrop: area crop_min_area to
  # crop_max_area, aspect 3/4-4/3, resized to image_size) or 'random' (resize as resize_mode
  # to the config's eval_resize, then a uniform random image_size x image_size window).
  config.train_crop = 'random_resized'
  # How eval (and train_crop='random') resizes to eval_resize before the center (or random)
  # crop: 'short_side' (the short side becomes eval_resize, aspect kept) or 'square'
  # (eval_resize x eval_resize, aspect not kept).
  config.resize_mode = 'short_side'
  # Training rotation by an integer angle uniform in [-rotation_degrees, rotation_degrees]
  # about the centre, corners filled white; after the resize, before the crop. 0 = off.
  config.rotation_degrees = 0
  # train_crop='random' pads the resized image with this many black pixels on every side
  # before it draws the window, as torchvision's RandomCrop(padding=...) does. 0 = off.
  config.crop_padding = 0
  # Brightness, contrast and saturation, each by a factor uniform in [1 - s, 1 + s], in a
  # random order, on the training crop (s in [0, 1]). 0 = off.
  config.color_jitter = 0.0
  # AlexNet PCA lighting: adds the ImageNet RGB eigenvectors weighted by eigenvalue times
  # N(0, pca_lighting), one offset per image. 0 = off.
  config.pca_lighting = 0.0
  # Normalisation of every image (train, eval and the tools): (pixel / 255 - mean) / std per
  # RGB channel, as torchvision's Normalize. ImageNet's by default; PMG's recipe uses 0.5.
  config.mean_rgb = IMAGENET_MEAN_RGB
  config.std_rgb = IMAGENET_STD_RGB
  # The synthetic set is generated from these on first use and cached in cache_dir.
  config.cache_dir = '~/.cache/cnl_jax'
  config.synthetic_seed = 0
  config.synthetic_classes = 20
  config.synthetic_image_size = 64
  config.synthetic_train_per_class = 24
  config.synthetic_test_per_class = 12
  return config


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """The image transform fields of a data config (meanings in default_data_config)."""
  train_crop: str
  crop_min_area: float
  crop_max_area: float
  resize_mode: str
  rotation_degrees: int
  crop_padding: int
  color_jitter: float
  pca_lighting: float
  mean_rgb: tuple[float, float, float]
  std_rgb: tuple[float, float, float]


def augmentation(data_config: Any) -> Augmentation:
  """The checked transform fields of `data_config`; a field it lacks (a run config saved
  before the field existed) takes its default. (A run saved before crop_max_area existed
  drew its crops with another sampler; it resumes with torchvision's.)

  Raises DatasetError naming the first bad field and its valid values.
  """
  defaults = default_data_config()
  values = {field.name: data_config.get(field.name, defaults[field.name])
            for field in dataclasses.fields(Augmentation)}
  for field in ('mean_rgb', 'std_rgb'):  # a saved config.json holds lists
    if isinstance(values[field], (list, tuple)):
      values[field] = tuple(values[field])

  def require(ok: bool, field: str, valid: str) -> None:
    if not ok:
      raise DatasetError(f'data_config.{field}={values[field]!r} is not valid; use {valid}.')

  def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)

  def is_rgb(channels: Any) -> bool:
    return (isinstance(channels, tuple) and len(channels) == 3
            and all(is_number(value) and math.isfinite(value) for value in channels))

  require(values['train_crop'] in TRAIN_CROPS, 'train_crop', f'one of {TRAIN_CROPS}')
  require(values['resize_mode'] in RESIZE_MODES, 'resize_mode', f'one of {RESIZE_MODES}')
  require(is_number(values['crop_min_area']) and 0 < values['crop_min_area'] <= 1,
          'crop_min_area', 'a number in (0, 1]')
  require(is_number(values['crop_max_area']) and math.isfinite(values['crop_max_area'])
          and values['crop_max_area'] >= values['crop_min_area'], 'crop_max_area',
          f'a number >= crop_min_area={values["crop_min_area"]!r} (above 1 only adds rejected '
          'tries)')
  degrees = values['rotation_degrees']
  require(isinstance(degrees, numbers.Integral) and not isinstance(degrees, bool)
          and 0 <= degrees <= 180, 'rotation_degrees', 'an integer in [0, 180] (0 = off)')
  padding = values['crop_padding']
  require(isinstance(padding, numbers.Integral) and not isinstance(padding, bool)
          and padding >= 0, 'crop_padding', 'an integer >= 0 (0 = off)')
  require(padding == 0 or values['train_crop'] == 'random', 'crop_padding',
          "0 with train_crop='random_resized' (it pads only train_crop='random')")
  rgb = 'three numbers, one per RGB channel, on pixels scaled to [0, 1]'
  require(is_rgb(values['mean_rgb']), 'mean_rgb', rgb)
  require(is_rgb(values['std_rgb']) and min(values['std_rgb']) > 0, 'std_rgb',
          f'{rgb}, each > 0')
  require(is_number(values['color_jitter']) and 0 <= values['color_jitter'] <= 1,
          'color_jitter', 'a number in [0, 1] (0 = off)')
  require(is_number(values['pca_lighting']) and values['pca_lighting'] >= 0,
          'pca_lighting', 'a number >= 0 (0 = off)')
  return Augmentation(**values)
