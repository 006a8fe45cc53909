"""NABirds from `nabirds.tar.gz` (or its extracted folder), labelled by its 555 leaf classes,
with the official split."""

from __future__ import annotations

import pathlib

from cnl_jax.data.files import Layout
from cnl_jax.data.id_lists import read_lists, same_ids
from cnl_jax.data.info import DatasetError
from cnl_jax.data.manual import Example, ManualBuilder, SplitFiles

_LAYOUTS = (Layout(folder='nabirds', archive='nabirds.tar.gz', prefix='nabirds',
                   marker='images.txt'),
            Layout(folder='.', marker='images.txt'))
_IMAGE_LISTS = ('images.txt', 'image_class_labels.txt', 'train_test_split.txt')


class NabirdsManual(ManualBuilder):
  """NABirds: 555 leaf classes of North American birds (species, some split by sex, age or
  morph).

  classes.txt names every node of the taxonomy that hierarchy.txt links; the images carry 555
  of those ids, sparse among them, so the labels are those ids in sorted order, as 0..554.
  """
  DISPLAY_NAME = 'NABirds'
  SOURCE = ('the Cornell Lab of Ornithology (https://dl.allaboutbirds.org/nabirds; '
            'registration required)')
  EXPECTED_FILES = ('`nabirds.tar.gz`, or its extracted `nabirds/` folder with images/, '
                    + ', '.join(_IMAGE_LISTS) + ', classes.txt')
  SPLIT_SIZES = {'train': 23929, 'test': 24633}
  NUM_CLASSES = 555
  HAS_BOXES = False
  REQUIRED_LAYOUTS = (_LAYOUTS,)

  def _read_splits(self, manual_dir: pathlib.Path):
    tree = self.find(_LAYOUTS)
    lists = read_lists(tree, (*_IMAGE_LISTS, 'classes.txt'))
    ids = same_ids(tree, lists, _IMAGE_LISTS)
    class_of = {image_id: int(lists['image_class_labels.txt'][image_id]) for image_id in ids}
    names = {int(class_id): name for class_id, name in lists['classes.txt'].items()}
    class_ids = sorted(set(class_of.values()))
    if unnamed := [class_id for class_id in class_ids if class_id not in names]:
      raise DatasetError(f'{tree.describe("image_class_labels.txt")} uses class ids '
                         f'{unnamed[:5]} that {tree.describe("classes.txt")} does not name; '
                         're-download the archive.')
    labels = {class_id: label for label, class_id in enumerate(class_ids)}
    splits = {'train': [], 'test': []}
    for image_id in ids:
      is_train = lists['train_test_split.txt'][image_id] == '1'
      splits['train' if is_train else 'test'].append(Example(
          path='images/' + lists['images.txt'][image_id], label=labels[class_of[image_id]]))
    return (tuple(names[class_id] for class_id in class_ids),
            {name: SplitFiles(tree, examples) for name, examples in splits.items()})
