"""Small training runs for the tests: the demo config shrunk to seconds, in or out of process."""

import fcntl
import os
import pty
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

from cnl_jax.training.checkpoints import Checkpoints
from configs import demo

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


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


def main_command(workdir, cache_dir, *overrides, num_epochs=8):
  """The command line and environment of `python main.py` on the small demo config."""
  config = small_config(cache_dir, num_epochs=num_epochs)
  flags = [f'--config.{name}={config[name]}' for name in
           ('image_size', 'eval_resize', 'batch_size', 'eval_batch_size', 'num_epochs',
            'warmup_epochs', 'learning_rate', 'warmup_start_lr')]
  flags += [f'--config.data.{name}={config.data[name]}' for name in
            ('cache_dir', 'data_dir', 'synthetic_classes', 'synthetic_train_per_class',
             'synthetic_test_per_class', 'synthetic_image_size', 'crop_min_area')]
  command = [sys.executable, os.path.join(ROOT, 'main.py'), '--config',
             os.path.join(ROOT, 'configs', 'demo.py'), f'--workdir={workdir}',
             '--config.decay_epochs=()', *flags, *overrides]
  return command, {**os.environ, 'PYTHONPATH': ROOT, 'JAX_PLATFORMS': 'cpu'}


def run_main(workdir, cache_dir, *overrides, num_epochs=8):
  """`python main.py` on the small demo config (8 steps an epoch), as a child process."""
  command, env = main_command(workdir, cache_dir, *overrides, num_epochs=num_epochs)
  return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True)


class TerminalRun:
  """`python main.py` (as `run_main`) in a pseudo-terminal of its own, as a shell runs it.

  Its output is read on a thread; `press_ctrl_c` types Ctrl-C, which the terminal turns into
  SIGINT for its foreground process group, as in a real terminal.
  """

  def __init__(self, workdir, cache_dir, *overrides):
    command, env = main_command(workdir, cache_dir, *overrides)
    self.pid, self._terminal = pty.fork()
    if self.pid == 0:  # the child: SIGINT as in an interactive shell (pytest may ignore it)
      signal.signal(signal.SIGINT, signal.SIG_DFL)
      # A terminal's size (a new pseudo-terminal has 0 columns, where tqdm draws no bar).
      fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack('HHHH', 40, 120, 0, 0))
      os.execve(command[0], command, env)
    self._output = []
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    while True:
      try:
        chunk = os.read(self._terminal, 4096)
      except OSError:  # the child closed the terminal
        return
      if not chunk:
        return
      self._output.append(chunk.decode(errors='replace'))

  @property
  def output(self) -> str:
    return ''.join(self._output)

  def press_ctrl_c(self):
    os.write(self._terminal, b'\x03')

  def wait_for(self, text, timeout=300):
    deadline = time.time() + timeout
    while text not in self.output:
      assert time.time() < deadline, f'no {text!r} in:\n{self.output[-3000:]}'
      time.sleep(0.05)

  def wait(self, timeout=300) -> int:
    """The exit status (128 + the signal's number when a signal killed it), once it ended."""
    deadline = time.time() + timeout
    while True:
      pid, status = os.waitpid(self.pid, os.WNOHANG)
      if pid:
        self._reader.join(timeout=10)
        os.close(self._terminal)
        return os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
      assert time.time() < deadline, self.output[-3000:]
      time.sleep(0.05)


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


def final_variables(workdir):
  """The model variables of the latest checkpoint in workdir."""
  return Checkpoints(workdir).restore_variables()


def finish(process) -> str:
  """Waits for a child run to succeed; returns its standard output."""
  stdout, stderr = process.communicate(timeout=600)
  assert process.returncode == 0, stderr[-3000:]
  return stdout
