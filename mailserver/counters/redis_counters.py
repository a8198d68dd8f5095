"""Counters in Redis, shared by every node that names the same server and key prefix.

One `incr` is one MULTI/EXEC transaction of `INCRBY key by` and
`PEXPIRE key ttl NX` (NX: only when the key has no expiry yet, i.e. it was just
created; Redis 7.0 or later). The two run together or not at all, so two nodes
counting the same key at once get exact counts and one window, and no key is
ever left without an expiry. `incr_many` puts the pairs of every key in one
transaction, one round trip.

Every Redis failure (refused or dropped connection, no answer within
`timeout_seconds`, a refused password, Redis out of memory) becomes
`CountersUnavailable`. A command is tried at most twice (the second time on a
new connection, since the pooled one may predate a Redis restart), so a call
fails within about twice the timeout even when Redis hangs. The connections
are pooled and bounded: thousands of sessions share a few dozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from mailserver.counters import CountersUnavailable, check_increment

DEFAULT_PREFIX = "mailserver:"
DEFAULT_MAX_CONNECTIONS = 32


class RedisCounters:
    """Fixed-window counters in Redis; see the module docstring."""

    def __init__(self, client: redis.asyncio.Redis, *, key_prefix: str = DEFAULT_PREFIX) -> None:
        self._client = client
        self.key_prefix = key_prefix

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key_prefix: str = DEFAULT_PREFIX,
        timeout_seconds: float = 1.0,
        password: str | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
    ) -> RedisCounters:
        """Counters at `url` (redis://, rediss:// or unix://); connects at the first call.

        At most `max_connections` are open at once; a call that finds them all busy
        waits for one up to `timeout_seconds`, then is CountersUnavailable too."""
        options: dict[str, Any] = {}
        if password is not None:
            options["password"] = password  # kept out of the URL, so out of any log line
        pool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=timeout_seconds,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1),
            **options,
        )
        return cls(redis.asyncio.Redis.from_pool(pool), key_prefix=key_prefix)

    async def incr(self, key: str, *, ttl_seconds: float, by: int = 1) -> int:
        """INCRBY and PEXPIRE NX in one transaction; the new count."""
        return (await self.incr_many([key], ttl_seconds=ttl_seconds, by=by))[0]

    async def incr_many(self, keys: Sequence[str], *, ttl_seconds: float, by: int = 1) -> list[int]:
        """Every key's INCRBY and PEXPIRE NX in one transaction; the new counts in order."""
        check_increment(ttl_seconds, by)
        if not keys:
            return []
        milliseconds = max(1, round(ttl_seconds * 1000))
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for key in keys:
                    pipe.incrby(self._key(key), by)
                    pipe.pexpire(self._key(key), milliseconds, nx=True)
                replies = await pipe.execute()
        except RedisError as exc:
            raise CountersUnavailable(f"redis: {exc}") from exc
        return [int(count) for count in replies[0::2]]

    async def get(self, key: str) -> int:
        """GET; 0 for a missing (or expired) key."""
        try:
            value = await self._client.get(self._key(key))
        except RedisError as exc:
            raise CountersUnavailable(f"redis: {exc}") from exc
        return int(value) if value is not None else 0

    async def reset(self, key: str) -> None:
        """DEL."""
        try:
            await self._client.delete(self._key(key))
        except RedisError as exc:
            raise CountersUnavailable(f"redis: {exc}") from exc

    async def ping(self) -> None:
        """PING; CountersUnavailable when Redis does not answer it."""
        try:
            await self._client.ping()
        except RedisError as exc:
            raise CountersUnavailable(f"redis: {exc}") from exc

    async def close(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()

    def _key(self, key: str) -> str:
        return self.key_prefix + key
