"""TransFG's method: its loss is the released one (cross-entropy plus con_loss on the class
token the head reads), its options are checked where they enter, and its panels show the
selected patches and the attention rollout."""

import jax
import ml_collections
import numpy as np
import pytest

from cnl_jax import methods
from cnl_jax.errors import ConfigError
from helpers.transfg_reference import released_con_loss, released_label_smoothing

NUM_CLASSES = 5
IMAGE_SIZE = 40  # 3 x 3 overlapping patches of 16 px at stride 12
TINY = {'width': 16, 'depth': 3, 'num_heads': 2}


def tiny_method(**options):
  config = ml_collections.ConfigDict({
      'model': 'transfg_vit_base_patch16', 'method': options, 'dtype': 'float32',
      'model_overrides': TINY, 'batch_size': 4, 'grad_accum_steps': 1})
  method = methods.build_method(config, NUM_CLASSES)
  method.check(config)
  return method


@pytest.fixture(scope='module')
def batch():
  random = np.random.RandomState(0)
  return {'image': random.normal(size=(4, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32),
          'label': np.array([0, 1, 1, 3], np.int32)}


@pytest.fixture(scope='module')
def variables(batch):
  return jax.jit(tiny_method().init)(jax.random.key(0), batch['image'])


@pytest.mark.parametrize('options', [{}, {'contrastive_loss': False, 'label_smoothing': 0.1},
                                     {'contrastive_group_size': 2}])
def test_loss_is_the_released_sum(batch, variables, options):
  method = tiny_method(**options)
  params = variables['params']
  rng = jax.random.key(1)
  # One program: the loss and the train-mode forward pass it draws its dropout for.
  (loss, (_, metrics)), ((logits, features), _) = jax.jit(lambda p: (
      method.loss(p, {}, batch, rng, 0), method.train_forward(p, {}, batch['image'], rng)))(
          params)
  logits, labels = np.asarray(logits, np.float64), batch['label']
  expected = released_label_smoothing(logits, labels, options.get('label_smoothing', 0.0))
  if options.get('contrastive_loss', True):
    # The released loss per GPU batch of `contrastive_group_size`, averaged over the GPUs.
    size = options.get('contrastive_group_size') or len(labels)
    pooled = np.asarray(features['pooled'], np.float64)
    expected += np.mean([released_con_loss(pooled[i:i + size], labels[i:i + size])
                         for i in range(0, len(labels), size)])
  assert float(loss) == pytest.approx(expected, rel=1e-5)
  assert float(metrics['loss']) == float(loss)
  assert ('contrastive_loss' in metrics) == options.get('contrastive_loss', True)
  assert float(metrics['top1']) == np.mean(logits.argmax(-1) == labels)


def test_panels_show_each_heads_patch_and_the_rollout(batch, variables):
  method = tiny_method()
  image = batch['image'][0]
  panels = method.panels(variables, image)
  _, features = jax.jit(method.model.apply)(variables, image[None])
  selected = panels['selected_parts'].values
  # Every head adds one 16 px patch; the map is zero away from the selected patches.
  assert selected.shape == image.shape[:2]
  assert selected.sum() == TINY['num_heads'] * 16 ** 2
  rows, columns = np.divmod(np.asarray(features['part_indices'][0]) - 1, 3)
  for row, column in zip(rows, columns):
    assert selected[12 * row:12 * row + 16, 12 * column:12 * column + 16].min() >= 1
  rollout = panels['attention_rollout'].values
  # The chain's class-token row sums to 1 over every token; the patches hold the rest.
  assert rollout.shape == (3, 3) and rollout.min() >= 0
  class_token_share = np.asarray(features['class_token_attention'][0, :, 0]).mean()
  assert rollout.sum() + class_token_share == pytest.approx(1, rel=1e-5)


def test_only_the_part_layer_starts_as_released(batch, variables):
  timm = jax.jit(tiny_method(part_layer_init='timm').init)(jax.random.key(0), batch['image'])
  released, timm = variables['params'], timm['params']
  for name in set(released) - {'block2'}:
    jax.tree_util.tree_map(np.testing.assert_array_equal, released[name], timm[name])
  # PyTorch's Linear default, U(+-1/sqrt(16)), where timm draws N(0, 0.02) truncated.
  qkv = np.asarray(released['block2']['attn']['qkv']['kernel'])
  assert np.abs(qkv).max() <= 0.25 and qkv.std() == pytest.approx(0.25 / np.sqrt(3), rel=0.2)
  assert np.asarray(timm['block2']['attn']['qkv']['kernel']).std() < 0.03
  assert np.abs(released['block2']['mlp']['fc1']['bias']).max() < 1e-5


@pytest.mark.parametrize('options, match', [
    ({'contrastive_group_size': 3}, r'contrastive_group_size=3 must be 0 \(the whole batch\) '
     'or divide the batch each update sees \\(4 '),
    ({'label_smoothing': 1.0}, r'label_smoothing=1.0 must lie in \[0, 1\)'),
    ({'contrastive_margin': 2.0}, r'contrastive_margin=2.0 must lie in \[-1, 1\]'),
    ({'part_layer_init': 'xavier'}, "part_layer_init='xavier' must be one of"),
])
def test_bad_options_are_refused(options, match):
  with pytest.raises(ConfigError, match=match):
    tiny_method(**options)
