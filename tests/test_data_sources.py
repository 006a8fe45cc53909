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

from cnl_jax import data
from configs.default import data_config
from helpers.manual_files import cell, config_for, make_tar, read_split, struct_array, write_jpeg


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
  assert not (tmp_path / 'tfds').exists()  # the failed preparation leaves no empty folders


def test_cub_split_list_missing_an_image_is_an_error(tmp_path):
  manual_dir = make_cub(tmp_path / 'manual', archive=False)
  split_file = manual_dir / 'CUB_200_2011' / 'train_test_split.txt'
  split_file.write_text('\n'.join(split_file.read_text().splitlines()[:-1]))
  with pytest.raises(data.DatasetError, match='train_test_split.txt'):
    data.load_info(config_for('cub', manual_dir, tmp_path / 'tfds'))


def test_cub_list_naming_an_image_twice_is_an_error(tmp_path):
  # Read into {id: value}, a repeated id would silently drop one of the two rows.
  manual_dir = make_cub(tmp_path / 'manual', archive=False)
  labels = manual_dir / 'CUB_200_2011' / 'image_class_labels.txt'
  labels.write_text(labels.read_text() + '9 1\n')
  with pytest.raises(data.DatasetError, match=f"{labels} lists '9' twice"):
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


CAR_SPLITS = {'train': [row for row in CAR_ROWS if not row[2]],
              'test': [row for row in CAR_ROWS if row[2]]}
# The original devkit names images by row id across both splits; Kaggle's copy numbers each
# split from 00001.jpg, so train and test share file names.
DEVKIT_NAMES = {row[0]: f'{row[0]:05d}.jpg' for row in CAR_ROWS}
KAGGLE_NAMES = {row[0]: f'{k + 1:05d}.jpg' for rows in CAR_SPLITS.values()
                for k, row in enumerate(rows)}
ALL_IN_ONE_NAMES = {row[0]: f'car_ims/{row[0]:06d}.jpg' for row in CAR_ROWS}


def write_cars_devkit(devkit: pathlib.Path, test_labels: pathlib.Path,
                      image_folders: dict[str, pathlib.Path], names: dict[int, str]):
  """The devkit (with its unlabelled cars_test_annos.mat) in `devkit`, the separate labelled
  test list in `test_labels`, and each split's images in image_folders[split]."""
  for folder in (devkit, test_labels):
    folder.mkdir(parents=True, exist_ok=True)
  for split, rows in CAR_SPLITS.items():
    for i, *_ in rows:
      write_jpeg(image_folders[split] / names[i], 50, 60)
    annotations = [car_annotation(row, fname=names[row[0]]) for row in rows]
    if split == 'train':
      scipy.io.savemat(devkit / 'cars_train_annos.mat',
                       {'annotations': struct_array(annotations)})
      continue
    scipy.io.savemat(test_labels / 'cars_test_annos_withlabels.mat',
                     {'annotations': struct_array(annotations)})
    unlabelled = [{k: v for k, v in row.items() if k != 'class'} for row in annotations]
    scipy.io.savemat(devkit / 'cars_test_annos.mat', {'annotations': struct_array(unlabelled)})
  scipy.io.savemat(devkit / 'cars_meta.mat', {'class_names': cell(CAR_CLASSES).T})


def make_cars_devkit(manual_dir: pathlib.Path) -> pathlib.Path:
  """The original site's devkit layout, cars_train as its .tgz, the test images extracted."""
  write_cars_devkit(manual_dir / 'devkit', manual_dir / 'devkit',
                    {split: manual_dir / f'cars_{split}' for split in CAR_SPLITS}, DEVKIT_NAMES)
  make_tar(manual_dir / 'cars_train.tgz', manual_dir, ['cars_train'])
  return manual_dir


def make_cars_kaggle(manual_dir: pathlib.Path, test_labels: str = '.') -> pathlib.Path:
  """Kaggle's "Stanford Cars Dataset" unzipped into manual_dir (cars_train/cars_train/*.jpg,
  car_devkit/devkit/), with the separately downloaded labelled test list in `test_labels`."""
  write_cars_devkit(manual_dir / 'car_devkit' / 'devkit', manual_dir / test_labels,
                    {split: manual_dir / f'cars_{split}' / f'cars_{split}'
                     for split in CAR_SPLITS}, KAGGLE_NAMES)
  return manual_dir


