"""Mailbox names (IMAP side, "/" hierarchy) <-> Maildir++ folder directories (disk side).

Dovecot's Maildir++ layout: INBOX is the Maildir itself; every other mailbox is a
directory `.<name>` in it, with '.' as the on-disk hierarchy separator and each level
in IMAP modified UTF-7 (RFC 3501 §5.1.3): "Projects/งาน" -> ".Projects.&DgcOMg1Z-".
Like Dovecot with a "/" separator and no listescape plugin, a name may not contain '.'.
"INBOX/x" is stored as ".INBOX.x". Directory names starting with ".." are never
mailboxes (an empty level is invalid), so the store uses them for work in progress.
"""

from __future__ import annotations

from pathlib import Path

from mailserver import mutf7
from mailserver.store.errors import InvalidMailboxName

INBOX = "INBOX"
DELIMITER = "/"
# RFC 6154 special-use attributes of the folders every account gets (`ensure_created`).
SPECIAL_USE = {
    "Sent": "\\Sent",
    "Drafts": "\\Drafts",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}
_FORBIDDEN = frozenset(".%*")  # '.': disk separator; '%', '*': LIST wildcards (RFC 3501 §6.3.8)
_MAX_DIRNAME_BYTES = 255


def normalize(name: str) -> str:
    """Validate an IMAP mailbox name; INBOX (any case, also as first level) becomes "INBOX"."""
    if not name:
        raise InvalidMailboxName("empty mailbox name")
    parts = name.split(DELIMITER)
    for part in parts:
        if not part:
            raise InvalidMailboxName(f"{name!r} has an empty hierarchy level")
        if any(c in _FORBIDDEN or ord(c) < 0x20 or ord(c) == 0x7F for c in part):
            raise InvalidMailboxName(f"{name!r} contains a character mailboxes cannot use")
    if parts[0].upper() == INBOX:
        parts[0] = INBOX
    normal = DELIMITER.join(parts)
    if normal != INBOX and len(to_dirname(normal).encode()) > _MAX_DIRNAME_BYTES:
        raise InvalidMailboxName(f"{name!r} is too long")
    return normal


def to_dirname(name: str) -> str:
    """The folder directory of a (normalized, non-INBOX) name: ".Sent", ".a.b"."""
    return "." + ".".join(mutf7.encode(part) for part in name.split(DELIMITER))


def from_dirname(dirname: str) -> str | None:
    """The mailbox a directory entry names, None if it is not a Maildir++ folder name."""
    if not dirname.startswith(".") or dirname.startswith("..") or dirname == ".":
        return None
    try:
        parts = [mutf7.decode(part) for part in dirname[1:].split(".")]
        name = normalize(DELIMITER.join(parts))
    except (ValueError, InvalidMailboxName):
        return None
    return name if name != INBOX and to_dirname(name) == dirname else None


def mailbox_dir(maildir: Path, name: str) -> Path:
    """The directory of a normalized mailbox name."""
    return maildir if name == INBOX else maildir / to_dirname(name)


def parents(name: str) -> list[str]:
    """The superior names of `name`, outermost first: "a/b/c" -> ["a", "a/b"]."""
    parts = name.split(DELIMITER)
    return [DELIMITER.join(parts[:i]) for i in range(1, len(parts))]


def is_inferior(name: str, ancestor: str) -> bool:
    """True when `name` is below `ancestor` in the hierarchy."""
    return name.startswith(ancestor + DELIMITER)
