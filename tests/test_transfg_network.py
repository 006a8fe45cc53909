"""The TransFG network: its part layer sees the class token and the selected patches only,
the selection follows the released `Part_Attention`, its size is the released one, and the
forward pass traces to no argmax, sort or scatter."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnl_jax.methods.transfg import TransFG
from cnl_jax.models.attention import TOKEN_ATTENTION_MAPS
from cnl_jax.models.vit import Block
from helpers.transfg_reference import primitive_names, released_part_selection


def tiny(num_classes=5, **kwargs):
  return TransFG(num_classes, width=16, depth=4, num_heads=2, **kwargs)


@pytest.fixture(scope='module')
def tiny_run():
  """A tiny TransFG on 2 images of 40 px (overlap, stride 12: 3 x 3 patches), its variables
  with non-trivial position embeddings, and its outputs with the blocks' maps."""
  model = tiny()
  images = np.random.RandomState(0).normal(size=(2, 40, 40, 3)).astype(np.float32)
  variables = jax.jit(model.init)(jax.random.key(0), images)
  params = dict(variables['params'])
  params['pos_embed'] = jax.random.normal(jax.random.key(1), params['pos_embed'].shape)
  variables = {'params': params}
  (logits, features), state = jax.jit(functools.partial(
      model.apply, mutable=[TOKEN_ATTENTION_MAPS]))(variables, images)
  maps = [state[TOKEN_ATTENTION_MAPS][f'block{i}']['attn']['attention']['weights'][0]
          for i in range(3)]
  return model, variables, images, logits, features, maps


def test_selection_is_the_released_part_attention(tiny_run):
  _, _, _, _, features, maps = tiny_run
  _, indices, tokens = released_part_selection(
      [np.asarray(m, np.float64) for m in maps], np.asarray(features['block2']))
  np.testing.assert_array_equal(features['part_indices'], indices)
  assert features['block3'].shape == tokens.shape == (2, 3, 16)


def test_part_layer_reads_only_the_class_token_and_selected_patches(tiny_run):
  _, variables, _, logits, features, _ = tiny_run
  tokens = jnp.concatenate([features['block2'][:, :1], jnp.take_along_axis(
      features['block2'], features['part_indices'][..., None], axis=1)], axis=1)
  hidden = Block(num_heads=2).apply({'params': variables['params']['block3']}, tokens,
                                    train=False)
  pooled = nn.LayerNorm(1e-6).apply({'params': variables['params']['norm']}, hidden)[:, 0]
  head = variables['params']['head']
  np.testing.assert_allclose(features['pooled'], pooled, atol=1e-6)
  np.testing.assert_allclose(logits, pooled @ head['kernel'] + head['bias'], atol=1e-5)


def test_eval_is_deterministic_and_training_drops_out(tiny_run):
  model, variables, images, logits, _, _ = tiny_run
  again, _ = jax.jit(model.apply)(variables, images)
  np.testing.assert_array_equal(again, logits)
  trained, _ = jax.jit(functools.partial(model.apply, train=True))(
      variables, images, rngs={'dropout': jax.random.key(2)})
  assert not np.allclose(trained, logits)


def test_gradients_reach_every_parameter(tiny_run):
  model, variables, images, _, _, _ = tiny_run

  def loss(params):
    return jnp.sum(model.apply({'params': params}, images)[0] ** 2)
  grads = jax.jit(jax.grad(loss))(variables['params'])
  unreached = [jax.tree_util.keystr(path) for path, g in
               jax.tree_util.tree_leaves_with_path(grads) if not np.any(g)]
  assert not unreached


def test_forward_traces_to_no_argmax_sort_or_scatter(tiny_run):
  model, variables, images, _, _, _ = tiny_run
  program = jax.make_jaxpr(lambda v, x: model.apply(v, x))(variables, images)
  names = primitive_names(program.jaxpr)
  assert 'gather' in names
  assert not any(banned in name for name in names for banned in ('argmax', 'sort', 'scatter')
                 ), names


@pytest.mark.parametrize('split, parameters, tokens', [('overlap', 86_853_320, 1370),
                                                        ('non-overlap', 86_404_040, 785)])
def test_vit_b16_at_448_has_the_released_size(split, parameters, tokens):
  # The released model logs 86.9M (train.py:97-102); counts from models/modeling.py.
  model = TransFG(200, split=split)
  images = jax.ShapeDtypeStruct((1, 448, 448, 3), jnp.float32)
  variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images)
  count = sum(int(np.prod(p.shape)) for p in jax.tree_util.tree_leaves(variables['params']))
  assert count == parameters
  (logits, features) = jax.eval_shape(lambda v, x: model.apply(v, x), variables, images)
  assert logits.shape == (1, 200)
  assert features['class_token_attention'].shape == (1, 12, tokens)
  assert features['part_indices'].shape == (1, 12)
  assert features['block11'].shape == (1, 13, 768)
  assert model.grid_size(448, 448) == ((tokens - 1) ** 0.5,) * 2


def test_no_classifier_returns_the_class_token():
  model = tiny(num_classes=None)
  images = np.zeros((1, 40, 40, 3), np.float32)
  (pooled, features), _ = jax.jit(model.init_with_output)(jax.random.key(0), images)
  np.testing.assert_array_equal(pooled, features['pooled'])
  assert pooled.shape == (1, 16)


@pytest.mark.parametrize('shape, match', [((1, 42, 42, 3), 'do not tile'),
                                          ((1, 40, 40), r'\[batch, height, width, 3\]')])
def test_bad_images_are_refused(shape, match):
  with pytest.raises(ValueError, match=match):
    tiny().init(jax.random.key(0), np.zeros(shape, np.float32))


def test_vit_block_returns_the_maps_it_attends_with_and_drops_out_only_in_its_mlp():
  x = np.random.RandomState(3).normal(size=(2, 5, 16)).astype(np.float32)
  plain = Block(num_heads=2)
  variables = jax.jit(functools.partial(plain.init, train=False))(jax.random.key(0), x)

  @jax.jit
  def outputs(v):
    dropping = Block(num_heads=2, mlp_dropout_rate=0.5)
    return (plain.apply(v, x, train=False, mutable=[TOKEN_ATTENTION_MAPS]),
            Block(num_heads=2, return_attention=True).apply(v, x, train=False),
            dropping.apply(v, x, train=False),
            dropping.apply(v, x, train=True, rngs={'dropout': jax.random.key(1)}))
  (expected, recorded), (output, weights), evaluated, trained = outputs(variables)
  np.testing.assert_allclose(output, expected, atol=1e-6)
  np.testing.assert_allclose(
      weights, recorded[TOKEN_ATTENTION_MAPS]['attn']['attention']['weights'][0], atol=1e-6)
  np.testing.assert_allclose(evaluated, expected, atol=1e-6)
  assert not np.allclose(trained, expected)
