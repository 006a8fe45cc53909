"""Every field of a data config, with its default and meaning, in one place."""

from __future__ import annotations

import ml_collections


def default_data_config() -> ml_collections.ConfigDict:
  """The data config of the demo: the embedded synthetic fine-grained set.

  Other configs change `name` and the paths, e.g. `name='cub'` with `manual_dir` set.
  """
  config = ml_collections.ConfigDict()
  # 'synthetic', 'cub', 'dogs', 'cars', 'image_folder', or 'tfds:<catalog name>' (e.g.
  # 'tfds:caltech_birds2011', 'tfds:stanford_dogs', 'tfds:cars196'; prepared in data_dir).
  config.name = 'synthetic'
  # Where tfds keeps prepared datasets (TFRecords); built here on first use.
  config.data_dir = '~/tensorflow_datasets'
  # Where the original distribution files are (archives or extracted); for 'image_folder' the
  # root holding <split>/<class>/<image> folders.
  config.manual_dir = ''
  # Split names read for training and evaluation.
  config.train_split = 'train'
  config.eval_split = 'test'
  # For 'cub', 'dogs', 'cars': require the split sizes of the paper's Table 1, so that a
  # partial download cannot pass silently. Turn off only for deliberate subsets.
  config.check_split_sizes = True
  # Smallest area fraction of the training random-resized crop: the paper's 0.08. Small demo
  # models at small image sizes learn faster from larger crops.
  config.crop_min_area = 0.08
  # The synthetic set is generated from these on first use and cached in cache_dir.
  config.cache_dir = '~/.cache/cnl_jax'
  config.synthetic_seed = 0
  config.synthetic_classes = 20
  config.synthetic_image_size = 64
  config.synthetic_train_per_class = 24
  config.synthetic_test_per_class = 12
  return config
