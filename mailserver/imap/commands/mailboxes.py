"""Authenticated-state commands: mailboxes and APPEND (RFC 3501 §6.3; RFC 2342 NAMESPACE,
RFC 4315 APPENDUID, RFC 6154 SPECIAL-USE, RFC 3348 CHILDREN, RFC 5530 response codes)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar, cast

from mailserver.diskspace import out_of_space
from mailserver.fairness import take_turns
from mailserver.imap.commands.session_commands import arity, text_arg
from mailserver.imap.listmatch import ListPattern
from mailserver.imap.protocol import Atom, Command, ImapValue, untagged, untagged_status
from mailserver.imap.protocol.grammar import encode_mailbox_name, mailbox_name, parse_datetime
from mailserver.imap.session import CommandFailed, ImapSession, Ok
from mailserver.store.mailstore import (
    InvalidMailboxName,
    MailboxExists,
    MailboxInfo,
    MailboxNotFound,
    OverQuota,
    StoreError,
    UserStore,
)
from policy import rules
from policy.model import AccountStatus
from policy.storage import storage_full

T = TypeVar("T")
DELIMITER = "/"
BOXES_PER_TURN = 16  # LIST/LSUB let other sessions run after matching this many names
SYSTEM_FLAGS = ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")


async def in_store(session: ImapSession, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store call off the event loop, turning store errors into NO replies."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except MailboxNotFound as exc:
        raise CommandFailed(str(exc) or "No such mailbox", code="NONEXISTENT") from None
    except MailboxExists as exc:
        raise CommandFailed(str(exc) or "Mailbox exists", code="ALREADYEXISTS") from None
    except OverQuota as exc:
        raise CommandFailed(str(exc) or "Quota exceeded", code="OVERQUOTA") from None
    except InvalidMailboxName as exc:
        raise CommandFailed(str(exc) or "Invalid mailbox name", code="CANNOT") from None
    except StoreError as exc:
        raise CommandFailed(str(exc) or "Cannot do that", code="CANNOT") from None
    except OSError as exc:
        if not out_of_space(exc):
            raise
        # The disk is full: the store removed what it had half written. [UNAVAILABLE]
        # (RFC 5530 §3: temporary, try later), not [OVERQUOTA], which tells the user to
        # delete their own mail, nor [LIMIT], which is not temporary.
        refusal = storage_full()
        session.log("store", decision=refusal, detail=getattr(fn, "__name__", None))
        raise CommandFailed(session.ctx.services.user_line(refusal), code="UNAVAILABLE") from None


def user_of(session: ImapSession) -> UserStore:
    assert session.user is not None
    return session.user


def name_arg(value: ImapValue) -> str:
    return mailbox_name(value)


async def namespace(session: ImapSession, command: Command) -> Ok:
    arity(command, 0)
    await session.send(untagged(Atom("NAMESPACE"), [["", DELIMITER]], None, None))
    return Ok("NAMESPACE completed")


async def select(session: ImapSession, command: Command) -> Ok:
    return await _open(session, command, readonly=False)


async def examine(session: ImapSession, command: Command) -> Ok:
    return await _open(session, command, readonly=True)


async def _open(session: ImapSession, command: Command, *, readonly: bool) -> Ok:
    args = arity(command, 1, 2)
    name = name_arg(args[0])
    await session.deselect()  # RFC 3501 §6.3.1: a failed SELECT leaves nothing selected
    view = await in_store(session, user_of(session).open, name, readonly=readonly)
    messages = view.messages
    recent = sum(1 for m in messages if m.recent)
    first_unseen = next((i for i, m in enumerate(messages, 1) if "\\Seen" not in m.flags), None)
    keywords = sorted({f for m in messages for f in m.flags if not f.startswith("\\")})
    flags = [Atom(f) for f in (*SYSTEM_FLAGS, *keywords)]
    permanent = [] if readonly else [*flags, Atom("\\*")]
    out = [
        untagged(Atom("FLAGS"), cast("list[ImapValue]", flags)),  # list is invariant
        untagged_status("OK", "Flags permitted", code=_code("PERMANENTFLAGS", permanent)),
        untagged(len(messages), Atom("EXISTS")),
        untagged(recent, Atom("RECENT")),
    ]
    if first_unseen is not None:
        out.append(untagged_status("OK", "First unseen", code=f"UNSEEN {first_unseen}"))
    out.append(untagged_status("OK", "UIDs valid", code=f"UIDVALIDITY {view.uidvalidity}"))
    out.append(untagged_status("OK", "Predicted next UID", code=f"UIDNEXT {view.uidnext}"))
    await session.send(b"".join(out))
    await session.select(view)
    verb = "EXAMINE" if readonly else "SELECT"
    return Ok(f"{verb} completed", code="READ-ONLY" if readonly else "READ-WRITE")


def _code(name: str, atoms: list[Atom]) -> str:
    return f"{name} ({' '.join(atoms)})"


async def create(session: ImapSession, command: Command) -> Ok:
    (name,) = arity(command, 1)
    text = name_arg(name).rstrip(DELIMITER)  # RFC 3501 §6.3.3: trailing delimiter allowed
    if text.upper() == "INBOX":
        raise CommandFailed("INBOX always exists", code="ALREADYEXISTS")
    await in_store(session, user_of(session).create, text)
    return Ok("CREATE completed")


async def delete(session: ImapSession, command: Command) -> Ok:
    (name,) = arity(command, 1)
    text = name_arg(name)
    if text.upper() == "INBOX":
        raise CommandFailed("INBOX cannot be deleted", code="CANNOT")
    if session.selected is not None and session.selected.name == text:
        await session.deselect()
    await in_store(session, user_of(session).delete, text)
    return Ok("DELETE completed")


async def rename(session: ImapSession, command: Command) -> Ok:
    old, new = arity(command, 2)
    await in_store(session, user_of(session).rename, name_arg(old), name_arg(new))
    return Ok("RENAME completed")


async def subscribe(session: ImapSession, command: Command) -> Ok:
    (name,) = arity(command, 1)
    await in_store(session, user_of(session).subscribe, name_arg(name))
    return Ok("SUBSCRIBE completed")


async def unsubscribe(session: ImapSession, command: Command) -> Ok:
    (name,) = arity(command, 1)
    await in_store(session, user_of(session).unsubscribe, name_arg(name))
    return Ok("UNSUBSCRIBE completed")


def list_pattern(reference: str, pattern: str) -> ListPattern:
    """RFC 3501 §6.3.8: `*` matches anything, `%` anything but the delimiter."""
    return ListPattern.compile(reference, pattern, DELIMITER)


async def list_command(session: ImapSession, command: Command) -> Ok:
    reference, pattern = (text_arg(a, "name") for a in arity(command, 2))
    if pattern == "":
        # The hierarchy delimiter and root (RFC 3501 §6.3.8).
        await session.send(untagged(Atom("LIST"), [Atom("\\Noselect")], DELIMITER, ""))
        return Ok("LIST completed")
    boxes = await in_store(session, user_of(session).list_mailboxes)
    await _send_list(session, "LIST", boxes, list_pattern(reference, pattern))
    return Ok("LIST completed")


async def lsub(session: ImapSession, command: Command) -> Ok:
    reference, pattern = (text_arg(a, "name") for a in arity(command, 2))
    user = user_of(session)
    subscribed = set(await in_store(session, user.subscriptions))
    boxes = [b for b in await in_store(session, user.list_mailboxes) if b.name in subscribed]
    await _send_list(session, "LSUB", boxes, list_pattern(reference, pattern))
    return Ok("LSUB completed")


async def _send_list(
    session: ImapSession, verb: str, boxes: list[MailboxInfo], pattern: ListPattern
) -> None:
    out = []
    for checked, box in enumerate(boxes, 1):
        if checked % BOXES_PER_TURN == 0:
            await take_turns()  # many mailboxes and a costly pattern: others go on meanwhile
        if not pattern.matches(box.name):
            continue
        attributes: list[ImapValue] = [
            Atom("\\HasChildren" if box.has_children else "\\HasNoChildren")
        ]
        if not box.selectable:
            attributes.append(Atom("\\Noselect"))
        if box.special_use:
            attributes.append(Atom(box.special_use))
        out.append(untagged(Atom(verb), attributes, DELIMITER, encode_mailbox_name(box.name)))
    if out:
        await session.send(b"".join(out))


STATUS_ITEMS = ("MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN")


async def status(session: ImapSession, command: Command) -> Ok:
    name, items = arity(command, 2)
    if not isinstance(items, list) or not items:
        raise CommandFailed("STATUS needs a list of items", status="BAD")
    wanted = [text_arg(i, "status item").upper() for i in items]
    unknown = [w for w in wanted if w not in STATUS_ITEMS]
    if unknown:
        raise CommandFailed(f"Unknown STATUS item {unknown[0]}", status="BAD")
    text = name_arg(name)
    info = await in_store(session, user_of(session).status, text)
    values: list[ImapValue] = []
    for item in wanted:
        values += [Atom(item), getattr(info, item.lower())]
    await session.send(untagged(Atom("STATUS"), encode_mailbox_name(text), values))
    return Ok("STATUS completed")


async def append(session: ImapSession, command: Command) -> Ok:
    """RFC 3501 §6.3.11 with APPENDUID (RFC 4315)."""
    args = list(command.args)
    if len(args) < 2:
        raise CommandFailed("APPEND needs a mailbox and a message", status="BAD")
    name, message = name_arg(args[0]), args[-1]
    flags: list[str] = []
    internaldate = None
    for extra in args[1:-1]:
        if isinstance(extra, list):
            flags = [text_arg(f, "flag") for f in extra]
        elif isinstance(extra, bytes | str):
            internaldate = parse_datetime(text_arg(extra, "date-time"))
        else:
            raise CommandFailed("Bad APPEND arguments", status="BAD")
    if not isinstance(message, bytes):
        raise CommandFailed("APPEND needs the message as a literal", status="BAD")
    if any(f.lower() == "\\recent" for f in flags):
        raise CommandFailed("\\Recent cannot be set", status="BAD")
    user = user_of(session)
    await _check_departed_append(session, user, name)
    try:
        uidvalidity, uid = await in_store(
            session, user.append, name, message, flags=flags, internaldate=internaldate
        )
    except CommandFailed as failed:
        if failed.code == "NONEXISTENT":
            raise CommandFailed("No such mailbox; create it first", code="TRYCREATE") from None
        raise
    session.log("append", detail=name, size=len(message))
    return Ok("APPEND completed", code=f"APPENDUID {uidvalidity} {uid}")


async def check_append_size(session: ImapSession, size: int) -> None:
    """NO [OVERQUOTA] (RFC 9208 §5.1) before the client sends an APPEND literal of `size`
    bytes that would not fit: refused before "+", no byte of it is read."""
    await in_store(session, user_of(session).check_quota, size)


async def _check_departed_append(session: ImapSession, user: UserStore, name: str) -> None:
    """Memo 4.1: the policy's answer to an APPEND by a departed user (Sent and Drafts
    still work so clients don't break); the tagged NO carries every language."""
    account = session.account
    if account is None or account.status is not AccountStatus.DEPARTED:
        return  # only a departed account is limited: no need to list its mailboxes
    boxes = await in_store(session, user.list_mailboxes)
    special = {b.name: b.special_use for b in boxes}
    refusal = rules.departed_store_objection(account, special.get(name))
    if refusal is not None:
        session.log("append", decision=refusal, detail=name)
        raise CommandFailed(session.ctx.services.user_line(refusal), code="NOPERM")
