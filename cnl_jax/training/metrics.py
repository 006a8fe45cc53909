"""Where a run's numbers go: TensorBoard, a JSON-lines file and a progress bar."""

from __future__ import annotations

import json
import os
from typing import Any

import tqdm
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


def progress_bar(total: int, initial: int, enabled: bool) -> tqdm.tqdm:
  """Steps done, rate and ETA on a terminal; silent when stderr is not a terminal."""
  return tqdm.tqdm(total=total, initial=initial, unit='step', dynamic_ncols=True,
                   disable=None if enabled else True)
