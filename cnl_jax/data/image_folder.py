"""Any other fine-grained set laid out as `root/<split>/<class>/<image>`."""

from __future__ import annotations

import hashlib
import pathlib
from collections.abc import Sequence

import tensorflow_datasets as tfds

from cnl_jax.data.files import FileTree
from cnl_jax.data.info import DatasetError
from cnl_jax.data.manual import (ConfiguredBuilder, Example, SplitFiles, generate_examples,
                                 image_features)

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')


def folder_config(root: pathlib.Path) -> tfds.core.BuilderConfig:
  """A builder config named after the root folder, so that each root is prepared separately."""
  digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:10]
  return tfds.core.BuilderConfig(name=f'{root.name}_{digest}', description=str(root))


def _missing(problem: str, splits: Sequence[str]) -> DatasetError:
  """The one-line error for an image-folder root that is not there."""
  return DatasetError(
      f'Image folder: {problem}. An image-folder dataset is a set of your own images laid out '
      f'as <root>/<split>/<class>/<image>, with splits {list(splits)} and images ending in '
      f'{", ".join(IMAGE_SUFFIXES)}; set --config.data.manual_dir to the root.')


def check_root(root: pathlib.Path, splits: Sequence[str]) -> None:
  """Raises DatasetError unless `root` holds a folder for each split; reads no image."""
  if not root.is_dir():
    state = 'is not a directory' if root.exists() else 'does not exist'
    raise _missing(f'manual_dir={root} {state}', splits)
  if not any(root.iterdir()):
    raise _missing(f'manual_dir={root} is empty', splits)
  for split in splits:
    if not (root / split).is_dir():
      raise _missing(f'{root / split} not found', splits)


def scan_folders(root: pathlib.Path, splits: Sequence[str]
                 ) -> tuple[tuple[str, ...], dict[str, SplitFiles]]:
  """Class names (sorted folder names of the first split) and each split's images."""
  check_root(root, splits)
  class_names = tuple(sorted(path.name for path in (root / splits[0]).iterdir()
                             if path.is_dir()))
  result = {}
  for split in splits:
    classes = sorted(path.name for path in (root / split).iterdir() if path.is_dir())
    if extra := sorted(set(classes) - set(class_names)):
      raise DatasetError(f'Image folder: {root / split} has classes {extra} that '
                         f'{root / splits[0]} lacks; every class must have training images.')
    examples = []
    for class_name in classes:
      files = sorted(path.name for path in (root / split / class_name).iterdir()
                     if path.suffix.lower() in IMAGE_SUFFIXES)
      if not files:
        raise DatasetError(f'Image folder: {root / split / class_name} holds no images '
                           f'({", ".join(IMAGE_SUFFIXES)}); add images or remove the folder.')
      label = class_names.index(class_name)
      examples += [Example(f'{class_name}/{name}', label) for name in files]
    result[split] = SplitFiles(FileTree(root / split), examples)
  return class_names, result


class ImageFolderManual(ConfiguredBuilder):
  """Images from `root/<split>/<class>/`, checked and stored as JPEG like the other sets."""
  VERSION = tfds.core.Version('1.0.0')

  def __init__(self, *, root: str | pathlib.Path, splits: Sequence[str], **kwargs):
    if not root:  # The config, and so the prepared dataset's folder, is named after the root.
      raise _missing('--config.data.manual_dir is not set', splits)
    self._root = pathlib.Path(root).expanduser()
    self._splits = tuple(splits)
    super().__init__(config=folder_config(self._root), **kwargs)

  def download_and_prepare(self, **kwargs) -> None:
    """tfds's download_and_prepare, once the root is known to hold the split folders: a
    wrong root fails with one line before tfds prints anything. A prepared root is not
    checked."""
    if not self.data_path.exists():  # What tfds checks; is_prepared() logs a warning.
      check_root(self._root, self._splits)
    super().download_and_prepare(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=image_features(with_boxes=False))

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Everything is read from root.
    class_names, splits = scan_folders(self._root, self._splits)
    self.info.features['label'].names = list(class_names)
    return {name: self._generate_examples(split) for name, split in splits.items()}

  def _generate_examples(self, split: SplitFiles):
    return generate_examples(split, with_boxes=False)
