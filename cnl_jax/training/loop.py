"""The training and evaluation loops: data -> model -> steps -> checkpoints and metrics."""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cnl_jax.errors import ConfigError, RunNotFoundError, UserError
from cnl_jax.methods import Method, build_method, resolved_config
from cnl_jax.training import steps
from cnl_jax.training.checkpoints import BEST_METRIC, Checkpoints, has_checkpoint
from cnl_jax.training.config_checks import check_config
from cnl_jax.training.eval_views import MODES, Views, views_of
from cnl_jax.training.metrics import (MetricWriter, progress_bar, read_metrics,
                                     restore_ctrl_c_echo)
from cnl_jax.training.optimizer import create_optimizer
from cnl_jax.training.run_config import resume_changes, save_run_config
from cnl_jax.training.schedule import create_learning_rate_fn
from cnl_jax.training.workdir_lock import WorkdirLock, WorkdirLockedError


# The workdir's folder of test images for the tools (`cnl_jax.data.write_samples`).
SAMPLES_FOLDER = 'samples'


class NonFiniteLossError(UserError, FloatingPointError):
  """The loss became NaN or infinite; the run stops and its last checkpoint is kept."""


def _pretrained_loader(config: ml_collections.ConfigDict, method: Method
                       ) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
  """A function that fills fresh variables from `config.pretrained` or `config.init_from`."""
  if config.init_from:
    source = Checkpoints(config.init_from)
    if source.latest_step() is None:
      raise RunNotFoundError(f'config.init_from={config.init_from!r} holds no checkpoint.')

    def load(variables):
      loaded = source.restore_variables()
      source.close()
      if jax.tree.structure(loaded) != jax.tree.structure(variables):
        raise ConfigError(f'config.init_from={config.init_from!r} holds another model than '
                          f'config.model={config.model!r}; start from a run of the same model.')
      kept = [jax.tree_util.keystr(path) for (path, mine), theirs in zip(
          jax.tree_util.tree_leaves_with_path(variables), jax.tree.leaves(loaded))
              if mine.shape != theirs.shape]
      logging.info('Started from %s; kept at init (other shapes, e.g. a new class count): %s',
                   config.init_from, kept or 'nothing')
      return jax.tree.map(lambda mine, theirs: theirs if mine.shape == theirs.shape else mine,
                          variables, loaded)
    return load
  if config.pretrained:
    if not method.pretrained_backbones():
      raise ConfigError(f'config.model={config.model!r} has no ImageNet architecture to load '
                        f'config.pretrained={config.pretrained!r} into; set it to None.')
    return lambda variables: method.load_pretrained(variables, config.pretrained)
  return None


class _Interruption:
  """Turns SIGTERM and the first SIGINT (Ctrl-C) into a flag the loop checks after each step,
  so it can save and exit; a second SIGINT says so in a line and ends the process at once
  (the default action), without saving.

  The flag, not an exception: a KeyboardInterrupt raised at an arbitrary point can land in a
  finaliser (TensorFlow's), where Python ignores it and the run goes on.
  """

  def __init__(self):
    self.signal_name: str | None = None

  @property
  def requested(self) -> bool:
    return self.signal_name is not None

  def __enter__(self):
    self._previous = {signum: signal.signal(signum, self._handle)
                      for signum in (signal.SIGTERM, signal.SIGINT)}
    return self

  def _handle(self, signum, frame):
    del frame
    if signum == signal.SIGINT and self.signal_name == 'SIGINT':
      _stop_now()
    self.signal_name = signal.Signals(signum).name
    if signum == signal.SIGINT:
      logging.warning('Ctrl-C: saving after this step; press Ctrl-C again to stop at once '
                      'without saving.')

  def __exit__(self, *exc):
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)


def _stop_now() -> None:
  """Ends the process as a second Ctrl-C asks, with a line that says what is kept."""
  # Python's stderr: above the progress bar, on the terminal (file descriptor 2 may be filtered).
  print('Ctrl-C again: stopped without saving; the workdir keeps its last checkpoint.',
        file=sys.stderr, flush=True)
  restore_ctrl_c_echo()
  signal.signal(signal.SIGINT, signal.SIG_DFL)
  os.kill(os.getpid(), signal.SIGINT)


