"""The one base class of errors caused by what a user gave: config, data, paths, files."""

import functools
import sys
from collections.abc import Callable


class UserError(Exception):
  """Bad input whose message says what is wrong and what to do.

  `main.py` and the command-line tools print it as one line, without a traceback; every
  other exception is a bug and keeps its traceback.
  """


class ConfigError(UserError, ValueError):
  """A config value that cannot work; the message names the field and what to set."""


class RunNotFoundError(UserError, FileNotFoundError):
  """A workdir without the checkpoint or config that was asked for."""


class WeightsError(UserError, ValueError):
  """Pretrained weights that cannot be had or read: a missing file, no network for the
  download, a package the format needs, or an unknown source."""


def exits_on_user_error(main: Callable[..., int]) -> Callable[..., int]:
  """Wraps a command-line `main`: a UserError prints 'error: <message>' on stderr and
  returns exit status 1 instead of a traceback."""

  @functools.wraps(main)
  def wrapped(*args, **kwargs) -> int:
    try:
      return main(*args, **kwargs)
    except UserError as error:
      print(f'error: {error}', file=sys.stderr)
      return 1

  return wrapped
