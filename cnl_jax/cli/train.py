"""`cnl-jax train` (`python main.py`): trains or evaluates a config in a workdir.

  python main.py --config configs/cub.py --workdir runs/cub
  python main.py --config configs/cub.py --workdir runs/cub --mode eval
  python main.py --config configs/demo.py --workdir runs/demo --config.batch_size=16
"""

from __future__ import annotations

import json
import logging as python_logging
import os

import jax
from absl import flags, logging

from cnl_jax import distributed, training
from cnl_jax.cli.harness import INTERRUPTED

_CHATTY_LIBRARIES = ('/orbax/', '/tensorflow_datasets/', '/jax/_src/')


class _LibraryInfoFilter(python_logging.Filter):
  """Drops INFO lines of Orbax (one per save), tfds and JAX; warnings and errors still show."""

  def filter(self, record: python_logging.LogRecord) -> bool:
    return (record.levelno >= python_logging.WARNING
            or not any(library in record.pathname for library in _CHATTY_LIBRARIES))


def run(values: flags.FlagValues) -> int:
  """Trains (or with --mode eval, evaluates) and prints the summary as one JSON line."""
  flags.FLAGS.mark_as_parsed()  # ours are parsed; absl would say logging came before parsing
  logging.use_absl_handler()
  logging.set_verbosity(logging.INFO)
  if not values.verbose:
    logging.get_absl_handler().addFilter(_LibraryInfoFilter())
  explicit = values.coordinator_address is not None
  cluster = distributed.detected_cluster(os.environ)
  if values.distributed == 'on' or (values.distributed == 'auto' and (explicit or cluster)):
    logging.info('Starting jax.distributed (%s).', 'flags' if explicit else cluster)
    distributed.initialize(values.coordinator_address, values.num_processes, values.process_id)
  logging.info('JAX devices: %s (process %d of %d)', jax.devices(), jax.process_index(),
               jax.process_count())
  if values.mode == 'train':
    result = training.train_and_evaluate(values.config, values.workdir, values.takeover_lock)
  else:
    result = training.evaluate(values.config, values.workdir)
  if jax.process_index() == 0:
    print(json.dumps(result))
  return INTERRUPTED if result.get('interrupted_by') == 'SIGINT' else 0