def _mean_train_metrics(pending: list[tuple[int, dict[str, jax.Array]]]) -> dict[str, float]:
  """Means over the steps since the last log; raises on the first non-finite loss."""
  fetched = jax.device_get([metrics for _, metrics in pending])
  for (step, _), metrics in zip(pending, fetched):
    losses = [value for name, value in metrics.items() if name.endswith('loss')]
    if not np.all(np.isfinite(losses)):
      raise NonFiniteLossError(
          f'The training loss is {losses} at step {step}; stopping. The last checkpoint '
          'written before it stays in the workdir.')
  return {name: float(np.mean([m[name] for m in fetched])) for name in fetched[0]}


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """A checkpoint over the whole test split: `metrics` as `run_eval` gives them, and the
  reported head's `confusion` counts [true class, predicted class]."""
  metrics: dict[str, float]
  confusion: np.ndarray


def evaluate_split(method: Method, variables: dict[str, Any], config: ml_collections.ConfigDict,
                   mesh, views: Views = MODES['none'], eval_step=None) -> Evaluation:
  """Exact top-1, top-5 and mean loss of every head over the whole test split (padding
  masked out), each image's logits averaged over `views`; the reported head's as 'top1',
  'top5', 'loss', the others' as 'head/top1'. `eval_step`: the views' compiled step, reused.

  The one evaluator: the loop after each epoch, `--mode eval` and `cnl-jax eval`.
  """
  # pylint: disable-next=import-outside-toplevel
  from cnl_jax import data  # TensorFlow, which the steps alone (GPU machines) run without
  eval_step = eval_step or steps.make_eval_step(method, mesh, views.flip)
  totals = None
  for batch in data.eval_batches(
      config.data, batch_size=config.eval_batch_size // jax.process_count(),
      image_size=config.image_size, eval_resize=config.eval_resize,
      process_index=jax.process_index(), process_count=jax.process_count(),
      dtype=config.dtype, crops=views.crops):
    sums = eval_step(variables, steps.to_global(batch, mesh))
    totals = sums if totals is None else jax.tree.map(jnp.add, totals, sums)
  totals = jax.device_get(totals)
  confusion = np.asarray(totals.pop('confusion'))
  count = float(totals['count'])
  return Evaluation({name: float(value) / count if name != 'count' else count
                     for name, value in totals.items()}, confusion)


def run_eval(method: Method, variables: dict[str, Any], config: ml_collections.ConfigDict,
             mesh, views: Views = MODES['none'], eval_step=None) -> dict[str, float]:
  """The metrics of `evaluate_split`."""
  return evaluate_split(method, variables, config, mesh, views, eval_step).metrics


def _write_samples(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Copies a few test images into `workdir/samples` on a run's first start, for the tools."""
  from cnl_jax import data  # pylint: disable=import-outside-toplevel
  directory = os.path.join(workdir, SAMPLES_FOLDER)
  if not os.path.isdir(directory):
    written = data.write_samples(config.data, directory)
    logging.info('Test images to try the tools on: %s.',
                 ', '.join(f'{path} ({name})' for path, name in written.items()))


def _lock_workdir(workdir: str, takeover: bool) -> WorkdirLock | None:
  """Process 0 takes the workdir's lock (the others return None); in a multi-process job
  every process learns whether it could, so that all stop together when it could not."""
  lock, refusal = None, None
  if jax.process_index() == 0:
    try:
      lock = WorkdirLock(workdir).acquire(takeover)
    except WorkdirLockedError as error:
      refusal = error
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    locked = multihost_utils.broadcast_one_to_all(np.int32(lock is not None))
    if not locked and refusal is None:
      refusal = WorkdirLockedError(f'Process 0 could not lock {workdir}; its error says why.')
  if refusal is not None:
    raise refusal
  return lock


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       takeover_lock: bool = False) -> dict[str, Any]:
  """Trains `config` in `workdir`, evaluating every epoch; resumes from its last checkpoint
  that restores.

  The run holds the workdir's lock (`workdir_lock`) from before it reads the workdir until
  it ends, however it ends; `takeover_lock` takes over a lock its holder left behind.
  Returns the final summary: best top-1 and its epoch, last eval metrics, steps done and
  `interrupted_by`: 'SIGTERM' or 'SIGINT' when a signal stopped the run early, else None.
  """
  check_config(config, jax.device_count(), jax.process_count())
  config = resolved_config(config)
  lock = _lock_workdir(workdir, takeover_lock)
  try:
    return _train(config, workdir, lock)
  finally:
    if lock is not None:
      lock.release()


