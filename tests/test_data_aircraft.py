"""The FGVC-Aircraft builder reads a tiny copy of the 2013b archive: variant labels in
variants.txt order, trainval as the training split, and every image without its 20 px
copyright banner."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf

from cnl_jax import data
from configs import aircraft as aircraft_config
from helpers.manual_files import config_for, make_tar, read_split, write_jpeg, write_lines

VARIANTS = ['707-320', 'Cessna 172', 'F/A-18', 'Gulfstream IV']
BANNER, PICTURE, BANNER_HEIGHT = 250, 60, 20
# Seven-digit image names (leading zeros kept), variant, picture height above the banner,
# and split: trainval is the official train + val.
IMAGES = [(f'{34309 + 1117 * i:07d}', VARIANTS[i % 4], (32, 48, 64)[i % 3],
           'test' if i in (2, 5, 7) else ('train' if i % 2 else 'val')) for i in range(8)]
WIDTH = 48


def write_picture(path: pathlib.Path, height: int):
  """A flat picture of `height` rows above a white 20 px banner, as in the dataset."""
  image = np.full((height + BANNER_HEIGHT, WIDTH, 3), PICTURE, np.uint8)
  image[height:] = BANNER
  path.parent.mkdir(parents=True, exist_ok=True)
  path.write_bytes(tf.io.encode_jpeg(image).numpy())


def make_aircraft(manual_dir: pathlib.Path, archive: bool) -> pathlib.Path:
  root = manual_dir / 'fgvc-aircraft-2013b' / 'data'
  for name, _, height, _ in IMAGES:
    write_picture(root / 'images' / f'{name}.jpg', height)
  write_lines(root / 'variants.txt', VARIANTS)
  for split, members in (('train', ('train',)), ('val', ('val',)), ('trainval', ('train', 'val')),
                         ('test', ('test',))):
    write_lines(root / f'images_variant_{split}.txt',
                [f'{name} {variant}' for name, variant, _, subset in IMAGES if subset in members])
    write_lines(root / f'images_{split}.txt',
                [name for name, _, _, subset in IMAGES if subset in members])
  write_lines(root / 'images_box.txt', [f'{name} 1 1 {WIDTH} {height}'
                                        for name, _, height, _ in IMAGES])
  if archive:
    make_tar(manual_dir / 'fgvc-aircraft-2013b.tar.gz', manual_dir, ['fgvc-aircraft-2013b'])
  return manual_dir


@pytest.mark.parametrize('archive', [True, False])
def test_aircraft_variants_trainval_split_and_banner_removed(tmp_path, archive):
  config = config_for('aircraft', make_aircraft(tmp_path / 'manual', archive), tmp_path / 'tfds')
  info = data.load_info(config)
  assert (info.num_classes, info.num_train, info.num_test) == (4, 5, 3)
  assert info.class_names == tuple(VARIANTS)
  splits = {split: read_split(config, split) for split in ('train', 'test')}
  for name, variant, height, subset in IMAGES:
    example = splits['test' if subset == 'test' else 'train'][f'data/images/{name}.jpg']
    assert example['label'] == VARIANTS.index(variant)
    # The banner rows are gone and the picture is whole: every stored row is the picture.
    assert example['image'].shape == (height, WIDTH, 3)
    np.testing.assert_allclose(example['image'].mean(axis=(1, 2)), PICTURE, atol=6)


def test_aircraft_config_reads_the_aircraft_files(tmp_path):
  config = aircraft_config.get_config().data
  config.manual_dir = str(make_aircraft(tmp_path / 'manual', archive=False))
  config.data_dir, config.check_split_sizes = str(tmp_path / 'tfds'), False
  assert data.load_info(config).class_names == tuple(VARIANTS)


def test_aircraft_official_sizes_are_required_unless_turned_off(tmp_path):
  config = config_for('aircraft', make_aircraft(tmp_path / 'manual', archive=False),
                      tmp_path / 'tfds')
  config.check_split_sizes = True
  with pytest.raises(data.DatasetError, match=r"100 classes and \{'train': 6667, 'test': 3333\}"):
    data.load_info(config)


def test_aircraft_unknown_variant_names_the_list_and_the_variant(tmp_path):
  manual_dir = make_aircraft(tmp_path / 'manual', archive=False)
  test_list = manual_dir / 'fgvc-aircraft-2013b' / 'data' / 'images_variant_test.txt'
  test_list.write_text(test_list.read_text().replace('F/A-18', 'F/A-18E'))
  with pytest.raises(data.DatasetError, match=f"{test_list} names variants .*'F/A-18E'"):
    data.load_info(config_for('aircraft', manual_dir, tmp_path / 'tfds'))


def test_aircraft_image_no_taller_than_the_banner_is_an_error(tmp_path):
  manual_dir = make_aircraft(tmp_path / 'manual', archive=False)
  name = IMAGES[0][0]
  path = manual_dir / 'fgvc-aircraft-2013b' / 'data' / 'images' / f'{name}.jpg'
  write_jpeg(path, BANNER_HEIGHT, WIDTH)
  with pytest.raises(data.DatasetError, match=f'{path} is 20 px high'):
    data.load_info(config_for('aircraft', manual_dir, tmp_path / 'tfds'))
