"""A bounded pool of open connections, each used by one thread at a time (for ldap_connections.py).

The pool knows nothing of LDAP: `open` gives a new connection and the index of the
server it reached, `close` ends one (best effort, never raises), `usable` says
whether an idle connection may still be handed out (not closed by the peer, still
to a server the failover order wants). The pool adds the bounds:

- at most `size` connections exist (idle or in use); `acquire` waits up to `wait`
  seconds for one to come back, then raises PoolError;
- an idle connection is reused most-recently-released first, so the others age out;
  one idle for more than `max_idle` seconds is closed, at the next `acquire` or
  `release` on the pool, instead of being used;
- `acquire(fresh=True)` skips the idle ones (a retry after a failure should not
  meet another connection that went stale at the same moment);
- after `close()`, idle connections are closed at once and the ones in use when
  they come back; `acquire` raises PoolError.

Opening and closing happen outside the lock, so a slow server never blocks the
threads that only hand connections back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

C = TypeVar("C")


class PoolError(Exception):
    """No connection can be handed out: the pool is closed, or every one stayed busy."""


@dataclass(slots=True, eq=False)
class Lease(Generic[C]):
    """A connection handed out by the pool, and where it leads."""

    conn: C
    server: int  # index of the server the connection reached
    reused: bool = False  # taken from the idle ones (so it may have gone stale)
    idle_since: float = 0.0


class ConnectionPool(Generic[C]):
    """See the module docstring."""

    def __init__(
        self,
        *,
        size: int,
        max_idle: float,
        open: Callable[[], tuple[C, int]],
        close: Callable[[C], None],
        usable: Callable[[Lease[C]], bool] = lambda lease: True,
        wait: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` measures how long connections sit idle (tests hand in one they move);
        the wait for a busy connection is always real time."""
        if size < 1:
            raise ValueError("a pool needs room for at least one connection")
        self.size = size
        self.max_idle = max_idle
        self.wait = wait
        self._open = open
        self._close = close
        self._usable = usable
        self._clock = clock
        self._cond = threading.Condition()
        self._idle: list[Lease[C]] = []  # oldest release first
        self._count = 0  # connections that exist or are being opened
        self._closed = False
        self.opened = 0  # connections opened since the start (a figure for tests, metrics)

    @property
    def connections(self) -> int:
        """Connections open now (idle or in use), counting ones being opened."""
        with self._cond:
            return self._count

    @property
    def idle(self) -> int:
        with self._cond:
            return len(self._idle)

    def acquire(self, *, fresh: bool = False) -> Lease[C]:
        """A connection for the calling thread alone; give it back with release or discard."""
        deadline = time.monotonic() + self.wait
        while True:
            stale: list[Lease[C]] = []
            lease: Lease[C] | None = None
            with self._cond:
                while True:
                    if self._closed:
                        raise PoolError("the connection pool is closed")
                    stale += self._expire_locked()
                    if self._idle and not fresh:
                        lease = self._idle.pop()
                        break
                    if self._count < self.size:
                        self._count += 1  # a slot for the connection opened below
                        break
                    if self._idle:  # fresh wanted and the pool is full: make room
                        stale.append(self._idle.pop(0))
                        self._count -= 1
                        continue
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise PoolError(f"all {self.size} connections stayed busy")
                    self._cond.wait(left)
            for old in stale:
                self._close(old.conn)
            if lease is None:
                return self._open_slot()
            if self._usable(lease):
                lease.reused = True
                return lease
            self.discard(lease)

    def _open_slot(self) -> Lease[C]:
        try:
            conn, server = self._open()
        except BaseException:
            with self._cond:
                self._count -= 1
                self._cond.notify()
            raise
        with self._cond:
            self.opened += 1
        return Lease(conn, server)

    def release(self, lease: Lease[C]) -> None:
        """Give back a connection that is fine for the next user."""
        with self._cond:
            if self._closed:
                self._count -= 1
                to_close = [lease]
            else:
                lease.idle_since = self._clock()
                self._idle.append(lease)
                to_close = self._expire_locked()
                self._cond.notify()
        for old in to_close:
            self._close(old.conn)

    def discard(self, lease: Lease[C]) -> None:
        """Close a connection that failed or may not be used again, freeing its slot."""
        with self._cond:
            self._count -= 1
            self._cond.notify()
        self._close(lease.conn)

    def close(self) -> None:
        """Close the idle connections now and the ones in use when they come back."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._count -= len(idle)
            self._cond.notify_all()
        for lease in idle:
            self._close(lease.conn)

    def _expire_locked(self) -> list[Lease[C]]:
        """Take out the connections idle for longer than max_idle (oldest are first)."""
        limit = self._clock() - self.max_idle
        expired = 0
        while expired < len(self._idle) and self._idle[expired].idle_since < limit:
            expired += 1
        if not expired:
            return []
        old, self._idle = self._idle[:expired], self._idle[expired:]
        self._count -= expired
        return old


__all__ = ["ConnectionPool", "Lease", "PoolError"]
