"""The training loop on the synthetic set: learning, exact resume, SIGTERM, Ctrl-C, a changed
config on resume, NaN, eval mode."""

import json
import os
import re
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from cnl_jax import training
from cnl_jax.training.checkpoints import Checkpoints
from cnl_jax.training.metrics import read_metrics
from helpers.runs import (ROOT, TerminalRun, final_variables, finish, run_main, small_config,
                  wait_for_checkpoint)


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
  _, stderr = process.communicate(timeout=300)
  stopped_at = Checkpoints(interrupted).latest_step()
  if stop == 'SIGKILL':
    assert process.returncode == -signal.SIGKILL
  else:
    assert process.returncode == 0  # saved and exited cleanly
    saved = re.search(r'SIGTERM: saved step (\d+) of 64', stderr)
    assert saved and int(saved.group(1)) == stopped_at, stderr[-3000:]
  assert stopped_at < 64, 'the run ended before it was interrupted'
  finish(run_main(interrupted, cache_dir, '--config.checkpoint_every_steps=3'))
  assert_same_variables(uninterrupted, interrupted)


def assert_same_variables(expected_workdir, workdir):
  expected, restored = final_variables(expected_workdir), final_variables(workdir)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(expected),
                          jax.tree.leaves(restored)):
    np.testing.assert_array_equal(a, b, err_msg=jax.tree_util.keystr(path))


# The forked child only resets SIGINT and execs main.py, so JAX's threads do not matter.
@pytest.mark.filterwarnings('ignore:os.fork')
def test_ctrl_c_in_a_terminal_saves_the_step_and_the_run_resumes_exactly(cache_dir,
                                                                         uninterrupted, tmp_path):
  workdir = str(tmp_path / 'interrupted')
  run = TerminalRun(workdir, cache_dir)
  run.wait_for('Epoch 0: test top-1')  # training, past the first compile
  run.press_ctrl_c()
  assert run.wait() == 130, run.output[-3000:]
  saved = re.search(r'SIGINT: saved step (\d+) of 64; run the same command to continue',
                    run.output)
  assert saved, run.output[-3000:]
  assert Checkpoints(workdir).latest_step() == int(saved.group(1)) < 64
  assert 'Traceback' not in run.output and 'Exception ignored' not in run.output
  # Log lines print above the progress bar, each on a line of its own, not after the bar.
  log_lines = list(re.finditer(r'[IW]\d{4} [\d:.]+ +\d+ loop\.py:\d+\]', run.output))
  assert len(log_lines) >= 2 and '%|' in run.output  # the epoch's line, Ctrl-C's; a bar
  for line in log_lines:
    assert run.output[line.start() - 1] in '\r\n', run.output[line.start() - 300:line.end()]
  finish(run_main(workdir, cache_dir))
  assert_same_variables(uninterrupted, workdir)


def test_a_second_sigint_says_so_and_stops_at_once():
  script = ('import os, signal, time\n'
            'from cnl_jax.training.loop import _Interruption\n'
            'with _Interruption() as interruption:\n'
            '  os.kill(os.getpid(), signal.SIGINT)\n'
            '  print(interruption.signal_name, flush=True)\n'
            '  os.kill(os.getpid(), signal.SIGINT)\n'
            '  time.sleep(30)\n'
            '  print("still running")\n')
  child = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         env={**os.environ, 'PYTHONPATH': ROOT}, timeout=120)
  assert child.stdout.split() == ['SIGINT'], child.stderr[-3000:]
  assert child.returncode == -signal.SIGINT
  assert child.stderr.strip().splitlines()[-1] == (
      'Ctrl-C again: stopped without saving; the workdir keeps its last checkpoint.')


def test_rerunning_a_finished_run_says_it_is_complete(cache_dir, uninterrupted):
  process = run_main(uninterrupted, cache_dir)
  stdout, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr[-3000:]
  assert f'The run in {uninterrupted} is complete (step 64 of 64)' in stderr
  assert 'Resumed' not in stderr and os.path.join(uninterrupted, 'metrics.jsonl') in stderr
  result = json.loads(stdout)
  assert result['steps'] == result['total_steps'] == 64
  expected = [r for r in read_metrics(uninterrupted) if r['split'] == 'eval'][-1]
  assert result['final_top1'] == expected['top1'] and result['final_count'] == expected['count']


@pytest.mark.parametrize('override, field', [
    ('--config.batch_size=4', 'batch_size'), ('--config.model=resnet18_2nl', 'model'),
    ('--config.seed=1', 'seed'),
    # An option the config does not list; the run recorded its default.
    ('--config.method.label_smoothing=0.1', 'method.label_smoothing')])
def test_resuming_with_another_config_is_refused_before_anything_is_written(
    cache_dir, uninterrupted, override, field):
  before = {name: os.stat(os.path.join(uninterrupted, name)).st_mtime_ns
            for name in os.listdir(uninterrupted)}
  process = run_main(uninterrupted, cache_dir, override)
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 1
  last = stderr.strip().splitlines()[-1]
  assert last.startswith('error: ') and f' {field} ' in last and '(saved) vs' in last, stderr
  assert 'new --workdir' in last and 'Traceback' not in stderr
  assert before == {name: os.stat(os.path.join(uninterrupted, name)).st_mtime_ns
                    for name in os.listdir(uninterrupted)}


def test_misspelt_config_field_is_one_line_with_the_suggestion(tmp_path):
  workdir = tmp_path / 'run'
  process = run_main(str(workdir), tmp_path, '--config.learnig_rate=0.1')
  stdout, stderr = process.communicate(timeout=300)
  assert process.returncode == 2 and stdout == '' and not workdir.exists()
  assert stderr.splitlines() == [(
      'error: --config override: no config field \'learnig_rate\'. Did you mean '
      '"learning_rate" instead of "learnig_rate"?')]


def test_misspelt_method_option_is_one_line_naming_the_valid_ones(tmp_path):
  workdir = tmp_path / 'run'
  process = run_main(str(workdir), tmp_path, '--config.method.label_smothing=0.1')
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 1 and 'Traceback' not in stderr, stderr
  assert stderr.strip().splitlines()[-1] == (
      "error: config.method.label_smothing is not an option of method 'classification', which "
      "trains config.model='resnet18_2cnl'; its options: label_smoothing, layer_decay.")
  assert not workdir.exists()


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
