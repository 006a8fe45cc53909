"""Stanford Cars in either common layout: `car_ims.tgz` + `cars_annos.mat`, or the devkit's
`cars_train/`, `cars_test/` with `cars_train_annos.mat` and `cars_test_annos_withlabels.mat`."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import scipy.io

from cnl_jax.data.files import FileTree, Layout, find_tree
from cnl_jax.data.manual import Example, ManualBuilder, SplitFiles, mat_strings

_ALL_IN_ONE = Layout(folder='.', marker='cars_annos.mat')
_ALL_IN_ONE_IMAGES = (Layout(folder='.', archive='car_ims.tgz', marker='car_ims'),)
_DEVKIT = (Layout(folder='devkit', marker='cars_train_annos.mat'),
           Layout(folder='.', marker='cars_train_annos.mat'))


def _load(tree: FileTree, name: str) -> dict:
  return scipy.io.loadmat(io.BytesIO(tree.read(name)), squeeze_me=True, struct_as_record=False)


def _examples(annotations: np.ndarray, path_field: str) -> list[tuple[Example, bool]]:
  """(example, is_test) per row of an `annotations` struct array; `is_test` from the `test`
  field where there is one (all-in-one layout), else False."""
  rows = []
  for row in np.atleast_1d(annotations):
    box = tuple(float(getattr(row, f'bbox_{corner}')) for corner in ('x1', 'y1', 'x2', 'y2'))
    example = Example(str(getattr(row, path_field)), int(getattr(row, 'class')) - 1, box)
    rows.append((example, bool(getattr(row, 'test', False))))
  return rows


class StanfordCarsManual(ManualBuilder):
  """Stanford Cars: 196 models, boxes from the annotation files."""
  DISPLAY_NAME = 'Stanford Cars'
  SOURCE = ('the Stanford Cars site (https://ai.stanford.edu/~jkrause/cars/car_dataset.html; '
            'mirrored on Kaggle as "stanford-cars-dataset")')
  EXPECTED_FILES = ('either `car_ims.tgz` (or extracted `car_ims/`) with `cars_annos.mat`, or '
                    '`cars_train/` and `cars_test/` (or `cars_train.tgz`, `cars_test.tgz`) '
                    'with the devkit\'s `cars_train_annos.mat`, `cars_test_annos_withlabels.mat` '
                    'and `cars_meta.mat` (in manual_dir or manual_dir/devkit)')
  SPLIT_SIZES = {'train': 8144, 'test': 8041}
  NUM_CLASSES = 196
  HAS_BOXES = True
  REQUIRED_LAYOUTS = ((_ALL_IN_ONE, *_DEVKIT),)

  def _read_splits(self, manual_dir: pathlib.Path):
    annotations = _ALL_IN_ONE.find(manual_dir)
    if annotations is not None:
      return self._read_all_in_one(annotations)
    return self._read_devkit(self.find(_DEVKIT))

  def _read_all_in_one(self, annotations: FileTree):
    mat = _load(annotations, 'cars_annos.mat')
    images = self.find(_ALL_IN_ONE_IMAGES)
    splits = {'train': [], 'test': []}
    for example, is_test in _examples(mat['annotations'], 'relative_im_path'):
      splits['test' if is_test else 'train'].append(example)
    class_names = tuple(mat_strings(mat['class_names']))
    return class_names, {name: SplitFiles(images, rows) for name, rows in splits.items()}

  def _read_devkit(self, devkit: FileTree):
    class_names = tuple(mat_strings(_load(devkit, 'cars_meta.mat')['class_names']))
    splits = {}
    for split, annotation_file in (('train', 'cars_train_annos.mat'),
                                   ('test', 'cars_test_annos_withlabels.mat')):
      annotations = find_tree(self._manual_dir, (Layout(folder='.', marker=annotation_file),
                                                 Layout(folder='devkit', marker=annotation_file)))
      if annotations is None:
        self.not_found(f'`{annotation_file}`')
      images = self.find((Layout(folder=f'cars_{split}', archive=f'cars_{split}.tgz',
                                 prefix=f'cars_{split}'),))
      rows = _examples(_load(annotations, annotation_file)['annotations'], 'fname')
      splits[split] = SplitFiles(images, [example for example, _ in rows])
    return class_names, splits
