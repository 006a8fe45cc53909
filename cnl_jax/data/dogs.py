"""Stanford Dogs from `images.tar` + `lists.tar` (or extracted), with the official split."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import scipy.io

from cnl_jax.data.files import FileTree, Layout
from cnl_jax.data.info import DatasetError
from cnl_jax.data.manual import Example, ManualBuilder, SplitFiles, mat_strings

_IMAGES = (Layout(folder='Images', archive='images.tar', prefix='Images'),)
_LISTS = (Layout(folder='.', marker='train_list.mat'),
          Layout(folder='lists', archive='lists.tar', marker='train_list.mat'))


def _read_list(tree: FileTree, name: str) -> list[tuple[str, int]]:
  """(image path, 1-based label) pairs of `train_list.mat` or `test_list.mat`."""
  mat = scipy.io.loadmat(io.BytesIO(tree.read(name)))
  files = mat_strings(mat['file_list'])
  labels = np.asarray(mat['labels']).reshape(-1).astype(int).tolist()
  if len(files) != len(labels):
    raise DatasetError(f'{tree.describe(name)}: {len(files)} files but {len(labels)} labels.')
  return list(zip(files, labels))


class StanfordDogsManual(ManualBuilder):
  """Stanford Dogs: 120 breeds; class names are the image folder names (synset-breed)."""
  DISPLAY_NAME = 'Stanford Dogs'
  SOURCE = 'the Stanford Dogs site (http://vision.stanford.edu/aditya86/ImageNetDogs/)'
  EXPECTED_FILES = ('`images.tar` (or extracted `Images/`) and `lists.tar` (or extracted '
                    '`train_list.mat` and `test_list.mat`)')
  SPLIT_SIZES = {'train': 12000, 'test': 8580}
  NUM_CLASSES = 120
  HAS_BOXES = False
  REQUIRED_LAYOUTS = (_LISTS, _IMAGES)

  def _read_splits(self, manual_dir: pathlib.Path):
    lists, images = self.find(_LISTS), self.find(_IMAGES)
    rows = {split: _read_list(lists, f'{split}_list.mat') for split in ('train', 'test')}
    folders = {}
    for path, label in rows['train'] + rows['test']:
      folder = path.split('/')[0]
      if folders.setdefault(label, folder) != folder:
        raise DatasetError(f'Stanford Dogs in {self._manual_dir}: label {label} is given to '
                           f'both {folders[label]}/ and {folder}/ in the split lists.')
    if sorted(folders) != list(range(1, len(folders) + 1)):
      raise DatasetError(f'Stanford Dogs in {self._manual_dir}: the split lists use labels '
                         f'{sorted(folders)}, not 1..{len(folders)}.')
    class_names = tuple(folders[label] for label in sorted(folders))
    return class_names, {
        split: SplitFiles(images, [Example(path, label - 1) for path, label in pairs])
        for split, pairs in rows.items()}
