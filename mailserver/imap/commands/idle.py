"""IDLE (RFC 2177): push mailbox changes, and keep judging the account while idling.

A phone may sit in IDLE for hours; a suspension must still reach it. The
session wakes on three things: the client's DONE, a change to the selected
mailbox (in-process notification from delivery and other sessions), and an
account change (control socket) or the periodic re-check interval.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mailserver.imap.protocol import Command, RawLine, continuation
from mailserver.imap.session import CommandFailed, ImapSession, Ok, State
from mailserver.imap.updates import report_changes

# Without a notification (delivery by another node, a change by another process), the
# mailbox is still looked at this often. In-process changes wake the session at once.
POLL_SECONDS = 30.0


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def idle(session: ImapSession, command: Command) -> Ok:
    if command.args:
        raise CommandFailed("IDLE takes no arguments", status="BAD")
    await session.send(continuation("idling"))
    reader = asyncio.ensure_future(session.next_event(raw_line=True))
    recheck = session.ctx.settings.imap.account_recheck_seconds
    try:
        while True:
            session.changed.clear()
            waiter = asyncio.ensure_future(session.changed.wait())
            done, _ = await asyncio.wait(
                {reader, waiter},
                timeout=min(recheck, POLL_SECONDS),
                return_when=asyncio.FIRST_COMPLETED,
            )
            waiter.cancel()
            if reader in done:
                break
            await session.ensure_still_allowed()  # may send BYE and end the session
            if session.state is State.SELECTED:
                await report_changes(session)
    finally:
        if not reader.done():
            reader.cancel()
        # Collect the reader's outcome even when we are being cancelled ourselves.
        reader.add_done_callback(_consume)
    event = reader.result()
    if not isinstance(event, RawLine) or event.data.strip().upper() != b"DONE":
        raise CommandFailed("Expected DONE", status="BAD")
    return Ok("IDLE terminated")
