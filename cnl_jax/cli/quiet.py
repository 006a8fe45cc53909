"""Keeps the libraries' start-up logs off the terminal, so a command's first line is its own.

TensorFlow, absl and XLA write their C++ logs straight to file descriptor 2. The levels they
read from the environment are set before they load; the lines they print regardless (oneDNN's
notice, "All log messages before absl::InitializeLog() ...") are dropped by a filter that
stands between file descriptor 2 and the terminal. Python's own stderr keeps writing to the
terminal directly, so the progress bar still sees a terminal. `--verbose` (or CNL_JAX_VERBOSE=1)
leaves all of it as the libraries print it.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import re
import sys
import threading

VERBOSE_ENV = 'CNL_JAX_VERBOSE'
# Levels the libraries read at load: TensorFlow's C++ (INFO and WARNING off), gRPC's, glog's.
_LEVELS = {'TF_CPP_MIN_LOG_LEVEL': '2', 'GRPC_VERBOSITY': 'ERROR', 'GLOG_minloglevel': '2'}
# A C++ log line of absl, TensorFlow or XLA (not FATAL, which stays; a .py source is absl's
# Python logging, ours), and absl's notice.
_LOG_LINE = re.compile(rb'([IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [\w\-]+\.(?:cc|cpp|h):\d+\] .*'
                       rb'|WARNING: All log messages before absl::InitializeLog\(\) is called'
                       rb' are written to STDERR)\r?\n')


def verbose_requested(argv: list[str]) -> bool:
  """Whether `--verbose` is among the arguments or CNL_JAX_VERBOSE is set to a true value."""
  return '--verbose' in argv or os.environ.get(VERBOSE_ENV, '') not in ('', '0', 'false')


def drop_log_lines(chunk: bytes) -> bytes:
  """`chunk` without its complete C++ log lines; everything else passes unchanged."""
  return _LOG_LINE.sub(b'', chunk)


def silence_libraries() -> None:
  """Sets the libraries' log levels (where the user set none) and filters file descriptor 2.

  Call once, before TensorFlow or JAX is imported.
  """
  for name, value in _LEVELS.items():
    os.environ.setdefault(name, value)
  terminal = os.dup(2)  # the real stderr, for Python's writes and the filter's output
  sys.stderr.flush()
  previous, sys.stderr = sys.stderr, io.TextIOWrapper(
      os.fdopen(terminal, 'wb', buffering=0), encoding='utf-8', errors='backslashreplace',
      line_buffering=True, write_through=True)
  _repoint_log_handlers(previous, sys.stderr)
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)
  thread = threading.Thread(target=_forward, args=(read_end, terminal), daemon=True)
  thread.start()

  def restore():
    os.dup2(terminal, 2)  # closes the pipe's write end: the filter reads to its end and stops
    thread.join(timeout=5)

  atexit.register(restore)


def _repoint_log_handlers(previous: io.TextIOBase, stream: io.TextIOBase) -> None:
  """Log handlers made before (absl's is made when absl.logging loads) write to `stream`."""
  handlers = list(logging.getLogger().handlers)
  if (absl_logging := sys.modules.get('absl.logging')) is not None:
    handlers.append(absl_logging.get_absl_handler().python_handler)
  for handler in handlers:
    if isinstance(handler, logging.StreamHandler) and handler.stream is previous:
      handler.setStream(stream)


def _forward(read_end: int, terminal: int) -> None:
  """Copies the pipe to the terminal without the log lines, as the bytes come."""
  pending = b''
  with os.fdopen(read_end, 'rb', buffering=0) as pipe:
    while chunk := pipe.read(65536):
      text = pending + chunk
      # Hold back an unfinished line only while it could still become a log line.
      cut = text.rfind(b'\n') + 1
      pending = text[cut:] if _could_be_log_line(text[cut:]) else b''
      text = text[:len(text) - len(pending)]
      os.write(terminal, drop_log_lines(text))
    if pending:
      os.write(terminal, pending)


def _could_be_log_line(start: bytes) -> bool:
  """Whether an unfinished line may be the start of a log line (it then waits for its end)."""
  return start[:1] in (b'I', b'W', b'E')
