"""PMG: the released parameter count and head shapes, torchvision weights in the trunk only,
each update's jigsaw and head, and the released recipe's learning rates."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax import methods
from cnl_jax.methods import mosaics
from cnl_jax.methods.base import cross_entropy_metrics
from cnl_jax.methods.pmg import HEADS, PMG
from cnl_jax.training.optimizer import group_labels
from cnl_jax.training.schedule import create_learning_rate_fn
from configs import pmg_cub, pmg_demo


def count(tree):
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def released_params(classes: int) -> dict[str, int]:
  """Trainable parameters of the released model.py (PRIS-CV/PMG-Progressive-Multi-Granularity-
  Training @ db7a7d7) around torchvision's ResNet-50 without fc (23,508,032), layer by layer."""
  conv = lambda cin, cout, k: cin * cout * k * k  # bias=False
  bn = lambda c: 2 * c
  linear = lambda cin, cout: cin * cout + cout
  conv_block = lambda cin: conv(cin, 512, 1) + bn(512) + conv(512, 1024, 3) + bn(1024)
  classifier = lambda cin: bn(cin) + linear(cin, 512) + bn(512) + linear(512, classes)
  return {'backbone': 23_508_032,
          'conv_block1': conv_block(512), 'conv_block2': conv_block(1024),
          'conv_block3': conv_block(2048),
          'classifier1': classifier(1024), 'classifier2': classifier(1024),
          'classifier3': classifier(1024), 'classifier_concat': classifier(3 * 1024)}


def test_trainable_parameters_equal_the_released_model():
  # Two images: BatchNorm1d needs more than one value per channel in training.
  images = jax.ShapeDtypeStruct((2, 448, 448, 3), jnp.float32)
  model = PMG(200)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images)
  assert {name: count(tree) for name, tree in variables['params'].items()} == released_params(200)
  (logits, features), _ = jax.eval_shape(
      lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats']), variables, images)
  assert {head: value.shape for head, value in logits.items()} == {
      head: (2, 200) for head in HEADS}
  assert all(features[head].shape == (2, 1024) for head in HEADS[:3])


def test_imagenet_weights_fill_the_trunk_only(tmp_path):
  from safetensors.numpy import save_file
  from cnl_jax.pretrained.reference import draw_state_dict
  from cnl_jax.training import loop
  from tests.test_pretrained import layout
  weights = draw_state_dict(layout(18), 0)
  path = tmp_path / 'resnet18.safetensors'
  save_file(weights, str(path))
  config = pmg_demo.get_config()
  config.pretrained = str(path)
  config.model_overrides.width = 64  # the width of torchvision's weights
  method = methods.build_method(config, 20)
  variables = jax.eval_shape(method.init, jax.random.key(0),
                             jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32))
  loaded = loop._pretrained_loader(config, method)(variables)  # pylint: disable=protected-access
  np.testing.assert_array_equal(loaded['params']['backbone']['res5_1']['conv2']['kernel'],
                                weights['layer4.1.conv2.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(loaded['batch_stats']['backbone']['res2_0']['bn1']['var'],
                                weights['layer1.0.bn1.running_var'])
  assert loaded['params']['conv_block1'] is variables['params']['conv_block1']
  assert 'fc' not in loaded['params']['backbone']


def tiny_method():
  config = pmg_demo.get_config()
  config.model_overrides.width = 8
  config.model_overrides.feature_size = 8
  return methods.build_method(config, 5)


@pytest.mark.parametrize('update, cells, head, weight', [
    (0, 8, 'stage1', 1.0), (1, 4, 'stage2', 1.0), (2, 2, 'stage3', 1.0), (3, 1, 'concat', 2.0)])
def test_each_update_trains_its_head_on_its_jigsaw(update, cells, head, weight):
  method = tiny_method()
  images = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
  labels = jnp.arange(4) % 5
  variables = method.init(jax.random.key(1), images)
  params, state = variables['params'], {'batch_stats': variables['batch_stats']}
  rng = jax.random.key(2)
  loss, _ = method.loss(params, state, {'image': images, 'label': labels}, rng, update)

  mosaic_rng, dropout_rng = jax.random.split(rng)
  shown = images if cells == 1 else mosaics.jigsaw(images, cells, mosaic_rng, 'released')
  (logits, _), _ = method.model.apply(variables, shown, train=True, mutable=['batch_stats'],
                                      rngs={'dropout': dropout_rng})
  expected = cross_entropy_metrics(logits[head], labels, '')['loss']
  np.testing.assert_allclose(loss, weight * expected, rtol=1e-6)


def test_combined_prediction_is_the_sum_of_the_four_heads():
  method = tiny_method()
  images = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
  variables = method.init(jax.random.key(1), images)
  heads = method.predict(variables, images)
  assert method.reported_head == 'combined'
  np.testing.assert_allclose(heads['combined'], sum(heads[head] for head in HEADS), rtol=1e-6)


def test_cub_recipe_rates_per_epoch_as_released():
  """lr / 2 x (cos(pi x epoch / 200) + 1), once an epoch: 0.002 for the heads, 0.0002 for
  the trunk (released utils.cosine_anneal_schedule and train.py's groups)."""
  config = pmg_cub.get_config()
  steps_per_epoch = 374  # 5,994 CUB training images in batches of 16, the last one dropped
  rate = create_learning_rate_fn(config, steps_per_epoch)
  for epoch in (0, 1, 80, 199):
    released = 0.002 / 2 * (np.cos(np.pi * epoch / 200) + 1)
    for step in (epoch * steps_per_epoch, (epoch + 1) * steps_per_epoch - 1):
      np.testing.assert_allclose(rate(step), released, rtol=1e-5, atol=1e-10)  # float32
  method = methods.build_method(config, 200)
  (group,) = method.parameter_groups()
  assert group.learning_rate_factor == 0.1 and group.frozen_epochs == 0
  params = {'backbone': {'conv1': {'kernel': 0}}, 'conv_block1': {'conv1': {'kernel': 0}}}
  assert group_labels(params, (group,)) == {'backbone': {'conv1': {'kernel': '0'}},
                                            'conv_block1': {'conv1': {'kernel': 'default'}}}
