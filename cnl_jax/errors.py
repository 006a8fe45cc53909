"""The one base class of errors caused by what a user gave: config, data, paths, files."""


class UserError(Exception):
  """Bad input whose message says what is wrong and what to do.

  The commands (cnl_jax/cli/harness.py) print it as one line, without a traceback, and exit
  with status 1; every other exception is a bug and keeps its traceback.
  """


class ConfigError(UserError, ValueError):
  """A config value that cannot work; the message names the field and what to set."""


class RunNotFoundError(UserError, FileNotFoundError):
  """A workdir without the checkpoint or config that was asked for."""


class WeightsError(UserError, ValueError):
  """Pretrained weights that cannot be had or read: a missing file, no network for the
  download, a package the format needs, or an unknown source."""

