"""The command harness: flags first and one line per error, quiet libraries, exit statuses."""

import os
import re
import subprocess
import sys

import pytest

from cnl_jax.cli import quiet
from cnl_jax.cli.harness import run_command
from helpers.runs import ROOT, run_main

# A C++ log line of absl, TensorFlow or XLA ("I0000 00:00:1796647686.657112  7127 port.cc:153]")
# or absl's notice that precedes them.
CPP_LOG_LINE = re.compile(r'^[IWEF]\d{4} [\d:.]+ +\d+ [\w\-]+\.(cc|cpp|h):\d+\]|absl::Initialize',
                          re.MULTILINE)


def _run(*arguments, **env):
  return subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True,
                        env={**os.environ, 'PYTHONPATH': ROOT, 'JAX_PLATFORMS': 'cpu', **env},
                        timeout=300, check=False)


def test_a_misspelt_config_field_is_one_line_and_creates_nothing(tmp_path):
  workdir = tmp_path / 'W'
  result = _run('main.py', '--config', 'configs/demo.py', '--workdir', str(workdir),
                '--config.learning_rat=1')
  assert result.returncode == 2 and result.stdout == ''
  assert result.stderr.splitlines() == [
      'error: --config override: no config field \'learning_rat\'. Did you mean '
      '"learning_rate" instead of "learning_rat"?']
  assert not workdir.exists()


def test_one_program_runs_every_command(tmp_path):
  for arguments, status, message in (
      ([], 2, 'no command'), (['fly'], 2, "unknown command 'fly'"),
      (['predict', '--workdir', str(tmp_path), 'x.jpg', '--top-k', '0'], 2,
       'argument --top-k: must be at least 1, got 0')):
    result = _run('-m', 'cnl_jax.cli', *arguments)
    assert result.returncode == status, result.stderr
    assert result.stderr.splitlines()[-1].startswith('error: ') and message in result.stderr
  assert _run('-m', 'cnl_jax.cli', '--help').returncode == 0


def test_a_user_error_is_one_line_though_tensorflow_and_jax_loaded(tmp_path):
  """`python -m cnl_jax.predict` loads TensorFlow and JAX before it reads the workdir: their
  start-up logs do not come before the error."""
  result = _run('-m', 'cnl_jax.predict', '--workdir', str(tmp_path), 'x.jpg')
  assert result.returncode == 1 and result.stdout == ''
  [line] = result.stderr.splitlines()
  assert line.startswith('error: ') and 'config.json does not exist' in line


def test_only_complete_cpp_log_lines_are_dropped():
  logs = (b'I0000 00:00:1796647686.657112    7127 port.cc:153] oneDNN custom operations are on.\n'
          b'WARNING: All log messages before absl::InitializeLog() is called are written to '
          b'STDERR\n'
          b'W1207 12:00:00.123456  140 cpu_feature_guard.cc:227] This TensorFlow binary ...\n')
  ours = (b'I1207 12:53:13.105163 140283 train.py:42] JAX devices: [CpuDevice(id=0)]\n'
          b'F0000 00:00:1.0  7 check.cc:1] a fatal error stays\n  3%|##  | 63/2480\r')
  assert quiet.drop_log_lines(logs + ours) == ours


def test_verbose_is_asked_by_flag_or_environment(monkeypatch):
  monkeypatch.delenv(quiet.VERBOSE_ENV, raising=False)
  assert not quiet.verbose_requested(['--workdir', 'run'])
  assert quiet.verbose_requested(['--workdir', 'run', '--verbose'])
  monkeypatch.setenv(quiet.VERBOSE_ENV, '1')
  assert quiet.verbose_requested([])


def test_usage_errors_are_status_2_and_user_errors_status_1(tmp_path, capsys):
  assert run_command('predict', ['--workdir', str(tmp_path)]) == 2
  assert run_command('predict', ['--workdir', str(tmp_path), 'x.jpg']) == 1
  errors = capsys.readouterr().err.splitlines()
  assert len(errors) == 2 and all(line.startswith('error: ') for line in errors)


@pytest.fixture(scope='module')
def demo_output(tmp_path_factory):
  """(stdout, stderr) of one epoch of the small demo, its data generated afresh."""
  root = tmp_path_factory.mktemp('demo')
  process = run_main(str(root / 'run'), root / 'cache', num_epochs=1)
  stdout, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr[-3000:]
  return stdout, stderr


def test_the_demo_prints_no_library_logs(demo_output):
  stdout, stderr = demo_output
  assert not CPP_LOG_LINE.search(stderr), stderr
  assert 'Downloading' not in stdout + stderr and 'buffer_size' not in stderr
  assert 'Generating the synthetic set: 84 images of 32 px' in stderr
  first = stderr.splitlines()[0]
  assert re.match(r'I\d{4} [\d:.]+ +\d+ train\.py:\d+\] JAX devices', first), first
