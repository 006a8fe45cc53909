"""Two processes on one machine train exactly like one process with the same global batch."""

import json
import socket

import jax
import numpy as np

from cnl_jax.distributed import detected_cluster
from cnl_jax.training.metrics import read_metrics
from helpers.runs import final_variables, finish, run_main


def free_port() -> int:
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    return probe.getsockname()[1]


def train_losses(workdir):
  return [r['loss'] for r in read_metrics(workdir) if r['split'] == 'train']


# Three steps of global batch 8 at a small learning rate: a tiny BN batch makes training
# chaotic, so that over many steps float rounding (the order of the cross-process sums)
# would grow into visible differences.
FEW_STEPS = ('--config.data.synthetic_train_per_class=6', '--config.log_every_steps=1',
             '--config.learning_rate=0.002', '--config.warmup_start_lr=0.002')


def test_two_processes_match_one(tmp_path):
  cache_dir = tmp_path / 'data'
  single, double = str(tmp_path / 'single'), str(tmp_path / 'double')
  finish(run_main(single, cache_dir, *FEW_STEPS, num_epochs=1))

  address = f'--coordinator_address=127.0.0.1:{free_port()}'
  processes = [run_main(double, cache_dir, *FEW_STEPS, address, '--num_processes=2',
                        f'--process_id={index}', num_epochs=1) for index in (0, 1)]
  outputs = [finish(process) for process in processes]
  summary = json.loads(outputs[0].strip().splitlines()[-1])
  assert 'best_top1' not in outputs[1]  # only process 0 reports

  assert len(train_losses(single)) == 3
  np.testing.assert_allclose(train_losses(double), train_losses(single), rtol=1e-5)
  for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(final_variables(single)),
                          jax.tree.leaves(final_variables(double))):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=jax.tree_util.keystr(path))

  # The 2-process checkpoint restores in one process and scores what the run reported.
  evaluation = json.loads(finish(run_main(double, cache_dir, *FEW_STEPS, '--mode=eval',
                                          num_epochs=1))
                          .strip().splitlines()[-1])
  assert evaluation['count'] == 20
  assert evaluation['top1'] == summary['final_top1']


def test_cluster_detection():
  assert detected_cluster({}) is None
  assert detected_cluster({'SLURM_NTASKS': '1'}) is None
  assert detected_cluster({'SLURM_NTASKS': '8'}) == 'SLURM'
  assert detected_cluster({'OMPI_COMM_WORLD_SIZE': '2'}) == 'Open MPI'
  assert detected_cluster({'TPU_WORKER_HOSTNAMES': 'a,b,c,d'}) == 'Cloud TPU pod'
  assert detected_cluster({'TPU_WORKER_HOSTNAMES': 'localhost'}) is None
