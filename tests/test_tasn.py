"""TASN's objective and train step: the distillation formula, where gradients flow, the loss
falls, one compilation."""

import os

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from PIL import Image

from cnl_jax.cli import visualize
from cnl_jax.data.image_files import read_eval_image
from cnl_jax.methods.tasn import TASN, TASNMethod, distillation_loss
from cnl_jax.trained_run import TrainedRun
from cnl_jax.training import steps
from configs import tasn_demo

COMPILE_EVENT = '/jax/core/compile/backend_compile_duration'
NUM_CLASSES = 4
# The trilinear attention's own head and the attention net: trained by their CE alone.
ATTENTION_PARAMS = ('attention_net', 'dilated_conv1', 'dilated_conv2', 'attention_bn',
                    'attention_fc')


def tiny_method():
  # ResNet-18 for both nets keeps compilation short; the structure is TASN's.
  return TASNMethod(TASN(NUM_CLASSES, sample_size=32, attention_size=32, attention_width=4,
                         part_depth=18, part_width=4), NUM_CLASSES)


def tiny_batch(seed=0, batch=4, size=40):
  rng = np.random.default_rng(seed)
  return {'image': rng.normal(size=(batch, size, size, 3)).astype(np.float32),
          'label': np.arange(batch, dtype=np.int32) % NUM_CLASSES,
          'mask': np.ones(batch, bool)}


def test_distillation_equals_its_formula(rng):
  teacher, student = rng.normal(size=(2, 3, 5)) * 20

  def softmax(z):
    z = np.exp(z - z.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)
  expected = np.mean(-np.sum(softmax(teacher / 10) * np.log(softmax(student / 10)), -1))
  assert float(distillation_loss(teacher, student, 10.0)) == pytest.approx(expected, rel=1e-5)
  # Not stop-gradiented: the teacher (part net's logits) learns from it too.
  assert np.any(jax.grad(distillation_loss)(jnp.asarray(teacher), jnp.asarray(student), 10.0))


@pytest.fixture(scope='module')
def few_steps():
  """Losses of 6 train steps on one tiny batch, and the compilations after the first step."""
  compiled = []

  def record(event, duration, **kwargs):
    del duration
    if event == COMPILE_EVENT:
      compiled.append(kwargs.get('fun_name', event))

  method = tiny_method()
  mesh = steps.create_mesh()
  state = steps.create_train_state(method, optax.sgd(0.05), 0, (1, 40, 40, 3), mesh)
  train_step = steps.make_train_step(method, mesh)
  batch = steps.to_global(tiny_batch(), mesh)
  jax.monitoring.register_event_duration_secs_listener(record)
  losses = []
  try:
    for step in range(6):
      state, metrics = train_step(state, batch)
      losses.append(float(metrics['loss']))
      if step == 0:
        first = len(compiled)
  finally:
    jax.monitoring.unregister_event_duration_listener(record)
  return losses, metrics, compiled, first, train_step, method, jax.device_get(state)


def test_attention_net_learns_only_from_its_own_cross_entropy(few_steps):
  *_, method, state = few_steps
  batch = tiny_batch(seed=1)

  def all_but_attention_ce(params):
    loss, (_, metrics) = method.loss(params, state.model_state, batch, jax.random.key(1), 0)
    return loss - metrics['attention/loss']

  grads = jax.jit(jax.grad(all_but_attention_ce))(state.params)
  for name in ATTENTION_PARAMS:
    assert all(not np.any(leaf) for leaf in jax.tree.leaves(grads[name])), name
  assert all(np.any(leaf) for leaf in jax.tree.leaves(grads['fc_shared']))


def test_a_few_steps_lower_the_loss(few_steps):
  losses, metrics, *_ = few_steps
  assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses
  assert {'attention/top1', 'master_shared/loss', 'distillation_loss'} <= set(metrics)


def test_train_step_compiles_once(few_steps):
  _, _, compiled, first, *_ = few_steps
  assert first >= 1, compiled  # the listener sees compilations at all
  assert compiled[first:] == [], compiled[first:]


def test_visualize_shows_maps_and_sampled_images(few_steps, tmp_path):
  *_, method, state = few_steps
  config = tasn_demo.get_config()
  config.model_overrides = dict(sample_size=32, attention_size=32, attention_width=4,
                                part_depth=18, part_width=4)
  config.image_size = config.eval_resize = 40
  run = TrainedRun(config, tuple('abcd'), {'params': state.params, **state.model_state})
  image = np.random.default_rng(0).integers(0, 255, (50, 60, 3), np.uint8)
  Image.fromarray(image).save(tmp_path / 'bird.png')
  pixels = read_eval_image(str(tmp_path / 'bird.png'), 40, 40)
  paths = visualize.visualize_panels(run, pixels, str(tmp_path / 'out'))
  assert [os.path.basename(path) for path in paths] == [
      'structure_map.png', 'detail_map.png', 'structure_image.png', 'detail_image.png',
      'grid.png']
  size = visualize.MIN_DISPLAY_SIZE
  for path in paths[:-1]:
    with Image.open(path) as shown:
      assert shown.size == (size, size)
  cams = visualize.visualize_cams(run, pixels, str(tmp_path / 'out'))
  assert [os.path.basename(path) for path in cams] == [
      'cam_attention.png', 'cam_part.png', 'cam_part_shared.png', 'cam_master.png',
      'cam_master_shared.png', 'cams.png']
  panels = run.panels(np.zeros((40, 40, 3), np.float32))
  assert panels['structure_image'].values.shape == (32, 32, 3)
  assert panels['detail_image'].values.shape == (32, 32, 3)
  assert panels['structure_map'].kind == 'heatmap' and panels['detail_image'].kind == 'image'


def test_sample_size_leaves_the_attention_net_at_its_own_size():
  """The released 336 variant changes only the sampler's output: the attention net still
  sees 224 px and gives 28 x 28 maps (checked abstractly at full size)."""
  images = jax.ShapeDtypeStruct((1, 512, 512, 3), jnp.float32)
  for sample_size in (224, 336):
    model = TASN(200, sample_size=sample_size)
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x), images)
    _, outputs = jax.eval_shape(lambda v, x: model.apply(v, x), variables, images)
    assert outputs['attention_maps'].shape == (1, 28, 28, 512)
    assert outputs['structure_images'].shape == (1, sample_size, sample_size, 3)


def test_new_classifiers_start_as_mxnets_xavier():
  """Every FC, the attention net's too, takes the released train script's Xavier(gaussian,
  fan-in, magnitude 2), N(0, 2 / fan_in), and a zero bias."""
  model = TASN(100, sample_size=32, attention_size=32, attention_width=16, part_depth=18,
               part_width=16)
  variables = jax.jit(lambda key: model.init(key, jnp.zeros((1, 40, 40, 3))))(
      jax.random.key(0))
  for name in ('attention_fc', 'fc_part', 'fc_master', 'fc_shared'):
    kernel = np.asarray(variables['params'][name]['kernel'])
    assert kernel.std() == pytest.approx(np.sqrt(2 / kernel.shape[0]), rel=0.05), name
    assert not np.any(variables['params'][name]['bias'])
