"""The training loop on the synthetic set: learning, exact resume, SIGTERM, NaN, eval mode."""

import os
import re
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from cnl_jax import training
from cnl_jax.training.checkpoints import Checkpoints
from cnl_jax.training.metrics import read_metrics
from configs import demo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_config(cache_dir, **changes):
  """The demo config on a smaller synthetic set, so that a run takes seconds."""
  config = demo.get_config()
  config.data.cache_dir = str(cache_dir)
  config.data.data_dir = str(cache_dir / 'tfds')
  config.data.synthetic_classes = 4
  config.data.synthetic_train_per_class = 16
  config.data.synthetic_test_per_class = 5
  config.data.synthetic_image_size = 32
  config.data.crop_min_area = 0.5
  config.image_size = 32
  config.eval_resize = 36
  config.batch_size = 8
  config.eval_batch_size = 8
  config.num_epochs = 2
  config.warmup_epochs = 1
  config.decay_epochs = ()
  config.learning_rate = 0.02
  config.warmup_start_lr = 0.02
  config.log_every_steps = 1
  for field, value in changes.items():
    config[field] = value
  return config


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
  return tmp_path_factory.mktemp('synthetic')


def test_demo_config_trains_and_the_loss_falls(cache_dir, tmp_path):
  # Sixteen training images, whole-image crops and no dropout: the model can memorise them,
  # so the training loss must fall within a few steps.
  config = small_config(cache_dir, num_epochs=10, learning_rate=0.01, warmup_start_lr=0.01)
  config.data.synthetic_train_per_class = 4
  config.data.crop_min_area = 1.0
  config.model_overrides.dropout_rate = 0.0
  result = training.train_and_evaluate(config, str(tmp_path))
  assert result['steps'] == result['total_steps'] == 10 * 16 // 8
  records = read_metrics(str(tmp_path))
  losses = [r['loss'] for r in records if r['split'] == 'train']
  assert np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4]), losses
  evals = [r for r in records if r['split'] == 'eval']
  assert [r['epoch'] for r in evals] == list(range(10))
  assert all(r['count'] == 20 for r in evals)  # every test image exactly once
  assert result['best_top1'] == max(r['top1'] for r in evals)

  # Eval mode on the latest checkpoint reproduces the last epoch's figures.
  again = training.evaluate(config, str(tmp_path))
  assert again['top1'] == evals[-1]['top1'] and again['count'] == 20


def test_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(cache_dir, tmp_path):
  config = small_config(cache_dir, learning_rate=1e12, warmup_start_lr=1e12,
                        checkpoint_every_steps=1)
  with pytest.raises(training.NonFiniteLossError, match=r'at step (\d+)') as error:
    training.train_and_evaluate(config, str(tmp_path))
  bad_step = int(re.search(r'at step (\d+)', str(error.value)).group(1))
  assert Checkpoints(str(tmp_path)).latest_step() == bad_step


def run_main(workdir, cache_dir, *overrides):
  """`python main.py` on the small demo config (8 epochs of 8 steps), as a child process."""
  config = small_config(cache_dir, num_epochs=8)
  flags = [f'--config.{name}={config[name]}' for name in
           ('image_size', 'eval_resize', 'batch_size', 'eval_batch_size', 'num_epochs',
            'warmup_epochs', 'learning_rate', 'warmup_start_lr')]
  flags += [f'--config.data.{name}={config.data[name]}' for name in
            ('cache_dir', 'data_dir', 'synthetic_classes', 'synthetic_train_per_class',
             'synthetic_test_per_class', 'synthetic_image_size', 'crop_min_area')]
  command = [sys.executable, os.path.join(ROOT, 'main.py'), '--config',
             os.path.join(ROOT, 'configs', 'demo.py'), f'--workdir={workdir}',
             '--config.decay_epochs=()', *flags, *overrides]
  env = {**os.environ, 'PYTHONPATH': ROOT, 'JAX_PLATFORMS': 'cpu'}
  return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


def wait_for_checkpoint(process, workdir, timeout=300):
  """Blocks until a finished checkpoint folder exists in workdir; returns its step."""
  directory = os.path.join(workdir, 'checkpoints')
  deadline = time.time() + timeout
  while time.time() < deadline:
    if os.path.isdir(directory):
      finished = [int(name) for name in os.listdir(directory) if name.isdigit()]
      if finished:
        return max(finished)
    assert process.poll() is None, process.communicate()[1][-3000:]
    time.sleep(0.05)
  raise TimeoutError('no checkpoint appeared')


def final_params(workdir):
  return Checkpoints(workdir).restore_variables()


def finish(process):
  _, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr[-3000:]


@pytest.fixture(scope='module')
def uninterrupted(cache_dir, tmp_path_factory):
  """The workdir of a run that went straight through."""
  workdir = str(tmp_path_factory.mktemp('straight'))
  finish(run_main(workdir, cache_dir))
  return workdir


@pytest.mark.parametrize('stop', ['SIGKILL', 'SIGTERM'])
def test_interrupted_run_resumes_to_the_same_parameters(cache_dir, uninterrupted, tmp_path,
                                                        stop):
  interrupted = str(tmp_path / 'interrupted')
  process = run_main(interrupted, cache_dir, '--config.checkpoint_every_steps=3')
  wait_for_checkpoint(process, interrupted)
  process.send_signal(getattr(signal, stop))
  process.communicate(timeout=300)
  if stop == 'SIGKILL':
    assert process.returncode == -signal.SIGKILL
  else:
    assert process.returncode == 0  # saved and exited cleanly
  stopped_at = Checkpoints(interrupted).latest_step()
  assert stopped_at < 64, 'the run ended before it was interrupted'
  finish(run_main(interrupted, cache_dir, '--config.checkpoint_every_steps=3'))

  expected, restored = final_params(uninterrupted), final_params(interrupted)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(expected),
                          jax.tree.leaves(restored)):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))
