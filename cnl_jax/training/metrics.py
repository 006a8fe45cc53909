"""Where a run's numbers go: TensorBoard, a JSON-lines file and a progress bar."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import termios
from collections.abc import Iterator
from typing import Any

import tqdm
import tqdm.contrib
from tensorboardX import SummaryWriter


class MetricWriter:
  """Writes scalars to `<workdir>/tensorboard` and `<workdir>/metrics.jsonl`.

  Only the process that is told to (`enabled`, process 0 of a multi-host run) writes.
  Each JSON line is `{"step": ..., "split": "train" | "eval", <name>: <value>, ...}`.
  """

  def __init__(self, workdir: str, enabled: bool = True):
    self.enabled = enabled
    if enabled:
      os.makedirs(workdir, exist_ok=True)
      self._tensorboard = SummaryWriter(os.path.join(workdir, 'tensorboard'))
      self._jsonl = open(os.path.join(workdir, 'metrics.jsonl'), 'a')

  def write(self, step: int, split: str, scalars: dict[str, Any]) -> None:
    if not self.enabled:
      return
    scalars = {name: float(value) for name, value in scalars.items()}
    for name, value in scalars.items():
      self._tensorboard.add_scalar(f'{split}/{name}', value, step)
    self._jsonl.write(json.dumps({'step': step, 'split': split, **scalars}) + '\n')
    self._jsonl.flush()

  def close(self) -> None:
    if self.enabled:
      self._tensorboard.close()
      self._jsonl.close()


def read_metrics(workdir: str) -> list[dict[str, Any]]:
  """Every record of `<workdir>/metrics.jsonl`, in order."""
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f if line.strip()]


def _stderr_handlers() -> list[logging.StreamHandler]:
  """The root logger's handlers that write to stderr (absl's wraps a stream handler)."""
  handlers = [getattr(handler, 'python_handler', handler)
              for handler in logging.getLogger().handlers]
  return [handler for handler in handlers
          if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr]


# (terminal, its attributes before) while a progress bar keeps Ctrl-C from being echoed.
_ECHOING = []


@contextlib.contextmanager
def _ctrl_c_unechoed(stream) -> Iterator[None]:
  """While the bar shows, the terminal does not echo Ctrl-C as '^C' into the bar's line."""
  try:
    terminal = stream.fileno()
    attributes = termios.tcgetattr(terminal)
  except (OSError, ValueError, termios.error):  # not a terminal
    yield
    return
  unechoed = list(attributes)
  unechoed[3] &= ~termios.ECHOCTL  # the local modes
  termios.tcsetattr(terminal, termios.TCSANOW, unechoed)
  _ECHOING.append((terminal, attributes))
  try:
    yield
  finally:
    restore_ctrl_c_echo()


def restore_ctrl_c_echo() -> None:
  """Gives the terminal back its echo of Ctrl-C (also before a process ends at once)."""
  while _ECHOING:
    terminal, attributes = _ECHOING.pop()
    termios.tcsetattr(terminal, termios.TCSANOW, attributes)


@contextlib.contextmanager
def progress_bar(total: int, initial: int, enabled: bool) -> Iterator[tqdm.tqdm]:
  """Steps done, rate and ETA on a terminal; silent when stderr is not a terminal.

  While the bar shows, log lines and anything else written to stderr print above it
  (tqdm.write), so the bar stays one unbroken line at the bottom of the terminal; Ctrl-C is
  not echoed into it.
  """
  with tqdm.tqdm(total=total, initial=initial, unit='step', dynamic_ncols=True,
                 disable=None if enabled else True) as bar:
    if bar.disable:
      yield bar
      return
    above_bar = tqdm.contrib.DummyTqdmFile(sys.stderr)
    handlers = _stderr_handlers()
    streams = [handler.setStream(above_bar) for handler in handlers]
    try:
      with contextlib.redirect_stderr(above_bar), _ctrl_c_unechoed(sys.stderr):
        yield bar
    finally:
      for handler, stream in zip(handlers, streams):
        handler.setStream(stream)
