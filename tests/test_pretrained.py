"""Converted torchvision weights make the Flax ResNets and MobileNetV2 compute what
torchvision computes.

The fixture comes from `tools/make_torchvision_reference.py`: torchvision's own models on
weights that `cnl_jax.pretrained.reference` draws. Here the same weights are drawn without
torch, converted and run.
"""

import json
import logging
import pathlib
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import traverse_util

import cnl_jax
from cnl_jax import pretrained
from cnl_jax.errors import WeightsError
from cnl_jax.models.mobilenet_v2 import MobileNetV2
from cnl_jax.models.resnet import ARCHITECTURES, ResNet, block_specs
from cnl_jax.pretrained.reference import draw_state_dict, recorded_channels

FIXTURE = np.load(pathlib.Path(__file__).parent / 'fixtures' / 'torchvision_models.npz')
TOLERANCE = 1e-4  # max abs difference, float32; activations are O(1) by the draw's scales


def layout(depth):
  """torchvision's state dict key names and shapes, in its order (depth: a ResNet's, or
  'mobilenet_v2')."""
  name = depth if isinstance(depth, str) else f'resnet{depth}'
  entries = json.loads(str(FIXTURE[f'{name}/layout']))
  return [(name, tuple(shape)) for name, shape in entries]


def state_dict(depth, seed=0):
  return draw_state_dict(layout(depth), seed)


def init(name, num_classes):
  """A preset and the shapes of its variables: the converter needs no more, and a variable
  it leaves alone stays the very same object."""
  model = cnl_jax.create_model(name, num_classes)
  return model, jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))


def flat(variables):
  return traverse_util.flatten_dict(variables)


@pytest.mark.parametrize('depth', [18, 50, 101])
def test_outputs_match_torchvision(depth):
  prefix = f'resnet{depth}/'
  model, variables = init(f'resnet{depth}', 1000)
  variables = pretrained.load_torchvision_state_dict(
      variables, draw_state_dict(layout(depth), int(FIXTURE[prefix + 'seed'])))
  logits, features = jax.jit(lambda v, x: model.apply(v, x, train=False))(
      variables, FIXTURE['images'])

  last_block = {}
  for spec in block_specs(depth):  # torchvision layerN ends with the last res{N+1} block
    last_block[f'layer{int(spec.name[3]) - 1}'] = spec.name
  got = {'logits': logits, 'pooled': features['pooled'],
         'stem': recorded_channels(np.asarray(features['stem']))}
  for layer, block in last_block.items():
    got[layer] = recorded_channels(np.asarray(features[block]))
  for name, value in got.items():
    want = FIXTURE[prefix + name]
    assert value.shape == want.shape, name
    np.testing.assert_allclose(value, want, rtol=0, atol=TOLERANCE, err_msg=name)


def mobilenet_v2(num_classes):
  model = MobileNetV2(num_classes)
  return model, jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))


def test_mobilenet_v2_outputs_match_torchvision():
  model, variables = mobilenet_v2(1000)
  variables = pretrained.load_torchvision_state_dict(
      variables, draw_state_dict(layout('mobilenet_v2'), int(FIXTURE['mobilenet_v2/seed'])))
  logits, features = jax.jit(lambda v, x: model.apply(v, x, train=False))(
      variables, FIXTURE['images'])
  recorded = [k.split('/')[1] for k in FIXTURE.files if k.startswith('mobilenet_v2/')]
  maps = [name for name in recorded if name not in ('seed', 'layout', 'logits', 'pooled')]
  assert 'stem' in maps and 'last' in maps and 'block6' in maps
  got = {'logits': logits, 'pooled': features['pooled'],
         **{name: recorded_channels(np.asarray(features[name])) for name in maps}}
  for name, value in got.items():
    want = FIXTURE[f'mobilenet_v2/{name}']
    assert value.shape == want.shape, name
    np.testing.assert_allclose(value, want, rtol=0, atol=TOLERANCE, err_msg=name)


