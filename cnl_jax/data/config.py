"""The image transform fields of a data config, checked.

Every field of a data config, with its meaning, is listed in configs/default.py
(`data_config`); this module checks the ones that shape the images."""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any

from cnl_jax.data.info import DatasetError

TRAIN_CROPS = ('random_resized', 'random')
RESIZE_MODES = ('short_side', 'square')
# torchvision's ImageNet normalisation, on pixels scaled to [0, 1].
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)


@dataclasses.dataclass(frozen=True)
class Augmentation:
  """The image transform fields of a data config (meanings in configs/default.py); the
  defaults are the CNL paper's recipe."""
  train_crop: str = 'random_resized'
  crop_min_area: float = 0.08
  crop_max_area: float = 1.25
  resize_mode: str = 'short_side'
  rotation_degrees: int = 0
  crop_padding: int = 0
  color_jitter: float = 0.0
  pca_lighting: float = 0.0
  mean_rgb: tuple[float, float, float] = IMAGENET_MEAN_RGB
  std_rgb: tuple[float, float, float] = IMAGENET_STD_RGB


def augmentation(data_config: Any) -> Augmentation:
  """The checked transform fields of `data_config`; a field it lacks (a run config saved
  before the field existed) takes its default. (A run saved before crop_max_area existed
  drew its crops with another sampler; it resumes with torchvision's.)

  Raises DatasetError naming the first bad field and its valid values.
  """
  values = {field.name: data_config.get(field.name, field.default)
            for field in dataclasses.fields(Augmentation)}
  for field in ('mean_rgb', 'std_rgb'):  # a saved config.json holds lists
    if isinstance(values[field], (list, tuple)):
      values[field] = tuple(values[field])

  def require(ok: bool, field: str, valid: str) -> None:
    if not ok:
      raise DatasetError(f'config.data.{field}={values[field]!r} is not valid; use {valid}.')

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
