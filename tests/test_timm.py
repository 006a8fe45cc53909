"""Converted timm weights make the Flax ViT and Swin compute what timm computes, at 224 px and
at 448 px (the ViT's 224 position embeddings resampled as timm resamples them).

The fixture comes from `tools/make_timm_reference.py`: timm's own tiny ViT and Swin on
deterministic weights, saved as timm-format .safetensors, and their block outputs and logits.
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from cnl_jax import pretrained
from cnl_jax.errors import WeightsError
from cnl_jax.models.swin import SwinTransformer
from cnl_jax.models.vit import VisionTransformer
from cnl_jax.pretrained.timm import convert_timm_state_dict

FIXTURES = pathlib.Path(__file__).parent / 'fixtures'
OUTPUTS = np.load(FIXTURES / 'timm_outputs.npz')
CONFIG = json.loads(str(OUTPUTS['config']))
TOLERANCE = 1e-4  # of the largest magnitude of each recorded array
# Any name of the family picks the file reader; the tiny models load local files only.
ARCHITECTURES = {'vit': 'vit_base_patch16', 'swin': 'swin_tiny_patch4_window7'}


def tiny_model(family, num_classes=10):
  """The Flax twin of the fixture's timm model."""
  config = CONFIG[family]
  if family == 'vit':
    return VisionTransformer(num_classes, width=config['embed_dim'], depth=config['depth'],
                             num_heads=config['num_heads'], patch_size=config['patch_size'])
  return SwinTransformer(num_classes, width=config['embed_dim'], depths=tuple(config['depths']),
                         num_heads=tuple(config['num_heads']), window=config['window_size'],
                         patch_size=config['patch_size'])


def images(size):
  """The generator's images, redrawn (tools/make_timm_reference.py, `draw_images`)."""
  batch = CONFIG['images'][str(size)]
  return np.random.RandomState(CONFIG['seed'] + size).standard_normal(
      (batch, size, size, 3)).astype(np.float32)


def shapes(model, size):
  return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3))))


def load(family, size, source=None, model=None):
  model = model or tiny_model(family)
  source = source or FIXTURES / f'timm_{family}.safetensors'
  return model, pretrained.load_pretrained(shapes(model, size), source,
                                           architecture=ARCHITECTURES[family])


def assert_close(ours, theirs, name):
  ours, theirs = np.asarray(ours, np.float32), np.asarray(theirs)
  assert ours.shape == theirs.shape, name
  scale = np.abs(theirs).max()
  assert np.abs(ours - theirs).max() <= TOLERANCE * scale, (name, np.abs(ours - theirs).max())


def recorded(family, size):
  prefix = f'{family}/{size}/'
  return {key[len(prefix):]: OUTPUTS[key] for key in OUTPUTS.files if key.startswith(prefix)}


@pytest.mark.parametrize('size', [224, 448])
@pytest.mark.parametrize('family', ['vit', 'swin'])
def test_every_block_and_the_logits_match_timm(family, size):
  model, variables = load(family, size)
  logits, features = jax.jit(model.apply)(variables, images(size))
  expected = recorded(family, size)
  assert_close(logits, expected.pop('logits'), 'logits')
  assert len(expected) == (CONFIG['vit']['depth'] if family == 'vit'
                           else sum(CONFIG['swin']['depths']))
  for name, theirs in expected.items():
    ours = features[name]
    if ours.ndim == 4:  # Swin maps are recorded on a few channels, spread evenly
      channels = np.linspace(0, ours.shape[-1] - 1, CONFIG['recorded_channels'])
      ours = ours[..., channels.round().astype(int)]
    assert_close(ours, theirs, name)


def google_npz(state, num_heads):
  """timm's state dict written back into Google's ViT .npz names and layouts."""
  width = state['cls_token'].shape[-1]
  head_dim = width // num_heads
  arrays = {'embedding/kernel': state['patch_embed.proj.weight'].transpose(2, 3, 1, 0),
            'embedding/bias': state['patch_embed.proj.bias'], 'cls': state['cls_token'],
            'Transformer/posembed_input/pos_embedding': state['pos_embed'],
            'Transformer/encoder_norm/scale': state['norm.weight'],
            'Transformer/encoder_norm/bias': state['norm.bias'],
            'head/kernel': state['head.weight'].T, 'head/bias': state['head.bias'],
            'pre_logits/kernel': np.zeros((width, width), np.float32)}
  blocks = {int(name.split('.')[1]) for name in state if name.startswith('blocks.')}
  for index in blocks:
    source, target = f'blocks.{index}.', f'Transformer/encoderblock_{index}/'
    for norm, name in (('norm1', 'LayerNorm_0'), ('norm2', 'LayerNorm_2')):
      arrays[f'{target}{name}/scale'] = state[f'{source}{norm}.weight']
      arrays[f'{target}{name}/bias'] = state[f'{source}{norm}.bias']
    attention = f'{target}MultiHeadDotProductAttention_1/'
    qkv, qkv_bias = state[f'{source}attn.qkv.weight'], state[f'{source}attn.qkv.bias']
    for part_index, part in enumerate(('query', 'key', 'value')):
      rows = slice(part_index * width, (part_index + 1) * width)
      arrays[f'{attention}{part}/kernel'] = qkv[rows].T.reshape(width, num_heads, head_dim)
      arrays[f'{attention}{part}/bias'] = qkv_bias[rows].reshape(num_heads, head_dim)
    arrays[f'{attention}out/kernel'] = state[f'{source}attn.proj.weight'].T.reshape(
        num_heads, head_dim, width)
    arrays[f'{attention}out/bias'] = state[f'{source}attn.proj.bias']
    for layer, name in (('fc1', 'Dense_0'), ('fc2', 'Dense_1')):
      arrays[f'{target}MlpBlock_3/{name}/kernel'] = state[f'{source}mlp.{layer}.weight'].T
      arrays[f'{target}MlpBlock_3/{name}/bias'] = state[f'{source}mlp.{layer}.bias']
  return arrays


