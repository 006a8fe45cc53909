"""Writers of tiny, format-faithful copies of the datasets' original files, and the config and
reader the builder tests share."""

import pathlib
import shutil
import tarfile

import numpy as np
import tensorflow as tf

from cnl_jax import data
from cnl_jax.data import sources
from configs.default import data_config


def write_jpeg(path: pathlib.Path, height: int, width: int, value: int = 128):
  path.parent.mkdir(parents=True, exist_ok=True)
  image = np.full((height, width, 3), value, np.uint8)
  path.write_bytes(tf.io.encode_jpeg(image).numpy())


def make_tar(archive: pathlib.Path, root: pathlib.Path, members: list[str]):
  """Packs root/member for each member into archive (gzip for .tgz and .tar.gz), then deletes
  them."""
  gzip = archive.name.endswith(('.tgz', '.tar.gz'))
  with tarfile.open(archive, 'w:gz' if gzip else 'w') as tar:
    for member in members:
      tar.add(root / member, arcname=member)
  for member in members:
    path = root / member
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def write_lines(path: pathlib.Path, lines: list[str]):
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_text('\n'.join(lines) + '\n')


def config_for(name: str, manual_dir: pathlib.Path, data_dir: pathlib.Path):
  config = data_config()
  config.name = name
  config.manual_dir = str(manual_dir)
  config.data_dir = str(data_dir)
  config.check_split_sizes = False
  return config


def read_split(config, split: str) -> dict[str, dict]:
  """{file_name: example} of a prepared split, images decoded."""
  builder = sources.prepared_builder(config)
  return {example['file_name'].decode(): example
          for example in builder.as_dataset(split=split).as_numpy_iterator()}


def cell(strings: list[str]) -> np.ndarray:
  """A MATLAB cell array column of strings, as scipy.io.savemat writes them."""
  column = np.empty((len(strings), 1), dtype=object)
  column[:, 0] = strings
  return column


def struct_array(rows: list[dict]) -> np.ndarray:
  """A 1xN MATLAB struct array, fields as in the Stanford Cars annotation files."""
  fields = list(rows[0])
  array = np.empty((1, len(rows)), dtype=[(field, object) for field in fields])
  for i, row in enumerate(rows):
    for field in fields:
      value = row[field]
      array[0, i][field] = value if isinstance(value, str) else np.array([[value]], np.uint16)
  return array
