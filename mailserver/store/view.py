"""A session's view of its selected mailbox: sequence numbers and what it has been told.

RFC 3501 §5.2 and §7.4.1: the message sequence numbers a client sees change only when
the server reports a change (EXPUNGE, EXISTS). So the view keeps its own list of
messages and moves it forward only through `refresh()` (and through the session's own
STORE, EXPUNGE and MOVE), even though the files change underneath at any moment.

\\Recent: the view that moves a message from new/ to cur/ owns its \\Recent flag
(Maildir semantics: exactly one session). A read-only (EXAMINE) view claims nothing:
it leaves new/ alone and sees those messages as not recent, so the next read-write
SELECT still gets them as \\Recent. RFC 3501 §6.3.2 lets EXAMINE leave \\Recent alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from mailserver.store.errors import MailboxNotFound, MessageNotFound, StoreError
from mailserver.store.files import to_wire
from mailserver.store.flags import canonical_flag
from mailserver.store.mailbox import Entry, Mailbox, Snapshot, paused_gc, require_writable
from mailserver.store.models import Changes, CopyResult, MessageInfo, MoveResult
from mailserver.store.transfer import transfer

if TYPE_CHECKING:
    from mailserver.store.mailstore import UserStore


class MailboxView:
    """One session's open mailbox. Blocking: call through asyncio.to_thread."""

    def __init__(self, user: UserStore, mailbox: Mailbox, name: str, *, readonly: bool) -> None:
        self._user = user
        self._mailbox = mailbox
        self._lock = threading.RLock()
        self.name = name
        self.readonly = readonly
        snapshot, claimed = mailbox.sync(claim=not readonly)
        self.uidvalidity = snapshot.uidvalidity
        self.uidnext = snapshot.uidnext
        self._recent: set[int] = set(claimed)
        self._entries: dict[int, Entry] = snapshot.by_uid
        with paused_gc():
            self.messages: list[MessageInfo] = self._infos(snapshot.entries)
        self._seq: dict[int, int] | None = None
        self._closed = False

    # -- lookups ---------------------------------------------------------------------------

    def _info(self, entry: Entry) -> MessageInfo:
        return MessageInfo(
            entry.uid, entry.flags, entry.internaldate, entry.size, entry.uid in self._recent
        )

    def _infos(self, entries: list[Entry]) -> list[MessageInfo]:
        recent = self._recent
        return [
            MessageInfo(e.uid, e.flags, e.internaldate, e.size, e.uid in recent) for e in entries
        ]

    def seq_of(self, uid: int) -> int | None:
        """The sequence number of a UID in this view, None if the view does not hold it."""
        with self._lock:
            if self._seq is None:
                self._seq = {m.uid: i for i, m in enumerate(self.messages, 1)}
            return self._seq.get(uid)

    def _entry(self, uid: int) -> Entry:
        if self.seq_of(uid) is None:
            raise MessageNotFound(f"UID {uid} is not in this view of {self.name}")
        return self._entries[uid]

    def path(self, uid: int) -> Path:
        """The message file's current path (its name changes with its flags)."""
        with self._lock:
            entry = self._entry(uid)
        path = self._mailbox.path / entry.subdir / entry.filename
        if path.exists():
            return path
        found = self._mailbox.find(entry.base)
        if found is None:
            raise MessageNotFound(f"UID {uid} was expunged")
        return found

    def read(self, uid: int) -> bytes:
        """The whole message with CRLF line ends; MessageNotFound if it vanished."""
        with self._lock:
            entry = self._entry(uid)
        path: Path | None = self._mailbox.path / entry.subdir / entry.filename
        for _ in range(2):
            assert path is not None
            try:
                return to_wire(path.read_bytes())
            except FileNotFoundError:
                path = self._mailbox.find(entry.base)  # renamed by a flag change elsewhere
                if path is None:
                    break
        raise MessageNotFound(f"UID {uid} was expunged")

    # -- refresh ---------------------------------------------------------------------------

    def refresh(self) -> Changes:
        """Take in deliveries, other sessions' flag changes and expunges; say what to report.

        MailboxNotFound if the mailbox was deleted or renamed away, or its UIDVALIDITY
        changed: the session's view cannot continue (the IMAP layer should BYE).
        """
        with self._lock:
            self._check_open()
            snapshot, claimed = self._mailbox.sync(claim=not self.readonly)
            if snapshot.uidvalidity != self.uidvalidity:
                raise MailboxNotFound(f"{self.name} was recreated (UIDVALIDITY changed)")
            self._recent.update(claimed)
            with paused_gc():
                return self._apply(snapshot)

    def _apply(self, snapshot: Snapshot) -> Changes:
        changes = Changes()
        old_recent = sum(1 for m in self.messages if m.recent)
        kept: list[MessageInfo] = []
        for seq, message in enumerate(self.messages, 1):
            entry = snapshot.by_uid.get(message.uid)
            if entry is None:
                # Ascending order: each number is relative to the state after the previous
                # EXPUNGE (RFC 3501 §7.4.1), i.e. shifted down by those already reported.
                changes.expunged.append(seq - len(changes.expunged))
                self._recent.discard(message.uid)
                continue
            if entry.flags != message.flags:
                message = self._info(entry)
                changes.flags.append((len(kept) + 1, message))
            kept.append(message)
        last_uid = self.messages[-1].uid if self.messages else 0
        arrived = self._infos([e for e in snapshot.entries if e.uid > last_uid])
        kept.extend(arrived)
        self.messages = kept
        self._entries = snapshot.by_uid
        self._seq = None
        self.uidnext = snapshot.uidnext
        if arrived:
            changes.exists = len(kept)
        recent = sum(1 for m in kept if m.recent)
        if arrived or recent != old_recent:
            changes.recent = recent
        return changes

    # -- changes by this session -----------------------------------------------------------

    def store_flags(
        self, uids: Iterable[int], flags: Iterable[str], mode: str
    ) -> dict[int, frozenset[str]]:
        """STORE (RFC 3501 §6.4.6): mode "+" adds, "-" removes, "" replaces the flags.

        Returns uid -> the message's flags afterwards (including changes other sessions
        made meanwhile, which are merged, not overwritten), for `* n FETCH (FLAGS ...)`.
        Expunged messages are left out. \\Recent is ignored: no client may set it.
        """
        if mode not in ("+", "-", ""):
            raise ValueError(f"bad STORE mode {mode!r}")
        require_writable(self.readonly)
        wanted = frozenset(f for f in map(canonical_flag, flags) if f is not None)
        wanted_lower = {f.lower() for f in wanted}

        def compute(current: frozenset[str]) -> frozenset[str]:
            if mode == "+":
                lower = {f.lower() for f in current}
                return current | {f for f in wanted if f.lower() not in lower}
            if mode == "-":
                return frozenset(f for f in current if f.lower() not in wanted_lower)
            return wanted

        with self._lock:
            self._check_open()
            targets = [uid for uid in uids if self.seq_of(uid) is not None]
            updated = self._mailbox.update_flags(targets, compute)
            entries = dict(self._entries)
            entries.update(updated)
            self._entries = entries
            for uid, entry in updated.items():
                seq = self.seq_of(uid)
                if seq is not None:
                    self.messages[seq - 1] = self._info(entry)
        if any(updated[uid].flags for uid in updated):
            self._user.publish(self.name)
        return {uid: entry.flags for uid, entry in updated.items()}

    def expunge(self, uids: Iterable[int] | None = None) -> list[int]:
        """EXPUNGE (or UID EXPUNGE with `uids`, RFC 4315): delete this view's messages that
        are flagged \\Deleted now. Returns their sequence numbers in reporting order; they
        are already gone from `messages`. Other sessions' expunges wait for `refresh`."""
        require_writable(self.readonly)
        with self._lock:
            self._check_open()
            if uids is None:
                candidates = [m.uid for m in self.messages]
            else:
                candidates = [uid for uid in dict.fromkeys(uids) if self.seq_of(uid) is not None]
            removed = self._mailbox.expunge(candidates, only_deleted=True)
            reported = self._drop(removed)
        if reported:
            self._user.publish(self.name)
        return reported

    def _drop(self, uids: Iterable[int]) -> list[int]:
        gone = set(uids)
        reported: list[int] = []
        kept: list[MessageInfo] = []
        for seq, message in enumerate(self.messages, 1):
            if message.uid in gone:
                reported.append(seq - len(reported))
                self._recent.discard(message.uid)
            else:
                kept.append(message)
        self.messages = kept
        self._seq = None
        return reported

    def copy(self, uids: Iterable[int], target: str) -> CopyResult:
        """COPY (RFC 3501 §6.4.7) with COPYUID data (RFC 4315). Flags and INTERNALDATE are
        kept; a message with no flags lands in new/, so it is \\Recent for the next session
        that selects the target. MailboxNotFound ([TRYCREATE]) / OverQuota."""
        with self._lock:
            self._check_open()
            entries = self._selected(uids)
        destination = self._user.mailbox_for_transfer(target)
        self._user.check_quota(sum(e.size for e in entries))
        uidvalidity, mapping = transfer(
            self._mailbox, entries, destination, self._user.writer, move=False
        )
        if mapping:
            self._user.publish(self._user.normalize(target))
        return CopyResult(uidvalidity, mapping)

    def move(self, uids: Iterable[int], target: str) -> MoveResult:
        """MOVE (RFC 6851): each file is renamed into the target, so a message is never in
        both mailboxes or in neither. The moved messages are gone from this view on return
        and `expunged` holds the numbers to send as `* n EXPUNGE` right away (§4.3)."""
        require_writable(self.readonly)
        with self._lock:
            self._check_open()
            entries = self._selected(uids)
            destination = self._user.mailbox_for_transfer(target)
            uidvalidity, mapping = transfer(
                self._mailbox, entries, destination, self._user.writer, move=True
            )
            # The source index drops the moved files (now absent) at this sync.
            self._mailbox.sync(claim=False, force=True)
            reported = self._drop(src for src, _ in mapping)
        if mapping:
            self._user.publish(self._user.normalize(target))
            self._user.publish(self.name)
        return MoveResult(uidvalidity, mapping, reported)

    def _selected(self, uids: Iterable[int]) -> list[Entry]:
        wanted = {uid for uid in uids if self.seq_of(uid) is not None}
        return [self._entries[m.uid] for m in self.messages if m.uid in wanted]

    def close(self) -> None:
        """Forget the view (CLOSE/UNSELECT/logout). Expunging on CLOSE is the caller's job."""
        with self._lock:
            self._closed = True
            self.messages = []
            self._entries = {}
            self._seq = None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("mailbox view is closed")
