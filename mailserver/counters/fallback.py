"""Shared counters that fall back to this process's own while the shared ones are down.

For `[counters] on_redis_down = "local"`: when Redis does not answer, the node
keeps counting in memory rather than refusing (limits then hold per node,
not across nodes, until Redis is back). The switch is logged once, and the
return once. While down, Redis is tried again only every `retry_seconds`, so a
hung Redis costs one timeout per interval, not one per login. Counts made
locally during the outage stay local: they are not added to Redis afterwards,
and the local windows run out on their own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from mailserver.counters import Counters, CountersUnavailable

T = TypeVar("T")

log = logging.getLogger(__name__)

DEFAULT_RETRY_SECONDS = 5.0


class FallbackCounters:
    """`primary` while it answers, `local` while it does not; see the module docstring."""

    def __init__(
        self,
        primary: Counters,
        local: Counters,
        *,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.local = local
        self.retry_seconds = retry_seconds
        self._clock = clock
        self._down_since: float | None = None
        self._next_try = 0.0

    @property
    def on_local(self) -> bool:
        """True while the counts are this process's own."""
        return self._down_since is not None

    async def incr(self, key: str, *, ttl_seconds: float, by: int = 1) -> int:
        """`incr` on whichever side answers."""
        return await self._either(lambda c: c.incr(key, ttl_seconds=ttl_seconds, by=by))

    async def incr_many(self, keys: Sequence[str], *, ttl_seconds: float, by: int = 1) -> list[int]:
        """`incr_many` on whichever side answers."""
        return await self._either(lambda c: c.incr_many(keys, ttl_seconds=ttl_seconds, by=by))

    async def get(self, key: str) -> int:
        """`get` on whichever side answers."""
        return await self._either(lambda c: c.get(key))

    async def reset(self, key: str) -> None:
        """`reset` on whichever side answers, and locally too (a window counted during an
        outage must not outlive the reset)."""
        await self.local.reset(key)
        await self._either(lambda c: c.reset(key))

    async def ping(self) -> None:
        """Always answers (the local side does); `on_local` says which side it is."""
        await self._either(lambda c: c.ping())

    async def close(self) -> None:
        """Close both sides."""
        await self.primary.close()
        await self.local.close()

    async def _either(self, call: Callable[[Counters], Awaitable[T]]) -> T:
        if self._down_since is not None and self._clock() < self._next_try:
            return await call(self.local)
        try:
            result = await call(self.primary)
        except CountersUnavailable as exc:
            self._next_try = self._clock() + self.retry_seconds
            if self._down_since is None:
                self._down_since = self._clock()
                log.warning("counters: %s; counting in this process only until it answers", exc)
            return await call(self.local)
        if self._down_since is not None:
            log.info(
                "counters: the shared counters answer again after %.0f s; counting there",
                self._clock() - self._down_since,
            )
            self._down_since = None
        return result
