"""Export one account's whole mailbox tree to a gzip'd tar (memo 4.1: a leaver's backup).

    result = export_mailbox(store.user(login), "maildir", Path("somchai.tar.gz"))

Inside the archive everything is below one directory named after the account:

- ``maildir``: a standard Maildir per folder (`INBOX/`, `Sent/`, `โครงการ/`,
  `Projects/งาน/`: folder names decoded from modified UTF-7 to UTF-8, "/" levels as
  directories), each with cur/ new/ tmp/. Message files keep their names, so their
  flags (":2,FS") and their INTERNALDATE (the file's mtime, kept in the tar); keyword
  letters are explained by the folder's `dovecot-keywords`, copied along. A sub-folder
  level named cur, new or tmp would land inside its parent's Maildir directories, so it
  is written as "cur.folder" (a real name never contains ".").
- ``mbox``: one mboxrd file per folder, `INBOX.mbox`, `Projects/งาน.mbox` (see
  `mbox.py` for the From_ line and the flag fields).

Streaming: messages are copied in chunks straight from their files; an mbox folder is
spooled to an anonymous temporary file beside the output first (a tar member's size
comes before its content), so the free space needed is the archive plus the largest
folder as mbox. The archive is written to a temporary name beside the output, fsynced
and renamed into place at the end: a failure leaves no half archive. The mailbox is
not changed (no message is claimed as seen or moved out of new/); a message expunged
by a live session during the export is left out and counted as vanished.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from mailserver.backup import mbox
from mailserver.backup.progress import Progress
from mailserver.backup.tarstream import TarStream
from mailserver.durable import fsync_dir
from mailserver.store import names
from mailserver.store.flags import KEYWORDS_FILE, Keywords, decode_letters, split_name
from mailserver.store.mailbox import Entry, Mailbox
from mailserver.store.mailstore import UserStore

FORMATS = ("maildir", "mbox")
_MAILDIR_SUBDIRS = ("cur", "new", "tmp")


class ExportError(Exception):
    """The export cannot be done (the message says why, in one line)."""


@dataclass(frozen=True, slots=True)
class Folder:
    """One selectable mailbox and the messages it had when the export started."""

    name: str  # IMAP name, "/" hierarchy, UTF-8
    mailbox: Mailbox
    entries: list[Entry]


@dataclass(frozen=True, slots=True)
class ExportResult:
    output: Path
    messages: int
    folders: int
    bytes: int  # message bytes as stored
    archive_bytes: int
    vanished: int  # expunged by someone else while the export ran


def archive_path(name: str, *, maildir: bool = True) -> str:
    """A mailbox name as a relative path: its levels as directories (see the docstring)."""
    levels = name.split(names.DELIMITER)
    return "/".join(
        f"{level}.folder" if maildir and i and level in _MAILDIR_SUBDIRS else level
        for i, level in enumerate(levels)
    )


def plan(user: UserStore) -> list[Folder]:
    """Every selectable folder, INBOX first, with its messages in UID order (names only)."""
    folders = []
    for info in user.list_mailboxes():
        if not info.selectable:
            continue
        mailbox = user.existing(info.name)
        snapshot, _ = mailbox.sync(claim=False)
        folders.append(Folder(info.name, mailbox, snapshot.entries))
    return folders


def export_mailbox(
    user: UserStore,
    fmt: str,
    output: Path,
    *,
    top: str | None = None,
    force: bool = False,
    progress_stream: TextIO | None = None,
) -> ExportResult:
    """Write the archive of `user`'s mailboxes to `output`; see the module docstring.

    `top`: the archive's top directory (default: the account's address). ExportError if
    `output` exists and not `force`. A progress bar is drawn on `progress_stream` if it
    is a terminal.
    """
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r} (use {' or '.join(FORMATS)})")
    output = Path(output)
    if output.exists() and not force:
        raise ExportError(f"{output} exists (use --force to overwrite it)")
    if not output.parent.is_dir():
        raise ExportError(f"{output.parent} is not a directory")
    folders = plan(user)
    total = sum(len(f.entries) for f in folders)
    total_bytes = sum(e.size for f in folders for e in f.entries)
    progress = Progress.for_stream(progress_stream, total, total_bytes)
    top = (top or user.address).strip("/")
    with _atomic_output(output, force) as raw:
        tar = TarStream(raw)
        writer = _Writer(tar, top, output.parent, progress)
        tar.add_dir(top, time.time())
        for folder in folders:
            if fmt == "maildir":
                writer.maildir_folder(folder)
            else:
                writer.mbox_folder(folder)
        tar.close()
        raw.flush()
        archive_bytes = raw.tell()
    progress.finish()
    return ExportResult(
        output, writer.messages, len(folders), writer.bytes, archive_bytes, writer.vanished
    )


class _Writer:
    def __init__(self, tar: TarStream, top: str, spool_dir: Path, progress: Progress) -> None:
        self.tar = tar
        self.top = top
        self.spool_dir = spool_dir
        self.progress = progress
        self.messages = 0
        self.bytes = 0
        self.vanished = 0
        self._dirs: set[str] = {top}

    def _dir(self, path: str) -> None:
        """Add `path` and its missing parents as directory members."""
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            prefix = "/".join(parts[:i])
            if prefix not in self._dirs:
                self._dirs.add(prefix)
                self.tar.add_dir(prefix, time.time())

    def _messages(self, folder: Folder) -> Iterator[tuple[Entry, str, str, BinaryIO, int]]:
        """(entry, subdir, file name, open file, size) of each message still there."""
        keywords: Keywords | None = None
        for entry in folder.entries:
            path = folder.mailbox.path / entry.subdir / entry.filename
            try:
                source = path.open("rb")
            except FileNotFoundError:
                # Its flags changed (a rename) or it was expunged since the scan.
                located = folder.mailbox.find(entry.base)
                if located is None:
                    self.vanished += 1
                    self.progress.advance(1, entry.size)
                    continue
                try:
                    source = located.open("rb")
                except FileNotFoundError:
                    self.vanished += 1
                    self.progress.advance(1, entry.size)
                    continue
                if keywords is None:
                    keywords = Keywords.load(folder.mailbox.path)
                letters = split_name(located.name)[1]
                flags = decode_letters(letters, keywords)
                entry = entry._replace(
                    subdir=located.parent.name, filename=located.name, flags=flags
                )
            with source:
                size = os.fstat(source.fileno()).st_size
                yield entry, entry.subdir, entry.filename, source, size
            self.messages += 1
            self.bytes += size
            self.progress.advance(1, entry.size)

    def maildir_folder(self, folder: Folder) -> None:
        base = f"{self.top}/{archive_path(folder.name)}"
        for sub in _MAILDIR_SUBDIRS:
            self._dir(f"{base}/{sub}")
        with contextlib.suppress(FileNotFoundError):
            keywords = (folder.mailbox.path / KEYWORDS_FILE).read_bytes()
            self.tar.add_bytes(f"{base}/{KEYWORDS_FILE}", keywords, time.time())
        for entry, subdir, filename, source, size in self._messages(folder):
            mtime = entry.internaldate.timestamp()
            self.tar.add_file(f"{base}/{subdir}/{filename}", source, size, mtime)

    def mbox_folder(self, folder: Folder) -> None:
        name = f"{self.top}/{archive_path(folder.name, maildir=False)}.mbox"
        self._dir(name.rpartition("/")[0])
        with tempfile.TemporaryFile(dir=self.spool_dir, prefix=".mbox-spool-") as spool:
            for entry, subdir, _, source, _ in self._messages(folder):
                mbox.write_message(
                    spool,
                    source,
                    internaldate=entry.internaldate,
                    flags=entry.flags,
                    recent=subdir == "new",
                )
            size = spool.tell()
            spool.seek(0)
            self.tar.add_file(name, spool, size, time.time())


@contextlib.contextmanager
def _atomic_output(output: Path, force: bool) -> Iterator[BinaryIO]:
    """A temporary file beside `output`; on success fsynced and renamed to `output`.

    Not durable.write_file_durably: the archive is streamed member by member (an account
    can be larger than memory) and, without `force`, published by a hard link that never
    replaces a file which appeared meanwhile; so this file object is fsynced here.
    """
    fd, temp_name = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            yield raw
            raw.flush()
            os.fsync(raw.fileno())
        _publish(temp, output, force)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(output.parent)


def _publish(temp: Path, output: Path, force: bool) -> None:
    """Rename `temp` to `output`; without `force` never replace a file that appeared."""
    if force:
        os.replace(temp, output)
        return
    try:
        os.link(temp, output)  # fails if `output` exists, atomically
    except FileExistsError:
        raise ExportError(f"{output} exists (use --force to overwrite it)") from None
    except OSError:
        # A filesystem without hard links: check, then rename (a small race only).
        if output.exists():
            raise ExportError(f"{output} exists (use --force to overwrite it)") from None
        os.replace(temp, output)
        return
    temp.unlink()
