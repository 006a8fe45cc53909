"""Every registered preset, through its method, abstractly (jax.eval_shape, no compilation):
init, the train-mode loss of its first and last update, and the eval-mode heads. A new
preset or method is tested here without a new test."""

import functools
import sys
import types

import jax
import jax.numpy as jnp
import ml_collections
import pytest

import cnl_jax
from cnl_jax import methods
from cnl_jax.grad_cam import grad_cam

NUM_CLASSES = 7
IMAGE_SIZE = 64
# Presets that need larger images: Swin's windows of 7 tile every stage from 224 px.
IMAGE_SIZES = {'swin': 224}


def image_size(name: str) -> int:
  return next((size for prefix, size in IMAGE_SIZES.items() if name.startswith(prefix)),
              IMAGE_SIZE)


def preset_config(name):
  """A config of preset `name` that sets none of its method's options."""
  return ml_collections.ConfigDict({'model': name, 'method': {}, 'dtype': 'float32',
                                    'model_overrides': {}})


def test_list_models_is_sorted_and_filters_by_pattern():
  names = cnl_jax.list_models()
  assert names == sorted(set(names)) and 'resnet50_5cnl' in names
  assert cnl_jax.list_models('*cnl') == [name for name in names if name.endswith('cnl')]
  assert cnl_jax.list_models('no_such_model*') == []


@pytest.mark.parametrize('name', cnl_jax.list_models())
def test_preset_initialises_trains_and_predicts(name):
  method = methods.build_method(preset_config(name), NUM_CLASSES)
  assert method.options == type(method).default_options()
  assert type(method.model) is type(cnl_jax.create_model(name, NUM_CLASSES))
  images = jax.ShapeDtypeStruct((2, image_size(name), image_size(name), 3), jnp.float32)
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


@pytest.mark.parametrize('name', cnl_jax.list_models())
def test_every_head_has_a_class_activation_map_on_its_feature_map(name):
  """Each head's Grad-CAM (abstractly) has the grid of the feature map its target names, as
  the model's own intermediates give it."""
  method = methods.build_method(preset_config(name), NUM_CLASSES)
  image = jax.ShapeDtypeStruct((image_size(name), image_size(name), 3), jnp.float32)
  images = jax.ShapeDtypeStruct((1, *image.shape), image.dtype)
  variables = jax.eval_shape(method.init, jax.random.key(0), images)
  targets = method.cam_targets()
  heads = jax.eval_shape(method.predict, variables, images)
  assert sorted(target.head for target in targets) == sorted(heads)
  for target in targets:
    values, logits = jax.eval_shape(lambda v, x, t=target: grad_cam(
        functools.partial(method.predict, v), x, t), variables, image)
    _, state = jax.eval_shape(lambda v, x, t=target: method.model.apply(
        v, x[None], capture_intermediates=lambda module, method_name: (
            method_name == '__call__' and module.path == t.module), mutable=['intermediates']),
                              variables, image)
    (feature_map,) = jax.tree.leaves(state['intermediates'])
    assert values.shape == feature_map.shape[1:3] and min(values.shape) >= 2, target
    assert target.image_index < feature_map.shape[0] and logits.shape == (NUM_CLASSES,)


def test_dir_lists_the_public_names_not_the_imports():
  public = {name for name in dir(cnl_jax) if not name.startswith('_')}
  submodules = {name for name in public if name in sys.modules.get('cnl_jax').__dict__
                and isinstance(getattr(cnl_jax, name), types.ModuleType)}
  assert public - submodules == set(cnl_jax.__all__)
  assert {'create_model', 'list_models', 'CNL'} <= public
