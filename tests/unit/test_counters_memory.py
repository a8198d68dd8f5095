"""MemoryCounters: fixed windows on an injected clock, and the cap on the number of keys."""

from __future__ import annotations

import pytest

from mailserver.counters.memory import MemoryCounters
from tests.waiting import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


async def test_the_window_is_fixed_at_the_first_increment(clock: ManualClock) -> None:
    counters = MemoryCounters(clock=clock)
    assert await counters.incr("k", ttl_seconds=10) == 1
    clock.advance(6)
    assert await counters.incr("k", ttl_seconds=10) == 2  # does not move the expiry
    clock.advance(3.9)
    assert await counters.get("k") == 2
    clock.advance(0.1)  # ten seconds after the first increment
    assert await counters.get("k") == 0
    assert await counters.incr("k", ttl_seconds=10) == 1  # a new window


async def test_an_expired_window_restarts_at_the_amount(clock: ManualClock) -> None:
    counters = MemoryCounters(clock=clock)
    await counters.incr("k", ttl_seconds=5, by=3)
    clock.advance(5)
    assert await counters.incr("k", ttl_seconds=5, by=2) == 2
    clock.advance(4.9)
    assert await counters.get("k") == 2


async def test_reset_opens_a_new_window(clock: ManualClock) -> None:
    counters = MemoryCounters(clock=clock)
    await counters.incr("k", ttl_seconds=10)
    clock.advance(8)
    await counters.reset("k")
    assert await counters.incr("k", ttl_seconds=10) == 1
    clock.advance(8)  # past the old window's end, inside the new one
    assert await counters.get("k") == 1


async def test_a_full_table_drops_the_window_that_ends_soonest(clock: ManualClock) -> None:
    counters = MemoryCounters(max_keys=3, clock=clock)
    await counters.incr("ends-at-30", ttl_seconds=30)
    await counters.incr("ends-at-10", ttl_seconds=10)
    await counters.incr("ends-at-20", ttl_seconds=20)
    await counters.incr("new", ttl_seconds=5)
    assert len(counters) == 3
    assert counters.evictions == 1
    assert await counters.get("ends-at-10") == 0
    assert [await counters.get(k) for k in ("ends-at-20", "ends-at-30", "new")] == [1, 1, 1]


async def test_expired_windows_make_room_before_live_ones(clock: ManualClock) -> None:
    counters = MemoryCounters(max_keys=2, clock=clock)
    await counters.incr("short", ttl_seconds=5)
    await counters.incr("long", ttl_seconds=100, by=7)
    clock.advance(10)
    await counters.incr("new", ttl_seconds=1)
    assert counters.evictions == 0
    assert await counters.get("long") == 7


async def test_a_flood_of_keys_stays_within_the_cap(clock: ManualClock) -> None:
    counters = MemoryCounters(max_keys=100, clock=clock)
    for n in range(10_000):
        await counters.incr(f"attacker-{n}", ttl_seconds=60)
    assert len(counters) == 100
    assert counters.evictions == 9_900
    assert await counters.get("attacker-9999") == 1


async def test_reset_cycles_do_not_grow_the_expiry_index(clock: ManualClock) -> None:
    """Each new window adds to the expiry index; reset windows must not pile up in it."""
    counters = MemoryCounters(max_keys=10, clock=clock)
    for _ in range(10_000):
        await counters.incr("k", ttl_seconds=60)
        await counters.reset("k")
    assert len(counters._by_expiry) < 200


@pytest.mark.parametrize(("ttl", "by"), [(0, 1), (-1, 1), (10, 0), (10, -2)])
async def test_nonsense_increments_are_refused(ttl: float, by: int) -> None:
    with pytest.raises(ValueError):
        await MemoryCounters().incr("k", ttl_seconds=ttl, by=by)


def test_the_cap_must_allow_one_key() -> None:
    with pytest.raises(ValueError):
        MemoryCounters(max_keys=0)
