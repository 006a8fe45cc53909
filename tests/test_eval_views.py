"""Test-time augmentation: the eval averages the logits of exactly the views its mode names."""

import jax
import numpy as np
import pytest

from cnl_jax.errors import ConfigError
from cnl_jax.training import steps
from cnl_jax.training.eval_views import MODES, predict_views, views_of
from helpers.toy_method import NUM_CLASSES, ToyMethod


@pytest.fixture(scope='module')
def method_and_variables():
  method = ToyMethod()
  return method, method.init(jax.random.key(0), np.zeros((1, 8, 8, 3), np.float32))


def logits_of(method, variables, images):
  return np.asarray(method.predict(variables, images)['logits'], np.float64)


def test_flip_averages_the_image_and_its_mirror(method_and_variables):
  method, variables = method_and_variables
  images = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype(np.float32)
  expected = (logits_of(method, variables, images)
              + logits_of(method, variables, images[:, :, ::-1])) / 2
  averaged = predict_views(method, variables, images, flip=True)['logits']
  np.testing.assert_allclose(averaged, expected, rtol=1e-5, atol=1e-6)
  assert not np.allclose(averaged, logits_of(method, variables, images), atol=1e-3)


@pytest.mark.parametrize('flip', [False, True])
def test_crops_average_every_crop_and_with_flip_every_mirror(method_and_variables, flip):
  method, variables = method_and_variables
  crops = np.random.default_rng(1).normal(size=(2, 5, 8, 8, 3)).astype(np.float32)
  views = [crops[:, index] for index in range(5)]
  if flip:
    views += [view[:, :, ::-1] for view in views]
  expected = np.mean([logits_of(method, variables, view) for view in views], axis=0)
  np.testing.assert_allclose(predict_views(method, variables, crops, flip)['logits'],
                             expected, rtol=1e-5, atol=1e-6)


def test_no_augmentation_is_the_plain_prediction_in_float32(method_and_variables):
  method, variables = method_and_variables
  images = np.random.default_rng(2).normal(size=(3, 8, 8, 3)).astype(np.float32)
  logits = predict_views(method, variables, images, flip=False)['logits']
  assert logits.dtype == np.float32
  np.testing.assert_array_equal(logits, method.predict(variables, images)['logits'])


def test_eval_step_with_views_counts_only_real_examples(method_and_variables):
  method, variables = method_and_variables
  rng = np.random.default_rng(3)
  crops = rng.normal(size=(6, 5, 8, 8, 3)).astype(np.float32)
  labels = rng.integers(0, NUM_CLASSES, 6).astype(np.int32)
  mask = np.array([1, 1, 1, 1, 0, 0], bool)
  mesh = steps.create_mesh()
  sums = jax.device_get(steps.make_eval_step(method, mesh, flip=True)(
      variables, steps.to_global({'image': crops, 'label': labels, 'mask': mask}, mesh)))
  averaged = np.asarray(predict_views(method, variables, crops[:4], flip=True)['logits'])
  assert sums['count'] == 4
  assert sums['top1'] == np.sum(averaged.argmax(-1) == labels[:4])


def test_every_mode_names_crops_the_pipeline_cuts():
  from cnl_jax.data.pipeline import EVAL_CROPS  # pylint: disable=import-outside-toplevel
  assert MODES['none'].crops == 'center' and not MODES['none'].flip
  assert {views.crops for views in MODES.values()} <= set(EVAL_CROPS)
  with pytest.raises(ConfigError, match=r"config.epoch_eval_tta='ten_crop' must be one of"):
    views_of('ten_crop', 'epoch_eval_tta')