def _train(config: ml_collections.ConfigDict, workdir: str, lock: WorkdirLock | None
           ) -> dict[str, Any]:
  """`train_and_evaluate` once the workdir is locked (by this process when `lock`)."""
  # pylint: disable-next=import-outside-toplevel
  from cnl_jax import data  # TensorFlow, which the steps alone (GPU machines) run without
  changes = resume_changes(config, workdir, has_checkpoint(workdir))
  info = data.load_info(config.data)
  steps_per_epoch = data.steps_per_epoch(info, config.batch_size)
  if steps_per_epoch < 1:
    raise ConfigError(f'config.batch_size={config.batch_size} exceeds the {info.num_train} '
                     f'training images of {info.name}; use a smaller batch.')
  total_steps = steps_per_epoch * config.num_epochs
  is_chief = jax.process_index() == 0
  if is_chief:
    save_run_config(config, workdir, changes)
    _write_samples(config, workdir)

  mesh = steps.create_mesh()
  method = build_method(config, info.num_classes)
  learning_rate_fn = create_learning_rate_fn(config, steps_per_epoch)
  tx = create_optimizer(config, learning_rate_fn, steps_per_epoch, method.updates_per_step,
                        method.parameter_groups())
  checkpoints = Checkpoints(workdir, config.keep_checkpoints, writable=True)
  resuming = checkpoints.latest_step() is not None
  state = steps.create_train_state(
      method, tx, config.seed, (1, config.image_size, config.image_size, 3), mesh,
      load=None if resuming else _pretrained_loader(config, method))
  meta = {'best_top1': None, 'best_epoch': None}
  if resuming:
    state, meta = checkpoints.restore_newest_intact(state)
  start_step = int(jax.device_get(state.step))
  if start_step >= total_steps:
    checkpoints.close()
    return _complete_run(workdir, meta, start_step, total_steps)
  if resuming:
    logging.info('Resumed from step %d in %s.', start_step, checkpoints.directory)

  train_step = steps.make_train_step(method, mesh, config.grad_accum_steps)
  epoch_views = views_of(config.epoch_eval_tta, 'epoch_eval_tta')
  eval_step = steps.make_eval_step(method, mesh, epoch_views.flip)
  writer = MetricWriter(workdir, enabled=is_chief)
  batches = steps.prefetch_to_mesh(data.train_batches(
      config.data, batch_size=config.batch_size // jax.process_count(),
      image_size=config.image_size, seed=config.seed, start_step=start_step,
      process_index=jax.process_index(), process_count=jax.process_count(),
      dtype=config.dtype, resize=config.eval_resize), mesh)
  eval_metrics = {}
  stopped_at = None
  pending: list[tuple[int, dict[str, jax.Array]]] = []
  last_log = (start_step, time.perf_counter())

  def flush_train_metrics(step: int) -> None:
    nonlocal pending, last_log
    if not pending:
      return
    means = _mean_train_metrics(pending)
    seconds = time.perf_counter() - last_log[1]
    means['images_per_sec'] = (step - last_log[0]) * config.batch_size / seconds
    means['learning_rate'] = float(learning_rate_fn(step - 1))
    writer.write(step, 'train', means)
    pending, last_log = [], (step, time.perf_counter())

  try:
    with _Interruption() as interruption, progress_bar(total_steps, start_step,
                                                       is_chief) as bar:
      for step in range(start_step, total_steps):
        state, metrics = train_step(state, next(batches))
        pending.append((step, metrics))
        bar.update()
        done = step + 1
        end_of_epoch = done % steps_per_epoch == 0
        # Read once: a signal handled later in this step (e.g. while the metrics are fetched)
        # must not stop the run after a step it did not save.
        stop = interruption.requested
        save = end_of_epoch or stop or (
            config.checkpoint_every_steps and done % config.checkpoint_every_steps == 0)
        if save and lock is not None:
          lock.check()  # raises if another run took the workdir over: write nothing more
        if save or done % config.log_every_steps == 0:
          flush_train_metrics(done)  # raises on a non-finite loss, before anything is saved
        epoch = done // steps_per_epoch - 1
        if end_of_epoch and ((epoch + 1) % config.eval_every_epochs == 0
                             or done == total_steps):
          eval_metrics = run_eval(method, state.variables, config, mesh, epoch_views, eval_step)
          if meta['best_top1'] is None or eval_metrics['top1'] > meta['best_top1']:
            meta = {'best_top1': eval_metrics['top1'], 'best_epoch': epoch}
          writer.write(done, 'eval', {**eval_metrics, 'best_top1': meta['best_top1'],
                                      'epoch': epoch})
          logging.info('Epoch %d: test top-1 %.4f, top-5 %.4f, loss %.4f (best top-1 %.4f, '
                       'epoch %d).', epoch, eval_metrics['top1'], eval_metrics['top5'],
                       eval_metrics['loss'], meta['best_top1'], meta['best_epoch'])
          bar.set_postfix(top1=f'{eval_metrics["top1"]:.4f}')
          checkpoints.save(state, meta, {BEST_METRIC: eval_metrics['top1']})
          last_log = (done, time.perf_counter())  # images/s counts training time only
        elif save:
          checkpoints.save(state, meta)
        if stop:
          stopped_at = done
          break
  finally:
    checkpoints.wait()
    checkpoints.close()
    writer.close()
  if stopped_at is not None:  # below the bar's last state, which stays on the terminal
    logging.warning('%s: saved step %d of %d; run the same command to continue.',
                    interruption.signal_name, stopped_at, total_steps)
  return {**meta, **{f'final_{name}': value for name, value in eval_metrics.items()},
          'steps': int(jax.device_get(state.step)), 'total_steps': total_steps,
          'interrupted_by': interruption.signal_name}


