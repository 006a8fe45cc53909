"""The workdir lock on real files: refused while its holder lives, taken over when the holder
is a dead process of this host, when its heartbeat is too old or when asked; a holder whose
lock was taken over learns it."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from cnl_jax.training.workdir_lock import (LOCK_FILE, Holder, WorkdirLock, WorkdirLockedError,
                                           WorkdirLockLostError, read_holder)


def write_lock(workdir, holder):
  with open(os.path.join(workdir, LOCK_FILE), 'w', encoding='utf-8') as file:
    file.write(json.dumps(dataclasses.asdict(holder)))


def dead_pid() -> int:
  child = subprocess.Popen([sys.executable, '-c', 'pass'])
  child.wait()
  return child.pid


def test_the_holder_is_written_and_the_lock_removed_on_release(tmp_path):
  lock = WorkdirLock(str(tmp_path)).acquire()
  holder = read_holder(os.path.join(tmp_path, LOCK_FILE))
  assert (holder.host, holder.pid) == (socket.gethostname(), os.getpid())
  lock.release()
  assert not os.path.exists(os.path.join(tmp_path, LOCK_FILE))


def test_a_live_holder_is_refused_in_one_line_naming_it(tmp_path):
  now = time.time()
  write_lock(tmp_path, Holder('other-host', 4242, now - 600, now - 5))
  with pytest.raises(WorkdirLockedError) as error:
    WorkdirLock(str(tmp_path)).acquire()
  message = str(error.value)
  assert 'process 4242 on host other-host' in message and '--takeover_lock' in message
  assert '\n' not in message
  assert read_holder(os.path.join(tmp_path, LOCK_FILE)).pid == 4242  # left alone


def test_a_live_process_of_this_host_is_refused(tmp_path):
  now = time.time()
  write_lock(tmp_path, Holder(socket.gethostname(), os.getppid(), now, now))
  with pytest.raises(WorkdirLockedError):
    WorkdirLock(str(tmp_path)).acquire()


@pytest.mark.parametrize('stale', ['dead process', 'old heartbeat', 'takeover'])
def test_a_stale_lock_is_taken_over(tmp_path, caplog, stale):
  now = time.time()
  holder = {'dead process': Holder(socket.gethostname(), dead_pid(), now, now),
            'old heartbeat': Holder('other-host', 4242, now - 3600, now - 600),
            'takeover': Holder('other-host', 4242, now, now)}[stale]
  write_lock(tmp_path, holder)
  lock = WorkdirLock(str(tmp_path)).acquire(takeover=stale == 'takeover')
  assert read_holder(os.path.join(tmp_path, LOCK_FILE)).pid == os.getpid()
  assert f'process {holder.pid}' in caplog.text and 'Took over' in caplog.text
  assert os.listdir(tmp_path) == [LOCK_FILE]  # the stale file moved aside is gone
  lock.release()


def test_the_heartbeat_keeps_a_lock_fresh_and_a_taken_lock_is_noticed(tmp_path):
  first = WorkdirLock(str(tmp_path), heartbeat_seconds=0.05, stale_after_seconds=0.5)
  first.acquire()
  time.sleep(1.0)
  with pytest.raises(WorkdirLockedError):  # the heartbeat is younger than the limit
    WorkdirLock(str(tmp_path), stale_after_seconds=0.5).acquire()
  first.check()

  second = WorkdirLock(str(tmp_path)).acquire(takeover=True)
  time.sleep(0.5)
  with pytest.raises(WorkdirLockLostError, match=f'process {os.getpid()}'):
    first.check()
  first.release()  # leaves the new holder's file
  assert read_holder(os.path.join(tmp_path, LOCK_FILE)).started == second.holder.started
  second.release()