def test_mobilenet_v2_takes_exactly_torchvisions_keys():
  _, variables = mobilenet_v2(1000)
  zeros = {name: np.broadcast_to(np.float32(0), shape)
           for name, shape in layout('mobilenet_v2')}
  _, report = pretrained.convert_torchvision_state_dict(variables, zeros)
  batch_norm_counters = sum(name.endswith('num_batches_tracked') for name in zeros)
  assert report.loaded == len(zeros) - batch_norm_counters
  assert report.head_loaded and report.kept_at_init == ()


def test_mobilenet_v2_trunk_drops_the_classifier():
  _, variables = mobilenet_v2(None)
  weights = draw_state_dict(layout('mobilenet_v2'), 0)
  converted, report = pretrained.convert_torchvision_state_dict(variables, weights)
  assert str(report) == ('loaded 260 tensors (52 num_batches_tracked ignored); classifier.1 '
                         'dropped: the model has no classifier; kept at init: nothing.')
  np.testing.assert_array_equal(converted['params']['block2']['depthwise']['conv']['kernel'],
                                weights['features.2.conv.1.0.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(converted['batch_stats']['block1']['project']['bn']['mean'],
                                weights['features.1.conv.2.running_mean'])


def test_resnet_weights_into_mobilenet_v2_are_refused():
  _, variables = mobilenet_v2(1000)
  with pytest.raises(pretrained.StateDictMismatchError,
                     match='Expected a torchvision MobileNetV2 state dict'):
    pretrained.load_torchvision_state_dict(variables, state_dict(18))


@pytest.mark.parametrize('depth', sorted(ARCHITECTURES))
def test_every_depth_takes_exactly_torchvisions_keys(depth):
  _, variables = init(f'resnet{depth}', 1000)
  zeros = {name: np.broadcast_to(np.float32(0), shape) for name, shape in layout(depth)}
  _, report = pretrained.convert_torchvision_state_dict(variables, zeros)
  batch_norm_counters = sum(name.endswith('num_batches_tracked') for name in zeros)
  assert report.loaded == len(zeros) - batch_norm_counters
  assert report.ignored == batch_norm_counters
  assert report.head_loaded and report.kept_at_init == ()


def test_values_take_the_dtype_of_the_variables_they_replace():
  model = cnl_jax.create_model('resnet18', 1000, param_dtype=jnp.bfloat16)
  variables = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))
  converted = pretrained.load_torchvision_state_dict(variables, state_dict(18))
  for key, value in flat(converted).items():
    assert value.dtype == flat(variables)[key].dtype, key


def test_fc_loads_when_class_counts_match():
  _, variables = init('resnet18', 1000)
  weights = state_dict(18)
  converted, report = pretrained.convert_torchvision_state_dict(variables, weights)
  assert report.head_loaded
  np.testing.assert_array_equal(converted['params']['head']['kernel'], weights['fc.weight'].T)
  np.testing.assert_array_equal(converted['params']['head']['bias'], weights['fc.bias'])


def test_head_keeps_its_init_when_class_counts_differ(caplog):
  _, variables = init('resnet18', 200)
  with caplog.at_level(logging.INFO):
    converted = pretrained.load_torchvision_state_dict(variables, state_dict(18))
  head = lambda variables: variables['params']['head']
  assert all(head(converted)[name] is head(variables)[name] for name in ('kernel', 'bias'))
  assert [r.getMessage() for r in caplog.records if r.name == 'absl'] == [
      'torchvision state dict: loaded 100 tensors (20 num_batches_tracked ignored); fc skipped: '
      'it has 1000 classes, the model 200; kept at init: head.']


@pytest.mark.parametrize('name', ['resnet50_5nl', 'resnet50_5cnl'])
def test_nonlocal_and_cnl_blocks_keep_their_init(name):
  _, variables = init(name, 200)
  weights = state_dict(50)
  converted, report = pretrained.convert_torchvision_state_dict(variables, weights)
  before, after = flat(variables), flat(converted)
  attention = {key for key in before if key[1].endswith('_nonlocal') or key[1] == 'cnl'}
  assert attention
  assert all(after[key] is before[key] for key in attention)
  assert set(report.kept_at_init) == {key[1] for key in attention} | {'head'}
  np.testing.assert_array_equal(after['params', 'res3_1', 'bn2', 'scale'],
                                weights['layer2.1.bn2.weight'])


