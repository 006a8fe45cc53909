"""The config a run was trained with, stored as `<workdir>/config.json` for the tools."""

from __future__ import annotations

import json
import os

import ml_collections

from cnl_jax.errors import RunNotFoundError

CONFIG_FILE = 'config.json'


def save_run_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Writes `config` to `<workdir>/config.json` (tuples become lists)."""
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, CONFIG_FILE), 'w', encoding='utf-8') as file:
    file.write(config.to_json_best_effort(indent=2, sort_keys=True))


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
  """The config saved by `train_and_evaluate` in `workdir`."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.isfile(path):
    raise RunNotFoundError(
        f'{path} does not exist: {workdir!r} is not a training workdir, or it was trained '
        'before runs stored their config. Train into it with `python main.py --config ... '
        f'--workdir {workdir}` (an existing run resumes and writes the file).')
  with open(path, encoding='utf-8') as file:
    return ml_collections.ConfigDict(json.load(file, object_hook=_lists_to_tuples))


def _lists_to_tuples(fields: dict) -> dict:
  """JSON has no tuples; the configs' sequences are tuples (and must stay hashable)."""
  return {name: tuple(value) if isinstance(value, list) else value
          for name, value in fields.items()}
