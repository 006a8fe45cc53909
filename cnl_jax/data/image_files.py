"""Single image files through the evaluation transform, for the inspection tools."""

from __future__ import annotations

import re

import numpy as np
import tensorflow as tf

from cnl_jax.data.pipeline import MEAN_RGB, STDDEV_RGB, eval_image
from cnl_jax.errors import UserError


class UnreadableImageError(UserError, ValueError):
  """A file that is missing or not an image TensorFlow can decode."""


def read_eval_image(path: str, image_size: int, eval_resize: int, dtype: str = 'float32',
                    resize_mode: str = 'short_side') -> np.ndarray:
  """The file at `path` as evaluation sees it: [image_size, image_size, 3], normalised.

  Pass the run's data config resize_mode, as eval_batches uses it.
  """
  try:
    image = eval_image(tf.io.read_file(path), image_size, eval_resize,
                       tf.dtypes.as_dtype(dtype), resize_mode)
    return image.numpy()
  except tf.errors.OpError as error:
    # TensorFlow wraps the reason in the op's name and device, e.g. '{{function_node ...}}
    # Unknown image file format. ... [Op:DecodeImage]'; keep the reason.
    first_line = error.message.strip().splitlines()[0]
    reason = re.sub(r'\{\{[^}]*\}\}\s*|\s*\[Op:.*$', '', first_line)
    raise UnreadableImageError(f'{path}: not a readable image ({reason}).') from error


def to_pixels(image: np.ndarray) -> np.ndarray:
  """Undoes the normalisation: [height, width, 3] -> uint8 RGB for display."""
  pixels = np.asarray(image, np.float32) * np.array(STDDEV_RGB) + np.array(MEAN_RGB)
  return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
