"""The original-layout builders read tiny copies of the real distribution files correctly, and
bad input stops the build with an error that says what to fix."""

import functools
import logging
import pathlib
import shutil
import tarfile

import numpy as np
import pytest
import scipy.io
import tensorflow as tf

from cnl_jax import data
from cnl_jax.data import sources


def write_jpeg(path: pathlib.Path, height: int, width: int, value: int = 128):
  path.parent.mkdir(parents=True, exist_ok=True)
  image = np.full((height, width, 3), value, np.uint8)
  path.write_bytes(tf.io.encode_jpeg(image).numpy())


def make_tar(archive: pathlib.Path, root: pathlib.Path, members: list[str]):
  """Packs root/member for each member into archive (gzip for .tgz), then deletes them."""
  with tarfile.open(archive, 'w:gz' if archive.suffix == '.tgz' else 'w') as tar:
    for member in members:
      tar.add(root / member, arcname=member)
  for member in members:
    path = root / member
    shutil.rmtree(path) if path.is_dir() else path.unlink()


def config_for(name: str, manual_dir: pathlib.Path, data_dir: pathlib.Path):
  config = data.default_data_config()
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


# CUB: 3 classes, 9 images; labels in image_class_labels.txt, split flags, boxes in pixels.
CUB_CLASSES = ['001.Black_footed_Albatross', '002.Laysan_Albatross', '003.Sooty_Albatross']
CUB_IMAGES = [(i + 1, CUB_CLASSES[i // 3], f'img_{i}.jpg', 40 + 4 * i, 60, i % 3 != 0)
              for i in range(9)]  # id, class folder, file, height, width, is_train


def make_cub(manual_dir: pathlib.Path, archive: bool) -> pathlib.Path:
  root = manual_dir / 'CUB_200_2011'
  for _, folder, name, height, width, _ in CUB_IMAGES:
    write_jpeg(root / 'images' / folder / name, height, width)
  lists = {
      'classes.txt': [f'{i + 1} {name}' for i, name in enumerate(CUB_CLASSES)],
      'images.txt': [f'{i} {folder}/{name}' for i, folder, name, *_ in CUB_IMAGES],
      'image_class_labels.txt': [f'{i} {CUB_CLASSES.index(folder) + 1}'
                                 for i, folder, *_ in CUB_IMAGES],
      'train_test_split.txt': [f'{i} {int(train)}' for i, *_, train in CUB_IMAGES],
      'bounding_boxes.txt': [f'{i} {i}.0 {2 * i}.0 10.0 20.0' for i, *_ in CUB_IMAGES],
  }
  for name, lines in lists.items():
    (root / name).write_text('\n'.join(lines) + '\n')
  if archive:
    make_tar(manual_dir / 'CUB_200_2011.tgz', manual_dir, ['CUB_200_2011'])
  return manual_dir


@pytest.mark.parametrize('archive', [True, False])
def test_cub_official_split_labels_and_boxes(tmp_path, archive):
  config = config_for('cub', make_cub(tmp_path / 'manual', archive), tmp_path / 'tfds')
  info = data.load_info(config)
  assert (info.num_classes, info.num_train, info.num_test) == (3, 6, 3)
  assert info.class_names == tuple(CUB_CLASSES)
  test = read_split(config, 'test')
  train = read_split(config, 'train')
  for image_id, folder, name, height, width, is_train in CUB_IMAGES:
    example = (train if is_train else test)[f'images/{folder}/{name}']
    assert example['label'] == CUB_CLASSES.index(folder)
    assert example['image'].shape == (height, width, 3)
    # tfds boxes: ymin, xmin, ymax, xmax as fractions of the image.
    np.testing.assert_allclose(
        example['bbox'], [2 * image_id / height, image_id / width,
                          (2 * image_id + 20) / height, (image_id + 10) / width], rtol=1e-6)


def test_prepared_dataset_loads_by_tfds_name_without_manual_files(tmp_path):
  # The 'tfds:<name>' path reads any registered dataset prepared in data_dir, as it does the
  # catalog's caltech_birds2011, stanford_dogs and cars196.
  config = config_for('cub', make_cub(tmp_path / 'manual', archive=False), tmp_path / 'tfds')
  expected = data.load_info(config)
  shutil.rmtree(tmp_path / 'manual')
  config.name = 'tfds:cub2011_manual'
  info = data.load_info(config)
  assert (info.class_names, info.num_train, info.num_test) == (
      expected.class_names, expected.num_train, expected.num_test)
  batch = next(data.eval_batches(config, batch_size=4, image_size=16, eval_resize=18))
  assert batch['image'].shape == (4, 16, 16, 3) and batch['mask'].sum() == 3


def test_table_1_sizes_are_required_unless_turned_off(tmp_path):
  config = config_for('cub', make_cub(tmp_path / 'manual', archive=False), tmp_path / 'tfds')
  config.check_split_sizes = True
  with pytest.raises(data.DatasetError, match=r"5994.*check_split_sizes"):
    data.load_info(config)


def test_cub_split_list_missing_an_image_is_an_error(tmp_path):
  manual_dir = make_cub(tmp_path / 'manual', archive=False)
  split_file = manual_dir / 'CUB_200_2011' / 'train_test_split.txt'
  split_file.write_text('\n'.join(split_file.read_text().splitlines()[:-1]))
  with pytest.raises(data.DatasetError, match='train_test_split.txt'):
    data.load_info(config_for('cub', manual_dir, tmp_path / 'tfds'))


def test_corrupt_image_in_archive_names_the_file(tmp_path):
  manual_dir = tmp_path / 'manual'
  make_cub(manual_dir, archive=False)
  _, folder, name, *_ = CUB_IMAGES[4]
  (manual_dir / 'CUB_200_2011' / 'images' / folder / name).write_bytes(b'\xff\xd8 not a jpeg')
  make_tar(manual_dir / 'CUB_200_2011.tgz', manual_dir, ['CUB_200_2011'])
  with pytest.raises(data.DatasetError, match=f'CUB_200_2011.tgz:CUB_200_2011/images/{folder}/'
                                              f'{name}'):
    data.load_info(config_for('cub', manual_dir, tmp_path / 'tfds'))


# Stanford Dogs: 2 breeds; lists.tar holds .mat split lists with 1-based labels.
DOG_FOLDERS = ['n02085620-Chihuahua', 'n02085782-Japanese_spaniel']
DOG_SPLITS = {'train': [(f'{DOG_FOLDERS[c]}/n_{c}_{i}.jpg', c + 1) for c in (0, 1) for i in (0, 1)],
              'test': [(f'{DOG_FOLDERS[c]}/n_{c}_{i}.jpg', c + 1) for c in (1, 0) for i in (2,)]}


def make_dogs(manual_dir: pathlib.Path) -> pathlib.Path:
  for rows in DOG_SPLITS.values():
    for path, _ in rows:
      write_jpeg(manual_dir / 'Images' / path, 30, 40)
  all_rows = DOG_SPLITS['train'] + DOG_SPLITS['test']
  for name, rows in (('train', DOG_SPLITS['train']), ('test', DOG_SPLITS['test']),
                     ('file', all_rows)):
    scipy.io.savemat(manual_dir / f'{name}_list.mat', {
        'file_list': cell([path for path, _ in rows]),
        'annotation_list': cell([path.removesuffix('.jpg') for path, _ in rows]),
        'labels': np.array([[label] for _, label in rows], np.float64)})
  make_tar(manual_dir / 'images.tar', manual_dir, ['Images'])
  make_tar(manual_dir / 'lists.tar', manual_dir,
           ['file_list.mat', 'train_list.mat', 'test_list.mat'])
  return manual_dir


def test_dogs_reads_mat_split_lists(tmp_path):
  config = config_for('dogs', make_dogs(tmp_path / 'manual'), tmp_path / 'tfds')
  info = data.load_info(config)
  assert (info.num_classes, info.num_train, info.num_test) == (2, 4, 2)
  assert info.class_names == tuple(DOG_FOLDERS)
  for split, rows in DOG_SPLITS.items():
    examples = read_split(config, split)
    assert {path: int(example['label']) for path, example in examples.items()} == {
        path: label - 1 for path, label in rows}


def test_dogs_label_given_to_two_breeds_is_an_error(tmp_path):
  manual_dir = make_dogs(tmp_path / 'manual')
  with tarfile.open(manual_dir / 'lists.tar') as tar:
    tar.extractall(manual_dir / 'lists', filter='data')
  (manual_dir / 'lists.tar').unlink()
  path, _ = DOG_SPLITS['test'][0]
  scipy.io.savemat(manual_dir / 'lists' / 'test_list.mat', {
      'file_list': cell([path]), 'annotation_list': cell([path]), 'labels': np.array([[1.0]])})
  with pytest.raises(data.DatasetError, match='label 1 is given to both'):
    data.load_info(config_for('dogs', manual_dir, tmp_path / 'tfds'))


# Stanford Cars: 3 models; boxes in pixels (x1, y1, x2, y2), 1-based classes.
CAR_CLASSES = ['AM General Hummer SUV 2000', 'Acura RL Sedan 2012', 'Audi TT RS Coupe 2012']
CAR_ROWS = [(i, i % 3, i % 2 == 1, (i, 2 * i, 20 + i, 30)) for i in range(1, 8)]


def car_annotation(row, **fields) -> dict:
  _, label, _, (x1, y1, x2, y2) = row
  return {'bbox_x1': x1, 'bbox_y1': y1, 'bbox_x2': x2, 'bbox_y2': y2, 'class': label + 1,
          **fields}


def make_cars_all_in_one(manual_dir: pathlib.Path, archive: bool = True) -> pathlib.Path:
  for i, *_ in CAR_ROWS:
    write_jpeg(manual_dir / 'car_ims' / f'{i:06d}.jpg', 50, 60)
  scipy.io.savemat(manual_dir / 'cars_annos.mat', {
      'annotations': struct_array([
          car_annotation(row, relative_im_path=f'car_ims/{row[0]:06d}.jpg', test=int(row[2]))
          for row in CAR_ROWS]),
      'class_names': cell(CAR_CLASSES).T})
  if archive:
    make_tar(manual_dir / 'car_ims.tgz', manual_dir, ['car_ims'])
  return manual_dir


def make_cars_devkit(manual_dir: pathlib.Path) -> pathlib.Path:
  for split, is_test, annotation_file in (('train', False, 'cars_train_annos.mat'),
                                          ('test', True, 'cars_test_annos_withlabels.mat')):
    rows = [row for row in CAR_ROWS if row[2] == is_test]
    for i, *_ in rows:
      write_jpeg(manual_dir / f'cars_{split}' / f'{i:05d}.jpg', 50, 60)
    (manual_dir / 'devkit').mkdir(exist_ok=True)
    scipy.io.savemat(manual_dir / 'devkit' / annotation_file, {'annotations': struct_array(
        [car_annotation(row, fname=f'{row[0]:05d}.jpg') for row in rows])})
  scipy.io.savemat(manual_dir / 'devkit' / 'cars_meta.mat', {'class_names': cell(CAR_CLASSES).T})
  make_tar(manual_dir / 'cars_train.tgz', manual_dir, ['cars_train'])  # test stays extracted.
  return manual_dir


@pytest.mark.parametrize('make_layout, path_format', [
    (make_cars_all_in_one, 'car_ims/{:06d}.jpg'),
    (functools.partial(make_cars_all_in_one, archive=False), 'car_ims/{:06d}.jpg'),
    (make_cars_devkit, '{:05d}.jpg')])
def test_cars_both_layouts(tmp_path, make_layout, path_format):
  config = config_for('cars', make_layout(tmp_path / 'manual'), tmp_path / 'tfds')
  info = data.load_info(config)
  assert (info.num_classes, info.num_train, info.num_test) == (3, 3, 4)
  assert info.class_names == tuple(CAR_CLASSES)
  splits = {split: read_split(config, split) for split in ('train', 'test')}
  for i, label, is_test, (x1, y1, x2, y2) in CAR_ROWS:
    example = splits['test' if is_test else 'train'][path_format.format(i)]
    assert example['label'] == label
    np.testing.assert_allclose(example['bbox'], [y1 / 50, x1 / 60, y2 / 50, x2 / 60], rtol=1e-6)


@pytest.mark.parametrize('name, expected', [
    ('cub', ['CUB_200_2011.tgz', 'train_test_split.txt', 'bounding_boxes.txt',
             'vision.caltech.edu']),
    ('dogs', ['images.tar', 'lists.tar', 'train_list.mat', 'test_list.mat',
              'vision.stanford.edu']),
    ('cars', ['car_ims.tgz', 'cars_annos.mat', 'cars_train_annos.mat',
              'cars_test_annos_withlabels.mat', 'ai.stanford.edu']),
    ('image_folder', ['<root>/<split>/<class>/<image>', "['train', 'test']", '.jpg',
                      'your own images'])])
def test_missing_files_error_names_files_source_and_config_field(tmp_path, name, expected):
  (tmp_path / 'empty').mkdir()
  with pytest.raises(data.DatasetError) as error:
    data.load_info(config_for(name, tmp_path / 'empty', tmp_path / 'tfds'))
  for text in expected + ['data_config.manual_dir', str(tmp_path / 'empty')]:
    assert text in str(error.value)


def warnings_logged(caplog) -> list[str]:
  return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize('manual_dir', ['unset', 'missing', 'empty', 'other files'])
@pytest.mark.parametrize('name', ['cub', 'dogs', 'cars', 'image_folder'])
def test_missing_download_fails_with_one_line_before_tfds_starts(tmp_path, capfd, caplog, name,
                                                                  manual_dir):
  folder = tmp_path / 'manual'
  if manual_dir in ('empty', 'other files'):
    folder.mkdir()
  if manual_dir == 'other files':
    (folder / 'notes.txt').write_text('not the dataset')
  config = config_for(name, folder, tmp_path / 'tfds')
  if manual_dir == 'unset':
    config.manual_dir = ''
  with pytest.raises(data.DatasetError) as error:
    data.load_info(config)
  assert '\n' not in str(error.value) and 'data_config.manual_dir' in str(error.value)
  # tfds neither printed ("Downloading and preparing ...") nor logged nor wrote anything.
  assert capfd.readouterr() == ('', '')
  assert warnings_logged(caplog) == []
  assert not (tmp_path / 'tfds').exists()


def synthetic_config(cache_dir: pathlib.Path):
  config = data.default_data_config()
  config.cache_dir = str(cache_dir)
  config.synthetic_classes = 2
  config.synthetic_image_size = 16
  config.synthetic_train_per_class = 2
  config.synthetic_test_per_class = 1
  return config


@pytest.mark.parametrize('name', ['synthetic', 'image_folder'])
def test_loading_a_prepared_dataset_again_is_silent(tmp_path, capfd, caplog, name):
  # train_batches and eval_batches make a builder every epoch; tfds used to log "Using custom
  # data configuration" each time, over the progress bar.
  config = (synthetic_config(tmp_path / 'cache') if name == 'synthetic' else
            config_for(name, make_image_folder(tmp_path / 'root'), tmp_path / 'tfds'))
  data.load_info(config)  # Prepares it: tfds reports its progress.
  assert warnings_logged(caplog) == []
  capfd.readouterr()
  data.load_info(config)
  next(data.train_batches(config, batch_size=2, image_size=16, seed=0))
  assert capfd.readouterr() == ('', '')
  assert warnings_logged(caplog) == []


def make_image_folder(root: pathlib.Path) -> pathlib.Path:
  for split, count in (('train', 3), ('test', 2)):
    for class_name in ('sparrow', 'finch'):
      for i in range(count):
        write_jpeg(root / split / class_name / f'{i}.jpg', 20, 30)
  return root


def test_image_folder_labels_follow_sorted_class_folders(tmp_path):
  config = config_for('image_folder', make_image_folder(tmp_path / 'root'), tmp_path / 'tfds')
  info = data.load_info(config)
  assert (info.class_names, info.num_train, info.num_test) == (('finch', 'sparrow'), 6, 4)
  labels = {path: int(example['label']) for path, example in read_split(config, 'test').items()}
  assert labels == {'finch/0.jpg': 0, 'finch/1.jpg': 0, 'sparrow/0.jpg': 1, 'sparrow/1.jpg': 1}


def test_image_folder_corrupt_image_names_the_file(tmp_path):
  root = make_image_folder(tmp_path / 'root')
  (root / 'test' / 'finch' / '1.jpg').write_bytes(b'garbage')
  with pytest.raises(data.DatasetError, match=str(root / 'test' / 'finch' / '1.jpg')):
    data.load_info(config_for('image_folder', root, tmp_path / 'tfds'))


def test_image_folder_empty_class_folder_is_an_error(tmp_path):
  root = make_image_folder(tmp_path / 'root')
  (root / 'train' / 'wren').mkdir()
  with pytest.raises(data.DatasetError, match=f"{root / 'train' / 'wren'} holds no images"):
    data.load_info(config_for('image_folder', root, tmp_path / 'tfds'))


def test_image_folder_test_class_missing_from_train_is_an_error(tmp_path):
  root = make_image_folder(tmp_path / 'root')
  write_jpeg(root / 'test' / 'wren' / '0.jpg', 20, 30)
  with pytest.raises(data.DatasetError, match=r"\['wren'\]"):
    data.load_info(config_for('image_folder', root, tmp_path / 'tfds'))


def test_unprepared_catalog_dataset_says_how_to_prepare_it(tmp_path):
  with pytest.raises(data.DatasetError, match='tfds build caltech_birds2011'):
    data.load_info(config_for('tfds:caltech_birds2011', tmp_path, tmp_path / 'tfds'))


def test_unknown_name_lists_valid_names(tmp_path):
  with pytest.raises(data.DatasetError, match='synthetic, cub, dogs, cars, image_folder'):
    data.load_info(config_for('imagenet', tmp_path, tmp_path))
