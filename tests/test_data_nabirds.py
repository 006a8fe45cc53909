"""The NABirds builder reads a tiny copy of nabirds.tar.gz: labels are the class ids the
images carry, in sorted order, named from classes.txt; the split is train_test_split.txt."""

import pathlib
import uuid

import pytest

from cnl_jax import data
from configs import nabirds as nabirds_config
from helpers.manual_files import config_for, make_tar, read_split, write_jpeg, write_lines

# classes.txt names every node of the taxonomy; hierarchy.txt links child to parent.
CLASSES = {0: 'Birds', 1: 'Perching Birds', 2: 'Ducks, Geese, and Swans', 295: 'Bufflehead',
           313: 'Northern Cardinal (Adult Male)', 401: 'Blue Jay',
           772: 'Northern Cardinal (Female/Juvenile)'}
HIERARCHY = {1: 0, 2: 0, 295: 2, 313: 1, 401: 1, 772: 1}
LEAVES = [295, 313, 401, 772]  # sorted: label i is LEAVES[i]
# Image uuid, class id, is_train; listed out of class order.
IMAGES = [(str(uuid.UUID(int=7919 * (i + 1))), (772, 295, 401, 313)[i % 4], i % 3 != 0)
          for i in range(10)]


def image_path(image_id: str, class_id: int) -> str:
  """Where the dataset keeps an image: a folder per class, the uuid without dashes."""
  return f'{class_id:04d}/{uuid.UUID(image_id).hex}.jpg'


def make_nabirds(manual_dir: pathlib.Path, archive: bool) -> pathlib.Path:
  root = manual_dir / 'nabirds'
  for image_id, class_id, _ in IMAGES:
    write_jpeg(root / 'images' / image_path(image_id, class_id), 30 + class_id % 7, 40)
  write_lines(root / 'classes.txt', [f'{i} {name}' for i, name in CLASSES.items()])
  write_lines(root / 'hierarchy.txt', [f'{child} {parent}' for child, parent in HIERARCHY.items()])
  write_lines(root / 'images.txt', [f'{i} {image_path(i, c)}' for i, c, _ in IMAGES])
  write_lines(root / 'image_class_labels.txt', [f'{i} {c}' for i, c, _ in IMAGES])
  write_lines(root / 'train_test_split.txt', [f'{i} {int(train)}' for i, _, train in IMAGES])
  write_lines(root / 'bounding_boxes.txt', [f'{i} 1 2 20 25' for i, *_ in IMAGES])
  if archive:
    make_tar(manual_dir / 'nabirds.tar.gz', manual_dir, ['nabirds'])
  return manual_dir


@pytest.mark.parametrize('archive', [True, False])
def test_nabirds_labels_are_sorted_class_ids_named_from_classes_txt(tmp_path, archive):
  config = config_for('nabirds', make_nabirds(tmp_path / 'manual', archive), tmp_path / 'tfds')
  info = data.load_info(config)
  assert (info.num_classes, info.num_train, info.num_test) == (4, 6, 4)
  assert info.class_names == tuple(CLASSES[i] for i in LEAVES)
  splits = {split: read_split(config, split) for split in ('train', 'test')}
  for image_id, class_id, is_train in IMAGES:
    example = splits['train' if is_train else 'test']['images/' + image_path(image_id, class_id)]
    assert example['label'] == LEAVES.index(class_id)
    assert example['image'].shape == (30 + class_id % 7, 40, 3)


def test_nabirds_config_reads_the_nabirds_files(tmp_path):
  config = nabirds_config.get_config().data
  config.manual_dir = str(make_nabirds(tmp_path / 'manual', archive=False))
  config.data_dir, config.check_split_sizes = str(tmp_path / 'tfds'), False
  assert data.load_info(config).class_names == tuple(CLASSES[i] for i in LEAVES)


def test_nabirds_official_sizes_are_required_unless_turned_off(tmp_path):
  config = config_for('nabirds', make_nabirds(tmp_path / 'manual', archive=False),
                      tmp_path / 'tfds')
  config.check_split_sizes = True
  with pytest.raises(data.DatasetError,
                     match=r"555 classes and \{'train': 23929, 'test': 24633\}"):
    data.load_info(config)


def test_nabirds_class_id_missing_from_classes_txt_is_an_error(tmp_path):
  manual_dir = make_nabirds(tmp_path / 'manual', archive=False)
  classes = manual_dir / 'nabirds' / 'classes.txt'
  write_lines(classes, [f'{i} {name}' for i, name in CLASSES.items() if i != 401])
  with pytest.raises(data.DatasetError, match=rf'class ids \[401\] that {classes} does not'):
    data.load_info(config_for('nabirds', manual_dir, tmp_path / 'tfds'))


def test_nabirds_lists_of_other_images_are_an_error_naming_the_list(tmp_path):
  manual_dir = make_nabirds(tmp_path / 'manual', archive=False)
  split = manual_dir / 'nabirds' / 'train_test_split.txt'
  split.write_text('\n'.join(split.read_text().splitlines()[1:]))
  with pytest.raises(data.DatasetError, match=f'{split} does not list the same image ids'):
    data.load_info(config_for('nabirds', manual_dir, tmp_path / 'tfds'))
