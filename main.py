"""Trains or evaluates a cnl_jax model.

  python main.py --config configs/cub.py --workdir runs/cub
  python main.py --config configs/cub.py --workdir runs/cub --mode eval
  python main.py --config configs/demo.py --workdir runs/demo --config.batch_size=16
  python main.py --config configs/rmg_pmsi_demo.py --workdir runs/rmg_demo \
      --config.method.mosaic_mode=per_sample
"""

import ast
import json
import logging as python_logging
import os
import sys
from typing import Any

from absl import app, flags, logging
from ml_collections import config_flags

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Path to a config file (configs/*.py).',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints and metrics.')
flags.DEFINE_enum('mode', 'train', ['train', 'eval'],
                  'train (resumes from the latest checkpoint, evaluating every epoch) or '
                  'eval (the latest checkpoint in --workdir).')
flags.DEFINE_enum('distributed', 'auto', ['auto', 'on', 'off'],
                  'Multi-process start-up with jax.distributed: auto (when the flags below '
                  'are given or a SLURM, MPI or TPU-pod job is detected), on, or off.')
flags.DEFINE_string('coordinator_address', None, 'host:port of process 0, e.g. 10.0.0.1:1234.')
flags.DEFINE_integer('num_processes', None, 'Number of processes in the job.')
flags.DEFINE_integer('process_id', None, 'This process, 0 .. num_processes - 1.')
flags.mark_flags_as_required(['config', 'workdir'])


INTERRUPTED_EXIT_STATUS = 130  # 128 + SIGINT, what a shell reports for a Ctrl-C'd command
_CHATTY_LIBRARIES = ('/orbax/', '/tensorflow_datasets/', '/jax/_src/')


class _LibraryInfoFilter(python_logging.Filter):
  """Drops INFO lines of Orbax (one per save), tfds and JAX; warnings and errors still show."""

  def filter(self, record: python_logging.LogRecord) -> bool:
    return (record.levelno >= python_logging.WARNING
            or not any(library in record.pathname for library in _CHATTY_LIBRARIES))


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.get_absl_handler().addFilter(_LibraryInfoFilter())
  import jax  # pylint: disable=import-outside-toplevel
  from cnl_jax import distributed, training  # pylint: disable=import-outside-toplevel
  explicit = FLAGS.coordinator_address is not None
  cluster = distributed.detected_cluster(os.environ)
  if FLAGS.distributed == 'on' or (FLAGS.distributed == 'auto' and (explicit or cluster)):
    logging.info('Starting jax.distributed (%s).', 'flags' if explicit else cluster)
    distributed.initialize(FLAGS.coordinator_address, FLAGS.num_processes, FLAGS.process_id)
  logging.info('JAX devices: %s (process %d of %d)', jax.devices(), jax.process_index(),
               jax.process_count())
  from cnl_jax.errors import UserError  # pylint: disable=import-outside-toplevel
  try:
    if FLAGS.mode == 'train':
      result = training.train_and_evaluate(FLAGS.config, FLAGS.workdir)
    else:
      result = training.evaluate(FLAGS.config, FLAGS.workdir)
  except UserError as error:  # what to fix is in the message; no traceback needed
    sys.exit(f'error: {error}')
  except KeyboardInterrupt:  # Ctrl-C outside the training loop, which handles its own
    print('interrupted (Ctrl-C) before training; nothing was saved.', file=sys.stderr)
    sys.exit(INTERRUPTED_EXIT_STATUS)
  if jax.process_index() == 0:
    print(json.dumps(result))
  if result.get('interrupted_by') == 'SIGINT':
    sys.exit(INTERRUPTED_EXIT_STATUS)


METHOD_OPTION = '--config.method.'


def _method_options(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
  """(argv without its `--config.method.<option>=<value>` arguments, those options).

  A config lists only the method options it changes, so these are set after the config is
  loaded, whatever it lists; the method checks their names and types when it is built. A
  value is a Python literal ('0.1', 'True') or else a string ('per_sample').
  """
  rest, options = [], {}
  for argument in argv:
    if not argument.startswith(METHOD_OPTION):
      rest.append(argument)
      continue
    name, separator, value = argument[len(METHOD_OPTION):].partition('=')
    if not separator or not name.isidentifier():
      sys.exit(f'error: {argument}: set a method option as {METHOD_OPTION}<option>=<value>.')
    try:
      options[name] = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      options[name] = value
  return rest, options


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a bad flag or `--config.field=value` as one line.

  ml_collections raises a plain AttributeError or KeyError for a field that does not exist
  (with its "Did you mean ..." suggestion when one is close), which absl would let through
  as a traceback.
  """
  argv, method_options = _method_options(argv)
  sys.argv[:] = argv  # config_flags reads the --config.<field> overrides from sys.argv
  try:
    argv = FLAGS(argv)
  except flags.Error as error:
    sys.exit(f'error: {error}')
  except (AttributeError, KeyError) as error:
    while error.args and isinstance(error.args[0], Exception):  # the KeyError inside
      error = error.args[0]
    name, _, suggestion = str(error.args[0] if error.args else error).partition('\n')
    sys.exit(f'error: --config override: no config field {name}. {suggestion}'.rstrip())
  for name, value in method_options.items():
    try:
      with FLAGS.config.method.unlocked():
        FLAGS.config.method[name] = value
    except TypeError as error:  # another type than the config file's value
      sys.exit(f'error: {METHOD_OPTION}{name}: {error}')
  return argv


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
