"""The values the store hands to the IMAP layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


class MessageInfo(NamedTuple):
    """What a session knows of one message (a tuple: a view holds one per message).

    `flags` never holds \\Recent: that is `recent`, which is true in exactly one session
    (RFC 3501 §2.3.2); the IMAP layer adds "\\Recent" to FLAGS itself.
    """

    uid: int
    flags: frozenset[str]
    internaldate: datetime  # timezone-aware (UTC): the file's mtime, as in Dovecot
    size: int  # RFC822.SIZE, the size with CRLF line ends
    recent: bool


@dataclass(slots=True)
class Changes:
    """What `MailboxView.refresh()` found, in the order the IMAP layer reports it.

    `expunged`: sequence numbers for `* n EXPUNGE`, each relative to the state after the
    previous one (RFC 3501 §7.4.1). `exists` / `recent`: the new counts when they changed
    (`exists` is set when messages arrived). `flags`: (sequence number after the expunges,
    info) of messages whose flags another session changed, for `* n FETCH (FLAGS ...)`.
    """

    expunged: list[int] = field(default_factory=list)
    exists: int | None = None
    recent: int | None = None
    flags: list[tuple[int, MessageInfo]] = field(default_factory=list)

    def __bool__(self) -> bool:
        counts = (self.exists, self.recent)
        return bool(self.expunged or self.flags or any(c is not None for c in counts))


@dataclass(frozen=True, slots=True)
class MailboxInfo:
    """One LIST entry. `name` uses "/" as the hierarchy delimiter."""

    name: str
    special_use: str | None  # RFC 6154 attribute, e.g. "\\Sent"
    has_children: bool
    selectable: bool  # False: \Noselect (a deleted parent, or a parent that only is implied)


@dataclass(frozen=True, slots=True)
class MailboxStatus:
    """STATUS items (RFC 3501 §6.3.10) plus the total size (RFC 8438 STATUS=SIZE)."""

    messages: int
    recent: int  # messages still in new/: \Recent for the next session that selects it
    uidnext: int
    uidvalidity: int
    unseen: int
    size: int


class CopyResult(NamedTuple):
    """COPY's answer for COPYUID (RFC 4315): target UIDVALIDITY and (source, target) UIDs."""

    uidvalidity: int
    mapping: list[tuple[int, int]]


class MoveResult(NamedTuple):
    """MOVE's answer: COPYUID data plus the sequence numbers to report as `* n EXPUNGE`
    now (RFC 6851 §4.3), in reporting order; they are already gone from the view."""

    uidvalidity: int
    mapping: list[tuple[int, int]]
    expunged: list[int]
