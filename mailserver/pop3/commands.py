"""POP3 command handlers and the table that dispatches to them.

Each handler sends its own response; it raises `Pop3ProtocolError` for a client
mistake and `CommandFailed` for a refusal (the session answers both with -ERR).
"""

from __future__ import annotations

import asyncio
import binascii
from base64 import b64decode
from collections.abc import Awaitable, Callable

from mailserver.pop3.maildrop import Maildrop
from mailserver.pop3.protocol import (
    Command,
    Pop3ProtocolError,
    State,
    check_state,
    continuation,
    dot_stuff,
    multiline,
    ok,
    parse_number,
    top,
)
from mailserver.pop3.session import CommandFailed, Pop3Session
from mailserver.store.mailstore import MessageNotFound, StoreError

Handler = Callable[[Pop3Session, Command], Awaitable[None]]

# RFC 2595 §4 / RFC 3206: what a client hears when it sends credentials in the clear.
PRIVACY_REQUIRED = "Plaintext authentication is disallowed before TLS: use STLS"


def capabilities(session: Pop3Session) -> list[str]:
    """RFC 2449 §6: capabilities for the current state and transport.

    Before TLS on the plain port only STLS leads to a login, so USER and SASL are
    not listed there (as Dovecot does with plaintext auth disabled).
    """
    caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING"]
    if session.state is State.AUTHORIZATION:
        if session.encrypted:
            caps += ["USER", "SASL PLAIN"]
        else:
            caps.append("STLS")
    caps.append("IMPLEMENTATION mailserver")
    return caps


async def dispatch(session: Pop3Session, command: Command) -> None:
    """Check the state table, re-judge a logged-in account, run the handler."""
    check_state(session.state, command)
    await session.ensure_still_allowed()
    await HANDLERS[command.name](session, command)


# --- any state: RFC 2449 §5, RFC 1939 §5-6 -------------------------------------------


async def capa(session: Pop3Session, command: Command) -> None:
    await session.send(multiline("Capability list follows", capabilities(session)))


async def quit_(session: Pop3Session, command: Command) -> None:
    """RFC 1939 §6: in TRANSACTION, enter UPDATE and remove the messages marked deleted."""
    if session.state is State.AUTHORIZATION:
        session.state = State.UPDATE
        await session.send(ok("Bye"))
        return
    session.state = State.UPDATE
    maildrop, view = session.maildrop, session.view
    assert maildrop is not None and view is not None
    uids = maildrop.deleted_uids
    if uids:
        try:
            await asyncio.to_thread(view.store_flags, uids, ["\\Deleted"], "+")
            removed = await asyncio.to_thread(view.expunge, uids)
        except StoreError:
            # §6: -ERR when some deleted messages could not be removed; nothing is lost.
            session.log("expunge_failed", uids=uids)
            await session.send(b"-ERR [SYS/TEMP] Some deleted messages were not removed\r\n")
            return
        session.log("expunge", uids=uids, count=len(removed))
    count, _ = maildrop.stat()
    await session.send(ok(f"Bye ({count} messages left)"))


async def noop(session: Pop3Session, command: Command) -> None:
    await session.send(ok())


# --- AUTHORIZATION: RFC 2595 §4, RFC 1939 §7, RFC 5034 ------------------------------


async def stls(session: Pop3Session, command: Command) -> None:
    if session.encrypted:
        raise Pop3ProtocolError("TLS is already active")
    await session.send(ok("Begin TLS negotiation"))
    await session.start_tls()


def _require_tls(session: Pop3Session) -> None:
    if not session.encrypted:
        raise CommandFailed(PRIVACY_REQUIRED, "AUTH")


async def user(session: Pop3Session, command: Command) -> None:
    _require_tls(session)
    session.pending_user = command.args[0]
    await session.send(ok("Send PASS"))


async def pass_(session: Pop3Session, command: Command) -> None:
    _require_tls(session)
    login, session.pending_user = session.pending_user, None
    if login is None:
        raise Pop3ProtocolError("Send USER first")
    await session.authenticate(login, command.args[0], "USER")
    await session.send(ok(session.login_notice))


async def apop(session: Pop3Session, command: Command) -> None:
    raise CommandFailed("APOP is not supported; use STLS and USER/PASS or AUTH PLAIN")