def _complete_run(workdir: str, meta: dict[str, Any], step: int, total_steps: int
                  ) -> dict[str, Any]:
  """The summary of a run that had already done its `total_steps`: its best top-1 and its
  last eval's metrics (from metrics.jsonl), said in one log line with where they are."""
  records = read_metrics(workdir) if os.path.exists(os.path.join(workdir, 'metrics.jsonl')) else []
  evals = [record for record in records if record['split'] == 'eval']
  final = {f'final_{name}': value for name, value in (evals[-1] if evals else {}).items()
           if name not in ('step', 'split', 'epoch', 'best_top1')}
  logging.info('The run in %s is complete (step %d of %d): best top-1 %s at epoch %s. Its '
               'metrics are in %s and %s; raise --config.num_epochs to train on, or use a new '
               '--workdir.', workdir, step, total_steps, meta['best_top1'], meta['best_epoch'],
               os.path.join(workdir, 'metrics.jsonl'), os.path.join(workdir, 'tensorboard'))
  return {**meta, **final, 'steps': step, 'total_steps': total_steps, 'interrupted_by': None}


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str,
                        step: int | None = None) -> Evaluation:
  """Evaluates the checkpoint at `step` (default: the latest) of the run in `workdir`, with
  `config.eval_tta`'s test-time augmentation."""
  # pylint: disable-next=import-outside-toplevel
  from cnl_jax import data  # TensorFlow, which the steps alone (GPU machines) run without
  check_config(config, jax.device_count(), jax.process_count())
  config = resolved_config(config)
  resume_changes(config, workdir, has_checkpoint(workdir))
  info = data.load_info(config.data)
  checkpoints = Checkpoints(workdir, config.keep_checkpoints)
  try:
    variables = checkpoints.restore_variables(step)
  finally:
    checkpoints.close()
  mesh = steps.create_mesh()
  method = build_method(config, info.num_classes)
  return evaluate_split(method, jax.device_put(variables, steps.replicated(mesh)), config, mesh,
                        views_of(config.eval_tta))


def evaluate(config: ml_collections.ConfigDict, workdir: str,
             step: int | None = None) -> dict[str, float]:
  """The metrics of `evaluate_checkpoint`."""
  return evaluate_checkpoint(config, workdir, step).metrics
