"""Single image files through the evaluation transform, for the inspection tools."""

from __future__ import annotations

import re

import numpy as np
import tensorflow as tf

from cnl_jax.data.config import Augmentation
from cnl_jax.data.pipeline import eval_image
from cnl_jax.lite import UnreadableImageError


def read_eval_image(path: str, image_size: int, eval_resize: int, dtype: str = 'float32',
                    transform: Augmentation | None = None) -> np.ndarray:
  """The file at `path` as evaluation sees it: [image_size, image_size, 3], normalised.

  Pass the run's transform (`augmentation(config.data)`), as eval_batches uses it.
  """
  try:
    image = eval_image(tf.io.read_file(path), image_size, eval_resize,
                       tf.dtypes.as_dtype(dtype), transform)
    return image.numpy()
  except tf.errors.OpError as error:
    # TensorFlow wraps the reason in the op's name and device, e.g. '{{function_node ...}}
    # Unknown image file format. ... [Op:DecodeImage]'; keep the reason.
    first_line = error.message.strip().splitlines()[0]
    reason = re.sub(r'\{\{[^}]*\}\}\s*|\s*\[Op:.*$', '', first_line)
    raise UnreadableImageError(f'{path}: not a readable image ({reason}).') from error


def to_pixels(image: np.ndarray, transform: Augmentation | None = None) -> np.ndarray:
  """Undoes the transform's normalisation (default: ImageNet's): [height, width, 3] -> uint8
  RGB for display."""
  transform = transform or Augmentation()
  pixels = 255 * (np.asarray(image, np.float32) * np.array(transform.std_rgb)
                  + np.array(transform.mean_rgb))
  return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
