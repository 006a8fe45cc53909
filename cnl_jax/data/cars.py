"""Stanford Cars as users get it today: the Kaggle copies (images nested as
`cars_train/cars_train/`, the devkit as `car_devkit/devkit/`, the test labels a separate
`cars_test_annos_withlabels.mat`) and the original site's `car_ims.tgz` + `cars_annos.mat`.

The original site is offline and every copy nests the files differently, so each file is
searched for below manual_dir (files.SEARCH_DEPTH levels); a file found in two different
versions stops the build with both paths instead of being guessed.
"""

from __future__ import annotations

import io
import pathlib

import numpy as np
import scipy.io

from cnl_jax.data.files import SEARCH_DEPTH, FileTree, Layout, find_file, find_unique
from cnl_jax.data.info import DatasetError
from cnl_jax.data.manual import Example, ManualBuilder, SplitFiles, mat_strings

TEST_LABELS = 'cars_test_annos_withlabels.mat'
_SEARCHED = f'searched for in manual_dir and up to {SEARCH_DEPTH} folder levels below it'


def _variable(tree: FileTree, name: str, key: str) -> np.ndarray:
  """The MATLAB variable `key` of the .mat file `name`; DatasetError if the file lacks it."""
  mat = scipy.io.loadmat(io.BytesIO(tree.read(name)), squeeze_me=True, struct_as_record=False)
  if key not in mat:
    raise DatasetError(f'{tree.describe(name)} holds no {key!r} variable (it has '
                       f'{sorted(k for k in mat if not k.startswith("__"))}); it is not the '
                       f'Stanford Cars {name}. Re-download it.')
  return mat[key]


def _examples(tree: FileTree, name: str, path_field: str) -> list[tuple[Example, bool]]:
  """(example, is_test) per row of the `annotations` struct array of `name`; `is_test` from the
  `test` field where there is one (cars_annos.mat), else False."""
  rows = np.atleast_1d(_variable(tree, name, 'annotations'))
  if not rows.size:
    raise DatasetError(f'{tree.describe(name)} lists no images. Re-download it.')
  if not hasattr(rows[0], 'class'):
    raise DatasetError(
        f'{tree.describe(name)} has no class labels (the devkit\'s cars_test_annos.mat has '
        f'none); the labelled test list is the separate {TEST_LABELS} (see docs/data.md).')
  examples = []
  for row in rows:
    box = tuple(float(getattr(row, f'bbox_{corner}')) for corner in ('x1', 'y1', 'x2', 'y2'))
    example = Example(str(getattr(row, path_field)), int(getattr(row, 'class')) - 1, box)
    examples.append((example, bool(getattr(row, 'test', False))))
  return examples


class StanfordCarsManual(ManualBuilder):
  """Stanford Cars: 196 models, boxes from the annotation files."""
  DISPLAY_NAME = 'Stanford Cars'
  SOURCE = ('Kaggle: the "Stanford Cars Dataset" by jessicali9530 plus the separate '
            f'{TEST_LABELS} (see docs/data.md); the original site '
            'https://ai.stanford.edu/~jkrause/cars/car_dataset.html is offline')
  EXPECTED_FILES = ('the images `cars_train/` and `cars_test/` (Kaggle nests them as '
                    '`cars_train/cars_train/`; or `cars_train.tgz`, `cars_test.tgz`) with the '
                    'devkit\'s `cars_train_annos.mat` and `cars_meta.mat` (Kaggle: under '
                    f'`car_devkit/devkit/`) and `{TEST_LABELS}`; or `car_ims.tgz` (or '
                    '`car_ims/`) with `cars_annos.mat`')
  SPLIT_SIZES = {'train': 8144, 'test': 8041}
  NUM_CLASSES = 196
  HAS_BOXES = True
  # The files may nest a few folders deep (the Kaggle copies), so the check before tfds
  # starts searches for the annotation files instead (`_check_manual_dir`).
  REQUIRED_LAYOUTS = ()

  def _check_manual_dir(self) -> None:
    super()._check_manual_dir()
    if all(find_file(self._manual_dir, name) is None
           for name in ('cars_annos.mat', 'cars_meta.mat')):
      self._missing(f'neither `cars_annos.mat` nor the devkit\'s `cars_meta.mat` found '
                    f'({_SEARCHED})')

  def _read_splits(self, manual_dir: pathlib.Path):
    annotations = find_file(manual_dir, 'cars_annos.mat')
    if annotations is not None:
      rows = _examples(annotations, 'cars_annos.mat', 'relative_im_path')
      images = find_unique(manual_dir, Layout(folder='.', archive='car_ims.tgz',
                                              marker=rows[0][0].path))
      if images is not None:
        class_names = mat_strings(_variable(annotations, 'cars_annos.mat', 'class_names'))
        splits = {'train': [], 'test': []}
        for example, is_test in rows:
          splits['test' if is_test else 'train'].append(example)
        return tuple(class_names), {name: SplitFiles(images, examples)
                                    for name, examples in splits.items()}
      if find_file(manual_dir, 'cars_meta.mat') is None:
        self._missing(f'`car_ims.tgz` or `car_ims/` (the images of '
                      f'{annotations.describe("cars_annos.mat")}, {_SEARCHED})')
    return self._read_devkit(manual_dir)

  def _annotation_file(self, manual_dir: pathlib.Path, name: str) -> FileTree:
    tree = find_file(manual_dir, name)
    if tree is None:
      self._missing(f'`{name}` ({_SEARCHED})')
    return tree

  def _read_devkit(self, manual_dir: pathlib.Path):
    meta = self._annotation_file(manual_dir, 'cars_meta.mat')
    class_names = tuple(mat_strings(_variable(meta, 'cars_meta.mat', 'class_names')))
    splits = {}
    for split, name in (('train', 'cars_train_annos.mat'), ('test', TEST_LABELS)):
      annotations = self._annotation_file(manual_dir, name)
      examples = [example for example, _ in _examples(annotations, name, 'fname')]
      folder = f'cars_{split}'
      images = find_unique(manual_dir, Layout(folder=folder, archive=f'{folder}.tgz',
                                              prefix=folder, marker=examples[0].path))
      if images is None:
        self._missing(f'`{folder}/` or `{folder}.tgz` holding {examples[0].path}, the first '
                      f'image of {annotations.describe(name)} ({_SEARCHED})')
      splits[split] = SplitFiles(images, examples)
    return class_names, splits
