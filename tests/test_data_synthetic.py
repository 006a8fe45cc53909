"""The synthetic set is a pure function of its seed, and its classes differ in fine detail."""

import itertools

import numpy as np
import pytest
import tensorflow_datasets as tfds

from cnl_jax import data
from cnl_jax.data import sources, synthetic
from configs.default import data_config


def synthetic_images(cache_dir, seed: int) -> list[tuple[bytes, int]]:
  config = data_config()
  config.cache_dir = str(cache_dir)
  config.synthetic_seed = seed
  config.synthetic_classes = 4
  config.synthetic_image_size = 32
  config.synthetic_train_per_class = 2
  config.synthetic_test_per_class = 1
  builder = sources.prepared_builder(config)
  dataset = builder.as_dataset(split='train', decoders={'image': tfds.decode.SkipDecoding()})
  return sorted((example['file_name'], example['image'], int(example['label']))
                for example in dataset.as_numpy_iterator())


def test_same_seed_same_images_other_seed_other_images(tmp_path):
  first = synthetic_images(tmp_path / 'a', seed=5)
  assert first == synthetic_images(tmp_path / 'b', seed=5)
  assert [image for _, image, _ in first] != [
      image for _, image, _ in synthetic_images(tmp_path / 'c', seed=6)]


def test_default_classes_are_distinct_combinations_of_details():
  specs = synthetic.class_specs(data_config().synthetic_classes, seed=0)
  assert len(set(specs)) == len(specs) == 20
  assert len({spec.name for spec in specs}) == 20
  # Details vary at both scales: the wing's pattern and the small marks.
  assert len({spec.wing for spec in specs}) > 1 and len({spec.eye for spec in specs}) > 1


@pytest.mark.parametrize('draw', range(3))
def test_classes_differ_only_in_small_local_details(draw):
  # Same pose, background and lighting: every pair of classes gives different images, and
  # the pixels that differ are a small part of the image (fine-grained, not coarse).
  nuisance = synthetic.sample_nuisance(np.random.default_rng(draw))
  specs = synthetic.class_specs(20, seed=0)
  images = [synthetic.render(spec, nuisance, 96).astype(int) for spec in specs]
  for a, b in itertools.combinations(range(len(specs)), 2):
    changed = np.abs(images[a] - images[b]).max(axis=-1) > 40
    assert 0 < changed.mean() < 0.1, (specs[a], specs[b], changed.mean())


def test_too_many_classes_is_an_error():
  with pytest.raises(data.DatasetError, match='synthetic_classes'):
    synthetic.class_specs(synthetic.MAX_CLASSES + 1, seed=0)


def test_samples_are_the_first_test_image_of_distinct_classes(tmp_path):
  """write_samples copies test images byte for byte, one per class, as files a tool reads."""
  config = data_config()
  config.cache_dir = str(tmp_path / 'cache')
  config.synthetic_classes = 4
  config.synthetic_image_size = 32
  config.synthetic_train_per_class = 1
  config.synthetic_test_per_class = 3
  written = data.write_samples(config, str(tmp_path / 'samples'), count=3)
  assert sorted(written) == [str(tmp_path / 'samples' / f'{k}.jpg') for k in range(3)]
  assert len(set(written.values())) == 3
  builder = sources.prepared_builder(config)
  names = builder.info.features['label'].names
  stored = {(bytes(example['image']), names[int(example['label'])])
            for example in builder.as_dataset(
                split='test', decoders={'image': tfds.decode.SkipDecoding()}
            ).as_numpy_iterator()}
  for path, name in written.items():
    with open(path, 'rb') as file:
      assert (file.read(), name) in stored
