"""The mailbox store as the IMAP server sees it: accounts, folders, views.

    store = MailStore(root, hostname="mx1", notifier=ChangeNotifier())
    user = store.user("somchai@example.ac.th", quota_bytes=2 * 2**30)
    user.ensure_created()
    view = user.open("INBOX")            # one per session per selected mailbox
    changes = view.refresh()             # on NOOP/IDLE wake-up/after commands

On disk it is Dovecot's Maildir++ (`names.py`, `uidlist.py`, `flags.py`), so Dovecot can
serve the same mailboxes. Every method blocks: the IMAP layer calls them through
`asyncio.to_thread`. Everything is safe for many threads of one process and, through
fcntl locks, for other processes sharing the directory tree.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from mailserver import mutf7, private
from mailserver.durable import fsync_dir, write_file_durably
from mailserver.store import names
from mailserver.store import uidlist as uidlist_io
from mailserver.store.errors import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    MessageNotFound,
    OverQuota,
    StoreError,
)
from mailserver.store.files import MessageWriter, final_path, to_disk, wire_size
from mailserver.store.flags import canonical_flag
from mailserver.store.locking import locked
from mailserver.store.mailbox import Mailbox
from mailserver.store.maildir import MaildirStore
from mailserver.store.models import (
    Changes,
    CopyResult,
    MailboxInfo,
    MailboxStatus,
    MessageInfo,
    MoveResult,
)
from mailserver.store.notify import ChangeNotifier
from mailserver.store.quota import UsageCache
from mailserver.store.transfer import transfer
from mailserver.store.uidlist import UidList
from mailserver.store.view import MailboxView

__all__ = [
    "ChangeNotifier",
    "Changes",
    "CopyResult",
    "InvalidMailboxName",
    "MailStore",
    "MailboxExists",
    "MailboxInfo",
    "MailboxNotFound",
    "MailboxStatus",
    "MailboxView",
    "MessageInfo",
    "MessageNotFound",
    "MoveResult",
    "OverQuota",
    "StoreError",
    "UserStore",
]

ACCOUNT_LOCK = "mailserver-mailboxes.lock"
SUBSCRIPTIONS_FILE = "subscriptions"
# Courier/Dovecot mark a Maildir++ folder with an empty `maildirfolder` file.
_FOLDER_MARKER = "maildirfolder"


class MailStore:
    """The store of every account below `root` (`<root>/<domain>/<localpart>/Maildir`)."""

    def __init__(
        self,
        root: Path,
        *,
        hostname: str,
        default_quota_bytes: int | None = None,
        notifier: ChangeNotifier | None = None,
    ) -> None:
        self.root = root
        self.default_quota_bytes = default_quota_bytes
        self.notifier = notifier if notifier is not None else ChangeNotifier()
        self.maildirs = MaildirStore(root, hostname, notifier=self.notifier)
        self.writer = self.maildirs.writer

    def user(self, address: str, *, quota_bytes: int | None = None) -> UserStore:
        """The account's store; `quota_bytes` overrides the default (None: the default)."""
        quota = quota_bytes if quota_bytes is not None else self.default_quota_bytes
        return UserStore(self, address, quota)

    def deliver(self, address: str, message: bytes, *, mailbox: str = "INBOX") -> Path:
        """Deliver durably (like `MaildirStore.deliver`) into new/ of `mailbox`, and notify.

        Quota is not checked: refusing accepted mail is the SMTP side's decision.
        MailboxNotFound if a folder other than INBOX does not exist.
        """
        name = names.normalize(mailbox)
        if name == names.INBOX:
            return self.maildirs.deliver(address, message)
        user = self.user(address)
        target = user.existing(name)
        path = self.writer.write(target.path, to_disk(message))
        self.notifier.publish(address, name)
        return path


