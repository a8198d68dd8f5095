"""The counters against a real redis-server, and the same behaviour table for both backends.

The table runs against MemoryCounters (time moved by a ManualClock) and
RedisCounters (time passes for real, with a short TTL, and the test waits until
Redis has dropped the key). Then what only Redis has: two clients counting the
same key at once, a Redis that stops or hangs, and the fallback to local counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio

from mailserver.counters import Counters, CountersUnavailable
from mailserver.counters.fallback import FallbackCounters
from mailserver.counters.memory import MemoryCounters
from mailserver.counters.redis_counters import RedisCounters
from tests.integration.redis_server import RedisServer, redis_server_fixture  # noqa: F401
from tests.waiting import ManualClock, wait_until_async

pytestmark = pytest.mark.integration

LONG_TTL = 60.0
PREFIX = "test:"


@dataclass
class Subject:
    """A Counters under test, a TTL short enough to wait out, and how to wait it out."""

    counters: Counters
    short_ttl: float
    let_expire: Callable[[str], Awaitable[None]]


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client, to look at what RedisCounters left in Redis."""
    client = redis.asyncio.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def shared(redis_server: RedisServer) -> AsyncIterator[RedisCounters]:
    counters = RedisCounters.from_url(redis_server.url, key_prefix=PREFIX, timeout_seconds=0.5)
    yield counters
    await counters.close()


@pytest.fixture(params=["memory", "redis"])
async def subject(request: pytest.FixtureRequest) -> AsyncIterator[Subject]:
    if request.param == "memory":
        clock = ManualClock()

        async def advance(key: str) -> None:
            clock.advance(LONG_TTL)

        yield Subject(MemoryCounters(clock=clock), LONG_TTL, advance)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    counters = RedisCounters.from_url(server.url, key_prefix=PREFIX, timeout_seconds=0.5)
    client = redis.asyncio.Redis.from_url(server.url)

    async def gone(key: str) -> None:
        async def absent() -> bool:
            return not await client.exists(PREFIX + key)

        await wait_until_async(absent, what=f"redis to expire {key}")

    yield Subject(counters, 0.3, gone)
    await counters.close()
    await client.aclose()


# Each step: (operation, key(s), amount) -> the expected result. "expire" waits out the
# short TTL the case's increments used.
BEHAVIOUR: list[tuple[str, list[tuple[str, Any, int]], list[Any]]] = [
    ("a new key counts from the amount", [("incr", "a", 1), ("incr", "b", 5)], [1, 5]),
    ("increments add up", [("incr", "a", 1), ("incr", "a", 2), ("get", "a", 0)], [1, 3, 3]),
    ("a missing key reads 0", [("get", "nothing", 0)], [0]),
    ("keys are independent", [("incr", "a", 2), ("incr", "b", 1), ("get", "a", 0)], [2, 1, 2]),
    (
        "reset forgets the key",
        [("incr", "a", 4), ("reset", "a", 0), ("get", "a", 0), ("incr", "a", 1)],
        [4, None, 0, 1],
    ),
    ("reset of a missing key is harmless", [("reset", "nothing", 0)], [None]),
    ("incr_many counts each key in order", [("many", ["a", "b", "a"], 2)], [[2, 2, 4]]),
    ("incr_many of nothing", [("many", [], 1)], [[]]),
    (
        "an expired key reads 0 and starts again",
        [("incr", "a", 3), ("expire", "a", 0), ("get", "a", 0), ("incr", "a", 1)],
        [3, None, 0, 1],
    ),
]


@pytest.mark.parametrize(
    ("steps", "expected"), [c[1:] for c in BEHAVIOUR], ids=[c[0] for c in BEHAVIOUR]
)
async def test_behaviour(
    subject: Subject, steps: list[tuple[str, Any, int]], expected: list[Any]
) -> None:
    counters, ttl = subject.counters, subject.short_ttl
    results: list[Any] = []
    for operation, key, amount in steps:
        if operation == "incr":
            results.append(await counters.incr(key, ttl_seconds=ttl, by=amount))
        elif operation == "many":
            results.append(await counters.incr_many(key, ttl_seconds=ttl, by=amount))
        elif operation == "get":
            results.append(await counters.get(key))
        elif operation == "reset":
            results.append(await counters.reset(key))
        else:
            results.append(await subject.let_expire(key))
    assert results == expected


async def test_every_redis_key_gets_the_prefix_and_one_expiry(
    shared: RedisCounters, raw: redis.asyncio.Redis
) -> None:
    await shared.incr_many(["a", "b"], ttl_seconds=LONG_TTL)
    assert sorted(await raw.keys("*")) == [b"test:a", b"test:b"]
    for key in (b"test:a", b"test:b"):
        assert 0 < await raw.pttl(key) <= LONG_TTL * 1000


async def test_a_redis_increment_does_not_move_the_expiry(
    shared: RedisCounters, raw: redis.asyncio.Redis
) -> None:
    await shared.incr("k", ttl_seconds=LONG_TTL)

    async def time_passed() -> bool:
        return await raw.pttl("test:k") < LONG_TTL * 1000 - 100

    await wait_until_async(time_passed, what="the window to run 100 ms")
    await shared.incr("k", ttl_seconds=LONG_TTL)
    assert await raw.pttl("test:k") < LONG_TTL * 1000 - 100


