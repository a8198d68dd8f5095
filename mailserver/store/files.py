"""Message files: Maildir names, line ends, sizes, and the tmp/ -> new/|cur/ write.

Names follow Dovecot: `<secs>.M<usecs>P<pid>Q<n>.<host>,S=<size on disk>,W=<size with
CRLF>` (S= and W= let IMAP answer RFC822.SIZE and quota without opening the file), then
":2,<flags>" once the message is in cur/. Content is stored with LF line ends, as
Dovecot and mutt store it; `to_wire` gives it back with CRLF.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import time
from pathlib import Path

from mailserver.durable import fsync_dir, write_new_file
from mailserver.store.flags import INFO_SEP

_SIZE_FIELD = re.compile(r",([SW])=(\d+)")
_BARE_LF = re.compile(rb"(?<!\r)\n")


def to_disk(message: bytes) -> bytes:
    """Wire form (CRLF) -> disk form (LF)."""
    return message.replace(b"\r\n", b"\n")


def to_wire(data: bytes) -> bytes:
    """Disk form -> wire form: every bare LF becomes CRLF; CRLF files pass unchanged."""
    if b"\r\n" not in data:
        return data.replace(b"\n", b"\r\n")
    return _BARE_LF.sub(b"\r\n", data)


def wire_size(data: bytes) -> int:
    """len(to_wire(data)) without building it (the W= value)."""
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def virtual_size(basename: str) -> int | None:
    """W= from a basename (fast path of `sizes`: it is read for every message of a scan)."""
    at = basename.rfind(",W=")
    if at < 0:
        return None
    end = basename.find(",", at + 3)
    digits = basename[at + 3 :] if end < 0 else basename[at + 3 : end]
    return int(digits) if digits.isdigit() else None


def sizes(basename: str) -> tuple[int | None, int | None]:
    """(S=, W=) from a file's basename; None where the name lacks the field."""
    found = dict(_SIZE_FIELD.findall(basename))
    s, w = found.get("S"), found.get("W")
    return (int(s) if s else None, int(w) if w else None)


def final_path(maildir: Path, base: str, letters: str | None) -> Path:
    """Where a message file lives: new/<base> without info, else cur/<base>:2,<letters>."""
    if letters is None:
        return maildir / "new" / base
    return maildir / "cur" / f"{base}{INFO_SEP}{letters}"


class MessageWriter:
    """Writes message files into Maildirs with names unique across threads, processes, hosts."""

    def __init__(self, hostname: str | None = None) -> None:
        host = hostname or socket.gethostname()
        # Maildir file names must not contain '/' or ':' (Maildir spec, Dovecot's escapes).
        self.host = host.replace("/", r"\057").replace(":", r"\072")
        self._counter = itertools.count(1)  # next() on a count is atomic under the GIL

    def basename(self, disk_size: int, virtual_size: int) -> str:
        """A fresh unique basename carrying the sizes."""
        now = time.time()
        return (
            f"{int(now)}.M{int(now % 1 * 1_000_000)}P{os.getpid()}Q{next(self._counter)}"
            f".{self.host},S={disk_size},W={virtual_size}"
        )

    def write_tmp(self, maildir: Path, content: bytes, *, mtime: float | None = None) -> Path:
        """Write `content` (disk form) to tmp/<new basename>, fsynced; return that path.

        First half of the Maildir protocol; `publish` is the second. Keeping them apart lets
        the slow part (writing, fsync) run outside the mailbox lock. `mtime` becomes the
        message's INTERNALDATE, which Dovecot reads from the file's mtime.
        """
        tmp_path = maildir / "tmp" / self.basename(len(content), wire_size(content))
        write_new_file(tmp_path, content, mtime=mtime)
        return tmp_path

    @staticmethod
    def publish(tmp_path: Path, letters: str | None = None) -> Path:
        """Rename a tmp/ file into new/ (no flags: a \\Recent candidate) or cur/ with flags.

        Then fsync the directory: only after this may a delivery be acknowledged.
        """
        final = final_path(tmp_path.parent.parent, tmp_path.name, letters)
        os.rename(tmp_path, final)
        fsync_dir(final.parent)
        return final

    def write(self, maildir: Path, content: bytes, *, letters: str | None = None) -> Path:
        """`write_tmp` then `publish`: store `content` durably; return the final path."""
        return self.publish(self.write_tmp(maildir, content), letters)
