"""Untagged updates for the selected mailbox: EXPUNGE, EXISTS, RECENT, FETCH FLAGS.

RFC 3501 §7.4.1: EXPUNGE may not be sent while the client runs FETCH, STORE or
SEARCH (sequence numbers would shift under it). After those commands the view
is not refreshed at all, so everything waits for the next allowed point (the
next other command, NOOP, or IDLE).
"""

from __future__ import annotations

import asyncio

from mailserver.imap.protocol import Atom, ImapValue, untagged, untagged_status
from mailserver.imap.session import ImapSession, SessionClosed
from mailserver.store.mailstore import MailboxNotFound, MessageInfo


def flag_atoms(info: MessageInfo) -> list[ImapValue]:
    flags = sorted(info.flags)
    if info.recent:
        flags.append("\\Recent")
    return [Atom(f) for f in flags]


async def report_changes(session: ImapSession, *, expunge: bool = True) -> None:
    """Send what changed in the selected mailbox since the session last looked."""
    view = session.selected
    if view is None or not expunge:
        return
    try:
        changes = await asyncio.to_thread(view.refresh)
    except MailboxNotFound:
        # Deleted or renamed away by another session, or its UIDVALIDITY changed: the
        # session's sequence numbers mean nothing any more (RFC 3501 §2.3.1.1).
        await session.send(untagged_status("BYE", "The selected mailbox no longer exists"))
        raise SessionClosed from None
    out = [untagged(seq, Atom("EXPUNGE")) for seq in changes.expunged]
    if changes.exists is not None:
        out.append(untagged(changes.exists, Atom("EXISTS")))
    if changes.recent is not None:
        out.append(untagged(changes.recent, Atom("RECENT")))
    for seq, info in changes.flags:
        out.append(
            untagged(seq, Atom("FETCH"), [Atom("UID"), info.uid, Atom("FLAGS"), flag_atoms(info)])
        )
    if out:
        await session.send(b"".join(out))
