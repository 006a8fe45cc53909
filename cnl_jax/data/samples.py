"""A few test images of a run's dataset, copied into its workdir for the tools to try.

Each is the first test image of a different class, written as stored (the dataset's own
JPEG or PNG bytes), so that `predict`, `visualize` and `lite` read what a user's file gives.
"""

from __future__ import annotations

import os
from typing import Any

import tensorflow_datasets as tfds

from cnl_jax.data.sources import prepared_builder

# The first bytes of each format the datasets store, and its file suffix.
_SIGNATURES = {b'\x89PNG': '.png', b'\xff\xd8': '.jpg'}


def _suffix(image_bytes: bytes) -> str:
  for signature, suffix in _SIGNATURES.items():
    if image_bytes.startswith(signature):
      return suffix
  raise ValueError(f'Unknown image format (first bytes {image_bytes[:4]!r}).')


def write_samples(data_config: Any, directory: str, count: int = 4) -> dict[str, str]:
  """Writes `<k>.png` or `<k>.jpg` (k = 0 .. count - 1) in `directory`: the first test image
  of each of the first `count` classes met in the eval split's order. Returns each written
  path's class name."""
  builder = prepared_builder(data_config)
  names = builder.info.features['label'].names
  examples = builder.as_dataset(split=data_config.eval_split, shuffle_files=False,
                                decoders={'image': tfds.decode.SkipDecoding()})
  os.makedirs(directory, exist_ok=True)
  written, seen = {}, set()
  for example in examples.as_numpy_iterator():
    label = int(example['label'])
    if label in seen:
      continue
    seen.add(label)
    path = os.path.join(directory, f'{len(written)}{_suffix(example["image"])}')
    with open(f'{path}.partial', 'wb') as file:
      file.write(example['image'])
    os.replace(f'{path}.partial', path)  # an interrupted copy leaves no half image
    written[path] = names[label]
    if len(written) == count:
      break
  return written
