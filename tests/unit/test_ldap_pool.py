"""The generic connection pool of ldap_pool.py, with plain objects as connections."""

from __future__ import annotations

import threading
import time
from itertools import count

import pytest

from mailserver.directory.ldap_pool import ConnectionPool, PoolError
from tests.waiting import ManualClock


class Conn:
    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False


class Opener:
    def __init__(self) -> None:
        self.numbers = count(1)
        self.opened: list[Conn] = []
        self.fail = False

    def __call__(self) -> tuple[Conn, int]:
        if self.fail:
            raise OSError("refused")
        conn = Conn(next(self.numbers))
        self.opened.append(conn)
        return conn, 0


def close(conn: Conn) -> None:
    conn.closed = True


def make(size: int = 2, max_idle: float = 60.0, **options: object) -> tuple[ConnectionPool, Opener]:
    opener = Opener()
    pool: ConnectionPool[Conn] = ConnectionPool(
        size=size,
        max_idle=max_idle,
        open=opener,
        close=close,
        **options,  # type: ignore[arg-type]
    )
    return pool, opener


def test_reuses_the_most_recently_released() -> None:
    pool, opener = make()
    a, b = pool.acquire(), pool.acquire()
    pool.release(a)
    pool.release(b)
    again = pool.acquire()
    assert again.conn is b.conn and again.reused
    assert len(opener.opened) == 2 and pool.opened == 2


def test_bounded_and_waits_for_a_release() -> None:
    pool, opener = make(size=2, wait=5.0)
    a, b = pool.acquire(), pool.acquire()
    threading.Timer(0.1, pool.release, args=(a,)).start()
    started = time.monotonic()
    c = pool.acquire()
    assert c.conn is a.conn and time.monotonic() - started >= 0.05
    assert len(opener.opened) == 2 and pool.connections == 2
    pool.discard(b)
    assert pool.connections == 1


def test_gives_up_when_every_connection_stays_busy() -> None:
    pool, _ = make(size=1, wait=0.1)
    pool.acquire()
    with pytest.raises(PoolError):
        pool.acquire()


def test_fresh_skips_idle_ones_and_makes_room_when_full() -> None:
    pool, _ = make(size=1)
    a = pool.acquire()
    pool.release(a)
    b = pool.acquire(fresh=True)
    assert b.conn is not a.conn and not b.reused
    assert a.conn.closed and pool.connections == 1


def test_idle_for_too_long_is_closed_not_used() -> None:
    clock = ManualClock()
    pool, _ = make(max_idle=60.0, clock=clock)
    a = pool.acquire()
    pool.release(a)
    clock.advance(59.0)
    again = pool.acquire()  # still within max_idle: reused
    assert again.conn is a.conn and not a.conn.closed
    pool.release(again)
    clock.advance(60.5)
    b = pool.acquire()
    assert a.conn.closed and b.conn is not a.conn and pool.connections == 1


def test_unusable_idle_connection_is_replaced() -> None:
    pool, _ = make(usable=lambda lease: lease.conn.number != 1)
    a = pool.acquire()
    pool.release(a)
    b = pool.acquire()
    assert a.conn.closed and b.conn.number == 2 and pool.connections == 1


def test_a_failed_open_frees_its_slot() -> None:
    pool, opener = make(size=1)
    opener.fail = True
    with pytest.raises(OSError):
        pool.acquire()
    assert pool.connections == 0
    opener.fail = False
    assert pool.acquire().conn.number == 1


def test_close_closes_idle_now_and_busy_on_release() -> None:
    pool, _ = make()
    a, b = pool.acquire(), pool.acquire()
    pool.release(a)
    pool.close()
    assert a.conn.closed and not b.conn.closed
    pool.release(b)
    assert b.conn.closed and pool.connections == 0
    with pytest.raises(PoolError):
        pool.acquire()


def test_many_threads_never_exceed_the_size() -> None:
    pool, opener = make(size=3, wait=10.0)
    in_use = 0
    peak = 0
    lock = threading.Lock()
    # Each holder waits until three connections are out at once, so the pool is full
    # every round and the other threads wait in acquire (9 x 50 is a multiple of 3).
    full = threading.Barrier(3, timeout=10)

    def work() -> None:
        nonlocal in_use, peak
        for _ in range(50):
            lease = pool.acquire()
            with lock:
                in_use += 1
                peak = max(peak, in_use)
            full.wait()
            with lock:
                in_use -= 1
            pool.release(lease)

    threads = [threading.Thread(target=work) for _ in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not full.broken
    assert peak == 3 and len(opener.opened) == 3 and pool.connections == 3
