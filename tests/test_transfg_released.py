"""TransFG against the released PyTorch code run on deterministic weights
(tests/fixtures/transfg_reference.npz, made by tools/make_transfg_reference.py from
TACJu/TransFG @ 9336fba): logits, selected parts, the part head's input and the training loss;
the released state dict's names; what the released `load_from` loads."""

import functools
import json
import pathlib

import jax
import numpy as np
import pytest

from cnl_jax.methods.transfg import TransFG, losses, position_embedding, released_checkpoint
from cnl_jax.pretrained import convert_timm_state_dict, google_vit_state_dict

FIXTURE = pathlib.Path(__file__).parent / 'fixtures' / 'transfg_reference.npz'


@pytest.fixture(scope='module')
def reference():
  with np.load(FIXTURE) as stored:
    entries = dict(stored)
  config = json.loads(str(entries.pop('config')))
  state = {name[len('state/'):]: value for name, value in entries.items()
           if name.startswith('state/')}
  npz = {name[len('npz/'):]: value for name, value in entries.items()
         if name.startswith('npz/')}
  images = np.random.RandomState(config['seed']).standard_normal(
      (len(entries['labels']), config['image_size'], config['image_size'], 3)
  ).astype(np.float32)
  return config, state, npz, images, entries


def released_model(config):
  tiny = config['tiny']
  return TransFG(config['num_classes'], width=tiny['hidden_size'], depth=tiny['num_layers'],
                 num_heads=tiny['num_heads'], mlp_ratio=tiny['mlp_dim'] / tiny['hidden_size'],
                 patch_size=tiny['patch_size'], split=tiny['split'],
                 slide_step=tiny['slide_step'])


def released_params(model, state, images):
  """The released state dict in `model`'s params, through the ViT's timm converter."""
  shapes = jax.eval_shape(model.init, jax.random.key(0), images[:1])
  variables, _ = convert_timm_state_dict(shapes, released_checkpoint.timm_state_dict(state))
  return variables['params']


def test_outputs_equal_the_released_code(reference):
  config, state, _, images, expected = reference
  model = released_model(config)
  params = released_params(model, state, images)
  logits, features = jax.jit(model.apply)({'params': params}, images)

  np.testing.assert_array_equal(features['part_indices'], expected['part_indices'])
  for ours, name in ((features['pooled'], 'pooled'), (logits, 'logits')):
    scale = np.abs(expected[name]).max()
    np.testing.assert_allclose(ours, expected[name], atol=1e-5 * scale, err_msg=name)
  loss = (losses.part_loss(logits, expected['labels'])
          + losses.contrastive_loss(features['pooled'], expected['labels']))
  assert float(loss) == pytest.approx(float(expected['loss']), rel=1e-5)


def test_released_state_dict_converts_every_tensor(reference):
  _, state, _, _, _ = reference
  converted = released_checkpoint.timm_state_dict(state)
  # q, k and v fuse into qkv: two released tensors fewer per block and leaf.
  blocks = {name.split('.')[1] for name in converted if name.startswith('blocks.')}
  assert len(converted) == len(state) - 4 * len(blocks)
  assert {'blocks.3.attn.qkv.weight', 'norm.weight', 'head.bias'} <= set(converted)
  np.testing.assert_array_equal(converted['blocks.3.mlp.fc1.weight'],
                                state['transformer.encoder.part_layer.ffn.fc1.weight'])


def test_unknown_released_keys_are_refused():
  with pytest.raises(ValueError, match="'module.part_head.weight' is not a tensor"):
    released_checkpoint.timm_state_dict({'module.part_head.weight': np.zeros((2, 2))})


def test_position_zoom_is_what_the_released_load_from_loads(reference):
  config, state, npz, _, _ = reference
  side = (config['image_size'] - config['tiny']['patch_size']) // config['tiny'][
      'slide_step'] + 1
  zoomed = position_embedding.zoom_position_embedding(
      npz['Transformer/posembed_input/pos_embedding'], (side, side))
  np.testing.assert_allclose(zoomed, state['transformer.embeddings.position_embeddings'],
                             atol=1e-7)


def test_part_layer_and_head_keep_their_init(reference):
  config, state, npz, images, _ = reference
  # The released load_from left the part layer at init, though the checkpoint had a block 3.
  assert not np.allclose(
      state['transformer.encoder.part_layer.attention_norm.weight'],
      npz['Transformer/encoderblock_3/LayerNorm_0/scale'])
  model = released_model(config)
  initial = jax.jit(model.init)(jax.random.key(0), images[:1])['params']
  pretrained = released_params(model, state, images)
  started = released_checkpoint.released_pretrained_params(pretrained, initial)
  for name in started:
    expected = initial if name in ('block3', 'head') else pretrained
    assert jax.tree_util.tree_all(jax.tree_util.tree_map(
        np.array_equal, started[name], expected[name])), name
  loaded = released_checkpoint.released_pretrained_params(pretrained, initial,
                                                          load_part_layer=True)
  assert loaded['block3'] is pretrained['block3'] and loaded['head'] is initial['head']


def test_released_start_from_the_google_checkpoint(reference):
  config, state, npz, images, _ = reference
  model = released_model(config)
  initial = jax.jit(model.init)(jax.random.key(0), images[:1])
  started, _ = released_checkpoint.released_start(initial, google_vit_state_dict(npz))
  released = released_params(model, state, images)
  for name in started['params']:
    expected = initial['params'] if name in ('block3', 'head') else released
    jax.tree_util.tree_map(functools.partial(np.testing.assert_allclose, atol=1e-6),
                           started['params'][name], expected[name])