def mismatch(weights, depth=18):
  _, variables = init(f'resnet{depth}', 1000)
  with pytest.raises(pretrained.StateDictMismatchError) as error:
    pretrained.load_torchvision_state_dict(variables, weights)
  return error.value


def test_missing_key_is_named():
  weights = state_dict(18)
  del weights['layer3.1.bn2.running_var']
  error = mismatch(weights)
  assert error.missing == ['layer3.1.bn2.running_var']
  assert 'missing keys (1): layer3.1.bn2.running_var' in str(error)


def test_unexpected_key_is_named():
  error = mismatch({**state_dict(18), 'layer5.0.conv1.weight': np.zeros((3, 3))})
  assert error.unexpected == ['layer5.0.conv1.weight']
  assert 'unexpected keys (1): layer5.0.conv1.weight' in str(error)


def test_wrong_shape_is_named():
  weights = state_dict(18)
  weights['layer2.0.conv1.weight'] = np.zeros((128, 64, 1, 1), np.float32)
  error = mismatch(weights)
  assert not error.missing and not error.unexpected
  assert ('layer2.0.conv1.weight is (128, 64, 1, 1), the model needs (128, 64, 3, 3) '
          '(PyTorch layout)' in str(error))


def test_other_depth_is_named():
  error = mismatch(state_dict(18), depth=50)
  assert 'has (2, 2, 2, 2) blocks per stage and the model (3, 4, 6, 3)' in str(error)


def test_variables_of_another_model_are_refused():
  with pytest.raises(ValueError, match='the variables of a cnl_jax ResNet'):
    pretrained.load_torchvision_state_dict({'params': {}}, state_dict(18))


def offline_hub(monkeypatch, home):
  """No network and the hub cache under `home`, whenever huggingface_hub was imported."""
  import huggingface_hub.constants
  monkeypatch.setenv('HF_HUB_OFFLINE', '1')
  monkeypatch.setenv('HF_HOME', str(home))
  monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
  monkeypatch.setattr(huggingface_hub.constants, 'HF_HUB_CACHE', str(home / 'hub'))


def test_offline_imagenet_without_cache_says_what_to_download(monkeypatch, tmp_path):
  offline_hub(monkeypatch, tmp_path)
  _, variables = init('resnet50', 200)
  with pytest.raises(WeightsError) as error:
    pretrained.load_pretrained(variables, 'imagenet', architecture='resnet50')
  message = str(error.value)
  assert 'https://huggingface.co/timm/resnet50.tv_in1k/resolve/main/model.safetensors' in message
  assert "pass that file's path instead of 'imagenet'" in message
  assert f'models--timm--resnet50.tv_in1k of its cache into {tmp_path / "hub"}' in message


def test_imagenet_loads_from_the_hub_cache(monkeypatch, tmp_path, caplog):
  from safetensors.numpy import save_file
  offline_hub(monkeypatch, tmp_path)
  revision = '0' * 40
  repo = tmp_path / 'hub' / 'models--timm--resnet18.tv_in1k'
  (repo / 'snapshots' / revision).mkdir(parents=True)
  (repo / 'refs').mkdir()
  (repo / 'refs' / 'main').write_text(revision)
  weights = state_dict(18)
  save_file(weights, str(repo / 'snapshots' / revision / 'model.safetensors'))

  _, variables = init('resnet18', 1000)
  with caplog.at_level(logging.INFO):
    converted = pretrained.load_pretrained(variables, 'imagenet', architecture='resnet18')
  np.testing.assert_array_equal(converted['batch_stats']['res5_1']['bn2']['var'],
                                weights['layer4.1.bn2.running_var'])
  logged = [r.getMessage() for r in caplog.records if r.name == 'absl']
  assert len(logged) == 1
  assert logged[0].startswith('Pretrained weights from imagenet: loaded 102 tensors')


