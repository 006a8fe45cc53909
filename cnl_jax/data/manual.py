"""Shared machinery of this package's tfds builders, most of which read a dataset's original
distribution files."""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Iterator, Mapping, Sequence
from typing import NoReturn

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from cnl_jax.data.files import FileTree, Layout, find_tree
from cnl_jax.data.info import DatasetError


@dataclasses.dataclass(frozen=True)
class Example:
  """One image of a split list: its path in the split's image tree, 0-based label, and the
  object box in pixels as (xmin, ymin, xmax, ymax) where the dataset has boxes."""
  path: str
  label: int
  box: tuple[float, float, float, float] | None = None


@dataclasses.dataclass(frozen=True)
class SplitFiles:
  """The images of one split: where they are and the official list of them."""
  images: FileTree
  examples: Sequence[Example]


def mat_strings(array: np.ndarray) -> list[str]:
  """The strings of a MATLAB cell array as loaded by scipy (nested object arrays)."""
  return [str(np.asarray(cell).reshape(-1)[0]) for cell in np.asarray(array).reshape(-1)]


def checked_jpeg(data: bytes, where: str, crop_bottom: int = 0) -> tuple[bytes, int, int]:
  """JPEG bytes of an image file, with its height and width; other formats are re-encoded.

  Every image is decoded once here so that a corrupt file stops the build with its path
  instead of failing an epoch later inside the training pipeline. `crop_bottom` pixel rows
  are cut off the bottom (a banner that is not part of the picture) and the rest re-encoded.
  """
  try:
    image = tf.io.decode_image(data, channels=3, expand_animations=False)
  except tf.errors.InvalidArgumentError as error:
    raise DatasetError(f'{where} is not a readable image ({error.message.strip()}). Replace '
                       'it with a good copy from the original download.') from None
  if crop_bottom:
    if image.shape[0] <= crop_bottom:
      raise DatasetError(f'{where} is {image.shape[0]} px high, no more than the {crop_bottom} '
                         'px banner to crop off its bottom. Replace it with a good copy from '
                         'the original download.')
    image = image[:-crop_bottom]
  if crop_bottom or not tf.io.is_jpeg(data):
    data = tf.io.encode_jpeg(image, quality=95).numpy()
  return data, int(image.shape[0]), int(image.shape[1])


def image_features(with_boxes: bool) -> tfds.features.FeaturesDict:
  """The features every builder of this package writes: JPEG image, label, source file name,
  and the object box (tfds order: ymin, xmin, ymax, xmax in [0, 1]) where there is one."""
  features = {
      'image': tfds.features.Image(shape=(None, None, 3), encoding_format='jpeg'),
      'label': tfds.features.ClassLabel(),
      'file_name': tfds.features.Text(),
  }
  if with_boxes:
    features['bbox'] = tfds.features.BBoxFeature()
  return tfds.features.FeaturesDict(features)


def generate_examples(split: SplitFiles, with_boxes: bool, crop_bottom: int = 0
                      ) -> Iterator[tuple[str, dict]]:
  """tfds examples of one split, keyed by path, images checked (and cropped by `crop_bottom`
  rows, see checked_jpeg) and stored as JPEG; boxes are relative to the stored image."""
  labels = {example.path: example for example in split.examples}
  for path, data in split.images.iter_files(labels):
    example = labels[path]
    jpeg, height, width = checked_jpeg(data, split.images.describe(path), crop_bottom)
    features = {'image': jpeg, 'label': example.label, 'file_name': path}
    if with_boxes:
      xmin, ymin, xmax, ymax = np.clip(
          np.array(example.box) / [width, height, width, height], 0.0, 1.0)
      features['bbox'] = tfds.features.BBox(ymin=ymin, xmin=xmin, ymax=ymax, xmax=xmax)
    yield path, features


def remove_if_empty(folders: Sequence[pathlib.Path]) -> None:
  """Removes each of `folders` (deepest first) that exists and is empty: what a failed
  preparation made and left with nothing in it, so a retry starts as the first try did."""
  for folder in folders:
    if folder.is_dir() and not any(folder.iterdir()):
      folder.rmdir()


class ConfiguredBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A builder whose BuilderConfig is made from the data config (the synthetic set's
  parameters, an image folder's path), so that each variant is prepared in a folder of its
  own.

  tfds calls a config missing from the class's BUILDER_CONFIGS "custom" and logs so at
  WARNING each time a builder is made: every epoch, over the progress bar. These configs
  cannot be listed in advance and are the builder's by design, so they are taken as given.
  """

  def _create_builder_config(self, builder_config: tfds.core.BuilderConfig,
                             version: str | None) -> tfds.core.BuilderConfig:
    # Overrides tfds 4.9's check against BUILDER_CONFIGS, the one place that logs the warning
    # (tests/test_data_sources.py checks that loading stays silent).
    del version  # Always the class's VERSION here.
    return builder_config


class ManualBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A tfds builder reading original files from `manual_dir`, archives or extracted.

  Subclasses give the dataset's facts as class attributes and parse its split lists in
  `_read_splits`; building, validation and image checking live here.
  """
  VERSION = tfds.core.Version('1.0.0')
  DISPLAY_NAME: str
  # Where the files come from, by site name and URL.
  SOURCE: str
  # The files the builder needs, in words, for the missing-files error.
  EXPECTED_FILES: str
  # Official split sizes of the full dataset (CUB, Dogs, Cars: the paper's Table 1).
  SPLIT_SIZES: Mapping[str, int]
  NUM_CLASSES: int
  HAS_BOXES: bool
  # What must be in manual_dir before tfds starts: one layout of each group.
  REQUIRED_LAYOUTS: Sequence[Sequence[Layout]]
  # Pixel rows cut off the bottom of every image while building, so that every pipeline sees
  # the cropped image (FGVC-Aircraft's copyright banner).
  CROP_BOTTOM_PIXELS: int = 0

  def __init__(self, *, manual_dir: str | pathlib.Path = '', check_split_sizes: bool = True,
               **kwargs):
    self._manual_dir = pathlib.Path(manual_dir).expanduser() if manual_dir else None
    self._check_split_sizes = check_split_sizes
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    return self.dataset_info_from_configs(features=image_features(self.HAS_BOXES),
                                          homepage=self.SOURCE)

  def _read_splits(self, manual_dir: pathlib.Path
                   ) -> tuple[tuple[str, ...], dict[str, SplitFiles]]:
    """Class names in official label order and each split's files, from manual_dir."""
    raise NotImplementedError

  def download_and_prepare(self, **kwargs) -> None:
    """tfds's download_and_prepare, once manual_dir is known to hold the files: a missing
    download fails with the one-line missing-files error before tfds prints anything.

    A prepared dataset needs no manual_dir and is not checked.
    """
    if not self.data_path.exists():  # What tfds checks; is_prepared() logs a warning.
      self._check_manual_dir()
    root = pathlib.Path(self._data_dir_root)
    folders = [pathlib.Path(self.data_path), pathlib.Path(self.data_path).parent,
               root / 'downloads' / 'extracted', root / 'downloads', root]
    new_folders = [folder for folder in folders if not folder.exists()]
    try:
      super().download_and_prepare(**kwargs)
    except BaseException:
      remove_if_empty(new_folders)
      raise

  def _check_manual_dir(self) -> None:
    """The missing-files error unless manual_dir holds REQUIRED_LAYOUTS; reads no file."""
    if self._manual_dir is None:
      self._missing('--config.data.manual_dir is not set')
    if not self._manual_dir.is_dir():
      state = 'is not a directory' if self._manual_dir.exists() else 'does not exist'
      self._missing(f'manual_dir={self._manual_dir} {state}')
    if not any(self._manual_dir.iterdir()):
      self._missing(f'manual_dir={self._manual_dir} is empty')
    for layouts in self.REQUIRED_LAYOUTS:
      self.find(layouts)

  def find(self, layouts: Sequence[Layout]) -> FileTree:
    """The tree of the first layout present; the missing-files error if there is none."""
    tree = find_tree(self._manual_dir, layouts)
    if tree is None:
      self.not_found(' or '.join(layout.expected() for layout in layouts))
    return tree

  def not_found(self, what: str) -> NoReturn:
    """The missing-files error for `what`, files expected in manual_dir."""
    self._missing(f'{what} not found in manual_dir={self._manual_dir}')

  def _missing(self, problem: str) -> NoReturn:
    raise DatasetError(
        f'{self.DISPLAY_NAME}: {problem}. This dataset needs {self.EXPECTED_FILES}, from '
        f'{self.SOURCE}. Download them, then set --config.data.manual_dir to the folder that '
        'holds them (archives or extracted).')

  def _split_generators(self, dl_manager: tfds.download.DownloadManager):
    del dl_manager  # Everything is read from manual_dir, checked by download_and_prepare.
    class_names, splits = self._read_splits(self._manual_dir)
    self._validate(class_names, splits)
    self.info.features['label'].names = list(class_names)
    return {name: self._generate_examples(split) for name, split in splits.items()}

  def _generate_examples(self, split: SplitFiles):
    return generate_examples(split, self.HAS_BOXES, self.CROP_BOTTOM_PIXELS)

  def _validate(self, class_names: Sequence[str], splits: Mapping[str, SplitFiles]):
    """Split lists must be self-consistent always, and of the official sizes when asked."""
    where = f'{self.DISPLAY_NAME} in {self._manual_dir}'
    for name, split in splits.items():
      labels = {example.label for example in split.examples}
      if not labels or min(labels) < 0 or max(labels) >= len(class_names):
        raise DatasetError(f'{where}: split {name!r} has labels outside 0..'
                           f'{len(class_names) - 1} or no examples; the split lists do not '
                           'match the class list. Re-download the annotation files.')
    paths = [(split.images, example.path) for split in splits.values()
             for example in split.examples]
    if len(set(paths)) != len(paths):
      raise DatasetError(f'{where}: an image is listed twice across the splits; the split '
                         'lists are inconsistent. Re-download the annotation files.')
    if not self._check_split_sizes:
      return
    sizes = {name: len(split.examples) for name, split in splits.items()}
    if sizes != dict(self.SPLIT_SIZES) or len(class_names) != self.NUM_CLASSES:
      raise DatasetError(
          f'{where}: found {len(class_names)} classes and split sizes {sizes}, but the full '
          f'dataset has {self.NUM_CLASSES} classes and {dict(self.SPLIT_SIZES)}. '
          'Check the download is complete, or set --config.data.check_split_sizes=False to '
          'use a deliberate subset.')
