"""How every command starts and ends: quiet libraries, flags first, one line per error.

A command's flags are parsed before TensorFlow or JAX is imported, so a bad flag is answered at
once. Exit statuses: 0 done; 1 a user error (`cnl_jax.errors.UserError` or an unreadable
image: one line `error: ...` on stderr); 2 a bad command line; 130 Ctrl-C. Any other
exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from cnl_jax import lite
from cnl_jax.cli import parsers, quiet
from cnl_jax.errors import UserError

USER_ERROR, USAGE_ERROR, INTERRUPTED = 1, 2, 130  # 130 = 128 + SIGINT, as a shell reports it
# The commands, each implemented by cnl_jax.cli.<module>'s `run(args) -> exit status`.
COMMANDS = {'train': 'train', 'eval': 'evaluate', 'predict': 'predict',
            'visualize': 'visualize', 'export': 'export', 'summary': 'summary', 'lite': None}


def run_command(command: str, argv: Sequence[str], prog: str | None = None) -> int:
  """Parses `argv` for `command`, then imports and runs it; returns the exit status."""
  prog = prog or f'cnl-jax {command}'
  try:
    try:
      if command == 'lite':  # the self-contained predictor parses and reports on its own
        return lite.main(list(argv))
      args = (parsers.train(prog, argv) if command == 'train'
              else parsers.PARSERS[command](prog).parse_args(argv))
      # The command's module imports the heavy libraries: only now that the flags are good.
      return importlib.import_module(f'cnl_jax.cli.{COMMANDS[command]}').run(args)
    except (UserError, lite.UnreadableImageError) as error:  # the message says what to fix
      return _error(error, USER_ERROR)
    except parsers.UsageError as error:
      return _error(error, USAGE_ERROR)
  except KeyboardInterrupt:
    print('interrupted (Ctrl-C).', file=sys.stderr)
    return INTERRUPTED


def _error(error: Exception, status: int) -> int:
  print(f'error: {" ".join(str(error).split())}', file=sys.stderr)
  return status


def main(command: str | None = None, argv: Sequence[str] | None = None) -> None:
  """The program `cnl-jax [command] ...` (`command` given: that command's own program)."""
  argv = list(sys.argv[1:] if argv is None else argv)
  if not quiet.verbose_requested(argv):
    quiet.silence_libraries()
  prog = None
  if command is None:
    usage = f'usage: cnl-jax {{{",".join(COMMANDS)}}} ... (cnl-jax COMMAND --help for its flags)'
    if argv[:1] in (['--help'], ['-h']):
      print(usage)
      sys.exit(0)
    if not argv or argv[0] not in COMMANDS:
      print(f'{usage}\nerror: {"unknown command " + repr(argv[0]) if argv else "no command"}; '
            f'the commands are {", ".join(COMMANDS)}.', file=sys.stderr)
      sys.exit(USAGE_ERROR)
    command, argv = argv[0], argv[1:]
  else:
    prog = {'train': 'main.py'}.get(command, f'python -m cnl_jax.{COMMANDS[command]}')
  sys.exit(run_command(command, argv, prog))
