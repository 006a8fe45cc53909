"""CUB-200-2011 from `CUB_200_2011.tgz` (or its extracted folder), with the official split."""

from __future__ import annotations

import pathlib

from cnl_jax.data.files import Layout
from cnl_jax.data.id_lists import read_lists, same_ids
from cnl_jax.data.manual import Example, ManualBuilder, SplitFiles

_LAYOUTS = (Layout(folder='CUB_200_2011', archive='CUB_200_2011.tgz', prefix='CUB_200_2011',
                   marker='images.txt'),
            Layout(folder='.', marker='images.txt'))
_LISTS = ('classes.txt', 'images.txt', 'image_class_labels.txt', 'train_test_split.txt',
          'bounding_boxes.txt')


class Cub2011Manual(ManualBuilder):
  """CUB-200-2011: 200 bird species, boxes from `bounding_boxes.txt`."""
  DISPLAY_NAME = 'CUB-200-2011'
  SOURCE = 'the Caltech-UCSD Birds site (https://www.vision.caltech.edu/datasets/cub_200_2011/)'
  EXPECTED_FILES = ('`CUB_200_2011.tgz`, or its extracted `CUB_200_2011/` folder with '
                    'images/, ' + ', '.join(_LISTS))
  SPLIT_SIZES = {'train': 5994, 'test': 5794}
  NUM_CLASSES = 200
  HAS_BOXES = True
  REQUIRED_LAYOUTS = (_LAYOUTS,)

  def _read_splits(self, manual_dir: pathlib.Path):
    tree = self.find(_LAYOUTS)
    lists = read_lists(tree, _LISTS)
    classes = lists['classes.txt']
    class_names = tuple(classes[i] for i in sorted(classes, key=int))
    splits = {'train': [], 'test': []}
    for image_id in same_ids(tree, lists, _LISTS[1:]):
      x, y, width, height = map(float, lists['bounding_boxes.txt'][image_id].split())
      is_train = lists['train_test_split.txt'][image_id] == '1'
      splits['train' if is_train else 'test'].append(Example(
          path='images/' + lists['images.txt'][image_id],
          label=int(lists['image_class_labels.txt'][image_id]) - 1,
          box=(x, y, x + width, y + height)))
    return class_names, {name: SplitFiles(tree, examples) for name, examples in splits.items()}
