"""Counters in this process's memory: one node, or the fallback while Redis is down.

The keys are built from what clients send (an address, a login name), so an
attacker chooses how many there are. The table therefore holds at most
`max_keys` windows. Expired windows go first; when it is full of live ones,
the window that ends soonest is dropped to make room (Redis's
`maxmemory-policy volatile-ttl` makes the same choice). The cap bounds memory,
not the attack: a flood of fresh keys can push out real counts, which then
start again from 0, so `max_keys` should comfortably exceed the keys a busy
window really has (measured with tracemalloc: about 300 bytes a key of 30
characters, so the default 100,000 keys take about 30 MB).

Time comes from `clock` (seconds, `time.monotonic` by default), so the tests
move it by hand.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mailserver.counters import check_increment

DEFAULT_MAX_KEYS = 100_000


@dataclass(slots=True)
class _Window:
    count: int
    expires: float
    serial: int  # tells this window's heap entry from those of earlier windows of the key


class MemoryCounters:
    """Fixed-window counters in a bounded table; see the module docstring."""

    def __init__(
        self, *, max_keys: int = DEFAULT_MAX_KEYS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self.max_keys = max_keys
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        # (expires, serial, key) of every window, soonest first; entries of windows
        # since reset or replaced are skipped when they surface, and the heap is rebuilt
        # when they make up more than half of it.
        self._by_expiry: list[tuple[float, int, str]] = []
        self._serials = itertools.count()
        self.evictions = 0  # live windows dropped because the table was full

    def __len__(self) -> int:
        return len(self._windows)

    async def incr(self, key: str, *, ttl_seconds: float, by: int = 1) -> int:
        """Add `by` to `key`; a new window expires `ttl_seconds` from now."""
        check_increment(ttl_seconds, by)
        return self._incr(key, ttl_seconds, by)

    async def incr_many(self, keys: Sequence[str], *, ttl_seconds: float, by: int = 1) -> list[int]:
        """`incr` of each key in turn."""
        check_increment(ttl_seconds, by)
        return [self._incr(key, ttl_seconds, by) for key in keys]

    async def get(self, key: str) -> int:
        """The live count of `key`, else 0."""
        window = self._live(key)
        return window.count if window is not None else 0

    async def reset(self, key: str) -> None:
        """Drop `key`'s window."""
        self._windows.pop(key, None)

    async def ping(self) -> None:
        """Memory always answers."""

    async def close(self) -> None:
        """Nothing to release."""

    def _incr(self, key: str, ttl_seconds: float, by: int) -> int:
        window = self._live(key)
        if window is not None:
            window.count += by
            return window.count
        now = self._clock()
        self._windows.pop(key, None)
        self._make_room(now)
        window = _Window(by, now + ttl_seconds, next(self._serials))
        self._windows[key] = window
        heapq.heappush(self._by_expiry, (window.expires, window.serial, key))
        if len(self._by_expiry) > 2 * len(self._windows) + 64:
            self._rebuild_heap()
        return by

    def _live(self, key: str) -> _Window | None:
        window = self._windows.get(key)
        if window is None:
            return None
        if self._clock() >= window.expires:
            del self._windows[key]
            return None
        return window

    def _make_room(self, now: float) -> None:
        """Drop expired windows; when still full, the live ones that end soonest."""
        heap = self._by_expiry
        while heap:
            expires, serial, key = heap[0]
            window = self._windows.get(key)
            if window is None or window.serial != serial:
                heapq.heappop(heap)  # a window since reset or replaced
            elif expires <= now:
                heapq.heappop(heap)
                del self._windows[key]
            elif len(self._windows) >= self.max_keys:
                heapq.heappop(heap)
                del self._windows[key]
                self.evictions += 1
            else:
                break

    def _rebuild_heap(self) -> None:
        self._by_expiry = [(w.expires, w.serial, k) for k, w in self._windows.items()]
        heapq.heapify(self._by_expiry)
