"""Orbax checkpoints of a run: keep the last few and the best by top-1, written async."""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers

from cnl_jax.errors import RunNotFoundError
from cnl_jax.training.state import TrainState

BEST_METRIC = 'top1'


def _tree(state: TrainState) -> dict[str, Any]:
  """The checkpointed part of the state (the optimizer's code is rebuilt from the config)."""
  return {'step': state.step, 'params': state.params, 'model_state': state.model_state,
          'opt_state': state.opt_state, 'rng': state.rng}


def has_checkpoint(workdir: str) -> bool:
  """Whether `<workdir>/checkpoints` holds a finished checkpoint; reads, creates nothing.

  Orbax names a finished checkpoint's folder by its step alone; unfinished ones carry a
  temporary suffix.
  """
  directory = os.path.join(workdir, 'checkpoints')
  return os.path.isdir(directory) and any(name.isdigit() for name in os.listdir(directory))


class Checkpoints:
  """Checkpoints under `<workdir>/checkpoints`, one folder per step.

  Keeps the `keep` latest and the best one by eval top-1; saves are asynchronous and each
  folder appears only once complete, so a run killed mid-save resumes from the previous one.
  """

  def __init__(self, workdir: str, keep: int = 3):
    policy = checkpoint_managers.AnyPreservationPolicy([
        checkpoint_managers.LatestN(n=keep),
        checkpoint_managers.BestN(get_metric_fn=lambda metrics: metrics[BEST_METRIC], n=1,
                                  keep_checkpoints_without_metrics=False),
    ])
    self.directory = os.path.join(os.path.abspath(workdir), 'checkpoints')
    self._manager = ocp.CheckpointManager(
        self.directory,
        item_handlers={'state': ocp.StandardCheckpointHandler(),
                       'meta': ocp.JsonCheckpointHandler()},
        options=ocp.CheckpointManagerOptions(preservation_policy=policy,
                                             enable_async_checkpointing=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, state: TrainState, meta: dict[str, Any],
           metrics: dict[str, float] | None = None) -> None:
    """Starts an async save of `state` at its step; `meta` is small JSON (epoch, best, ...)."""
    step = int(jax.device_get(state.step))
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(_tree(state)), meta=ocp.args.JsonSave(meta)),
        metrics=metrics, force=True)

  def restore(self, state: TrainState, step: int | None = None
              ) -> tuple[TrainState, dict[str, Any]]:
    """The checkpoint at `step` (default: latest), laid out like `state` (shapes, shardings)."""
    step = self.latest_step() if step is None else step
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, _tree(state))
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
    return state.replace(**restored['state']), dict(restored['meta'])

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
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()
