"""The command lines of every command, parsed before anything heavy is imported.

Only the standard library, absl's flags and ml_collections load here, so a misspelt flag is
answered at once. What a value must be beyond its type is checked by the command that uses it.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Sequence
from typing import Any

from absl import flags
from ml_collections import config_flags

from cnl_jax.export import FORMATS, QUANTIZATIONS

TTA_HELP = ("Test-time augmentation: none, flip, five_crop or five_crop_flip (default: the "
            "run's config.eval_tta).")


class UsageError(Exception):
  """A command line that cannot work; the message says which flag and why (exit status 2)."""


class OneLineParser(argparse.ArgumentParser):
  """argparse that reports a bad command line as a UsageError (one line, exit status 2)."""

  def error(self, message: str):
    raise UsageError(f'{message} (--help lists the flags)')


def _parser(prog: str, description: str) -> OneLineParser:
  parser = OneLineParser(prog=prog, description=description)
  parser.add_argument('--verbose', action='store_true',
                      help="Show the libraries' own logs (TensorFlow, absl, XLA).")
  return parser


def _at_least_one(text: str) -> int:
  value = int(text)
  if value < 1:
    raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
  return value


def _override(text: str) -> tuple[str, Any]:
  """'stem_stride=2' -> ('stem_stride', 2); a value that is no Python literal stays a string."""
  key, separator, value = text.partition('=')
  if not separator or not key:
    raise argparse.ArgumentTypeError(f'{text!r} is not of the form attribute=value')
  try:
    return key, ast.literal_eval(value)
  except (ValueError, SyntaxError):
    return key, value


def predict(prog: str) -> OneLineParser:
  parser = _parser(prog, 'Top-k classes of image files under a trained run.')
  parser.add_argument('--workdir', required=True, help="The run's --workdir.")
  parser.add_argument('images', nargs='+', help='Image files or folders of them.')
  parser.add_argument('--top-k', type=_at_least_one, default=5, help='Classes to list per image.')
  parser.add_argument('--json', action='store_true', help='Print one JSON object.')
  return parser


def evaluate(prog: str) -> OneLineParser:
  parser = _parser(prog, 'Top-1/top-5, per-class accuracy and the most confused classes of a '
                   'trained run, with the training code\'s eval step.')
  parser.add_argument('--workdir', required=True, help="The run's --workdir.")
  parser.add_argument('--output', help='Folder for the report (default: WORKDIR/evaluation).')
  parser.add_argument('--tta', help=TTA_HELP)
  return parser


def visualize(prog: str) -> OneLineParser:
  parser = _parser(prog, "Attention and class activation maps of a trained run over an image, "
                   "and its method's panels.")
  parser.add_argument('--workdir', required=True, help="The run's --workdir.")
  parser.add_argument('--image', required=True, help='An image file.')
  parser.add_argument('--query', action='append', metavar='ROW,COL',
                      help='A query pixel of the center-cropped input; repeat for more.')
  parser.add_argument('--output', help='Folder for the PNGs (default: WORKDIR/attention).')
  return parser


def export(prog: str) -> OneLineParser:
  parser = _parser(prog, 'Export a trained run to LiteRT (.tflite) or ONNX, with the metadata '
                   'JSON an app needs.')
  parser.add_argument('--workdir', required=True, help="The run's --workdir.")
  parser.add_argument('--format', default='tflite', choices=FORMATS)
  parser.add_argument('--quantize', default='none', choices=QUANTIZATIONS,
                      help='none: float32; float16: weights in half precision; int8: '
                      'full-integer post-training quantization.')
  parser.add_argument('--output', default=None, help='Folder for the files (RUN/export/).')
  parser.add_argument('--batch-size', type=_at_least_one, default=1,
                      help='The fixed batch size.')
  parser.add_argument('--calibration-count', type=_at_least_one, default=300,
                      help='int8: training images to calibrate on.')
  parser.add_argument('--calibration-images', nargs='+', default=None,
                      help='int8: calibrate on these image files or folders instead.')
  parser.add_argument('--step', type=int, default=None, help='Checkpoint (default: latest).')
  return parser


def summary(prog: str) -> OneLineParser:
  parser = _parser(prog, "Parameter and MAC counts of a model, under the paper's convention "
                   "and XLA's.")
  parser.add_argument('--model', required=True, help='A preset name (cnl_jax.list_models()).')
  parser.add_argument('--num-classes', type=_at_least_one, default=200)
  parser.add_argument('--image-size', type=_at_least_one, nargs='+', default=[448],
                      help='one side, or height and width')
  parser.add_argument('--graph', choices=('test', 'train'), default='test',
                      help='the eval-mode forward pass, or the training one')
  parser.add_argument('--override', type=_override, action='append', default=[],
                      metavar='ATTRIBUTE=VALUE',
                      help='set a model attribute, e.g. stem_stride=2 (repeatable)')
  parser.add_argument('--json', action='store_true', help='print one JSON object')
  parser.add_argument('--compare-paper', action='store_true',
                      help="print the paper's Table 2 beside our figures")
  return parser


METHOD_OPTION = '--config.method.'


def _method_options(argv: Sequence[str]) -> tuple[list[str], dict[str, Any]]:
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
      raise UsageError(f'{argument}: set a method option as {METHOD_OPTION}<option>=<value>.')
    options[name] = _override(f'{name}={value}')[1]
  return rest, options


def train(prog: str, argv: Sequence[str]) -> flags.FlagValues:
  """main.py's absl flags, with the config file loaded and its `--config.field` overrides set."""
  argv, method_options = _method_options(argv)
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, 'Path to a config file (configs/*.py).',
                                  lock_config=True, flag_values=values,
                                  sys_argv=[prog, *argv])
  flags.DEFINE_string('workdir', None, 'Directory for checkpoints and metrics.',
                      flag_values=values)
  flags.DEFINE_enum('mode', 'train', ['train', 'eval'],
                    'train (resumes from the latest checkpoint, evaluating every epoch) or '
                    'eval (the latest checkpoint in --workdir).', flag_values=values)
  flags.DEFINE_bool('takeover_lock', False,
                    "Take over the workdir's lock (run.lock) from a run you know has ended, "
                    'e.g. on a host that died (a stale one is taken over anyway once its '
                    'heartbeat is too old; the refusal says when).', flag_values=values)
  flags.DEFINE_enum('distributed', 'auto', ['auto', 'on', 'off'],
                    'Multi-process start-up with jax.distributed: auto (when the flags below '
                    'are given or a SLURM, MPI or TPU-pod job is detected), on, or off.',
                    flag_values=values)
  flags.DEFINE_string('coordinator_address', None,
                      'host:port of process 0, e.g. 10.0.0.1:1234.', flag_values=values)
  flags.DEFINE_integer('num_processes', None, 'Number of processes in the job.',
                       flag_values=values)
  flags.DEFINE_integer('process_id', None, 'This process, 0 .. num_processes - 1.',
                       flag_values=values)
  flags.DEFINE_bool('verbose', False, "Show the libraries' own logs (TensorFlow, absl, XLA).",
                    flag_values=values)
  flags.mark_flags_as_required(['config', 'workdir'], flag_values=values)
  if '--help' in argv or '-h' in argv:
    print(f'usage: {prog} --config CONFIG --workdir WORKDIR [--config.FIELD=VALUE ...]\n\n'
          f'{values.get_help()}'.rstrip())
    sys.exit(0)
  try:
    rest = values([prog, *argv])
  except flags.Error as error:
    raise UsageError(str(error)) from None
  except (AttributeError, KeyError) as error:
    # ml_collections raises these for a --config.field that does not exist, with its
    # "Did you mean ..." suggestion when one is close.
    while error.args and isinstance(error.args[0], Exception):  # the KeyError inside
      error = error.args[0]
    name, _, suggestion = str(error.args[0] if error.args else error).partition('\n')
    raise UsageError(f'--config override: no config field {name}. {suggestion}'.rstrip()
                     ) from None
  if len(rest) > 1:
    raise UsageError(f'unexpected arguments: {" ".join(rest[1:])}')
  for name, value in method_options.items():
    try:
      with values.config.method.unlocked():
        values.config.method[name] = value
    except TypeError as error:  # another type than the config file's value
      raise UsageError(f'{METHOD_OPTION}{name}: {error}') from None
  return values


# Each argparse command by name: its parser, given the program name it prints.
PARSERS = {'eval': evaluate, 'predict': predict, 'visualize': visualize, 'export': export,
           'summary': summary}
