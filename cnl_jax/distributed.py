"""Multi-process start-up through JAX's own distributed runtime (no launcher of our own)."""

from __future__ import annotations

from collections.abc import Mapping

import jax


def _task_count(value: str | None) -> int:
  return int(value) if value and value.isdigit() else 0


def detected_cluster(environ: Mapping[str, str]) -> str | None:
  """The multi-process job that `environ` describes and JAX can configure itself, if any.

  A SLURM or Open MPI job counts when it has more than one task, a Cloud TPU VM when it
  lists more than one worker host; single-process jobs stay single-process.
  """
  process_counts = {
      'SLURM': _task_count(environ.get('SLURM_NTASKS')),
      'Open MPI': _task_count(environ.get('OMPI_COMM_WORLD_SIZE')),
      'Cloud TPU pod': len([h for h in environ.get('TPU_WORKER_HOSTNAMES', '').split(',') if h]),
  }
  return next((name for name, count in process_counts.items() if count > 1), None)


def initialize(coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None) -> None:
  """Starts jax.distributed; arguments left None are auto-detected by JAX from the cluster."""
  explicit = (coordinator_address, num_processes, process_id)
  if any(value is not None for value in explicit) and None in explicit:
    raise ValueError('Pass all of coordinator_address, num_processes and process_id, or '
                     'none of them to let JAX detect the cluster.')
  jax.distributed.initialize(coordinator_address=coordinator_address,
                             num_processes=num_processes, process_id=process_id)
