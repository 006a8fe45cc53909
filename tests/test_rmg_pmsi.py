"""RMG-PMSI's network: the released parameter count, tap shapes, and the MSI gate formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.models.mobilenet_v2 import MobileNetV2
from cnl_jax.methods.rmg_pmsi import HEADS, MultiStageInteraction, RMGPMSI
from cnl_jax.methods.pmg.heads import Classifier
from cnl_jax.summary import count_macs

# Counted from the released code (cj-wade/Progressive-Multi-stage-Interactive-Training-in-
# Mobile-Network-for-FGVC @ 857ba00, models/network/PMSI.py) at 200 classes.
RELEASED_PARAMS = {
    'backbone': 2_223_872, 'smooth1': 1_855_360, 'smooth2': 1_875_840, 'smooth3': 2_254_720,
    'classifier1': 271_240, 'classifier2': 271_240, 'classifier3': 271_240,
    'concat_classifier': 683_400, 'interaction': 614_720 + 205_440,
}


def abstract_init(model, size):
  images = jax.ShapeDtypeStruct((1, size, size, 3), jnp.float32)
  return images, jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images)


def count(tree):
  return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def test_trainable_parameters_at_200_classes_equal_the_released_code():
  _, variables = abstract_init(RMGPMSI(200), 448)
  assert {name: count(tree) for name, tree in variables['params'].items()} == RELEASED_PARAMS
  assert count(variables['params']) == 10_527_072


@pytest.mark.parametrize('stem_stride, grid', [(1, (112, 56, 28)), (2, (56, 28, 14))])
def test_taps_and_heads_at_448(stem_stride, grid):
  model = RMGPMSI(200, stem_stride=stem_stride)
  images, variables = abstract_init(model, 448)
  (outputs, _), state = jax.eval_shape(lambda v, x: model.apply(
      v, x, capture_intermediates=lambda module, _: isinstance(module, MobileNetV2),
      mutable=['intermediates']), variables, images)
  assert {name: logits.shape for name, logits in outputs.items()} == {
      name: (1, 200) for name in HEADS}
  _, features = state['intermediates']['backbone']['__call__'][0]
  assert features['block6'].shape == (1, grid[0], grid[0], 32)
  assert features['block13'].shape == (1, grid[1], grid[1], 96)
  assert features['last'].shape == (1, grid[2], grid[2], 1280)


def test_gate_equals_its_formula():
  rng = np.random.RandomState(0)
  stages = [rng.normal(size=(3, 8)).astype(np.float32) for _ in range(3)]
  gate = MultiStageInteraction(inner_features=5)
  params = gate.init(jax.random.key(1), stages, train=False)['params']
  gated = gate.apply({'params': params}, stages, train=False)

  c = np.concatenate(stages, -1)
  m = ((c @ params['map1']['kernel'] + params['map1']['bias']) @ params['map2']['kernel']
       + params['map2']['bias'])
  for v, u in zip(stages, gated):
    np.testing.assert_allclose(u, v + v / (1 + np.exp(-m * v)), rtol=1e-5, atol=1e-6)


def test_gate_dropout_acts_only_in_training():
  stages = [jnp.ones((2, 8)) * i for i in (1, 2, 3)]
  gate = MultiStageInteraction(inner_features=64)
  variables = gate.init(jax.random.key(1), stages, train=False)
  train = lambda seed: gate.apply(variables, stages, train=True,
                                  rngs={'dropout': jax.random.key(seed)})
  assert not np.allclose(train(0)[0], train(1)[0])
  np.testing.assert_array_equal(gate.apply(variables, stages, train=False)[0],
                                gate.apply(variables, stages, train=False)[0])


def test_new_layers_use_pytorchs_default_init():
  stages = [jnp.zeros((2, 640))] * 3
  gate = MultiStageInteraction().init(jax.random.key(0), stages, train=False)['params']
  head = Classifier(200, 320).init(jax.random.key(0), stages[0], train=False)['params']
  for dense in (gate['map1'], gate['map2'], head['fc1'], head['fc2']):
    bound = 1 / np.sqrt(dense['kernel'].shape[0])  # U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    for values in (dense['kernel'], dense['bias']):
      assert 0.9 * bound < np.abs(values).max() <= bound


@pytest.mark.parametrize('stem_stride, giga_macs', [(1, 35.69), (2, 8.92)])
def test_macs_at_448_equal_the_released_code(stem_stride, giga_macs):
  model = RMGPMSI(200, stem_stride=stem_stride)
  images, variables = abstract_init(model, 448)
  assert round(sum(count_macs(model, variables, images)) / 1e9, 2) == giga_macs
