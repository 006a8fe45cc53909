"""The JAX-free predictor: what it imports, and its eval transform against the training code's."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnl_jax import lite
from cnl_jax.data.image_files import read_eval_image
from cnl_jax.data.config import IMAGENET_MEAN_RGB, IMAGENET_STD_RGB, augmentation
from configs.default import data_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (height, width, image_size, eval_resize, resize_mode): shrinking, enlarging, odd sizes,
# both modes, and the paper's 512 -> 448.
SHAPES = [(50, 70, 32, 36, 'short_side'), (20, 31, 32, 36, 'short_side'),
          (300, 201, 64, 73, 'square'), (33, 100, 16, 20, 'square'),
          (41, 40, 32, 36, 'short_side'), (470, 600, 448, 512, 'short_side')]


def test_lite_imports_neither_jax_nor_tensorflow():
  check = ('import sys, cnl_jax.lite; heavy = {"jax", "tensorflow", "flax"} & set(sys.modules); '
           'assert not heavy, heavy')
  subprocess.run([sys.executable, '-c', check], cwd=ROOT, check=True)


def test_lite_runs_as_a_copied_file(tmp_path):
  # The module and an exported model's JSON are all an app needs.
  copy = tmp_path / 'lite.py'
  copy.write_text(open(lite.__file__, encoding='utf-8').read())
  result = subprocess.run([sys.executable, str(copy), 'predict', '--help'], cwd=tmp_path,
                          capture_output=True, text=True, check=True)
  assert '--top-k' in result.stdout


def image(height, width, seed):
  """A smooth gradient with noise, so that resizing and JPEG both have something to do."""
  rng = np.random.RandomState(seed)
  ramp = np.linspace(0, 190, width)[None, :, None] + np.linspace(0, 40, height)[:, None, None]
  return np.clip(ramp + rng.randint(0, 64, (height, width, 3)), 0, 255).astype(np.uint8)


def preprocessing(image_size, eval_resize, resize_mode):
  return dict(image_size=image_size, eval_resize=eval_resize, resize_mode=resize_mode,
              mean_rgb=list(IMAGENET_MEAN_RGB), std_rgb=list(IMAGENET_STD_RGB))


def transform(resize_mode):
  config = data_config()
  config.resize_mode = resize_mode
  return augmentation(config)


@pytest.mark.parametrize('height,width,image_size,eval_resize,resize_mode', SHAPES)
def test_eval_transform_equals_the_training_code(height, width, image_size, eval_resize,
                                                 resize_mode, tmp_path):
  path = str(tmp_path / 'image.png')
  Image.fromarray(image(height, width, seed=height)).save(path)
  expected = read_eval_image(path, image_size, eval_resize, 'float32', transform(resize_mode))
  got = lite.read_eval_image(path, preprocessing(image_size, eval_resize, resize_mode))
  assert got.shape == expected.shape == (image_size, image_size, 3)
  np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize('height,width,image_size,eval_resize,resize_mode', SHAPES[:3])
def test_jpeg_differs_only_by_the_decoders_idct(height, width, image_size, eval_resize,
                                                resize_mode, tmp_path):
  # TensorFlow decodes JPEG with libjpeg's fast integer IDCT, Pillow with the accurate one:
  # pixels differ by a few levels, nowhere by more (docs/deploy.md).
  path = str(tmp_path / 'image.jpg')
  Image.fromarray(image(height, width, seed=height)).save(path, quality=90)
  expected = read_eval_image(path, image_size, eval_resize, 'float32', transform(resize_mode))
  got = lite.read_eval_image(path, preprocessing(image_size, eval_resize, resize_mode))
  levels = np.abs(got - expected) * 255 * np.array(IMAGENET_STD_RGB)  # back to pixel levels
  assert levels.mean() < 1.5 and levels.max() <= 8.0


def test_crop_window_is_the_center_that_resize_then_crop_keeps():
  # 448 of 512 of the short side 300: a 262 px square, centred on the long side.
  assert lite.crop_window(300, 400, 448, 512, 'short_side') == (19, 69, 262, 262)
  assert lite.crop_window(300, 400, 448, 512, 'square') == (19, 25, 262, 350)


def test_unreadable_files_are_reported(tmp_path):
  broken = tmp_path / 'broken.jpg'
  broken.write_text('not an image')
  for path in (str(broken), str(tmp_path / 'missing.png')):
    with pytest.raises(lite.UnreadableImageError, match='not a readable image'):
      lite.read_eval_image(path, preprocessing(32, 36, 'short_side'))


def test_image_paths_list_each_file_once_in_order(tmp_path):
  """A folder's visible files in sorted order; a file also named alone appears once, where it
  is first named."""
  for name in ('b.png', 'a.png', '.hidden.png'):
    (tmp_path / name).write_bytes(b'')
  (tmp_path / 'sub').mkdir()
  alone = str(tmp_path / 'b.png')
  assert lite.image_paths([alone, str(tmp_path)]) == [alone, str(tmp_path / 'a.png')]
  assert lite.image_paths([str(tmp_path), f'{tmp_path}/./a.png']) == [
      str(tmp_path / 'a.png'), str(tmp_path / 'b.png')]
