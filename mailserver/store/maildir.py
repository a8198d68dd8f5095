"""The built-in mailbox store: Maildir, in Dovecot's layout.

Layout: `<mail_root>/<domain>/<localpart>/Maildir/{tmp,new,cur}`, the layout
Dovecot's `mail_location = maildir:/.../%d/%n/Maildir` expects, so a mailbox
can be handed to Dovecot (or read by mutt) as it is.

Delivery follows the Maildir protocol: write into tmp/, fsync the file,
rename into new/, fsync new/. Only then may the SMTP side answer 250.
Messages are stored with LF line endings, as Dovecot and mutt store them;
the file name carries S= (size on disk) and W= (size with CRLF, RFC822.SIZE)
so IMAP can answer sizes without reading the file.
"""

from __future__ import annotations

import re
from pathlib import Path

from mailserver import private
from mailserver.durable import fsync_dir
from mailserver.store.files import MessageWriter, to_disk
from mailserver.store.notify import ChangeNotifier

_SAFE_LOCALPART = re.compile(r"^[a-z0-9!#$%&'*+=?^_`{|}~-][a-z0-9!#$%&'*+=?^_`{|}~.-]*$")
_SAFE_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class MailboxPathError(ValueError):
    """An address that cannot name a mailbox directory safely."""


class MaildirStore:
    """Deliver messages into per-account Maildirs below `root`. Methods block: run off-loop.

    With a `notifier`, every delivery wakes the IMAP sessions idling on the INBOX.
    The IMAP side of the store (folders, UIDs, flags) is `mailstore.MailStore`.
    """

    def __init__(
        self, root: Path, hostname: str | None = None, *, notifier: ChangeNotifier | None = None
    ) -> None:
        self.root = root
        self.notifier = notifier
        self.writer = MessageWriter(hostname)

    def maildir(self, address: str) -> Path:
        """The Maildir of the account whose primary address is `address`."""
        localpart, _, domain = address.lower().rpartition("@")
        if not _SAFE_LOCALPART.match(localpart) or ".." in localpart:
            raise MailboxPathError(f"local part {localpart!r} cannot name a mailbox")
        if not _SAFE_DOMAIN.match(domain):
            raise MailboxPathError(f"domain {domain!r} cannot name a mailbox")
        return self.root / domain / localpart / "Maildir"

    def create(self, address: str) -> Path:
        """Create the account's Maildir (idempotent); directories are fsynced."""
        maildir = self.maildir(address)
        if (maildir / "new").is_dir() and (maildir / "cur").is_dir():
            return maildir
        for sub in ("tmp", "new", "cur"):
            private.make_dirs(maildir / sub)
        for directory in (maildir, maildir.parent, maildir.parent.parent, self.root):
            fsync_dir(directory)
        return maildir

    def deliver(self, address: str, message: bytes) -> Path:
        """Store `message` (wire form, CRLF) durably in the account's new/; return its path.

        tmp/ -> fsync -> new/ -> fsync new/ (files.MessageWriter). The message gets its UID
        when an IMAP session (or STATUS) next looks at the mailbox.
        """
        maildir = self.create(address)
        path = self.writer.write(maildir, to_disk(message))
        if self.notifier is not None:
            self.notifier.publish(address, "INBOX")
        return path
