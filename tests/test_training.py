"""The training loop on the synthetic set: learning, exact resume, SIGTERM, NaN, eval mode."""

import re
import signal

import jax
import numpy as np
import pytest

from cnl_jax import training
from cnl_jax.training.checkpoints import Checkpoints
from cnl_jax.training.metrics import read_metrics
from runs import final_variables, finish, run_main, small_config, wait_for_checkpoint


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

  expected, restored = final_variables(uninterrupted), final_variables(interrupted)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(expected),
                          jax.tree.leaves(restored)):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))


def test_init_from_starts_with_another_runs_parameters(cache_dir, tmp_path):
  source, fresh = str(tmp_path / 'source'), str(tmp_path / 'fresh')
  training.train_and_evaluate(small_config(cache_dir, num_epochs=1), source)
  config = small_config(cache_dir, num_epochs=1, init_from=source, learning_rate=1e-9,
                        warmup_start_lr=1e-9)
  config.weight_decay = 0.0
  training.train_and_evaluate(config, fresh)
  # One epoch at a learning rate of 1e-9 leaves the loaded parameters where they were.
  expected, started = final_variables(source)['params'], final_variables(fresh)['params']
  for a, b in zip(jax.tree.leaves(expected), jax.tree.leaves(started)):
    np.testing.assert_allclose(a, b, atol=1e-6)

  other_model = small_config(cache_dir, init_from=source, model='resnet18_2nl')
  with pytest.raises(training.ConfigError, match='holds another model'):
    training.train_and_evaluate(other_model, str(tmp_path / 'other'))


def test_init_from_needs_a_checkpoint(cache_dir, tmp_path):
  config = small_config(cache_dir, init_from=str(tmp_path / 'nothing'))
  with pytest.raises(FileNotFoundError, match='holds no checkpoint'):
    training.train_and_evaluate(config, str(tmp_path / 'run'))
