"""CommandDeadline: the budget runs from a command's first byte, not from each read."""

from __future__ import annotations

import asyncio

import pytest

from mailserver.command_deadline import CommandDeadline
from tests.waiting import ManualClock


def reader_with(*chunks: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    return reader


def test_trickled_bytes_run_out_of_budget_though_every_read_is_quick() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        deadline = CommandDeadline(60, 10, started=False, clock=clock)
        reader = asyncio.StreamReader()
        clock.advance(59)  # idle almost to the limit: still fine
        reader.feed_data(b"a")
        assert await deadline.read(reader) == b"a"
        for _ in range(9):  # the budget now runs from that first byte
            clock.advance(1)
            reader.feed_data(b"x")
            assert await deadline.read(reader) == b"x"
        clock.advance(1)
        reader.feed_data(b"x")
        with pytest.raises(TimeoutError):
            await deadline.read(reader)

    asyncio.run(scenario())


def test_a_started_command_gets_the_budget_not_the_idle_time() -> None:
    async def scenario() -> None:
        clock = ManualClock()
        deadline = CommandDeadline(60, 5, started=True, clock=clock)
        clock.advance(5)
        with pytest.raises(TimeoutError):
            await deadline.read(reader_with(b"late"))

    asyncio.run(scenario())
