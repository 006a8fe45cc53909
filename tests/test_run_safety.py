"""Faults of shared machines, with real files and real operating-system errors: two runs in
one workdir, a truncated newest checkpoint, none that restores, a save the filesystem
refuses (EFBIG under RLIMIT_FSIZE), and the inspection tools on a run without checkpoints."""

import json
import os
import resource
import shutil
import signal
import subprocess
import time

import pytest

from cnl_jax.errors import RunNotFoundError
from cnl_jax.trained_run import load_run
from cnl_jax.training.checkpoints import complete_steps
from cnl_jax.training.metrics import read_metrics
from cnl_jax.training.run_config import save_run_config
from cnl_jax.training.workdir_lock import LOCK_FILE
from helpers.runs import final_variables, finish, main_command, run_main, small_config
from test_training import assert_same_variables

EPOCHS = 3  # 8 steps an epoch: checkpoints at steps 8, 16 and 24


@pytest.fixture(scope='module')
def cache_dir(tmp_path_factory):
  return tmp_path_factory.mktemp('synthetic')


@pytest.fixture(scope='module')
def straight(cache_dir, tmp_path_factory):
  """(workdir, summary) of a run that went straight through its epochs."""
  workdir = str(tmp_path_factory.mktemp('straight'))
  summary = json.loads(finish(run_main(workdir, cache_dir, num_epochs=EPOCHS)).splitlines()[-1])
  return workdir, summary


def copy_of(run, tmp_path):
  workdir = str(tmp_path / 'copy')
  shutil.copytree(run, workdir)
  return workdir


def truncate_largest_file(step_directory):
  """Halves the largest array data file of a checkpoint, as a half-synced copy leaves it."""
  files = [os.path.join(folder, name) for folder, _, names in os.walk(step_directory)
           for name in names]
  largest = max(files, key=os.path.getsize)
  os.truncate(largest, os.path.getsize(largest) // 2)
  return largest


def finish_with_log(process):
  """Waits for a child run to succeed; returns its standard output and error."""
  stdout, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr[-3000:]
  return stdout, stderr


def error_line(stderr):
  """The last line of stderr, after checking that no traceback came before it."""
  assert 'Traceback' not in stderr, stderr[-3000:]
  return stderr.strip().splitlines()[-1]


def test_a_second_run_in_a_busy_workdir_is_refused_and_the_first_is_unaffected(
    cache_dir, straight, tmp_path):
  workdir = str(tmp_path / 'run')
  first = run_main(workdir, cache_dir, num_epochs=EPOCHS)
  while not os.path.exists(os.path.join(workdir, LOCK_FILE)):
    assert first.poll() is None, first.communicate()[1][-3000:]
    time.sleep(0.05)
  second = run_main(workdir, cache_dir, num_epochs=EPOCHS)
  _, stderr = second.communicate(timeout=300)
  assert first.poll() is None  # refused while the first run goes on
  assert second.returncode == 1
  line = error_line(stderr)
  assert line.startswith('error: ') and 'in use by another training run' in line
  assert f'process {first.pid} on host' in line and '--takeover_lock' in line

  finish(first)
  train_steps = [r['step'] for r in read_metrics(workdir) if r['split'] == 'train']
  # One run's records, each once.
  assert train_steps == sorted(set(train_steps)) and train_steps[-1] == 8 * EPOCHS
  assert_same_variables(straight[0], workdir)
  assert not os.path.exists(os.path.join(workdir, LOCK_FILE))  # released at the end


def test_a_truncated_newest_checkpoint_is_moved_aside_and_the_run_resumes_exactly(
    cache_dir, straight, tmp_path):
  workdir = copy_of(straight[0], tmp_path)
  directory = os.path.join(workdir, 'checkpoints')
  damaged = truncate_largest_file(os.path.join(directory, '24'))
  process = run_main(workdir, cache_dir, num_epochs=EPOCHS)
  stdout, stderr = finish_with_log(process)
  warnings = [line for line in stderr.splitlines() if 'does not restore' in line]
  assert len(warnings) == 1 and 'step 24' in warnings[0] and 'from step 16' in warnings[0]
  aside = damaged.replace(os.path.join(directory, '24'), os.path.join(directory, '24.corrupt'))
  assert os.path.getsize(aside) == os.path.getsize(damaged.replace(workdir, straight[0])) // 2
  assert complete_steps(directory)[-1] == 24
  assert_same_variables(straight[0], workdir)
  summary = json.loads(stdout.splitlines()[-1])
  assert (summary['best_top1'], summary['best_epoch']) == (straight[1]['best_top1'],
                                                           straight[1]['best_epoch'])


def test_when_no_checkpoint_restores_the_run_stops_in_one_line_and_moves_nothing(
    cache_dir, straight, tmp_path):
  workdir = copy_of(straight[0], tmp_path)
  directory = os.path.join(workdir, 'checkpoints')
  for step in complete_steps(directory):
    truncate_largest_file(os.path.join(directory, str(step)))
  before = sorted(os.listdir(directory))
  process = run_main(workdir, cache_dir, num_epochs=EPOCHS)
  _, stderr = process.communicate(timeout=300)
  assert process.returncode == 1
  line = error_line(stderr)
  assert line.startswith('error: No checkpoint in') and 'step 24: ' in line
  assert 'step 16: ' in line and 'step 8: ' in line
  assert sorted(os.listdir(directory)) == before


# The forked child only ignores SIGXFSZ, sets the limit and execs main.py.
@pytest.mark.filterwarnings('ignore:os.fork')
def test_a_refused_save_stops_in_one_line_and_the_next_start_resumes(cache_dir, straight,
                                                                     tmp_path):
  workdir = copy_of(straight[0], tmp_path)
  command, env = main_command(workdir, cache_dir, num_epochs=EPOCHS + 1)

  def small_file_limit():  # in the child: writes past 1 MB fail with EFBIG
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2**20, 2**20))

  limited = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600,
                           preexec_fn=small_file_limit, check=False)
  assert limited.returncode == 1
  line = error_line(limited.stderr)
  assert line.startswith('error: Saving step 32 to ') and 'File too large' in line
  assert 'last complete checkpoint is step 24' in line
  directory = os.path.join(workdir, 'checkpoints')
  assert sorted(os.listdir(directory)) == ['16', '24', '8']  # no unfinished folder left
  assert not os.path.exists(os.path.join(workdir, LOCK_FILE))  # released on the error too

  process = run_main(workdir, cache_dir, num_epochs=EPOCHS + 1)
  _, stderr = finish_with_log(process)
  assert 'Resumed from step 24' in stderr
  assert complete_steps(directory)[-1] == 32


def test_the_tools_read_a_run_without_checkpoints_and_create_nothing(cache_dir, tmp_path):
  save_run_config(small_config(cache_dir), str(tmp_path))  # a run stopped before its 1st save
  with pytest.raises(RunNotFoundError, match='holds no checkpoint'):
    load_run(str(tmp_path))
  assert os.listdir(tmp_path) == ['config.json']
  with pytest.raises(RunNotFoundError):
    final_variables(str(tmp_path))
  assert os.listdir(tmp_path) == ['config.json']
