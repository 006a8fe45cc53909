"""From a data config to a prepared tfds builder: the one place that knows every source."""

from __future__ import annotations

import contextlib
import io
import logging
import pathlib
from typing import Any

import tensorflow_datasets as tfds

from cnl_jax.data.aircraft import FgvcAircraftManual
from cnl_jax.data.cars import StanfordCarsManual
from cnl_jax.data.cub import Cub2011Manual
from cnl_jax.data.dogs import StanfordDogsManual
from cnl_jax.data.image_folder import ImageFolderManual
from cnl_jax.data.info import DatasetError, DatasetInfo
from cnl_jax.data.nabirds import NabirdsManual
from cnl_jax.data.synthetic import SyntheticFineGrained

MANUAL_BUILDERS = {'cub': Cub2011Manual, 'dogs': StanfordDogsManual, 'cars': StanfordCarsManual,
                   'aircraft': FgvcAircraftManual, 'nabirds': NabirdsManual}
CATALOG_PREFIX = 'tfds:'
NAMES = ('synthetic', *MANUAL_BUILDERS, 'image_folder', f'{CATALOG_PREFIX}<catalog name>')


def _path(value: str) -> pathlib.Path:
  return pathlib.Path(value).expanduser()


def _catalog_builder(name: str, data_dir: pathlib.Path) -> tfds.core.DatasetBuilder:
  """A tfds catalog dataset that the user prepared in data_dir; never downloads."""
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as error:
    raise DatasetError(f'{name!r} is not in the tfds catalog: {error}') from None
  if not builder.is_prepared():
    raise DatasetError(
        f'tfds dataset {name!r} is not prepared in data_dir={data_dir}. Prepare it with '
        f'`tfds build {name} --data_dir={data_dir}` (some need their files in tfds\'s manual '
        f'dir), or use --config.data.name = one of {list(MANUAL_BUILDERS)} with '
        '--config.data.manual_dir set to the original files.')
  return builder


def prepared_builder(data_config: Any) -> tfds.core.DatasetBuilder:
  """The builder named by `data_config.name`, built into its data directory on first use."""
  name = data_config.name
  data_dir = _path(data_config.data_dir)
  if name.startswith(CATALOG_PREFIX):
    return _catalog_builder(name.removeprefix(CATALOG_PREFIX), data_dir)
  if name == 'synthetic':
    builder = SyntheticFineGrained(
        seed=data_config.synthetic_seed, num_classes=data_config.synthetic_classes,
        image_size=data_config.synthetic_image_size,
        train_per_class=data_config.synthetic_train_per_class,
        test_per_class=data_config.synthetic_test_per_class,
        data_dir=_path(data_config.cache_dir))
    _generate(builder, data_config)
  elif name in MANUAL_BUILDERS:
    builder = MANUAL_BUILDERS[name](manual_dir=data_config.manual_dir,
                                    check_split_sizes=data_config.check_split_sizes,
                                    data_dir=data_dir)
  elif name == 'image_folder':
    builder = ImageFolderManual(root=data_config.manual_dir,
                                splits=(data_config.train_split, data_config.eval_split),
                                data_dir=data_dir)
  else:
    raise DatasetError(f'Unknown config.data.name {name!r}; valid names are: '
                       f'{", ".join(NAMES)}.')
  builder.download_and_prepare()
  return builder


def _generate(builder: SyntheticFineGrained, data_config: Any) -> None:
  """Builds the synthetic set on first use with one line of ours: tfds would announce a
  download ("Downloading and preparing dataset Unknown size ...") and draw progress bars."""
  if (pathlib.Path(builder.data_dir) / 'dataset_info.json').exists():  # prepared before
    return
  count = data_config.synthetic_classes * (data_config.synthetic_train_per_class
                                           + data_config.synthetic_test_per_class)
  logging.info('Generating the synthetic set: %d images of %d px in %s (once; later runs '
               'reuse it).', count, data_config.synthetic_image_size, builder.data_dir)
  tfds.display_progress_bar(False)
  try:
    with contextlib.redirect_stdout(io.StringIO()):  # tfds prints its notices there
      builder.download_and_prepare()
  finally:
    tfds.display_progress_bar(True)


def dataset_info(data_config: Any, builder: tfds.core.DatasetBuilder) -> DatasetInfo:
  """Sizes and class names of a prepared builder's train and eval splits."""
  splits = builder.info.splits
  for split in (data_config.train_split, data_config.eval_split):
    if split not in splits:
      raise DatasetError(f'{builder.name} has no split {split!r}; it has {list(splits)}. Set '
                         'config.data.train_split and config.data.eval_split.')
  label = builder.info.features['label']
  return DatasetInfo(name=data_config.name, num_classes=label.num_classes,
                     num_train=splits[data_config.train_split].num_examples,
                     num_test=splits[data_config.eval_split].num_examples,
                     class_names=tuple(label.names))
