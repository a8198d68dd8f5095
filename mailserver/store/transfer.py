"""Copying and moving message files between folders of one account.

COPY hard-links the file (Dovecot does too: message files are immutable, so sharing the
inode is safe and keeps the mtime, i.e. INTERNALDATE); MOVE renames it, so the message
is never in both folders or in neither. Across file systems, or where links are not
allowed, the content is copied through tmp/ with fsync and the mtime kept.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

from mailserver.store.files import MessageWriter, final_path, sizes
from mailserver.store.mailbox import Entry, Mailbox

_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def transfer(
    source: Mailbox,
    entries: list[Entry],
    target: Mailbox,
    writer: MessageWriter,
    *,
    move: bool,
) -> tuple[int, list[tuple[int, int]]]:
    """Copy (or move) messages into `target`; return (its UIDVALIDITY, [(source, target uid)]).

    Messages whose files vanished meanwhile (expunged elsewhere) are skipped. The target
    gets new basenames, so a message copied twice into one folder has two UIDs.
    """
    items = [(entry.flags, _creator(source, entry, target, writer, move)) for entry in entries]
    uidvalidity, uids = target.add(items)
    pairs = [(e.uid, uid) for e, uid in zip(entries, uids, strict=True) if uid is not None]
    return uidvalidity, pairs


def _creator(
    source: Mailbox, entry: Entry, target: Mailbox, writer: MessageWriter, move: bool
) -> Callable[[str | None], str | None]:
    def create(letters: str | None) -> str | None:
        src: Path | None = source.path / entry.subdir / entry.filename
        disk_size, virtual_size = sizes(entry.base)
        base = writer.basename(disk_size or 0, virtual_size or entry.size)
        for _ in range(2):
            assert src is not None
            try:
                if move:
                    os.rename(src, final_path(target.path, base, letters))
                else:
                    os.link(src, final_path(target.path, base, letters))
                return base
            except FileNotFoundError:
                # Renamed by a flag change since our scan (no lock needed to look it up).
                src = source.find(entry.base)
                if src is None:
                    return None
            except OSError as exc:
                if exc.errno not in _NO_LINK:
                    raise
                return _copy_content(src, target, writer, letters, move)
        return None

    return create


def _copy_content(
    src: Path, target: Mailbox, writer: MessageWriter, letters: str | None, move: bool
) -> str | None:
    try:
        content = src.read_bytes()
        mtime = os.stat(src).st_mtime
    except FileNotFoundError:
        return None
    tmp = writer.write_tmp(target.path, content, mtime=mtime)
    os.rename(tmp, final_path(target.path, tmp.name, letters))
    if move:
        src.unlink(missing_ok=True)
    return tmp.name
