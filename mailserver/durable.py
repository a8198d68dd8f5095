"""Durable writes: the one home of "fsync before 250" for the store, the spool and the state.

A mail server may only acknowledge what is on stable storage (RFC 5321 6.1: with the
250 to the end of data it takes responsibility for the message and must not lose it
"because the host later crashes"). On POSIX that takes three steps: write the bytes,
fsync the file, and fsync the directory that holds the new name (a rename is only
durable when its directory is). Replacing a file so that a crash leaves the old or the
new content, never a mixture, adds a fourth: write a temporary file, then rename it
over the target (rename(2) is atomic within one filesystem).

`write_file_durably` does all of it; `write_new_file` is its first half, for the
Maildir protocol that publishes the tmp/ file later (store/files.py); `fsync_dir` and
`write_all` are the primitives. Nothing else should call os.fsync.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from mailserver import private

# Mail, envelopes, indexes and state are the users' business only: a file is created with
# this mode (the umask can only take bits away), never chmod-ed afterwards.
DEFAULT_MODE = private.FILE_MODE


def fsync_dir(directory: Path) -> None:
    """Make a directory's entries (creations, renames, unlinks) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes) -> None:
    """os.write until everything is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_new_file(
    path: Path, data: bytes, mode: int = DEFAULT_MODE, *, mtime: float | None = None
) -> None:
    """Create `path` (it must not exist), write `data`, fsync it; on any failure remove it.

    `mtime`, if given, is set before the fsync so that it is as durable as the content
    (a Maildir message's INTERNALDATE is its file's mtime). The new name is not yet
    durable: the caller renames the file into place and fsyncs that directory, or fsyncs
    this one. Raises FileExistsError, leaving the existing file alone, if `path` exists.
    """
    _write_synced(path, data, os.O_EXCL, mode, mtime)


def write_file_durably(
    path: Path,
    data: bytes,
    mode: int = DEFAULT_MODE,
    *,
    tmp_dir: Path | None = None,
    caller_holds_lock: bool = False,
) -> None:
    """Replace (or create) `path` with `data` so that a crash leaves the old or the new content.

    Writes a temporary file, fsyncs it, renames it over `path` and fsyncs `path`'s
    directory; when this returns the new content is durable, and no reader ever sees a
    partly written `path`. On failure the temporary file is removed and `path` is as it
    was (the exception propagates).

    The temporary file is made in `tmp_dir` (default: `path`'s directory), which must be
    on the same filesystem as `path`; the spool uses its tmp/ so that recovery can clear
    crash debris by emptying it. Its name depends on who may write `path` at once:

    * by default `<name>.<random>.tmp`, created exclusively, so two writers of the same
      target (two processes, or threads without a common lock) never share a temporary
      file; the last rename wins. A crash between writing and renaming leaves that file
      behind for the owner's recovery to remove.
    * with `caller_holds_lock=True` (the caller holds the lock that every writer of
      `path` takes) the fixed `<name>.tmp`, truncated if present, so a file left by a
      crash is simply reused and removed by the next write.
    """
    directory = path.parent if tmp_dir is None else tmp_dir
    if caller_holds_lock:
        tmp = directory / f"{path.name}.tmp"
        _write_synced(tmp, data, os.O_TRUNC, mode, None)
    else:
        tmp = _write_unique_tmp(directory, path.name, data, mode)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def _write_unique_tmp(directory: Path, name: str, data: bytes, mode: int) -> Path:
    """A fresh, exclusively created `<name>.<random>.tmp` in `directory` holding `data`."""
    while True:
        tmp = directory / f"{name}.{secrets.token_hex(4)}.tmp"
        try:
            _write_synced(tmp, data, os.O_EXCL, mode, None)
        except FileExistsError:
            continue  # another writer drew the same 32 random bits: draw again
        return tmp


def _write_synced(path: Path, data: bytes, flag: int, mode: int, mtime: float | None) -> None:
    """Open `path` (O_CREAT plus `flag`), write, set `mtime`, fsync; remove it on failure."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flag, mode)
    # From here on the file is ours (os.open raises before creating anything).
    try:
        write_all(fd, data)
        if mtime is not None:
            os.utime(fd, (mtime, mtime))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    os.close(fd)