def test_local_safetensors_file(tmp_path):
  from safetensors.numpy import save_file
  weights = state_dict(18)
  path = tmp_path / 'resnet18.safetensors'
  save_file(weights, str(path))
  _, variables = init('resnet18', 1000)
  converted = pretrained.load_pretrained(variables, path, architecture='resnet18')
  np.testing.assert_array_equal(converted['params']['stem_conv']['kernel'],
                                weights['conv1.weight'].transpose(2, 3, 1, 0))


def test_local_pth_file_where_torch_is_installed(tmp_path):
  torch = pytest.importorskip('torch')
  weights = state_dict(18)
  path = tmp_path / 'resnet18.pth'
  torch.save({name: torch.from_numpy(value) for name, value in weights.items()}, path)
  _, variables = init('resnet18', 1000)
  converted = pretrained.load_pretrained(variables, path, architecture='resnet18')
  np.testing.assert_array_equal(converted['params']['res3_0']['downsample_conv']['kernel'],
                                weights['layer2.0.downsample.0.weight'].transpose(2, 3, 1, 0))


def test_pth_without_torch_points_to_safetensors(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, 'torch', None)  # `import torch` raises ImportError
  path = tmp_path / 'resnet18.pth'
  path.write_bytes(b'')
  with pytest.raises(WeightsError, match=r'needs PyTorch.*\.safetensors'):
    pretrained.load_pretrained({}, path, architecture='resnet18')


@pytest.mark.parametrize('source, error', [
    ('imagenet21k', WeightsError), ('weights.npz', WeightsError),
    ('/nonexistent/resnet50.safetensors', WeightsError)])
def test_bad_source_is_named(source, error):
  with pytest.raises(error, match=source):
    pretrained.load_pretrained({}, source, architecture='resnet50')


def test_importing_loads_no_weight_libraries():
  imported = subprocess.run(
      [sys.executable, '-c', 'import sys, cnl_jax.pretrained; '
       "print(sorted({'torch', 'safetensors', 'huggingface_hub'} & set(sys.modules)))"],
      capture_output=True, text=True, check=True, cwd=pathlib.Path(__file__).parents[1])
  assert imported.stdout.strip() == '[]'


def test_no_source_keeps_random_init():
  variables = {'params': {'head': {'bias': jnp.zeros(3)}}}
  assert pretrained.load_pretrained(variables, None, architecture='resnet50') is variables