def make_cars_kaggle_in_a_folder(manual_dir: pathlib.Path) -> pathlib.Path:
  """The Kaggle copy one folder further down, its test labels in yet another folder."""
  make_cars_kaggle(manual_dir / 'stanford-cars-dataset', test_labels='../downloads/test labels')
  return manual_dir


@pytest.mark.parametrize('make_layout, names', [
    (make_cars_all_in_one, ALL_IN_ONE_NAMES),
    (functools.partial(make_cars_all_in_one, archive=False), ALL_IN_ONE_NAMES),
    (make_cars_devkit, DEVKIT_NAMES),
    (make_cars_kaggle, KAGGLE_NAMES),
    (functools.partial(make_cars_kaggle, test_labels='test_labels'), KAGGLE_NAMES),
    (make_cars_kaggle_in_a_folder, KAGGLE_NAMES)])
def test_cars_layouts(tmp_path, make_layout, names):
  config = config_for('cars', make_layout(tmp_path / 'manual'), tmp_path / 'tfds')
  info = data.load_info(config)
  assert (info.num_classes, info.num_train, info.num_test) == (3, 3, 4)
  assert info.class_names == tuple(CAR_CLASSES)
  splits = {split: read_split(config, split) for split in ('train', 'test')}
  assert {split: len(examples) for split, examples in splits.items()} == {'train': 3, 'test': 4}
  for i, label, is_test, (x1, y1, x2, y2) in CAR_ROWS:
    example = splits['test' if is_test else 'train'][names[i]]
    assert example['label'] == label
    np.testing.assert_allclose(example['bbox'], [y1 / 50, x1 / 60, y2 / 50, x2 / 60], rtol=1e-6)


def test_cars_identical_copies_of_a_devkit_file_are_read_once(tmp_path, caplog):
  # E.g. torchvision's re-uploaded car_devkit.tgz extracted beside the Kaggle copy's devkit.
  manual_dir = make_cars_kaggle(tmp_path / 'manual')
  shutil.copytree(manual_dir / 'car_devkit' / 'devkit', manual_dir / 'devkit')
  with caplog.at_level(logging.INFO):
    info = data.load_info(config_for('cars', manual_dir, tmp_path / 'tfds'))
  assert (info.num_train, info.num_test) == (3, 4)
  assert f"reading {manual_dir / 'devkit' / 'cars_train_annos.mat'}" in caplog.text


def test_cars_different_copies_of_a_devkit_file_are_an_error_naming_both(tmp_path):
  manual_dir = make_cars_kaggle(tmp_path / 'manual')
  other = manual_dir / 'devkit' / 'cars_train_annos.mat'
  other.parent.mkdir()
  scipy.io.savemat(other, {'annotations': struct_array(
      [car_annotation(row, fname=KAGGLE_NAMES[row[0]]) for row in CAR_SPLITS['train'][:1]])})
  with pytest.raises(data.DatasetError) as error:
    data.load_info(config_for('cars', manual_dir, tmp_path / 'tfds'))
  for path in (other, manual_dir / 'car_devkit' / 'devkit' / 'cars_train_annos.mat'):
    assert str(path) in str(error.value)


def test_cars_two_image_folders_are_an_error_naming_both(tmp_path):
  # Half-flattened: the Kaggle images moved up into cars_train/ while cars_train/cars_train/
  # is still there.
  manual_dir = make_cars_kaggle(tmp_path / 'manual')
  shutil.copytree(manual_dir / 'cars_train' / 'cars_train', manual_dir / 'cars_train',
                  dirs_exist_ok=True)
  with pytest.raises(data.DatasetError) as error:
    data.load_info(config_for('cars', manual_dir, tmp_path / 'tfds'))
  assert (f"2 folders holding 00001.jpg in manual_dir={manual_dir}: "
          f"{manual_dir / 'cars_train'}, {manual_dir / 'cars_train' / 'cars_train'}."
          ) in str(error.value)


