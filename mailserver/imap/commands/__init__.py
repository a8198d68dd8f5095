"""The dispatch table from IMAP command to handler, with the states each is valid in.

Each command group is a module: `session_commands` (any state and login),
`mailboxes` (authenticated state), `messages` (selected state), `idle`.
After each command the selected mailbox's changes are reported at the points
RFC 3501 §7.4.1 allows (no EXPUNGE during FETCH, STORE or SEARCH).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mailserver.imap.commands import idle, mailboxes, messages, session_commands
from mailserver.imap.protocol import Command, ContinuationNeeded, ImapProtocolError, tagged
from mailserver.imap.session import CommandFailed, Handler, ImapSession, State
from mailserver.imap.updates import report_changes

ANY = frozenset(State) - {State.LOGOUT}
NOT_AUTHENTICATED = frozenset({State.NOT_AUTHENTICATED})
AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})


@dataclass(frozen=True)
class Entry:
    handler: Handler
    states: frozenset[State]
    # Commands during which untagged EXPUNGE must not be sent (RFC 3501 §7.4.1).
    expunge_allowed: bool = True
    uid_form: bool = False  # valid after "UID"


TABLE: dict[str, Entry] = {
    "CAPABILITY": Entry(session_commands.capability, ANY),
    "NOOP": Entry(session_commands.noop, ANY),
    "LOGOUT": Entry(session_commands.logout, ANY),
    "ID": Entry(session_commands.id_command, ANY),
    "STARTTLS": Entry(session_commands.starttls, NOT_AUTHENTICATED),
    "LOGIN": Entry(session_commands.login, NOT_AUTHENTICATED),
    "AUTHENTICATE": Entry(session_commands.authenticate, NOT_AUTHENTICATED),
    "ENABLE": Entry(session_commands.enable, AUTHENTICATED),
    "NAMESPACE": Entry(mailboxes.namespace, AUTHENTICATED),
    "SELECT": Entry(mailboxes.select, AUTHENTICATED),
    "EXAMINE": Entry(mailboxes.examine, AUTHENTICATED),
    "CREATE": Entry(mailboxes.create, AUTHENTICATED),
    "DELETE": Entry(mailboxes.delete, AUTHENTICATED),
    "RENAME": Entry(mailboxes.rename, AUTHENTICATED),
    "SUBSCRIBE": Entry(mailboxes.subscribe, AUTHENTICATED),
    "UNSUBSCRIBE": Entry(mailboxes.unsubscribe, AUTHENTICATED),
    "LIST": Entry(mailboxes.list_command, AUTHENTICATED),
    "LSUB": Entry(mailboxes.lsub, AUTHENTICATED),
    "STATUS": Entry(mailboxes.status, AUTHENTICATED),
    "APPEND": Entry(mailboxes.append, AUTHENTICATED),
    "IDLE": Entry(idle.idle, AUTHENTICATED),
    "CHECK": Entry(messages.check, SELECTED),
    "CLOSE": Entry(messages.close, SELECTED),
    "UNSELECT": Entry(messages.unselect, SELECTED),
    "EXPUNGE": Entry(messages.expunge, SELECTED, uid_form=True),
    "SEARCH": Entry(messages.search, SELECTED, expunge_allowed=False, uid_form=True),
    "FETCH": Entry(messages.fetch, SELECTED, expunge_allowed=False, uid_form=True),
    "STORE": Entry(messages.store, SELECTED, expunge_allowed=False, uid_form=True),
    "COPY": Entry(messages.copy, SELECTED, uid_form=True),
    "MOVE": Entry(messages.move, SELECTED, uid_form=True),
}

BASE_CAPABILITIES = (
    "IMAP4rev1",
    "LITERAL+",
    "SASL-IR",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "UIDPLUS",
    "MOVE",
    "UNSELECT",
    "CHILDREN",
    "SPECIAL-USE",
    "BINARY",
)


def capabilities(session: ImapSession) -> Iterable[str]:
    """RFC 3501 §6.1.1; AUTH= and LOGIN only once the connection is encrypted;
    RFC 7889 APPENDLIMIT: the largest message APPEND takes."""
    yield from BASE_CAPABILITIES
    yield f"APPENDLIMIT={session.ctx.settings.imap.max_literal}"
    if session.state is State.NOT_AUTHENTICATED:
        if session.encrypted:
            yield from ("AUTH=PLAIN", "AUTH=LOGIN")
        else:
            yield from ("STARTTLS", "LOGINDISABLED")


def _entry(session: ImapSession, name: str, *, uid: bool = False) -> Entry:
    """The table entry for a command valid in the session's state, else CommandFailed (BAD)."""
    entry = TABLE.get(name)
    if entry is None or (uid and not entry.uid_form):
        raise CommandFailed(f"Unknown command {name}", status="BAD")
    if session.state not in entry.states:
        raise CommandFailed(f"{name} is not valid in {session.state.value} state", status="BAD")
    return entry


async def check_literal(session: ImapSession, literal: ContinuationNeeded) -> None:
    """CommandFailed when the command announcing a synchronising literal will be refused
    anyway, so the session answers it instead of sending "+" and reading the literal:
    a command not valid in this state (APPEND before login), an APPEND over quota."""
    _entry(session, literal.name)
    if literal.name == "APPEND":
        await mailboxes.check_append_size(session, literal.size)


async def dispatch(session: ImapSession, command: Command) -> None:
    """Check the state, run the handler, answer failures, then report mailbox changes."""
    try:
        entry = _entry(session, command.name, uid=command.uid)
    except CommandFailed as failed:
        await session.send(tagged(command.tag, failed.status, failed.text))
        return
    try:
        await session.ensure_still_allowed()
        done = await entry.handler(session, command)
        if done.answered:
            return
        status, text, code = "OK", done.text, done.code
    except CommandFailed as failed:
        status, text, code = failed.status, failed.text, failed.code
    except ImapProtocolError as error:
        error.tag = error.tag or command.tag
        await session.send_protocol_error(error)
        return
    if session.state is State.SELECTED:
        await report_changes(session, expunge=entry.expunge_allowed)
    await session.send(tagged(command.tag, status, text, code=code))
