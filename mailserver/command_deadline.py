"""A time budget for one command, however its bytes trickle in (IMAP and POP3 sessions).

A timeout per read never closes a client that sends one byte every few seconds
(a slow-loris): every read succeeds. RFC 3501 §5.4 and RFC 1939 §3 speak of an
inactivity timer; we also bound the whole command: `idle` seconds for its
first byte, then `budget` seconds from that byte until the command (its
literals included) is complete. The clock is handed in, so tests can drive it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

READ_SIZE = 65536


class CommandDeadline:
    """The deadline of the command being read; raise TimeoutError once it has passed."""

    def __init__(
        self,
        idle: float,
        budget: float,
        *,
        started: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._budget = budget
        self._clock = clock
        self._started = started  # bytes of the command were already received
        self._deadline = clock() + (budget if started else idle)

    async def read(self, reader: asyncio.StreamReader) -> bytes:
        """The next bytes from `reader`; TimeoutError once the command's time is up."""
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise TimeoutError
        data = await asyncio.wait_for(reader.read(READ_SIZE), remaining)
        if not self._started:
            self._started = True
            self._deadline = self._clock() + self._budget
        return data
