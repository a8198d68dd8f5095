"""One Maildir folder: scanning it against its UID index, and every change under its lock.

`Mailbox.sync()` is the heart of the store. Under the mailbox lock it lists new/ and
cur/ (names only: flags and sizes are in the names, INTERNALDATE is the file's mtime,
read once per message and cached), gives new files the next UIDs in `dovecot-uidlist`,
drops the entries of files that are gone, and returns an immutable `Snapshot` in UID
order. Message files are never opened to build it.

Sync is skipped when nothing can have changed: the mtimes of new/ and cur/ and the
identities of the index files match the last scan, and that scan started more than
`_SETTLE_NS` after the directories' mtimes (a directory's mtime ticks coarsely, so a
change made in the same tick as an earlier one would otherwise go unseen; Dovecot's
maildir sync has the same rule).

Locks: a session takes at most one mailbox lock at a time, except that a mailbox lock
holder may take the account's UIDVALIDITY counter lock (a leaf). Account-wide operations
(create/rename/delete) take the account lock first. So the lock order is account ->
mailbox -> counter and nothing deadlocks.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

from mailserver.durable import fsync_dir
from mailserver.store import uidlist as uidlist_io
from mailserver.store.errors import MailboxNotFound, StoreError
from mailserver.store.files import to_wire, virtual_size
from mailserver.store.flags import (
    INFO_SEP,
    KEYWORDS_FILE,
    Keywords,
    decode_letters,
    encode_letters,
    split_name,
)
from mailserver.store.locking import locked
from mailserver.store.uidlist import UidList

_log = logging.getLogger(__name__)

LOCK_FILE = "mailserver-uidlist.lock"
DELETED = "\\Deleted"
_SETTLE_NS = 2_000_000_000

_FileId = tuple[int, int, int, int] | None
_Stamps = tuple[int, int, _FileId, _FileId]


class Entry(NamedTuple):
    """One message file as the last scan saw it (a tuple: 100,000 are built per scan)."""

    uid: int
    base: str
    subdir: str  # "new" (not yet claimed as \Recent by any session) or "cur"
    filename: str
    letters: str
    flags: frozenset[str]
    size: int  # RFC822.SIZE: W= from the name
    internaldate: datetime


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The mailbox at one sync: shared read-only by every view of the process."""

    uidvalidity: int
    uidnext: int
    entries: list[Entry]
    by_uid: dict[int, Entry]
    in_new: int  # messages still in new/: unclaimed \\Recent


class _State:
    """Per-process caches of one mailbox directory, shared by all its `Mailbox` objects."""

    __slots__ = (
        "__weakref__",
        "files",
        "flag_cache",
        "keywords",
        "keywords_id",
        "last",
        "settled",
        "snapshot",
        "stamps",
        "uidlist",
        "uidlist_id",
    )

    def __init__(self) -> None:
        self.uidlist: UidList | None = None
        self.uidlist_id: _FileId = None
        self.keywords: Keywords | None = None
        self.keywords_id: _FileId = None
        self.flag_cache: dict[str, frozenset[str]] = {}  # info letters -> flags
        # basename -> (INTERNALDATE, size): both are fixed for a message's lifetime.
        self.files: dict[str, tuple[datetime, int]] = {}
        self.snapshot: Snapshot | None = None  # trusted while the stamps match
        self.last: Snapshot | None = None  # the last one built: its entries are reused
        self.stamps: _Stamps | None = None
        self.settled = False


_states_guard = threading.Lock()
_states: weakref.WeakValueDictionary[str, _State] = weakref.WeakValueDictionary()


_gc_guard = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Suspend the cyclic GC while building 100,000-object snapshots and views.

    The objects built are tuples and strings (no cycles), but their sheer number triggers
    repeated collections that scan the whole heap: measured, a warm 100k-message open
    took ~4x longer with the collector running. Nested and concurrent pauses count; the
    collector is re-enabled only if it was enabled when the first pause began.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_guard:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_guard:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


def _shared_state(path: Path) -> _State:
    key = os.path.abspath(path)
    with _states_guard:
        state = _states.get(key)
        if state is None:
            state = _states[key] = _State()
        return state


def _file_id(path: Path) -> _FileId:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)


# What a scan found: basename -> (subdir, filename, info letters).
_Found = dict[str, tuple[str, str, str]]


