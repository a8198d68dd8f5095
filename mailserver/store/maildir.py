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

import itertools
import os
import re
import socket
import time
from pathlib import Path

_SAFE_LOCALPART = re.compile(r"^[a-z0-9!#$%&'*+=?^_`{|}~-][a-z0-9!#$%&'*+=?^_`{|}~.-]*$")
_SAFE_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


class MailboxPathError(ValueError):
    """An address that cannot name a mailbox directory safely."""


class MaildirStore:
    """Deliver messages into per-account Maildirs below `root`. Methods block: run off-loop."""

    def __init__(self, root: Path, hostname: str | None = None) -> None:
        self.root = root
        # Maildir file names must not contain '/' or ':' (Maildir spec).
        host = hostname or socket.gethostname()
        self._host = host.replace("/", r"\057").replace(":", r"\072")
        self._counter = itertools.count(1)

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
        if (maildir / "new").is_dir():
            return maildir
        for sub in ("tmp", "new", "cur"):
            (maildir / sub).mkdir(parents=True, exist_ok=True, mode=0o700)
        for directory in (maildir, maildir.parent, maildir.parent.parent, self.root):
            _fsync_dir(directory)
        return maildir

    def deliver(self, address: str, message: bytes) -> Path:
        """Store `message` (wire form, CRLF) durably in the account's new/; return its path."""
        maildir = self.create(address)
        content = message.replace(b"\r\n", b"\n")
        virtual_size = len(content) + content.count(b"\n")
        now = time.time()
        base = (
            f"{int(now)}.M{int(now % 1 * 1_000_000)}P{os.getpid()}Q{next(self._counter)}"
            f".{self._host},S={len(content)},W={virtual_size}"
        )
        tmp_path = maildir / "tmp" / base
        fd = os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(content)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp_path.unlink(missing_ok=True)
            raise
        os.close(fd)
        new_path = maildir / "new" / base
        os.rename(tmp_path, new_path)
        _fsync_dir(new_path.parent)
        return new_path


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
