"""Locks shared by the store's modules (durable writes are in mailserver/durable.py).

A lock here is two locks: a `threading.Lock` per path for the sessions of this
process, then an fcntl (POSIX record) lock on the file for other processes,
e.g. another node delivering over NFS. The thread lock is not optional: POSIX
locks belong to the process, so a second thread would "get" a lock its
process already holds, and closing *any* descriptor of the file drops it.
Holding the thread lock while the file is open avoids both traps.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from mailserver import private

_registry_guard = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}


def _thread_lock(path: Path) -> threading.Lock:
    key = os.path.abspath(path)
    with _registry_guard:
        lock = _thread_locks.get(key)
        if lock is None:
            # One small Lock per lock file ever used by this process; bounded by the
            # number of mailboxes touched, which is fine for a mail server's lifetime.
            lock = _thread_locks[key] = threading.Lock()
        return lock


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the exclusive lock `path` (created if missing) for this thread and process."""
    with _thread_lock(path):
        fd = private.open_fd(path, os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the fcntl lock