class Mailbox:
    """A Maildir folder (INBOX = the Maildir itself). Blocking; safe from any thread."""

    def __init__(self, path: Path, account_root: Path) -> None:
        self.path = path
        self.account_root = account_root
        self._state = _shared_state(path)

    # -- locking and index files ---------------------------------------------------------

    def exists(self) -> bool:
        """True when the folder is selectable (has cur/)."""
        return (self.path / "cur").is_dir()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the mailbox lock; MailboxNotFound if the folder is (or becomes) gone."""
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(locked(self.path / LOCK_FILE))
            except FileNotFoundError:
                raise MailboxNotFound(self.path.name) from None
            if not self.exists():  # deleted or renamed while we waited
                raise MailboxNotFound(self.path.name)
            yield

    def _uidlist(self) -> UidList:
        """The current index (cached while the file is unchanged); created if missing."""
        state = self._state
        file_id = _file_id(self.path / uidlist_io.UIDLIST_FILE)
        if file_id is not None and file_id == state.uidlist_id and state.uidlist is not None:
            return state.uidlist
        try:
            loaded = uidlist_io.read(self.path)
        except uidlist_io.CorruptUidList as exc:
            # Only a foreign writer can leave this (ours are atomic). A new UIDVALIDITY
            # makes renumbering legal (RFC 3501 §2.3.1.1).
            _log.warning("rebuilding %s: %s", self.path / uidlist_io.UIDLIST_FILE, exc)
            loaded = None
        if loaded is None:
            loaded = UidList(uidlist_io.allocate_uidvalidity(self.account_root), 1)
            state.uidlist = loaded
            self._save_uidlist()
        else:
            state.uidlist, state.uidlist_id = loaded, file_id
        return loaded

    def _save_uidlist(self) -> None:
        state = self._state
        assert state.uidlist is not None
        try:
            uidlist_io.write(self.path, state.uidlist)
        finally:
            # On failure the in-memory copy may hold unsaved UIDs: reload next time.
            state.uidlist_id = None
            state.uidlist_id = _file_id(self.path / uidlist_io.UIDLIST_FILE)

    def _keywords(self) -> Keywords:
        state = self._state
        file_id = _file_id(self.path / KEYWORDS_FILE)
        if state.keywords is None or file_id != state.keywords_id or state.keywords.dirty:
            state.keywords, state.keywords_id = Keywords.load(self.path), file_id
            state.flag_cache = {}
            state.last = None  # a letter may mean another keyword now
        return state.keywords

    def _save_keywords(self, keywords: Keywords) -> None:
        keywords.save(self.path)
        self._state.keywords_id = _file_id(self.path / KEYWORDS_FILE)
        self._state.flag_cache = {}

    def _decode(self, letters: str, keywords: Keywords) -> frozenset[str]:
        cache = self._state.flag_cache
        flags = cache.get(letters)
        if flags is None:
            flags = cache[letters] = decode_letters(letters, keywords)
        return flags

    # -- scanning ------------------------------------------------------------------------

    def _stamps(self) -> _Stamps:
        try:
            new_m = os.stat(self.path / "new").st_mtime_ns
            cur_m = os.stat(self.path / "cur").st_mtime_ns
        except FileNotFoundError:
            raise MailboxNotFound(self.path.name) from None
        return (
            new_m,
            cur_m,
            _file_id(self.path / uidlist_io.UIDLIST_FILE),
            _file_id(self.path / KEYWORDS_FILE),
        )

    def _scan(self) -> _Found:
        """List new/ then cur/ (so a file moving new -> cur meanwhile is still found)."""
        found: _Found = {}
        for sub in ("new", "cur"):
            try:
                iterator = os.scandir(self.path / sub)
            except FileNotFoundError:
                raise MailboxNotFound(self.path.name) from None
            with iterator:
                for dirent in iterator:
                    name = dirent.name
                    # Dot files are not messages (Maildir spec); nor are directories.
                    if name.startswith(".") or not dirent.is_file():
                        continue
                    base, letters = split_name(name)
                    found[base] = (sub, name, letters)
        return found

    def _meta(self, found: _Found) -> dict[str, tuple[datetime, int]]:
        """INTERNALDATE and size of every found file; vanished files are dropped from `found`.

        Both are fixed for a message's life, so each file is stat'ed once per process
        (relative to an open directory: no path building, it dominates a cold open).
        """
        cache = self._state.files
        meta: dict[str, tuple[datetime, int]] = {}
        fds: dict[str, int] = {}
        fromtimestamp = datetime.fromtimestamp
        try:
            for base, (sub, name, _) in list(found.items()):
                known = cache.get(base)
                if known is None:
                    fd = fds.get(sub)
                    if fd is None:
                        fd = fds[sub] = os.open(self.path / sub, os.O_RDONLY | os.O_DIRECTORY)
                    try:
                        mtime_ns = os.stat(name, dir_fd=fd).st_mtime_ns
                        size = virtual_size(base)
                        if size is None:  # a foreign file without W=: read it, once
                            size = len(to_wire((self.path / sub / name).read_bytes()))
                    except FileNotFoundError:
                        del found[base]
                        continue
                    known = (fromtimestamp(mtime_ns / 1e9, UTC), size)
                meta[base] = known
        finally:
            for fd in fds.values():
                os.close(fd)
        self._state.files = meta
        return meta

    def find(self, base: str) -> Path | None:
        """The current path of a message (its flags may have changed its name), unlocked."""
        for sub in ("cur", "new"):
            with contextlib.suppress(FileNotFoundError), os.scandir(self.path / sub) as it:
                for dirent in it:
                    if dirent.name == base or dirent.name.startswith(base + ":"):
                        return Path(dirent.path)
        return None

    # -- sync ----------------------------------------------------------------------------

    def sync(self, *, claim: bool, force: bool = False) -> tuple[Snapshot, list[int]]:
        """Bring the index up to date; return the snapshot and the UIDs this call claimed.

        With `claim`, files in new/ move to cur/ ("<name>:2,"): this caller is the one
        session that sees them as \\Recent (RFC 3501 §2.3.2, Maildir semantics).
        """
        with self.lock():
            return self._sync_locked(claim=claim, force=force)

    def _sync_locked(self, *, claim: bool, force: bool = False) -> tuple[Snapshot, list[int]]:
        state = self._state
        started = time.time_ns()
        stamps = self._stamps()
        cached = state.snapshot
        if (
            not force
            and cached is not None
            and state.settled
            and stamps == state.stamps
            and not (claim and cached.in_new)
        ):
            return cached, []
        with paused_gc():
            return self._rescan_locked(claim, started, stamps, state.last)

    def _rescan_locked(
        self, claim: bool, started: int, stamps: _Stamps, previous: Snapshot | None
    ) -> tuple[Snapshot, list[int]]:
        state = self._state
        uidlist = self._uidlist()
        keywords = self._keywords()
        found = self._scan()
        meta = self._meta(found)
        if uidlist.uids.keys() - found.keys():
            # Before declaring messages expunged, look again: a foreign process (Dovecot)
            # may have renamed a file in cur/ while we listed it.
            found = self._scan()
            meta = self._meta(found)
        gone = uidlist.uids.keys() - found.keys()
        fresh = sorted(found.keys() - uidlist.uids.keys(), key=lambda b: (meta[b][0], b))
        for base in gone:
            del uidlist.uids[base]
        for base in fresh:
            uidlist.add(base)
        if gone or fresh:
            self._save_uidlist()
        claimed: list[int] = []
        if claim:
            claimed = self._claim(found, uidlist)
        entries: list[Entry] = []
        append = entries.append
        decoded = state.flag_cache
        # Unchanged files keep their Entry from the last scan (same name: same flags).
        reuse = previous.by_uid if previous is not None else {}
        in_new = 0
        for base, uid in uidlist.uids.items():
            sub, name, letters = found[base]
            if sub == "new":
                in_new += 1
            old = reuse.get(uid)
            if old is not None and old.filename == name and old.subdir == sub:
                append(old)
                continue
            date, size = meta[base]
            flags = decoded.get(letters)
            if flags is None:
                flags = self._decode(letters, keywords)
            append(Entry(uid, base, sub, name, letters, flags, size, date))
        by_uid = dict(zip(uidlist.uids.values(), entries, strict=True))
        snapshot = Snapshot(uidlist.uidvalidity, uidlist.uidnext, entries, by_uid, in_new)
        state.snapshot = state.last = snapshot
        # Our own writes above changed the stamps; they are re-read (not trusted) next time.
        state.stamps = stamps if not (gone or fresh or claimed) else None
        state.settled = started - max(stamps[0], stamps[1]) > _SETTLE_NS
        return snapshot, claimed

    def _claim(self, found: _Found, uidlist: UidList) -> list[int]:
        claimed = []
        for base, (sub, name, letters) in list(found.items()):
            if sub != "new":
                continue
            target = f"{base}{INFO_SEP}{letters}"
            try:
                os.rename(self.path / "new" / name, self.path / "cur" / target)
            except FileNotFoundError:
                # Moved by a foreign process: whoever moved it claimed it.
                located = self.find(base)
                if located is None:
                    del found[base]
                    del uidlist.uids[base]
                    continue
                found[base] = (located.parent.name, located.name, split_name(located.name)[1])
                continue
            found[base] = ("cur", target, letters)
            claimed.append(uidlist.uids[base])
        return claimed

    # -- changes -------------------------------------------------------------------------

    def update_flags(
        self, uids: Iterable[int], compute: Callable[[frozenset[str]], frozenset[str]]
    ) -> dict[int, Entry]:
        """Set each message's flags to compute(current flags) by renaming its file.

        The current flags are read under the lock from the current file name, so a
        concurrent change by another session is combined, not overwritten. Expunged
        messages are left out of the result.
        """
        result: dict[int, Entry] = {}
        pending = list(dict.fromkeys(uids))
        with self.lock():
            for attempt in range(2):
                snapshot, _ = self._sync_locked(claim=False, force=attempt > 0)
                keywords = self._keywords()
                retry = []
                for uid in pending:
                    entry = snapshot.by_uid.get(uid)
                    if entry is None:
                        continue
                    new_flags = compute(entry.flags)
                    if new_flags == entry.flags:
                        result[uid] = entry
                        continue
                    letters = encode_letters(new_flags, keywords, entry.letters)
                    if keywords.dirty:  # before any file name refers to the new letter
                        self._save_keywords(keywords)
                    target = f"{entry.base}{INFO_SEP}{letters}"
                    try:
                        source = self.path / entry.subdir / entry.filename
                        os.rename(source, self.path / "cur" / target)
                    except FileNotFoundError:
                        retry.append(uid)  # renamed by a foreign process: rescan, retry once
                        continue
                    result[uid] = Entry(
                        uid,
                        entry.base,
                        "cur",
                        target,
                        letters,
                        self._decode(letters, keywords),
                        entry.size,
                        entry.internaldate,
                    )
                if not retry:
                    break
                pending = retry
            self._state.snapshot = None
        return result

    def expunge(self, uids: Iterable[int], *, only_deleted: bool = True) -> list[int]:
        """Delete the messages (those flagged \\Deleted now, with `only_deleted`); return UIDs.

        Messages already gone (expunged by another session) are not in the result; the
        caller's next refresh reports them.
        """
        removed: list[int] = []
        pending = list(dict.fromkeys(uids))
        with self.lock():
            for attempt in range(2):
                snapshot, _ = self._sync_locked(claim=False, force=attempt > 0)
                uidlist = self._uidlist()
                retry = []
                for uid in pending:
                    entry = snapshot.by_uid.get(uid)
                    if entry is None or (only_deleted and DELETED not in entry.flags):
                        continue
                    try:
                        os.unlink(self.path / entry.subdir / entry.filename)
                    except FileNotFoundError:
                        retry.append(uid)
                        continue
                    uidlist.uids.pop(entry.base, None)
                    removed.append(uid)
                if removed:
                    self._save_uidlist()
                if not retry:
                    break
                pending = retry
            self._state.snapshot = None
        if removed:
            fsync_dir(self.path / "cur")
        return sorted(removed)

    def add(
        self, items: list[tuple[frozenset[str], Callable[[str | None], str | None]]]
    ) -> tuple[int, list[int | None]]:
        """Put messages in and give them UIDs, in order, under one lock and one index write.

        Each item is (flags, create): `create(letters)` makes the file appear (rename from
        tmp/, hard link, rename from another folder) in new/ when letters is None (no flags:
        like Dovecot, such a message is \\Recent for the next session) or in cur/ with
        ":2,<letters>", and returns its basename, or None if its source vanished.
        Returns (UIDVALIDITY, the UIDs or None).
        """
        uids: list[int | None] = []
        with self.lock():
            uidlist = self._uidlist()
            keywords = self._keywords()
            letters = [encode_letters(flags, keywords) if flags else None for flags, _ in items]
            if keywords.dirty:
                self._save_keywords(keywords)
            for (_, create), info in zip(items, letters, strict=True):
                base = create(info)
                uids.append(None if base is None else uidlist.add(base))
            if any(uid is not None for uid in uids):
                fsync_dir(self.path / "new")
                fsync_dir(self.path / "cur")
                self._save_uidlist()
            self._state.snapshot = None
        return uidlist.uidvalidity, uids

    def uidvalidity(self) -> int:
        """The mailbox's UIDVALIDITY (creating the index if needed)."""
        with self.lock():
            return self._uidlist().uidvalidity

    def create_index(self) -> None:
        """Give a new folder its index (and so its UIDVALIDITY) now, not at first use."""
        with self.lock():
            self._uidlist()

    def forget_cache(self) -> None:
        """Drop this process's caches of the folder (it was deleted or renamed)."""
        state = self._state
        state.snapshot = state.last = state.stamps = state.uidlist = state.keywords = None
        state.uidlist_id = state.keywords_id = None
        state.files = {}


def require_writable(readonly: bool) -> None:
    """Raise for changes through a read-only (EXAMINE) view."""
    if readonly:
        raise StoreError("mailbox is open read-only")
