"""One training run per workdir: `<workdir>/run.lock`, held and refreshed by the run.

Shared filesystems where multi-host runs keep their workdir (NFS, gcsfuse) do not honour
advisory locks (flock, fcntl) reliably, so the lock is a file: created exclusively
(O_CREAT | O_EXCL), naming its holder (host, process id, start time) and a heartbeat that a
thread of the holder rewrites every `HEARTBEAT_SECONDS`. A start that finds the file takes
it over when the holder is a process that no longer runs on this host, or when its
heartbeat is older than `STALE_AFTER_SECONDS` (a holder on another host that died, e.g.
before its job was requeued), or when told to (`takeover`); otherwise it is refused.
Heartbeats are compared with this host's clock: hosts' clocks must agree to well within the
limit, as NTP keeps them.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import socket
import threading
import time

from cnl_jax.errors import UserError

LOCK_FILE = 'run.lock'
HEARTBEAT_SECONDS = 15.0
STALE_AFTER_SECONDS = 120.0


class WorkdirLockedError(UserError):
  """Another run holds the workdir; the message names it and what to do."""


class WorkdirLockLostError(UserError):
  """Another run took this run's lock over (it judged this one dead); this one must stop."""


def _utc(seconds: float) -> str:
  return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
      '%Y-%m-%d %H:%M:%S UTC')


@dataclasses.dataclass(frozen=True)
class Holder:
  """Who holds a lock: host name, process id, start time and last heartbeat (Unix seconds)."""
  host: str
  pid: int
  started: float
  heartbeat: float

  def same_run(self, other: Holder) -> bool:
    return (self.host, self.pid, self.started) == (other.host, other.pid, other.started)

  def describe(self, now: float) -> str:
    return (f'process {self.pid} on host {self.host}, started {_utc(self.started)}, last '
            f'heartbeat {now - self.heartbeat:.0f} s ago')

  def why_gone(self, now: float, stale_after: float) -> str | None:
    """Why this holder cannot be running any more, or None when it may be."""
    if self.host == socket.gethostname() and not _process_runs(self.pid):
      return f'process {self.pid} no longer runs on this host'
    if now - self.heartbeat > stale_after:
      return f'its heartbeat is {now - self.heartbeat:.0f} s old (limit {stale_after:.0f} s)'
    return None


def _process_runs(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # another user's process
    return True
  return True


def read_holder(path: str) -> Holder | None:
  """The holder written in the lock file at `path`; None when there is no such file.

  A file that is not (yet) a complete record, e.g. read between its creation and its first
  write, counts as held by an unknown process since the file's last change.
  """
  try:
    with open(path, encoding='utf-8') as file:
      text = file.read()
    changed = os.stat(path).st_mtime
  except FileNotFoundError:
    return None
  try:
    return Holder(**json.loads(text))
  except (ValueError, TypeError):
    return Holder(host='unknown', pid=0, started=changed, heartbeat=changed)


class WorkdirLock:
  """The lock of one workdir, held from `acquire` until `release`.

  While held, a daemon thread refreshes the heartbeat; if it finds the file rewritten by
  another run (which took the lock over), `check` raises WorkdirLockLostError.
  """

  def __init__(self, workdir: str, heartbeat_seconds: float = HEARTBEAT_SECONDS,
               stale_after_seconds: float = STALE_AFTER_SECONDS):
    self.path = os.path.join(os.path.abspath(workdir), LOCK_FILE)
    self._heartbeat_seconds = heartbeat_seconds
    self._stale_after = stale_after_seconds
    now = time.time()
    self.holder = Holder(socket.gethostname(), os.getpid(), now, now)
    self._lost = threading.Event()  # set by the heartbeat when the file is no longer ours
    self._lost_to: Holder | None = None
    self._stop = threading.Event()
    self._thread: threading.Thread | None = None

  def acquire(self, takeover: bool = False) -> WorkdirLock:
    """Creates the lock file, taking a stale one over (or any, with `takeover`); raises
    WorkdirLockedError naming the holder when another run may still hold it."""
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    for _ in range(3):  # a contender may remove or create the file between our steps
      if self._create():
        self._thread = threading.Thread(target=self._beat, name='workdir-lock-heartbeat',
                                        daemon=True)
        self._thread.start()
        return self
      holder = read_holder(self.path)
      if holder is None:
        continue
      now = time.time()
      reason = 'asked to take it over' if takeover else holder.why_gone(now, self._stale_after)
      if reason is None:
        raise WorkdirLockedError(
            f'{os.path.dirname(self.path)} is in use by another training run: '
            f'{holder.describe(now)} ({self.path}). Wait for it to end or train into another '
            f'--workdir; if it is gone (e.g. its host died), its lock is taken over '
            f'automatically once its heartbeat is {self._stale_after:.0f} s old, or now with '
            '--takeover_lock.')
      if self._remove_stale(holder):
        logging.warning('Took over the lock of %s: %s, %s.', os.path.dirname(self.path),
                        holder.describe(now), reason)
    raise WorkdirLockedError(f'{self.path} keeps changing: other runs are starting in the '
                             'same workdir at the same time; start only one.')

  def _create(self) -> bool:
    """Whether this call created the lock file (atomically, with our record)."""
    try:
      descriptor = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
      return False
    with os.fdopen(descriptor, 'w', encoding='utf-8') as file:
      file.write(json.dumps(dataclasses.asdict(self.holder)))
      file.flush()
      os.fsync(file.fileno())
    return True

  def _remove_stale(self, holder: Holder) -> bool:
    """Moves the stale lock of `holder` out of the way; False when another contender did
    first (only one rename of the file succeeds) or the file is no longer `holder`'s."""
    aside = f'{self.path}.stale-{self.holder.host}-{self.holder.pid}'
    try:
      os.rename(self.path, aside)
    except FileNotFoundError:
      return False
    moved = read_holder(aside)
    if moved is not None and not moved.same_run(holder):  # a fresh lock created meanwhile
      os.rename(aside, self.path)
      return False
    os.remove(aside)
    return True

  def _beat(self) -> None:
    while not self._stop.wait(self._heartbeat_seconds):
      current = read_holder(self.path)
      if current is None or not current.same_run(self.holder):
        self._lost_to = current
        self._lost.set()
        return
      self.holder = dataclasses.replace(self.holder, heartbeat=time.time())
      fresh = f'{self.path}.{self.holder.host}-{self.holder.pid}'
      try:
        with open(fresh, 'w', encoding='utf-8') as file:
          file.write(json.dumps(dataclasses.asdict(self.holder)))
        os.replace(fresh, self.path)
      except OSError as error:  # e.g. a full disk: the next beat tries again
        logging.warning('Could not refresh the heartbeat of %s: %s', self.path, error)

  def check(self) -> None:
    """Raises WorkdirLockLostError when another run has taken the lock over."""
    if self._lost.is_set():
      now_held = (f'now held by {self._lost_to.describe(time.time())}' if self._lost_to
                  else 'its file was removed')
      raise WorkdirLockLostError(
          f'The lock of {os.path.dirname(self.path)} was taken over while this run went on '
          f'({now_held}); stopping so that two runs do not mix their checkpoints.')

  def release(self) -> None:
    """Stops the heartbeat and removes the lock file, if it is still this run's."""
    self._stop.set()
    if self._thread is not None:
      self._thread.join()
    current = read_holder(self.path)
    if current is not None and current.same_run(self.holder):
      os.remove(self.path)
