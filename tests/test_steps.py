"""The shared train and eval steps: sharding-invariant, learning, exact masked sums."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from cnl_jax import CNLPlacement, create_model
from cnl_jax.methods import Classification
from cnl_jax.training import steps
from cnl_jax.training.checkpoints import Checkpoints
from cnl_jax.training.optimizer import create_optimizer
from configs import default
from helpers.toy_method import NUM_CLASSES, ToyMethod

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_sharded_step_equals_single_device_step_with_and_without_accumulation():
  env = {**os.environ, 'XLA_FLAGS': '--xla_force_host_platform_device_count=4',
         'PYTHONPATH': ROOT, 'JAX_PLATFORMS': 'cpu'}
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'tests', 'helpers',
                                           'sharded_step_check.py')],
                          env=env, capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  differences = json.loads(result.stdout.strip().splitlines()[-1])
  for prefix in ('', 'accumulated/'):  # one batch, then 2 micro-batches
    assert differences[f'{prefix}loss'] < 1e-10  # float64 (see the script)
    assert differences[f'{prefix}params'] < 1e-10
    assert differences[f'{prefix}model_state'] < 1e-10


def tiny_method(num_classes=4):
  model = create_model('resnet18', num_classes, dropout_rate=0.0,
                       cnl=CNLPlacement('res5_0', ('res3_1', 'res4_0')), cnl_inner_features=16)
  return Classification(model, num_classes)


def test_loss_falls_on_a_fixed_batch():
  rng = np.random.RandomState(0)
  batch = {'image': rng.normal(size=(8, 32, 32, 3)).astype(np.float32),
           'label': np.arange(8, dtype=np.int32) % 4}
  mesh = steps.create_mesh()
  method = tiny_method()
  config = default.get_config()
  state = steps.create_train_state(method, create_optimizer(config, lambda step: 0.01, 1), 0,
                                   (1, 32, 32, 3), mesh)
  train_step = steps.make_train_step(method, mesh)
  losses = []
  for _ in range(8):
    state, metrics = train_step(state, steps.to_global(batch, mesh))
    losses.append(float(metrics['loss']))
  assert int(state.step) == 8
  assert losses[-1] < 0.5 * losses[0], losses


def toy_batch(seed, size=8):
  rng = np.random.RandomState(seed)
  return {'image': rng.normal(size=(size, 8, 8, 3)).astype(np.float32),
          'label': rng.randint(0, NUM_CLASSES, size).astype(np.int32)}


@pytest.mark.parametrize('updates_per_step', [1, 2])
def test_micro_batches_make_the_one_batch_update(updates_per_step):
  # Without batch norm the loss is a mean over independent examples, so the mean of the
  # micro-batches' gradients is the batch's. Two steps: momentum and the schedule must also
  # step once per update of a batch, not once per micro-batch.
  method = ToyMethod(updates_per_step)
  mesh = steps.create_mesh()
  tx = create_optimizer(default.get_config(), lambda step: 0.1 / (1 + step), 1,
                        updates_per_step)
  initial = jax.device_get(steps.create_train_state(method, tx, 0, (1, 8, 8, 3), mesh).params)

  def after_two_steps(grad_accum_steps):
    state = steps.create_train_state(method, tx, 0, (1, 8, 8, 3), mesh)
    train_step = steps.make_train_step(method, mesh, grad_accum_steps)
    for seed in range(2):
      state, metrics = train_step(state, steps.to_global(toy_batch(seed), mesh))
    return jax.device_get((state.step, state.params, state.opt_state, metrics))

  whole, accumulated = after_two_steps(1), after_two_steps(4)
  assert whole[0] == accumulated[0] == 2
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(whole[1:]),
                          jax.tree.leaves(accumulated[1:])):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, err_msg=jax.tree_util.keystr(path))
  assert not np.allclose(jax.tree.leaves(initial)[0], jax.tree.leaves(whole[1])[0])


def test_accumulating_run_resumes_exactly_from_a_checkpoint(tmp_path):
  # With batch norm, so that the model state threads through the micro-batches too.
  method = ToyMethod(batch_norm=True)
  mesh = steps.create_mesh()
  tx = create_optimizer(default.get_config(), lambda step: 0.1, 1)
  train_step = steps.make_train_step(method, mesh, grad_accum_steps=2)
  batches = [steps.to_global(toy_batch(seed), mesh) for seed in range(2)]
  fresh = lambda: steps.create_train_state(method, tx, 0, (1, 8, 8, 3), mesh)

  straight = fresh()
  for batch in batches:
    straight, _ = train_step(straight, batch)
  first, _ = train_step(fresh(), batches[0])
  checkpoints = Checkpoints(str(tmp_path), writable=True)
  checkpoints.save(first, {})
  checkpoints.wait()
  resumed, _ = checkpoints.restore(fresh())
  checkpoints.close()
  resumed, _ = train_step(resumed, batches[1])
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(jax.device_get(straight)),
                          jax.tree.leaves(jax.device_get(resumed))):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))


def test_eval_step_counts_only_real_examples():
  rng = np.random.RandomState(0)
  mesh = steps.create_mesh()
  method = tiny_method()
  state = steps.create_train_state(
      method, create_optimizer(default.get_config(), lambda step: 0.0, 1), 0, (1, 32, 32, 3), mesh)
  images = rng.normal(size=(6, 32, 32, 3)).astype(np.float32)
  labels = np.array([0, 1, 2, 3, 0, 1], np.int32)
  mask = np.array([1, 1, 1, 1, 0, 0], bool)
  sums = jax.device_get(steps.make_eval_step(method, mesh)(
      state.variables, steps.to_global({'image': images, 'label': labels, 'mask': mask}, mesh)))
  logits = np.asarray(method.predict(state.variables, images[:4])['logits'])
  assert sums['count'] == 4
  assert sums['top1'] == np.sum(logits.argmax(-1) == labels[:4])
  assert sums['top5'] == 4  # 4 classes: every label is in the top 5


def test_prefetch_keeps_order_and_reads_only_a_few_batches_ahead():
  mesh = steps.create_mesh()
  read = []

  def batches():
    for index in range(5):
      read.append(index)
      yield {'image': np.full((2, 3), index, np.float32)}

  prefetched = steps.prefetch_to_mesh(batches(), mesh, size=2)
  first = next(prefetched)
  assert read == [0, 1, 2]  # two batches in flight beyond the one handed out
  rest = list(prefetched)
  assert [int(b['image'][0, 0]) for b in [first, *rest]] == [0, 1, 2, 3, 4]
  assert rest[0]['image'].sharding == steps.batch_sharding(mesh)


class TwoHeads:
  """A method whose second head is the first one negated: its top-1 differs by design."""
  updates_per_step = 1
  reported_head = 'main'

  def __init__(self, method):
    self.model, self.inner = method.model, method

  def init(self, rng, images):
    return self.inner.init(rng, images)

  def predict(self, variables, images):
    logits = self.inner.predict(variables, images)['logits']
    return {'main': logits, 'negated': -logits}


def test_eval_step_reports_every_head_and_the_reported_one_plainly():
  rng = np.random.RandomState(1)
  mesh = steps.create_mesh()
  method = TwoHeads(tiny_method())
  state = steps.create_train_state(
      method, create_optimizer(default.get_config(), lambda step: 0.0, 1), 0, (1, 32, 32, 3), mesh)
  images = rng.normal(size=(4, 32, 32, 3)).astype(np.float32)
  labels = np.array([0, 1, 2, 3], np.int32)
  mask = np.array([True, True, True, False])  # the last image is padding
  sums = jax.device_get(steps.make_eval_step(method, mesh)(
      state.variables, steps.to_global({'image': images, 'label': labels, 'mask': mask}, mesh)))
  heads = method.predict(state.variables, images)
  assert sorted(sums) == ['confusion', 'count', 'loss', 'negated/loss', 'negated/top1',
                          'negated/top5', 'top1', 'top5']
  predicted = np.argmax(heads['main'], -1)
  assert sums['top1'] == np.sum((predicted == labels)[mask])
  assert sums['negated/top1'] == np.sum((np.argmax(heads['negated'], -1) == labels)[mask])
  # The reported head's [true class, predicted class] counts, padding left out.
  expected = np.zeros_like(sums['confusion'])
  np.add.at(expected, (labels[mask], predicted[mask]), 1)
  np.testing.assert_array_equal(sums['confusion'], expected)
