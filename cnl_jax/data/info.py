"""What the training code needs to know about a dataset, and the one error type for bad input."""

from __future__ import annotations

import dataclasses

from cnl_jax.errors import UserError


class DatasetError(UserError, ValueError):
  """Bad dataset input: missing or corrupt files, empty classes, inconsistent split lists."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  """Sizes and class names of a prepared dataset; labels are 0-based indices into class_names."""
  name: str
  num_classes: int
  num_train: int
  num_test: int
  class_names: tuple[str, ...]


def steps_per_epoch(info: DatasetInfo, global_batch_size: int) -> int:
  """Full batches per epoch over all processes; the remainder of each epoch is dropped."""
  if global_batch_size < 1:
    raise ValueError(f'global_batch_size must be positive, got {global_batch_size}.')
  return info.num_train // global_batch_size
