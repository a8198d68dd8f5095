"""Waiting in tests without a fixed sleep: poll a condition, or move a clock by hand.

A fixed `sleep` is too short on a loaded machine (the test flakes) and too long
everywhere else (the suite crawls). A test that waits for something to happen
polls for that thing with `wait_until` (or `wait_until_async` inside the event
loop); a test that needs time to pass for a timeout, TTL or expiry hands the code
under test a `ManualClock` and advances it.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 10.0
DEFAULT_INTERVAL = 0.02


def _timed_out(what: str | None, predicate: object, timeout: float) -> AssertionError:
    name = what or getattr(predicate, "__name__", repr(predicate))
    return AssertionError(f"timed out after {timeout:g}s waiting for {name}")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    *,
    what: str | None = None,
) -> T:
    """Call `predicate` until it returns something truthy, and return that.

    AssertionError (naming `what`) when `timeout` seconds pass first; an exception from
    `predicate` ends the wait at once (a peer that exited will never start listening).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(what, predicate, timeout)
        time.sleep(interval)


async def wait_until_async(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float = DEFAULT_TIMEOUT,
    interval: float = DEFAULT_INTERVAL,
    *,
    what: str | None = None,
) -> T:
    """`wait_until` for a test running in the event loop: it yields to the loop between
    polls, and `predicate` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise _timed_out(what, predicate, timeout)
        await asyncio.sleep(interval)


def accepts_connections(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts a TCP connection on `port` now (a peer has started, or
    a draining server still listens)."""
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


class ManualClock:
    """A monotonic clock (seconds, as `time.monotonic`) that moves only when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass."""
        self.now += seconds