def test_training_config_pretrained_field_loads_the_backbone(tmp_path):
  from safetensors.numpy import save_file
  from cnl_jax.methods import build_method
  from cnl_jax.training import loop
  from configs import demo
  weights = state_dict(18)
  path = tmp_path / 'resnet18.safetensors'
  save_file(weights, str(path))
  config = demo.get_config()
  config.model, config.model_overrides, config.pretrained = 'resnet18_2cnl', {}, str(path)
  _, variables = init('resnet18_2cnl', 20)
  method = build_method(config, 20)
  loaded = loop._pretrained_loader(config, method)(variables)  # pylint: disable=protected-access
  np.testing.assert_array_equal(loaded['params']['res3_1']['conv2']['kernel'],
                                weights['layer2.1.conv2.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(loaded['batch_stats']['stem_bn']['var'],
                                weights['bn1.running_var'])


class WithTrunk(nn.Module):
  """A model whose pretrained backbone is one subtree ('trunk') beside a new layer."""

  @nn.compact
  def __call__(self, images, train=False):
    logits, _ = ResNet(18, 1000, name='trunk')(images, train=train)
    return nn.Dense(3, name='new_layer')(logits)


def test_backbone_subtrees_are_filled_and_new_layers_kept(tmp_path):
  from safetensors.numpy import save_file
  weights = state_dict(18)
  path = tmp_path / 'resnet18.safetensors'
  save_file(weights, str(path))
  model = WithTrunk()
  variables = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  loaded = pretrained.load_backbones(jax.device_get(variables), str(path),
                                     {'trunk': 'resnet18'})
  np.testing.assert_array_equal(loaded['params']['trunk']['stem_conv']['kernel'],
                                weights['conv1.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(loaded['batch_stats']['trunk']['res5_1']['bn2']['var'],
                                weights['layer4.1.bn2.running_var'])
  np.testing.assert_array_equal(loaded['params']['new_layer']['kernel'],
                                variables['params']['new_layer']['kernel'])


MOBILENET_URL = 'https://download.pytorch.org/models/mobilenet_v2-b0353104.pth'


def test_imagenet_mobilenet_v2_without_torch_says_what_to_download(monkeypatch):
  monkeypatch.setitem(sys.modules, 'torch', None)  # `import torch` raises ImportError
  _, variables = mobilenet_v2(None)
  with pytest.raises(WeightsError) as error:
    pretrained.load_pretrained(variables, 'imagenet', architecture='mobilenet_v2')
  message = str(error.value)
  assert MOBILENET_URL in message
  assert "config.pretrained = '/path/to/mobilenet_v2.safetensors'" in message


def test_offline_imagenet_mobilenet_v2_says_where_to_put_it(monkeypatch, tmp_path):
  import types
  import urllib.error

  def offline(*args, **kwargs):
    raise urllib.error.URLError('no network')

  hub = types.SimpleNamespace(get_dir=lambda: str(tmp_path), download_url_to_file=offline)
  monkeypatch.setitem(sys.modules, 'torch', types.SimpleNamespace(hub=hub))  # torch offline
  _, variables = mobilenet_v2(None)
  with pytest.raises(WeightsError) as error:
    pretrained.load_pretrained(variables, 'imagenet', architecture='mobilenet_v2')
  assert MOBILENET_URL in str(error.value)
  assert str(tmp_path / 'checkpoints' / 'mobilenet_v2-b0353104.pth') in str(error.value)


def test_rmg_pmsi_config_loads_mobilenet_v2_into_the_backbone_only(tmp_path):
  from safetensors.numpy import save_file
  from cnl_jax.methods import build_method
  from cnl_jax.training import loop
  from configs import rmg_pmsi_demo
  weights = draw_state_dict(layout('mobilenet_v2'), 0)
  path = tmp_path / 'mobilenet_v2.safetensors'
  save_file(weights, str(path))
  config = rmg_pmsi_demo.get_config()
  config.pretrained = str(path)
  config.model_overrides.width_multiplier = 1.0  # the width of torchvision's weights
  model = cnl_jax.create_model(config.model, 20, **config.model_overrides)
  variables = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)), train=False))
  method = build_method(config, 20)
  loaded = loop._pretrained_loader(config, method)(variables)  # pylint: disable=protected-access
  backbone = loaded['params']['backbone']
  np.testing.assert_array_equal(backbone['block6']['expand']['conv']['kernel'],
                                weights['features.6.conv.0.0.weight'].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(loaded['batch_stats']['backbone']['last']['bn']['var'],
                                weights['features.18.1.running_var'])
  assert loaded['params']['smooth1'] is variables['params']['smooth1']


def test_tasn_backbones_without_classifier_load(tmp_path):
  """TASN's attention net (stride 8) and part net have no classifier: torchvision's fc is
  left out and every backbone tensor is loaded."""
  from safetensors.numpy import save_file
  model = cnl_jax.create_model('tasn_resnet50', 3, part_depth=18, sample_size=32)
  variables = jax.device_get(jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 40, 40, 3)), train=False)))
  variables = jax.tree.map(lambda leaf: np.zeros(leaf.shape, leaf.dtype), variables)
  weights = state_dict(18)
  save_file(weights, str(tmp_path / 'resnet18.safetensors'))
  loaded = pretrained.load_backbones(variables, str(tmp_path / 'resnet18.safetensors'),
                                     {'attention_net': 'resnet18', 'part_net': 'resnet18'})
  for subtree in ('attention_net', 'part_net'):
    np.testing.assert_array_equal(loaded['params'][subtree]['res5_1']['conv2']['kernel'],
                                  weights['layer4.1.conv2.weight'].transpose(2, 3, 1, 0))
  assert not np.any(loaded['params']['fc_shared']['kernel'])
  _, report = pretrained.convert_torchvision_state_dict(
      {name: tree['part_net'] for name, tree in variables.items()}, weights)
  assert not report.head_loaded and 'no classifier' in str(report)
