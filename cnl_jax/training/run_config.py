"""The config a run was trained with, stored as `<workdir>/config.json`: the run's identity.

Once a workdir holds a checkpoint, a start with a config that differs in a field that changes
the run is refused; the fields of `RESUMABLE_FIELDS` may change, and each accepted change is
appended to `<workdir>/config_history.jsonl` with both values.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import Any

import ml_collections

from cnl_jax.errors import ConfigError, RunNotFoundError

CONFIG_FILE = 'config.json'
HISTORY_FILE = 'config_history.jsonl'

# Fields a resumed run may change: how long it goes on, what it logs and keeps, how fast it
# evaluates, the final evaluation's test-time views and where its data files lie. Every other field changes what is trained.
RESUMABLE_FIELDS = frozenset({
    'num_epochs', 'log_every_steps', 'eval_every_epochs', 'checkpoint_every_steps',
    'keep_checkpoints', 'eval_batch_size', 'eval_tta',
    'data.data_dir', 'data.manual_dir', 'data.cache_dir', 'data.check_split_sizes',
})


def _fields(tree: dict[str, Any], prefix: str = '') -> dict[str, Any]:
  """A nested JSON config as {'data.name': value, ...}."""
  flat = {}
  for name, value in tree.items():
    if isinstance(value, dict):
      flat.update(_fields(value, f'{prefix}{name}.'))
    else:
      flat[f'{prefix}{name}'] = value
  return flat


def _as_json(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """`config` as it is saved (tuples become lists), so that it compares with a saved one."""
  return json.loads(config.to_json_best_effort())


def resume_changes(config: ml_collections.ConfigDict, workdir: str, has_checkpoint: bool
                   ) -> dict[str, tuple[Any, Any]]:
  """The fields in which `config` differs from the run saved in `workdir`, as (saved, new).

  Raises ConfigError, before anything is written, when the workdir holds a checkpoint and a
  field outside RESUMABLE_FIELDS differs. Fields the saved config lacks (added to the code
  after the run began) take their defaults and are not compared.
  """
  path = os.path.join(workdir, CONFIG_FILE)
  if not has_checkpoint or not os.path.isfile(path):
    return {}
  with open(path, encoding='utf-8') as file:
    saved = _fields(json.load(file))
  new = _fields(_as_json(config))
  changes = {name: (saved[name], new[name]) for name in sorted(saved.keys() & new.keys())
             if saved[name] != new[name]}
  refused = [name for name in changes if name not in RESUMABLE_FIELDS]
  if refused:
    differences = ', '.join(f'{name} {changes[name][0]!r} (saved) vs {changes[name][1]!r}'
                            for name in refused)
    raise ConfigError(
        f'{workdir} holds a run of another config: {differences}. Continue it with the config '
        f'it was trained with (the same --config and overrides, saved in {path}) or train '
        'into a new --workdir; only these fields may change on resume: '
        f'{", ".join(sorted(RESUMABLE_FIELDS))}.')
  return changes


def save_run_config(config: ml_collections.ConfigDict, workdir: str,
                    changes: dict[str, tuple[Any, Any]] | None = None) -> None:
  """Writes `config` to `<workdir>/config.json` (tuples become lists); `changes` (from
  `resume_changes`) are appended to `<workdir>/config_history.jsonl` first."""
  os.makedirs(workdir, exist_ok=True)
  if changes:
    record = {'time': datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec='seconds'), 'changes': {name: {'saved': saved, 'new': new}
                                         for name, (saved, new) in changes.items()}}
    with open(os.path.join(workdir, HISTORY_FILE), 'a', encoding='utf-8') as file:
      file.write(json.dumps(record) + '\n')
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
    saved = json.load(file, object_hook=_lists_to_tuples)
  # Runs saved before the model alone named its method hold the method's name there too.
  saved.get('method', {}).pop('name', None)
  return ml_collections.ConfigDict(saved)


def _lists_to_tuples(fields: dict) -> dict:
  """JSON has no tuples; the configs' sequences are tuples (and must stay hashable)."""
  return {name: tuple(value) if isinstance(value, list) else value
          for name, value in fields.items()}