def torch_bilinear_matrix(size_in, size_out):
  """[out, in] weights of torch's bilinear resize, align_corners=False, no antialias."""
  matrix = np.zeros((size_out, size_in))
  for i in range(size_out):
    source = max((i + 0.5) * size_in / size_out - 0.5, 0)
    low = min(int(np.floor(source)), size_in - 1)
    high = min(low + 1, size_in - 1)
    matrix[i, low] += 1 - (source - low)
    matrix[i, high] += source - low
  return matrix


@pytest.fixture(name='npz_path')
def fixture_npz_path(tmp_path):
  path = tmp_path / 'ViT-tiny.npz'
  np.savez(path, **google_npz(load_file(FIXTURES / 'timm_vit.safetensors'),
                              CONFIG['vit']['num_heads']))
  return path


def test_google_npz_gives_timms_model_at_its_own_size(npz_path):
  model, variables = load('vit', 224, source=npz_path)
  logits, _ = model.apply(variables, images(224))
  assert_close(logits, OUTPUTS['vit/224/logits'], 'logits')


def test_google_npz_resamples_positions_bilinearly_at_another_size(npz_path):
  """timm's `_load_weights` path: bilinear, half-pixel centres, no antialias; the class
  token's row unchanged."""
  _, variables = load('vit', 448, source=npz_path)
  original = load_file(FIXTURES / 'timm_vit.safetensors')['pos_embed']
  side = int(np.sqrt(original.shape[1] - 1))
  matrix = torch_bilinear_matrix(side, 2 * side)
  grid = original[0, 1:].reshape(side, side, -1)
  expected = np.einsum('yi,xj,ijc->yxc', matrix, matrix, grid).reshape(1, -1, grid.shape[-1])
  loaded = np.asarray(variables['params']['pos_embed'])
  np.testing.assert_allclose(loaded[:, :1], original[:, :1])
  np.testing.assert_allclose(loaded[:, 1:], expected, atol=1e-5)


def test_a_mismatched_file_is_one_line_naming_the_first_bad_key(tmp_path):
  state = load_file(FIXTURES / 'timm_vit.safetensors')
  state['blocks.1.mlp.fc1.weight'] = state['blocks.1.mlp.fc1.weight'][:-1]
  path = tmp_path / 'bad.safetensors'
  save_file(state, path)
  with pytest.raises(WeightsError) as error:
    load('vit', 224, source=path)
  message = str(error.value)
  assert '\n' not in message and 'blocks.1.mlp.fc1.weight' in message
  with pytest.raises(WeightsError) as error:  # a Swin file into a ViT
    load('vit', 224, source=FIXTURES / 'timm_swin.safetensors')
  assert '\n' not in str(error.value) and 'blocks.0.attn.qkv.weight' in str(error.value)


def test_another_class_count_keeps_the_head_and_loads_the_rest():
  state = load_file(FIXTURES / 'timm_swin.safetensors')
  state['layers.0.blocks.1.attn.relative_position_index'] = np.zeros((49, 49), np.int64)
  model = tiny_model('swin', num_classes=7)
  variables = shapes(model, 224)
  converted, report = convert_timm_state_dict(variables, state)
  assert not report.head_loaded and report.kept_at_init == ('head',) and report.ignored == 1
  assert converted['params']['head']['kernel'] is variables['params']['head']['kernel']
  np.testing.assert_array_equal(converted['params']['norm']['scale'], state['norm.weight'])
  without_head = {name: value for name, value in state.items() if not name.startswith('head')}
  _, report = convert_timm_state_dict(variables, without_head)  # ImageNet-21k: no head
  assert not report.head_loaded and 'no classifier' in str(report)


def offline_hub(monkeypatch, home):
  """No network and the hub cache under `home`."""
  import huggingface_hub.constants
  monkeypatch.setenv('HF_HUB_OFFLINE', '1')
  monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
  monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(home / 'hub'))


def test_imagenet21k_names_timms_hub_file_and_loads_it_from_the_cache(monkeypatch, tmp_path):
  offline_hub(monkeypatch, tmp_path)
  with pytest.raises(WeightsError) as error:
    load('vit', 224, source='imagenet21k')
  repo = 'timm/vit_base_patch16_224.orig_in21k'
  assert f'https://huggingface.co/{repo}/resolve/main/model.safetensors' in str(error.value)
  revision = '0' * 40
  cached = tmp_path / 'hub' / f'models--{repo.replace("/", "--")}'
  (cached / 'snapshots' / revision).mkdir(parents=True)
  (cached / 'refs').mkdir()
  (cached / 'refs' / 'main').write_text(revision)
  state = load_file(FIXTURES / 'timm_vit.safetensors')
  save_file(state, cached / 'snapshots' / revision / 'model.safetensors')
  _, variables = load('vit', 224, source='imagenet21k')
  np.testing.assert_array_equal(variables['params']['block1']['attn']['qkv']['kernel'],
                                state['blocks.1.attn.qkv.weight'].T)


def test_an_unknown_source_names_the_ones_there_are():
  with pytest.raises(WeightsError, match="'imagenet21k', 'imagenet21k_augreg', 'imagenet'"):
    load('vit', 224, source='imagenet22k')
