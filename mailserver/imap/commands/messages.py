"""Selected-state commands (RFC 3501 §6.4) with UIDPLUS (RFC 4315), MOVE (RFC 6851),
UNSELECT (RFC 3691) and BINARY (RFC 3516)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from typing import TypeVar

from mailserver.imap import mime, wire
from mailserver.imap.commands.mailboxes import in_store, name_arg
from mailserver.imap.commands.session_commands import arity
from mailserver.imap.protocol import (
    Atom,
    Command,
    ImapValue,
    Literal,
    Literal8,
    untagged,
    untagged_status,
)
from mailserver.imap.protocol.grammar import (
    FetchItem,
    format_datetime,
    parse_fetch_items,
    parse_sequence_set,
    parse_store_args,
)
from mailserver.imap.search import (
    BadCharset,
    ParsedSearchMessage,
    SearchProgram,
    SearchSyntaxError,
    parse_search,
)
from mailserver.imap.session import CommandFailed, ImapSession, Ok
from mailserver.imap.updates import flag_atoms
from mailserver.store.mailstore import MailboxView, MessageInfo, MessageNotFound

_Result = TypeVar("_Result")


def view_of(session: ImapSession) -> MailboxView:
    assert session.selected is not None
    return session.selected


def resolve(view: MailboxView, atom: object, *, uid: bool) -> list[tuple[int, MessageInfo]]:
    """(sequence number, message) pairs named by a sequence set or UID set, in order."""
    if not isinstance(atom, str):
        raise CommandFailed("Expected a sequence set", status="BAD")
    messages = view.messages
    if uid:
        highest = messages[-1].uid if messages else 0
        ranges = parse_sequence_set(atom, max_value=highest)
        return [
            (seq, m)
            for seq, m in enumerate(messages, 1)
            if any(low <= m.uid <= high for low, high in ranges)
        ]
    ranges = parse_sequence_set(atom, max_value=len(messages))
    if messages and any(high > len(messages) for _, high in ranges):
        raise CommandFailed("Message sequence number out of range", status="BAD")
    picked: list[tuple[int, MessageInfo]] = []
    seen: set[int] = set()
    for low, high in ranges:
        for seq in range(low, high + 1):
            if 1 <= seq <= len(messages) and seq not in seen:
                seen.add(seq)
                picked.append((seq, messages[seq - 1]))
    picked.sort(key=lambda pair: pair[0])
    return picked


def uid_set(uids: Iterable[int]) -> str:
    """Compact a UID list as a sequence set: 1:3,7 (for COPYUID / APPENDUID)."""
    out: list[str] = []
    run: list[int] = []
    for uid in uids:
        if run and uid == run[-1] + 1:
            run.append(uid)
            continue
        if run:
            out.append(f"{run[0]}:{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [uid]
    if run:
        out.append(f"{run[0]}:{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


async def check(session: ImapSession, command: Command) -> Ok:
    return Ok("CHECK completed")


async def close(session: ImapSession, command: Command) -> Ok:
    """RFC 3501 §6.4.2: expunge silently (unless read-only), then deselect."""
    view = view_of(session)
    if not view.readonly:
        await in_store(session, view.expunge)
    await session.deselect()
    return Ok("CLOSE completed")


async def unselect(session: ImapSession, command: Command) -> Ok:
    await session.deselect()
    return Ok("UNSELECT completed")


async def expunge(session: ImapSession, command: Command) -> Ok:
    view = view_of(session)
    if view.readonly:
        raise CommandFailed("Mailbox is read-only", code="READ-ONLY")
    uids = None
    if command.uid:  # UID EXPUNGE (RFC 4315 §2.1)
        (atom,) = arity(command, 1)
        uids = [m.uid for _, m in resolve(view, atom, uid=True)]
    expunged = await in_store(session, view.expunge, uids)
    await _send_expunged(session, expunged)
    return Ok("EXPUNGE completed")


async def _send_expunged(session: ImapSession, seqs: list[int]) -> None:
    if seqs:
        await session.send(b"".join(untagged(seq, Atom("EXPUNGE")) for seq in seqs))


async def search(session: ImapSession, command: Command) -> Ok:
    view = view_of(session)
    try:
        program = parse_search(list(command.args))
    except BadCharset as exc:
        raise CommandFailed("Unsupported charset", code=exc.response_code) from None
    except SearchSyntaxError as exc:
        raise CommandFailed(str(exc), status="BAD") from None
    found = await asyncio.to_thread(_run_search, view, program, command.uid)
    await session.send(untagged(Atom("SEARCH"), *found))
    return Ok("SEARCH completed")


def _run_search(view: MailboxView, program: SearchProgram, by_uid: bool) -> list[int]:
    messages = view.messages
    program = program.resolve(max_seq=len(messages), max_uid=messages[-1].uid if messages else 0)
    found = []
    for seq, info in enumerate(messages, 1):
        candidate = ParsedSearchMessage(
            seq=seq,
            uid=info.uid,
            flags=info.flags,
            recent=info.recent,
            internaldate=info.internaldate,
            size=info.size,
            raw=functools.partial(view.read, info.uid),  # read only if a key needs content
        )
        try:
            if program.matches(candidate):
                found.append(info.uid if by_uid else seq)
        except MessageNotFound:
            continue  # expunged by another session meanwhile
    return found


# FETCH answers are built off the event loop a batch at a time and sent in one write:
# a batch ends after this many messages or once its responses pass this many bytes.
FETCH_BATCH_MESSAGES = 500
FETCH_BATCH_BYTES = 1 << 20


async def fetch(session: ImapSession, command: Command) -> Ok:
    view = view_of(session)
    atom, *rest = arity(command, 2, 3)
    items = parse_fetch_items(rest[0])  # fetch modifiers (RFC 4466) are not offered
    if command.uid and not any(i.name == "UID" for i in items):
        items = [FetchItem(name="UID"), *items]
    targets = resolve(view, atom, uid=command.uid)
    marks_seen = not view.readonly and any(i.sets_seen for i in items)
    while targets:
        try:
            done, data = await in_store(session, _fetch_batch, view, targets, items, marks_seen)
        except _UnknownEncoding:
            raise CommandFailed("Unknown content transfer encoding", code="UNKNOWN-CTE") from None
        await session.send(data)
        targets = targets[done:]
    return Ok("FETCH completed")


class _UnknownEncoding(Exception):
    pass


def _fetch_batch(
    view: MailboxView,
    targets: list[tuple[int, MessageInfo]],
    items: list[FetchItem],
    marks_seen: bool,
) -> tuple[int, bytes]:
    """Answer the first messages of `targets` (blocking); returns how many, and the bytes."""
    with_flags = _with_flags(items)
    out: list[bytes] = []
    size = 0
    count = 0
    for seq, info in targets[:FETCH_BATCH_MESSAGES]:
        count += 1
        answer = items
        if marks_seen and "\\Seen" not in info.flags:
            # RFC 3501 §6.4.5: BODY[] without PEEK sets \Seen; the new flags go with it.
            changed = view.store_flags([info.uid], ["\\Seen"], "+")
            if info.uid in changed:
                info = info._replace(flags=changed[info.uid])
                answer = with_flags
        try:
            response = untagged(seq, Atom("FETCH"), _fetch_one(view, info, answer))
        except MessageNotFound:
            continue  # expunged by another session meanwhile; reported later
        out.append(response)
        size += len(response)
        if size >= FETCH_BATCH_BYTES:
            break
    return count, b"".join(out)


def _with_flags(items: list[FetchItem]) -> list[FetchItem]:
    """`items` plus FLAGS right after UID (as Dovecot sends it), unless already asked for."""
    if any(i.name == "FLAGS" for i in items):
        return items
    uid_first = items[:1] if items and items[0].name == "UID" else []
    return [*uid_first, FetchItem(name="FLAGS"), *items[len(uid_first) :]]


def _fetch_one(view: MailboxView, info: MessageInfo, items: list[FetchItem]) -> list[ImapValue]:
    parsed: mime.ParsedMessage | None = None
    out: list[ImapValue] = []
    for item in items:
        name = item.name
        if name == "UID":
            out += [Atom("UID"), info.uid]
        elif name == "FLAGS":
            out += [Atom("FLAGS"), flag_atoms(info)]
        elif name == "INTERNALDATE":
            out += [Atom("INTERNALDATE"), format_datetime(info.internaldate)]
        elif name == "RFC822.SIZE":
            out += [Atom("RFC822.SIZE"), info.size]
        else:
            if parsed is None:
                parsed = mime.ParsedMessage(view.read(info.uid))
            out += _content_item(parsed, item)
    return out


def _content_item(parsed: mime.ParsedMessage, item: FetchItem) -> list[ImapValue]:
    name = item.name
    if name == "ENVELOPE":
        return [Atom("ENVELOPE"), wire.envelope(parsed.envelope())]
    if name == "BODYSTRUCTURE":
        return [Atom("BODYSTRUCTURE"), wire.body(parsed.bodystructure(extended=True))]
    if name == "BODY" and item.section is None:
        return [Atom("BODY"), wire.body(parsed.bodystructure(extended=False))]
    if name == "RFC822":
        return [Atom("RFC822"), _content_literal(parsed.raw)]
    if name == "RFC822.HEADER":
        return [Atom("RFC822.HEADER"), _content_literal(parsed.section(_HEADER))]
    if name == "RFC822.TEXT":
        return [Atom("RFC822.TEXT"), _content_literal(parsed.section(_TEXT))]
    if name == "BINARY.SIZE":
        assert item.section is not None  # the grammar gives BINARY items a section
        data = parsed.binary_section(item.section.part)
        if data is None:
            raise _UnknownEncoding
        return [Atom(item.response_name()), len(data)]
    if name == "BINARY":
        assert item.section is not None
        data = parsed.binary_section(item.section.part)
        if data is None:
            raise _UnknownEncoding
    else:  # BODY[section]
        data = parsed.section(item.section) or b""
    if item.partial is not None:
        start, length = item.partial
        data = data[start : start + length]
    if name == "BINARY":
        # RFC 3516 §4.3: decoded data holding NUL goes as a literal8, other data as a string.
        return [Atom(item.response_name()), Literal8(data) if b"\0" in data else Literal(data)]
    return [Atom(item.response_name()), _content_literal(data)]


def _content_literal(data: bytes | None) -> Literal:
    """Message content for BODY[...] and RFC822*: a literal, NUL octets sent as 0x80.

    A literal holds CHAR8, which excludes NUL (RFC 3501 §4.3, §9); only BINARY may carry
    NUL, in a literal8 (RFC 3516 §4.3).  Dovecot substitutes 0x80 the same way.
    """
    return Literal((data or b"").replace(b"\0", b"\x80"))


class _Whole:
    def __init__(self, text: str | None) -> None:
        self.part: tuple[int, ...] = ()
        self.text = text
        self.fields: tuple[str, ...] = ()


_HEADER, _TEXT = _Whole("HEADER"), _Whole("TEXT")


async def store(session: ImapSession, command: Command) -> Ok:
    view = view_of(session)
    if view.readonly:
        raise CommandFailed("Mailbox is read-only", code="READ-ONLY")
    atom, *rest = command.args
    mode, silent, flags = parse_store_args(rest)
    targets = resolve(view, atom, uid=command.uid)
    changed = await in_store(session, view.store_flags, [m.uid for _, m in targets], flags, mode)
    if not silent:
        by_uid = {m.uid: seq for seq, m in enumerate(view.messages, 1)}
        out = []
        for uid in changed:
            seq = by_uid.get(uid)
            if seq is None:
                continue
            info = view.messages[seq - 1]
            items: list[ImapValue] = [Atom("FLAGS"), flag_atoms(info)]
            if command.uid:
                items = [Atom("UID"), uid, *items]
            out.append(untagged(seq, Atom("FETCH"), items))
        if out:
            await session.send(b"".join(out))
    return Ok("STORE completed")


async def copy(session: ImapSession, command: Command) -> Ok:
    view = view_of(session)
    atom, target = arity(command, 2)
    targets = resolve(view, atom, uid=command.uid)
    uidvalidity, pairs = await _copy_or_move(session, view.copy, targets, name_arg(target))
    if not pairs:
        return Ok("COPY completed")
    code = f"COPYUID {uidvalidity} {uid_set(s for s, _ in pairs)} {uid_set(d for _, d in pairs)}"
    return Ok("COPY completed", code=code)


async def move(session: ImapSession, command: Command) -> Ok:
    """RFC 6851 §4.3: COPYUID in an untagged OK, then the EXPUNGEs, then tagged OK."""
    view = view_of(session)
    if view.readonly:
        raise CommandFailed("Mailbox is read-only", code="READ-ONLY")
    atom, target = arity(command, 2)
    targets = resolve(view, atom, uid=command.uid)
    uidvalidity, pairs, expunged = await _copy_or_move(
        session, view.move, targets, name_arg(target)
    )
    if pairs:
        code = (
            f"COPYUID {uidvalidity} {uid_set(s for s, _ in pairs)} {uid_set(d for _, d in pairs)}"
        )
        await session.send(untagged_status("OK", "Moved", code=code))
    await _send_expunged(session, expunged)
    return Ok("MOVE completed")


async def _copy_or_move(
    session: ImapSession,
    operation: Callable[[list[int], str], _Result],
    targets: list[tuple[int, MessageInfo]],
    target_name: str,
) -> _Result:
    try:
        return await in_store(session, operation, [m.uid for _, m in targets], target_name)
    except CommandFailed as failed:
        if failed.code == "NONEXISTENT":
            raise CommandFailed("No such mailbox", code="TRYCREATE") from None
        raise
