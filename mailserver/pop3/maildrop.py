"""The maildrop of one POP3 session: a numbered snapshot of INBOX with deletion marks.

RFC 1939 §4: messages are numbered from 1 at the start of the TRANSACTION state
and keep their numbers for the whole session; mail that arrives later is not
shown until the next session. DELE only marks a message (§6); the marks are
applied to the store in the UPDATE state, at QUIT, and RSET clears them.

Unique-ids (RFC 1939 §7 UIDL) are `<uidvalidity>.<uid>`: the store's IMAP UID and
UIDVALIDITY (RFC 3501 §2.3.1.1) are persistent, so the id of a message never
changes across sessions or server restarts, and a mailbox rebuilt with a new
UIDVALIDITY gives every message a new id (clients then download it again, which
is the safe direction). The id uses only digits and ".", within the 0x21-0x7E
range and 70-character limit of §7.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mailserver.pop3.protocol import Pop3ProtocolError, parse_number


class MessageLike(Protocol):
    """What the maildrop needs of the store's `MessageInfo`."""

    @property
    def uid(self) -> int: ...

    @property
    def size(self) -> int: ...


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of the maildrop: its number in this session, store UID and CRLF size."""

    number: int
    uid: int
    size: int


class Maildrop:
    """Numbered messages, fixed at login, and which of them are marked deleted."""

    def __init__(self, uidvalidity: int, messages: Sequence[MessageLike]) -> None:
        self.uidvalidity = uidvalidity
        self.entries = [Entry(n, m.uid, m.size) for n, m in enumerate(messages, 1)]
        self.deleted: set[int] = set()  # message numbers

    def get(self, argument: str) -> Entry:
        """The message named by a message-number argument; deleted ones do not exist (§5)."""
        number = parse_number(argument)
        if not 1 <= number <= len(self.entries):
            raise Pop3ProtocolError(f"No such message {number}")
        if number in self.deleted:
            raise Pop3ProtocolError(f"Message {number} is deleted")
        return self.entries[number - 1]

    def live(self) -> list[Entry]:
        """Messages not marked deleted, in number order."""
        return [e for e in self.entries if e.number not in self.deleted]

    def stat(self) -> tuple[int, int]:
        """RFC 1939 §5 STAT: count and total octets of the messages not marked deleted."""
        live = self.live()
        return len(live), sum(e.size for e in live)

    def delete(self, argument: str) -> Entry:
        """RFC 1939 §5 DELE: mark a message; its number cannot be used again this session."""
        entry = self.get(argument)
        self.deleted.add(entry.number)
        return entry

    def reset(self) -> None:
        """RFC 1939 §5 RSET: unmark every message."""
        self.deleted.clear()

    def unique_id(self, entry: Entry) -> str:
        """RFC 1939 §7 UIDL: persistent across sessions and restarts (see module docstring)."""
        return f"{self.uidvalidity}.{entry.uid}"

    @property
    def deleted_uids(self) -> list[int]:
        """Store UIDs of the messages marked deleted, for the UPDATE state."""
        return [self.entries[n - 1].uid for n in sorted(self.deleted)]
