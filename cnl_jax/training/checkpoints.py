"""Orbax checkpoints of a run: keep the last few and the best by top-1, written async.

A newest checkpoint that does not restore is moved aside and the run resumes from the one
before; a save that the filesystem refuses (full, read-only, over quota) ends the run in one
line naming the last complete checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import shutil
import sys
import traceback
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from cnl_jax.errors import RunNotFoundError, UserError
from cnl_jax.training.state import TrainState

BEST_METRIC = 'top1'
# Orbax writes a step into `<step>.orbax-checkpoint-tmp...` and renames it once complete.
_UNFINISHED = re.compile(r'^\d+\.orbax-checkpoint-tmp')
# How TensorStore, which writes the arrays, names the operating system's error in its message.
_TENSORSTORE_OS_ERROR = re.compile(r"\[os_error_code='?(\d+)'?\]")


class CheckpointSaveError(UserError):
  """The filesystem refused a checkpoint; the message names the step, the reason and the last
  complete checkpoint, from which the same command resumes."""


class CheckpointRestoreError(UserError):
  """No checkpoint of the run restores; the message lists each one tried and why it failed."""


def _tree(state: TrainState) -> dict[str, Any]:
  """The checkpointed part of the state (the optimizer's code is rebuilt from the config)."""
  return {'step': state.step, 'params': state.params, 'model_state': state.model_state,
          'opt_state': state.opt_state, 'rng': state.rng}


def complete_steps(directory: str) -> list[int]:
  """The steps of the finished checkpoints in `directory`, ascending; reads, creates nothing.

  Orbax names a finished checkpoint's folder by its step alone; unfinished ones carry a
  temporary suffix, and damaged ones moved aside a `.corrupt` one.
  """
  if not os.path.isdir(directory):
    return []
  return sorted(int(name) for name in os.listdir(directory) if name.isdigit())


def has_checkpoint(workdir: str) -> bool:
  """Whether `<workdir>/checkpoints` holds a finished checkpoint; reads, creates nothing."""
  return bool(complete_steps(os.path.join(workdir, 'checkpoints')))


def _first_line(error: BaseException) -> str:
  """The innermost cause's message, first line: what actually went wrong, without the layers
  Orbax wraps around it."""
  while error.__cause__ is not None:
    error = error.__cause__
  lines = str(error).strip().splitlines()
  return f'{type(error).__name__}: {lines[0] if lines else ""}'[:400]


def _os_error(error: BaseException) -> tuple[int, str] | None:
  """(errno, path or '') of the operating-system error behind `error`, if one is: an OSError
  in its chain, or a TensorStore error that quotes one."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno:
      return error.errno, error.filename or ''
    match = _TENSORSTORE_OS_ERROR.search(str(error))
    if match:
      return int(match.group(1)), ''
    error = error.__cause__ or error.__context__
  return None


def _from_orbax(filename: str) -> bool:
  return f'{os.sep}orbax{os.sep}' in filename


@functools.cache  # once per process
def _silence_orbax_echoes() -> None:
  """Drops what Orbax prints besides raising when a save fails: its background threads log
  the error with a traceback, and the TensorStore writes it leaves behind end in 'Event loop
  is closed' or, at exit, in ImportErrors of their orphaned coroutines (unraisable errors).

  The error itself reaches the main thread, which reports it once: one line for an
  operating-system error, a traceback otherwise.
  """
  def echo(record: logging.LogRecord) -> bool:
    """A failure logged from inside Orbax, or by asyncio for one of Orbax's tasks."""
    if not record.exc_info or record.exc_info[2] is None:
      return False
    frames = traceback.extract_tb(record.exc_info[2])
    return _from_orbax(record.pathname) or any(_from_orbax(frame.filename) for frame in frames)

  for logger in ('absl', 'asyncio'):
    logging.getLogger(logger).addFilter(lambda record: not echo(record))
  previous = sys.unraisablehook

  def unraisable(report):
    code = getattr(report.object, 'cr_code', None)
    closed_loop = (report.exc_type is RuntimeError
                   and str(report.exc_value) == 'Event loop is closed')
    if not (closed_loop or (code is not None and _from_orbax(code.co_filename))):
      previous(report)

  sys.unraisablehook = unraisable


class Checkpoints:
  """Checkpoints under `<workdir>/checkpoints`, one folder per step.

  Keeps the `keep` latest and the best one by eval top-1; saves are asynchronous and each
  folder appears only once complete, so a run killed mid-save resumes from the previous one.
  Only a `writable` instance (the training run, which holds the workdir's lock) creates the
  folder, removes unfinished saves and saves; the others only read.
  """

  def __init__(self, workdir: str, keep: int = 3, writable: bool = False):
    policy = checkpoint_managers.AnyPreservationPolicy([
        checkpoint_managers.LatestN(n=keep),
        checkpoint_managers.BestN(get_metric_fn=lambda metrics: metrics[BEST_METRIC], n=1,
                                  keep_checkpoints_without_metrics=False),
    ])
    self.directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
    self._writable = writable
    if writable:
      _silence_orbax_echoes()
    self._saving: int | None = None  # the step of the save that may still be in flight
    self._failure: CheckpointSaveError | None = None  # raised once; Orbax would repeat it
    self._manager = ocp.CheckpointManager(
        self.directory,
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'meta': ocp.JsonCheckpointHandler()},
        options=ocp.CheckpointManagerOptions(preservation_policy=policy,
                                             enable_async_checkpointing=True,
                                             create=writable,
                                             cleanup_tmp_directories=writable))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, state: TrainState, meta: dict[str, Any],
           metrics: dict[str, float] | None = None) -> None:
    """Starts an async save of `state` at its step; `meta` is small JSON (epoch, best, ...).

    Raises CheckpointSaveError when the filesystem refused this save or the previous one.
    """
    if not self._writable:
      raise ValueError(f'{self.directory} was opened read-only; pass writable=True to save.')
    step = int(jax.device_get(state.step))
    self.wait()  # Orbax waits for the previous save anyway; here its failure names its step
    with self._reporting_failed_save(step):
      self._manager.save(step, args=ocp.args.Composite(
          state=ocp.args.StandardSave(_tree(state)), meta=ocp.args.JsonSave(meta)),
          metrics=metrics, force=True)
    self._saving = step

  @contextlib.contextmanager
  def _reporting_failed_save(self, step: int | None):
    """Turns an operating-system error of the save of `step` into one CheckpointSaveError
    (see `_failed_save`); any other error is a bug and passes unchanged."""
    try:
      yield
    except Exception as error:  # pylint: disable=broad-exception-caught
      cause = _os_error(error)
      if cause is None or step is None:
        raise
      self._failure = self._failed_save(step, *cause)
      raise self._failure from None

  def _failed_save(self, step: int, errno: int, path: str) -> CheckpointSaveError:
    """Removes the unfinished folders of a refused save; the error that reports it."""
    for name in os.listdir(self.directory):
      if _UNFINISHED.match(name):
        shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)
    complete = complete_steps(self.directory)
    last = (f'the last complete checkpoint is step {complete[-1]}, from which the same '
            'command resumes' if complete else
            'there is no complete checkpoint yet, so the same command starts over')
    free = shutil.disk_usage(self.directory).free / 2**20
    return CheckpointSaveError(
        f'Saving step {step} to {path or os.path.join(self.directory, str(step))} '
        f'failed: {os.strerror(errno)} (errno {errno}; {free:.1f} MiB free there). Nothing '
        f'of it was kept; {last} once the cause is fixed (free space, permissions, quota).')

  def restore(self, state: TrainState, step: int | None = None
              ) -> tuple[TrainState, dict[str, Any]]:
    """The checkpoint at `step` (default: latest), laid out like `state` (shapes, shardings)."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _tree(state))
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    return state.replace(**restored['state']), dict(restored['meta'])

  def restore_newest_intact(self, state: TrainState) -> tuple[TrainState, dict[str, Any]]:
    """The newest checkpoint that restores, as `restore` gives it.

    Each newer one that fails (a truncated file, a half-synced copy) is moved aside to
    `<step>.corrupt`, a name Orbax ignores, never deleted, with one warning naming its step
    and the reason. Raises CheckpointRestoreError, moving nothing, when none restores.
    """
    failures = []
    for step in sorted(self._manager.all_steps(), reverse=True):
      try:
        restored = self.restore(state, step)
      except Exception as error:  # pylint: disable=broad-exception-caught
        failures.append((step, _first_line(error)))
        continue
      for failed_step, reason in failures:
        aside = self._move_aside(failed_step) if jax.process_index() == 0 else 'aside'
        logging.warning('Checkpoint step %d does not restore (%s); moved it to %s and '
                        'resuming from step %d.', failed_step, reason, aside, step)
      if failures:
        self._manager.reload()
      return restored
    tried = '; '.join(f'step {step}: {reason}' for step, reason in failures)
    raise CheckpointRestoreError(
        f'No checkpoint in {self.directory} restores ({tried}). They are left as they are: '
        'copy intact ones back (e.g. from a backup) and run again, or train into a new '
        '--workdir.')

  def _move_aside(self, step: int) -> str:
    """Renames the folder of `step` to `<step>.corrupt` (`.corrupt-2`, ... if taken)."""
    target = os.path.join(self.directory, f'{step}.corrupt')
    count = 1
    while os.path.exists(target):
      count += 1
      target = os.path.join(self.directory, f'{step}.corrupt-{count}')
    os.rename(os.path.join(self.directory, str(step)), target)
    return target

  def restore_variables(self, step: int | None = None) -> dict[str, Any]:
    """Only the model variables ({'params', 'batch_stats', ...}) as host arrays.

    Works whatever topology wrote the checkpoint (e.g. a multi-process run read by one
    process): every array is read whole onto this process's first device.
    """
    step = self._existing(step)
    device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    abstract = jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=device),
        self._manager.item_metadata(step)['state'])
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract)))['state']
    return jax.device_get({'params': restored['params'], **restored['model_state']})

  def _existing(self, step: int | None) -> int:
    """`step`, or the latest one when None; raises RunNotFoundError when it is not there."""
    steps = self._manager.all_steps()
    if not steps:
      raise RunNotFoundError(f'{self.directory} holds no checkpoint; train first or pass the '
                             'right --workdir.')
    if step is None:
      return self.latest_step()
    if step not in steps:
      raise RunNotFoundError(f'{self.directory} has no checkpoint at step {step}; it has '
                             f'steps {sorted(steps)}.')
    return step

  def wait(self) -> None:
    """Blocks until the save in flight is complete; raises CheckpointSaveError if it failed
    (once: after a failed save, the run stops and nothing more is waited for)."""
    if self._failure is not None:
      return
    with self._reporting_failed_save(self._saving):
      self._manager.wait_until_finished()
    self._saving = None

  def close(self) -> None:
    """Waits for the save in flight (raising CheckpointSaveError if it failed) and closes."""
    self.wait()
    if self._failure is None:  # Orbax's close would raise the failed save's error again
      self._manager.close()
