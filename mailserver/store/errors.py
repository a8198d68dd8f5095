"""The store's exception family: one base class, one subclass per answer IMAP gives.

The IMAP layer maps them to responses: `MailboxNotFound` -> NO [NONEXISTENT]
(or [TRYCREATE] for APPEND/COPY/MOVE, RFC 3501 §6.3.11), `MailboxExists` -> NO
[ALREADYEXISTS], `OverQuota` -> NO [OVERQUOTA] (RFC 5530), `InvalidMailboxName`
and `InvalidFlag` -> NO/BAD. Anything else raised from the store is a bug or an
I/O failure.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every error the mailbox store raises on purpose."""


class MailboxNotFound(StoreError):
    """The mailbox does not exist (or is \\Noselect, so it cannot be opened)."""


class MailboxExists(StoreError):
    """CREATE or RENAME onto a name that already exists."""


class InvalidMailboxName(StoreError):
    """A name the store cannot (or will not) map to a Maildir++ folder."""


class InvalidFlag(StoreError):
    """A flag that is neither a system flag nor a keyword atom, or no letter is left for it."""


class OverQuota(StoreError):
    """APPEND/COPY would take the account beyond its quota."""


class MessageNotFound(StoreError):
    """The message was expunged (by this or another session) or its file vanished."""
