"""Sessions take turns: one pipelining client must not starve the others.

asyncio only switches tasks at an `await` that really waits. A session reading
commands from a buffer (a client that pipelined thousands of commands in one
write) never waits: reading returns buffered bytes at once and a small reply
fits in the socket, so the event loop — and every other SMTP, IMAP and POP3
client of the node — stood still until the whole buffer was answered. Each
session loop therefore hands the loop over once per command it has answered.
"""

from __future__ import annotations

import asyncio


async def take_turns() -> None:
    """Let every other ready task (other sessions, the listeners) run once, then go on."""
    await asyncio.sleep(0)
