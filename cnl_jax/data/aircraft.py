"""FGVC-Aircraft 2013b from `fgvc-aircraft-2013b.tar.gz` (or its extracted folder): the 100
variants, trained on the official trainval split, images without their copyright banner."""

from __future__ import annotations

import pathlib

from cnl_jax.data.files import Layout
from cnl_jax.data.id_lists import read_list
from cnl_jax.data.info import DatasetError
from cnl_jax.data.manual import Example, ManualBuilder, SplitFiles

_ROOT = 'fgvc-aircraft-2013b'
_VARIANTS = 'data/variants.txt'
_LAYOUTS = (Layout(folder=_ROOT, archive=f'{_ROOT}.tar.gz', prefix=_ROOT, marker=_VARIANTS),
            Layout(folder='.', marker=_VARIANTS))
# The builder's 'train' split is the official trainval (train + val, 2 x 3,334 images).
_SPLIT_LISTS = {'train': 'data/images_variant_trainval.txt',
                'test': 'data/images_variant_test.txt'}


class FgvcAircraftManual(ManualBuilder):
  """FGVC-Aircraft: 100 aircraft model variants; the README's 20 px banner is cropped off."""
  DISPLAY_NAME = 'FGVC-Aircraft'
  SOURCE = 'the FGVC-Aircraft site (https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/)'
  EXPECTED_FILES = (f'`{_ROOT}.tar.gz`, or its extracted `{_ROOT}/` folder with data/images/, '
                    f'{_VARIANTS}, ' + ', '.join(_SPLIT_LISTS.values()))
  SPLIT_SIZES = {'train': 6667, 'test': 3333}
  NUM_CLASSES = 100
  HAS_BOXES = False
  REQUIRED_LAYOUTS = (_LAYOUTS,)
  # "Each image has at the bottom a banner 20 pixels high containing copyright information.
  # Please make sure to remove this banner" (the dataset's README).
  CROP_BOTTOM_PIXELS = 20

  def _read_splits(self, manual_dir: pathlib.Path):
    tree = self.find(_LAYOUTS)
    files = {name: data.decode()
             for name, data in tree.iter_files([_VARIANTS, *_SPLIT_LISTS.values()])}
    # One variant name per line; the line order is the label order.
    class_names = tuple(line.strip() for line in files[_VARIANTS].splitlines() if line.strip())
    if len(set(class_names)) != len(class_names):
      raise DatasetError(f'{tree.describe(_VARIANTS)} names a variant twice; re-download the '
                         'archive.')
    labels = {name: label for label, name in enumerate(class_names)}
    splits = {}
    for split, name in _SPLIT_LISTS.items():
      rows = read_list(files[name], tree.describe(name))
      if unknown := sorted({variant for variant in rows.values() if variant not in labels}):
        raise DatasetError(f'{tree.describe(name)} names variants that '
                           f'{tree.describe(_VARIANTS)} lacks: {unknown[:5]}; re-download the '
                           'archive.')
      splits[split] = SplitFiles(tree, [Example(f'data/images/{image}.jpg', labels[variant])
                                        for image, variant in rows.items()])
    return class_names, splits