def test_cars_extracted_folder_is_read_rather_than_its_archive(tmp_path, caplog):
  manual_dir = make_cars_devkit(tmp_path / 'manual')  # cars_train.tgz holds 50 x 60 images.
  for i, *_ in CAR_SPLITS['train']:
    write_jpeg(manual_dir / 'cars_train' / DEVKIT_NAMES[i], 30, 40)
  config = config_for('cars', manual_dir, tmp_path / 'tfds')
  with caplog.at_level(logging.INFO):
    train = read_split(config, 'train')
  assert {example['image'].shape for example in train.values()} == {(30, 40, 3)}
  assert (f"Reading the extracted {manual_dir / 'cars_train'}, not the archive "
          f"{manual_dir / 'cars_train.tgz'}") in caplog.text


def remove(path: pathlib.Path):
  shutil.rmtree(path) if path.is_dir() else path.unlink()


@pytest.mark.parametrize('make_layout, missing, expected', [
    (make_cars_kaggle, 'cars_test_annos_withlabels.mat',
     r'`cars_test_annos_withlabels.mat` \(searched for in manual_dir and up to 3 folder'),
    (make_cars_kaggle, 'cars_test', r'`cars_test/` or `cars_test.tgz` holding 00001.jpg, the '
                                    r'first image of .*cars_test_annos_withlabels.mat'),
    (make_cars_all_in_one, 'car_ims.tgz', r'`car_ims.tgz` or `car_ims/` \(the images of '
                                          r'.*cars_annos.mat')])
def test_cars_missing_piece_is_named(tmp_path, make_layout, missing, expected):
  manual_dir = make_layout(tmp_path / 'manual')
  remove(manual_dir / missing)
  with pytest.raises(data.DatasetError, match=expected):
    data.load_info(config_for('cars', manual_dir, tmp_path / 'tfds'))


def test_cars_unlabelled_test_list_is_an_error_that_names_the_labelled_one(tmp_path):
  # The devkit's cars_test_annos.mat saved under the labelled file's name.
  manual_dir = make_cars_kaggle(tmp_path / 'manual')
  shutil.copy(manual_dir / 'car_devkit' / 'devkit' / 'cars_test_annos.mat',
              manual_dir / 'cars_test_annos_withlabels.mat')
  with pytest.raises(data.DatasetError, match='has no class labels.*separate '
                                              'cars_test_annos_withlabels.mat'):
    data.load_info(config_for('cars', manual_dir, tmp_path / 'tfds'))


@pytest.mark.parametrize('name, expected', [
    ('cub', ['CUB_200_2011.tgz', 'train_test_split.txt', 'bounding_boxes.txt',
             'vision.caltech.edu']),
    ('dogs', ['images.tar', 'lists.tar', 'train_list.mat', 'test_list.mat',
              'vision.stanford.edu']),
    ('cars', ['car_ims.tgz', 'cars_annos.mat', 'cars_train_annos.mat',
              'cars_test_annos_withlabels.mat', 'cars_train/cars_train/', 'car_devkit/devkit/',
              'jessicali9530', 'ai.stanford.edu']),
    ('aircraft', ['fgvc-aircraft-2013b.tar.gz', 'data/variants.txt',
                  'data/images_variant_trainval.txt', 'data/images_variant_test.txt',
                  'robots.ox.ac.uk/~vgg/data/fgvc-aircraft']),
    ('nabirds', ['nabirds.tar.gz', 'images.txt', 'image_class_labels.txt',
                 'train_test_split.txt', 'classes.txt', 'dl.allaboutbirds.org/nabirds']),
    ('image_folder', ['<root>/<split>/<class>/<image>', "['train', 'test']", '.jpg',
                      'your own images'])])
def test_missing_files_error_names_files_source_and_config_field(tmp_path, name, expected):
  (tmp_path / 'empty').mkdir()
  with pytest.raises(data.DatasetError) as error:
    data.load_info(config_for(name, tmp_path / 'empty', tmp_path / 'tfds'))
  for text in expected + ['--config.data.manual_dir', str(tmp_path / 'empty')]:
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
  assert '\n' not in str(error.value) and '--config.data.manual_dir' in str(error.value)
  # tfds neither printed ("Downloading and preparing ...") nor logged nor wrote anything.
  assert capfd.readouterr() == ('', '')
  assert warnings_logged(caplog) == []
  assert not (tmp_path / 'tfds').exists()


def synthetic_config(cache_dir: pathlib.Path):
  config = data_config()
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
  with pytest.raises(data.DatasetError,
                     match='synthetic, cub, dogs, cars, aircraft, nabirds, image_folder'):
    data.load_info(config_for('imagenet', tmp_path, tmp_path))