class UserStore:
    """One account's folders. Cheap to create; one per IMAP session is fine."""

    def __init__(self, store: MailStore, address: str, quota_bytes: int | None) -> None:
        self.address = address
        self.quota_bytes = quota_bytes
        self.writer: MessageWriter = store.writer
        self._store = store
        self.maildir = store.maildirs.maildir(address)  # MailboxPathError for unsafe names
        self._usage = UsageCache()
        self._inbox_ready = False

    # -- helpers shared with MailboxView ---------------------------------------------------

    @staticmethod
    def normalize(name: str) -> str:
        """Validate a mailbox name; INBOX in any case becomes "INBOX"."""
        return names.normalize(name)

    def _ensure_inbox(self) -> None:
        # INBOX always exists (RFC 3501 §5.1): make it on first use.
        if not self._inbox_ready:
            self._store.maildirs.create(self.address)
            Mailbox(self.maildir, self.maildir).create_index()
            self._inbox_ready = True

    def _mailbox(self, name: str) -> Mailbox:
        return Mailbox(names.mailbox_dir(self.maildir, name), self.maildir)

    def existing(self, name: str) -> Mailbox:
        """The selectable mailbox `name`, or MailboxNotFound."""
        name = names.normalize(name)
        self._ensure_inbox()
        mailbox = self._mailbox(name)
        if not mailbox.exists():
            raise MailboxNotFound(name)
        return mailbox

    def mailbox_for_transfer(self, name: str) -> Mailbox:
        """COPY/MOVE target; MailboxNotFound maps to NO [TRYCREATE] (RFC 3501 §6.4.7)."""
        return self.existing(name)

    def check_quota(self, incoming: int) -> None:
        """OverQuota if `incoming` more bytes would exceed the account's quota."""
        if self.quota_bytes is None:
            return
        used, limit = self.quota()
        if limit is not None and used + incoming > limit:
            raise OverQuota(f"{used} + {incoming} bytes exceeds the quota of {limit}")

    def publish(self, name: str) -> None:
        """Wake the sessions watching `name` of this account."""
        self._store.notifier.publish(self.address, name)

    @contextlib.contextmanager
    def _account_lock(self) -> Iterator[None]:
        self._ensure_inbox()
        with locked(self.maildir / ACCOUNT_LOCK):
            yield

    def _folders(self) -> dict[str, bool]:
        """name -> selectable, for every Maildir++ folder directory on disk."""
        folders: dict[str, bool] = {}
        with os.scandir(self.maildir) as iterator:
            for dirent in iterator:
                name = names.from_dirname(dirent.name)
                if name is not None and dirent.is_dir():
                    folders[name] = os.path.isdir(os.path.join(dirent.path, "cur"))
        return folders

    # -- folders ---------------------------------------------------------------------------

    def ensure_created(self) -> None:
        """INBOX plus the RFC 6154 special-use folders, all subscribed (idempotent)."""
        self._ensure_inbox()
        for name in names.SPECIAL_USE:
            with contextlib.suppress(MailboxExists):
                self.create(name)
        wanted = [names.INBOX, *names.SPECIAL_USE]
        with self._account_lock():
            current = self._read_subscriptions()
            missing = [n for n in wanted if n not in current]
            if missing:
                self._write_subscriptions(current + missing)

    def list_mailboxes(self) -> list[MailboxInfo]:
        """Every mailbox, INBOX first, with implied parents as not selectable (\\Noselect)."""
        self._ensure_inbox()
        folders = self._folders()
        folders[names.INBOX] = True
        for name in list(folders):
            for parent in names.parents(name):
                folders.setdefault(parent, False)
        with_children = {p for name in folders for p in names.parents(name)}
        ordered = sorted(folders, key=lambda n: (n != names.INBOX, n))
        return [
            MailboxInfo(n, names.SPECIAL_USE.get(n), n in with_children, folders[n])
            for n in ordered
        ]

    def create(self, name: str) -> None:
        """CREATE (RFC 3501 §6.3.3); missing superior names are created too."""
        name = names.normalize(name)
        if name == names.INBOX:
            raise MailboxExists(name)
        with self._account_lock():
            folders = self._folders()
            if folders.get(name):
                raise MailboxExists(name)
            for parent in names.parents(name):
                if parent != names.INBOX and parent not in folders:
                    self._make_folder(parent)
            self._make_folder(name)
            fsync_dir(self.maildir)

    def _make_folder(self, name: str) -> None:
        """Make `name` a selectable folder with its own index (so its UIDVALIDITY) at once."""
        directory = self.maildir / names.to_dirname(name)
        if directory.is_dir():
            # A \Noselect folder (a parent whose messages were deleted) becomes selectable;
            # cur/ last, since its presence is what makes the folder exist.
            uidlist_io.write(directory, UidList(uidlist_io.allocate_uidvalidity(self.maildir), 1))
            (directory / _FOLDER_MARKER).touch(mode=private.FILE_MODE)
            for sub in ("tmp", "new", "cur"):
                (directory / sub).mkdir(mode=private.DIRECTORY_MODE, exist_ok=True)
            fsync_dir(directory)
            self._mailbox(name).forget_cache()
            return
        # Build the folder aside and rename it in: it appears complete or not at all.
        staging = self.maildir / f"..creating-{uuid.uuid4().hex}"
        staging.mkdir(mode=private.DIRECTORY_MODE)
        try:
            for sub in ("tmp", "new", "cur"):
                (staging / sub).mkdir(mode=private.DIRECTORY_MODE)
            (staging / _FOLDER_MARKER).touch(mode=private.FILE_MODE)
            uidlist_io.write(staging, UidList(uidlist_io.allocate_uidvalidity(self.maildir), 1))
            os.rename(staging, directory)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                raise MailboxExists(name) from None
            raise
        self._mailbox(name).forget_cache()

    def delete(self, name: str) -> None:
        """DELETE (RFC 3501 §6.3.4). INBOX cannot be deleted. A mailbox with inferior names
        loses its messages and stays as a \\Noselect parent; deleting a \\Noselect parent
        that still has inferiors is an error. Subscriptions are kept (§6.3.6)."""
        name = names.normalize(name)
        if name == names.INBOX:
            raise StoreError("INBOX cannot be deleted")
        with self._account_lock():
            folders = self._folders()
            has_children = any(names.is_inferior(n, name) for n in folders)
            if name not in folders:
                if has_children:
                    raise StoreError(f"{name} has inferior names and no messages to delete")
                raise MailboxNotFound(name)
            mailbox = self._mailbox(name)
            if has_children:
                if not folders[name]:
                    raise StoreError(f"{name} is \\Noselect and has inferior names")
                self._empty_folder(mailbox)
            else:
                graveyard = self.maildir / f"..deleted-{uuid.uuid4().hex}"
                os.rename(mailbox.path, graveyard)  # atomic: gone for everyone at once
                fsync_dir(self.maildir)
                shutil.rmtree(graveyard, ignore_errors=True)
            mailbox.forget_cache()
        self.publish(name)

    def _empty_folder(self, mailbox: Mailbox) -> None:
        graveyard = mailbox.path / f".deleted-{uuid.uuid4().hex}"
        with mailbox.lock():
            os.rename(mailbox.path / "cur", graveyard)  # now \Noselect for every session
            for sub in ("new", "tmp"):
                shutil.rmtree(mailbox.path / sub, ignore_errors=True)
            for leftover in (uidlist_io.UIDLIST_FILE, "dovecot-keywords"):
                (mailbox.path / leftover).unlink(missing_ok=True)
            shutil.rmtree(graveyard, ignore_errors=True)
        fsync_dir(mailbox.path)

    def rename(self, old: str, new: str) -> None:
        """RENAME (RFC 3501 §6.3.5), inferior names included; they keep their UIDVALIDITY.

        Renaming INBOX moves its messages (not its inferiors) into a new mailbox, with
        new UIDs in the same order, and leaves INBOX empty. Subscriptions follow the rename.
        """
        old, new = names.normalize(old), names.normalize(new)
        if new == names.INBOX or old == new:
            raise MailboxExists(new)
        if names.is_inferior(new, old):
            raise InvalidMailboxName(f"cannot rename {old} to its own inferior {new}")
        with self._account_lock():
            folders = self._folders()
            if new in folders:
                raise MailboxExists(new)
            if old == names.INBOX:
                self._create_parents(new, folders)
                self._make_folder(new)
                fsync_dir(self.maildir)
                inbox, target = self._mailbox(names.INBOX), self._mailbox(new)
                snapshot, _ = inbox.sync(claim=False)
                transfer(inbox, snapshot.entries, target, self.writer, move=True)
                inbox.sync(claim=False, force=True)
            else:
                self._rename_tree(old, new, folders)
        self.publish(old)
        self.publish(new)

    def _rename_tree(self, old: str, new: str, folders: dict[str, bool]) -> None:
        moves = [(n, new + n[len(old) :]) for n in folders if n == old or names.is_inferior(n, old)]
        if not moves:
            raise MailboxNotFound(old)
        for _, target in moves:
            if target in folders:
                raise MailboxExists(target)
        self._create_parents(new, folders)
        for source, target in moves:
            source_dir = self.maildir / names.to_dirname(source)
            os.rename(source_dir, self.maildir / names.to_dirname(target))
            self._mailbox(source).forget_cache()
            self._mailbox(target).forget_cache()
        fsync_dir(self.maildir)
        subscribed = self._read_subscriptions()
        renamed = [
            new + n[len(old) :] if n == old or names.is_inferior(n, old) else n for n in subscribed
        ]
        if renamed != subscribed:
            self._write_subscriptions(list(dict.fromkeys(renamed)))

    def _create_parents(self, name: str, folders: dict[str, bool]) -> None:
        for parent in names.parents(name):
            if parent != names.INBOX and parent not in folders:
                self._make_folder(parent)
                folders[parent] = True

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, name: str) -> None:
        """SUBSCRIBE (RFC 3501 §6.3.6); the mailbox need not exist."""
        name = names.normalize(name)
        with self._account_lock():
            current = self._read_subscriptions()
            if name not in current:
                self._write_subscriptions([*current, name])

    def unsubscribe(self, name: str) -> None:
        """UNSUBSCRIBE (RFC 3501 §6.3.7); a name not subscribed is not an error."""
        name = names.normalize(name)
        with self._account_lock():
            current = self._read_subscriptions()
            if name in current:
                self._write_subscriptions([n for n in current if n != name])

    def subscriptions(self) -> list[str]:
        """The subscribed names, in subscription order (LSUB filters them)."""
        self._ensure_inbox()
        return self._read_subscriptions()

    def _read_subscriptions(self) -> list[str]:
        """Dovecot's `subscriptions` file: one name per line, modified UTF-7 with "/".

        A version 2 file (Dovecot 2.3: "V\\t2" header, "\\t" between levels) is read too.
        """
        try:
            lines = (self.maildir / SUBSCRIPTIONS_FILE).read_text("utf-8").splitlines()
        except FileNotFoundError:
            return []
        separator = "/"
        if lines and lines[0].startswith("V\t"):
            separator = "\t"
            lines = lines[lines.index("") + 1 :] if "" in lines else []
        result: list[str] = []
        for line in lines:
            if not line:
                continue
            raw = line.replace(separator, "/")
            try:
                name = names.normalize(mutf7.decode(raw))
            except (ValueError, InvalidMailboxName):
                try:
                    name = names.normalize(raw)
                except InvalidMailboxName:
                    continue
            if name not in result:
                result.append(name)
        return result

    def _write_subscriptions(self, subscribed: list[str]) -> None:
        content = "".join(f"{mutf7.encode(n)}\n" for n in subscribed)
        # Every caller holds the account lock.
        data = content.encode("ascii")
        write_file_durably(self.maildir / SUBSCRIPTIONS_FILE, data, caller_holds_lock=True)

    # -- messages --------------------------------------------------------------------------

    def status(self, name: str) -> MailboxStatus:
        """STATUS (RFC 3501 §6.3.10) without selecting; claims no \\Recent."""
        snapshot, _ = self.existing(name).sync(claim=False)
        entries = snapshot.entries
        return MailboxStatus(
            messages=len(entries),
            recent=snapshot.in_new,
            uidnext=snapshot.uidnext,
            uidvalidity=snapshot.uidvalidity,
            unseen=sum(1 for e in entries if "\\Seen" not in e.flags),
            size=sum(e.size for e in entries),
        )

    def append(
        self,
        name: str,
        message: bytes,
        *,
        flags: Iterable[str] = (),
        internaldate: datetime | None = None,
    ) -> tuple[int, int]:
        """APPEND (RFC 3501 §6.3.11); returns (UIDVALIDITY, UID) for APPENDUID (RFC 4315).

        The file's mtime is set to `internaldate` (Dovecot reads INTERNALDATE from it). No
        flags: the message goes to new/ and is \\Recent for the next session; with flags it
        goes to cur/. MailboxNotFound ([TRYCREATE]), OverQuota, InvalidFlag.
        """
        target = self.existing(name)
        wanted = frozenset(f for f in map(canonical_flag, flags) if f is not None)
        content = to_disk(message)
        self.check_quota(wire_size(content))
        mtime = internaldate.timestamp() if internaldate is not None else None
        tmp = self.writer.write_tmp(target.path, content, mtime=mtime)
        try:

            def create(letters: str | None) -> str:
                os.rename(tmp, final_path(target.path, tmp.name, letters))
                return tmp.name

            uidvalidity, (uid,) = target.add([(wanted, create)])
        finally:
            tmp.unlink(missing_ok=True)  # only still there if something failed
        assert uid is not None
        self.publish(names.normalize(name))
        return uidvalidity, uid

    def quota(self) -> tuple[int, int | None]:
        """(bytes used: the RFC822.SIZE of every message, the limit or None)."""
        self._ensure_inbox()
        folders = [self.maildir] + [
            self.maildir / names.to_dirname(n) for n, ok in self._folders().items() if ok
        ]
        return self._usage.used(folders), self.quota_bytes

    def open(self, name: str, *, readonly: bool = False) -> MailboxView:
        """SELECT (or EXAMINE with `readonly`): this session's view of the mailbox."""
        normal = names.normalize(name)
        return MailboxView(self, self.existing(normal), normal, readonly=readonly)
