"""Every registered preset, through its method, abstractly (jax.eval_shape, no compilation):
init, the train-mode loss of its first and last update, and the eval-mode heads. A new
preset or method is tested here without a new test."""

import jax
import jax.numpy as jnp
import ml_collections
import pytest

from cnl_jax import methods

NUM_CLASSES = 7
IMAGE_SIZE = 64


@pytest.mark.parametrize('name', sorted(methods.PRESETS))
def test_preset_initialises_trains_and_predicts(name):
  method_class = methods.PRESET_METHODS[name]
  config = ml_collections.ConfigDict({'model': name, 'method': methods.method_config(name),
                                      'dtype': 'float32', 'model_overrides': {}})
  method = methods.build_method(config, NUM_CLASSES)
  assert isinstance(method, method_class) and method.options.name == method_class.name
  images = jax.ShapeDtypeStruct((2, IMAGE_SIZE, IMAGE_SIZE, 3), jnp.float32)
  variables = jax.eval_shape(method.init, jax.random.key(0), images)
  params = variables['params']
  model_state = {name: tree for name, tree in variables.items() if name != 'params'}
  batch = {'image': images, 'label': jax.ShapeDtypeStruct((2,), jnp.int32)}
  for update in sorted({0, method.updates_per_step - 1}):
    (loss, (new_state, metrics)), grads = jax.eval_shape(
        lambda p, s, b, k, u=update: jax.value_and_grad(method.loss, has_aux=True)(
            p, s, b, k, u), params, model_state, batch, jax.random.key(1))
    assert loss.shape == () and jax.tree.structure(grads) == jax.tree.structure(params)
    assert jax.tree.structure(new_state) == jax.tree.structure(model_state)
    assert all(value.shape == () for value in metrics.values())
  heads = jax.eval_shape(method.predict, variables, images)
  assert method.reported_head in heads
  assert {head: logits.shape for head, logits in heads.items()} == {
      head: (2, NUM_CLASSES) for head in heads}
  backbones = method.pretrained_backbones()
  assert all(subtree == '' or subtree in params for subtree in backbones)


def test_every_preset_has_exactly_one_method():
  names = [name for method in methods.METHODS.values() for name in method.presets]
  assert len(names) == len(set(names)) == len(methods.PRESETS)