async def test_a_key_without_expiry_gets_one_at_the_next_increment(
    shared: RedisCounters, raw: redis.asyncio.Redis
) -> None:
    await raw.set("test:k", 5)
    assert await shared.incr("k", ttl_seconds=LONG_TTL) == 6
    assert await raw.pttl("test:k") > 0


async def test_two_clients_counting_one_key_get_exact_counts(redis_server: RedisServer) -> None:
    clients = [
        RedisCounters.from_url(redis_server.url, key_prefix=PREFIX, timeout_seconds=5)
        for _ in range(2)
    ]
    try:
        per_client = 300
        replies = await asyncio.gather(
            *(c.incr("k", ttl_seconds=LONG_TTL) for c in clients for _ in range(per_client))
        )
        assert sorted(replies) == list(range(1, 2 * per_client + 1))  # each count seen once
        assert await clients[0].get("k") == 2 * per_client
    finally:
        for client in clients:
            await client.close()


async def test_a_stopped_redis_is_unavailable_at_once(
    redis_server: RedisServer, shared: RedisCounters
) -> None:
    await shared.incr("k", ttl_seconds=LONG_TTL)
    redis_server.stop()
    started = time.monotonic()
    for call in (
        shared.incr("k", ttl_seconds=LONG_TTL),
        shared.get("k"),
        shared.reset("k"),
        shared.ping(),
    ):
        with pytest.raises(CountersUnavailable):
            await call
    assert time.monotonic() - started < 2.0


async def test_a_hung_redis_is_unavailable_within_the_timeout(
    redis_server: RedisServer, shared: RedisCounters
) -> None:
    """Redis frozen (SIGSTOP): the port accepts, nothing answers; 0.5 s timeout, two tries."""
    await shared.incr("k", ttl_seconds=LONG_TTL)
    redis_server.pause()
    try:
        started = time.monotonic()
        with pytest.raises(CountersUnavailable):
            await shared.incr("k", ttl_seconds=LONG_TTL)
        assert time.monotonic() - started < 2.5
    finally:
        redis_server.resume()
    assert await shared.get("k") >= 1  # answers again once it runs


async def test_a_restarted_redis_is_used_again(
    redis_server: RedisServer, shared: RedisCounters
) -> None:
    await shared.incr("k", ttl_seconds=LONG_TTL, by=4)
    redis_server.stop()
    with pytest.raises(CountersUnavailable):
        await shared.get("k")
    redis_server.start()
    assert await shared.incr("k", ttl_seconds=LONG_TTL) == 1  # nothing persisted


async def test_the_fallback_counts_locally_while_redis_is_down_and_says_so_once(
    redis_server: RedisServer,
    shared: RedisCounters,
    raw: redis.asyncio.Redis,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = ManualClock()
    counters = FallbackCounters(shared, MemoryCounters(clock=clock), retry_seconds=5, clock=clock)
    caplog.set_level(logging.INFO, logger="mailserver.counters.fallback")
    assert await counters.incr("k", ttl_seconds=LONG_TTL) == 1
    assert not counters.on_local
    redis_server.stop()
    assert await counters.incr("k", ttl_seconds=LONG_TTL) == 1  # counted in memory
    assert counters.on_local
    clock.advance(6)  # Redis is tried again, still down
    assert await counters.incr("k", ttl_seconds=LONG_TTL) == 2
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "counting in this process" in caplog.records[0].getMessage()
    redis_server.start()
    assert await counters.incr("k", ttl_seconds=LONG_TTL) == 3  # not retried before 5 s
    clock.advance(6)
    assert await counters.incr("k", ttl_seconds=LONG_TTL) == 1  # in the (empty) Redis again
    assert not counters.on_local
    assert await raw.get("test:k") == b"1"
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    assert "answer again" in caplog.records[1].getMessage()


async def test_the_fallback_waits_for_a_hung_redis_once_per_interval(
    redis_server: RedisServer, shared: RedisCounters
) -> None:
    clock = ManualClock()
    counters = FallbackCounters(shared, MemoryCounters(clock=clock), retry_seconds=5, clock=clock)
    await counters.ping()
    redis_server.pause()
    try:
        await counters.incr("k", ttl_seconds=LONG_TTL)  # waits out the timeout, then local
        assert counters.on_local
        started = time.monotonic()
        for _ in range(20):
            await counters.incr("k", ttl_seconds=LONG_TTL)
        assert time.monotonic() - started < 0.4  # less than one timeout (0.5 s) for all 20
        assert await counters.get("k") == 21
    finally:
        redis_server.resume()


async def test_reset_through_the_fallback_clears_the_local_count_too(
    redis_server: RedisServer, shared: RedisCounters
) -> None:
    local = MemoryCounters()
    counters = FallbackCounters(shared, local, retry_seconds=0)
    redis_server.stop()
    await counters.incr("k", ttl_seconds=LONG_TTL, by=9)
    redis_server.start()
    await counters.reset("k")
    assert await local.get("k") == 0
    assert await counters.get("k") == 0