async def auth(session: Pop3Session, command: Command) -> None:
    """RFC 5034: AUTH PLAIN (RFC 4616) with or without an initial response.

    Bare `AUTH` lists the mechanisms (the RFC 1734 habit some clients keep).
    """
    if not command.args:
        mechanisms = ["PLAIN"] if session.encrypted else []
        await session.send(multiline("Mechanisms follow", mechanisms))
        return
    _require_tls(session)
    session.pending_user = None
    mechanism = command.args[0].upper()
    if mechanism != "PLAIN":
        raise CommandFailed(f"Unsupported mechanism {mechanism[:20]}")
    if len(command.args) == 2:
        encoded = "" if command.args[1] == "=" else command.args[1]
    else:
        await session.send(continuation())
        encoded = (await session.read_line(sasl=True)).decode("ascii", "replace").strip()
        if encoded == "*":  # RFC 5034 §4: the client cancels
            raise Pop3ProtocolError("Authentication cancelled")
    try:
        response = b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Pop3ProtocolError("Invalid base64") from None
    parts = response.split(b"\0")
    if len(parts) != 3:
        raise Pop3ProtocolError("Malformed PLAIN response")
    authzid, login, password = parts
    if authzid and authzid != login:
        raise CommandFailed("Proxy authorisation is not allowed", "AUTH")
    try:
        login_text, password_text = login.decode("utf-8"), password.decode("utf-8")
    except UnicodeDecodeError:
        raise Pop3ProtocolError("Credentials must be UTF-8") from None
    await session.authenticate(login_text, password_text, "PLAIN")
    await session.send(ok(session.login_notice))


# --- TRANSACTION: RFC 1939 §5, §7 -----------------------------------------------------


def _maildrop(session: Pop3Session) -> Maildrop:
    assert session.maildrop is not None
    return session.maildrop


async def stat(session: Pop3Session, command: Command) -> None:
    count, octets = _maildrop(session).stat()
    await session.send(ok(f"{count} {octets}"))


async def list_(session: Pop3Session, command: Command) -> None:
    """Sizes are the CRLF sizes the client will receive with RETR (§5, §11)."""
    maildrop = _maildrop(session)
    if command.args:
        entry = maildrop.get(command.args[0])
        await session.send(ok(f"{entry.number} {entry.size}"))
        return
    count, octets = maildrop.stat()
    lines = [f"{e.number} {e.size}" for e in maildrop.live()]
    await session.send(multiline(f"{count} messages ({octets} octets)", lines))


async def uidl(session: Pop3Session, command: Command) -> None:
    maildrop = _maildrop(session)
    if command.args:
        entry = maildrop.get(command.args[0])
        await session.send(ok(f"{entry.number} {maildrop.unique_id(entry)}"))
        return
    lines = [f"{e.number} {maildrop.unique_id(e)}" for e in maildrop.live()]
    await session.send(multiline("Unique-ID listing follows", lines))


async def _read(session: Pop3Session, uid: int) -> bytes:
    assert session.view is not None
    try:
        return await asyncio.to_thread(session.view.read, uid)
    except MessageNotFound:
        # Removed by another client (IMAP) since this session started.
        raise CommandFailed("Message was removed by another session") from None
    except StoreError:
        raise CommandFailed("Mailbox is unavailable; try again later", "SYS/TEMP") from None


async def retr(session: Pop3Session, command: Command) -> None:
    """RFC 1939 §7 RETR. The message is not marked \\Seen (Dovecot's default, too)."""
    entry = _maildrop(session).get(command.args[0])
    content = await _read(session, entry.uid)
    # Traffic data (Computer Crime Act): which message this login took, and its size.
    session.log("retr", uid=entry.uid, size=len(content))
    await session.send(ok(f"{entry.size} octets") + dot_stuff(content))


async def top_(session: Pop3Session, command: Command) -> None:
    """RFC 1939 §7 TOP: the header and the first n body lines."""
    entry = _maildrop(session).get(command.args[0])
    lines = parse_number(command.args[1], "line count")
    content = await _read(session, entry.uid)
    session.log("top", uid=entry.uid, lines=lines)
    await session.send(ok("Top of message follows") + dot_stuff(top(content, lines)))


async def dele(session: Pop3Session, command: Command) -> None:
    """Only a mark: the store changes at QUIT (§6), and RSET undoes it."""
    entry = _maildrop(session).delete(command.args[0])
    await session.send(ok(f"Message {entry.number} marked deleted"))


async def rset(session: Pop3Session, command: Command) -> None:
    maildrop = _maildrop(session)
    maildrop.reset()
    count, octets = maildrop.stat()
    await session.send(ok(f"{count} messages ({octets} octets)"))


HANDLERS: dict[str, Handler] = {
    "CAPA": capa,
    "QUIT": quit_,
    "NOOP": noop,
    "STLS": stls,
    "USER": user,
    "PASS": pass_,
    "APOP": apop,
    "AUTH": auth,
    "STAT": stat,
    "LIST": list_,
    "UIDL": uidl,
    "RETR": retr,
    "TOP": top_,
    "DELE": dele,
    "RSET": rset,
}
