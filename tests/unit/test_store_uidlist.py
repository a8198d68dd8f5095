"""The UID index: Dovecot's format, crash safety, stability, the sync cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailserver.store import mailbox as mailbox_module
from mailserver.store import uidlist
from mailserver.store.mailstore import MailStore, UserStore

ADDRESS = "anan@example.ac.th"
MSG = b"Subject: s\r\n\r\nbody\r\n"


@pytest.fixture
def store(tmp_path: Path) -> MailStore:
    return MailStore(tmp_path, hostname="mx1")


@pytest.fixture
def user(store: MailStore) -> UserStore:
    user = store.user(ADDRESS)
    user.ensure_created()
    return user


def test_file_format_is_dovecot_v3(store: MailStore, user: UserStore) -> None:
    first = store.deliver(ADDRESS, MSG)
    user.open("INBOX")
    lines = (user.maildir / "dovecot-uidlist").read_text().splitlines()
    header = lines[0].split()
    assert header[0] == "3" and header[1].startswith("V") and header[2] == "N2"
    assert lines[1:] == [f"1 :{first.name}"]


def test_parse_accepts_dovecot_extension_fields_and_bare_names() -> None:
    parsed = uidlist.parse(b"3 V123 N5 Gabcdef\n1 W10 :one,S=9\n3 two\n4 :thr")
    assert parsed.uidvalidity == 123
    assert parsed.uids == {"one,S=9": 1, "two": 3, "thr": 4}
    assert parsed.uidnext == 5
    # Entries beyond N win: a UID once given is never given again.
    assert uidlist.parse(b"3 V1 N2\n7 :x\n").uidnext == 8
    with pytest.raises(uidlist.CorruptUidList):
        uidlist.parse(b"1 garbage\n")


def test_crash_before_rename_leaves_the_old_index(store: MailStore, user: UserStore) -> None:
    for _ in range(3):
        store.deliver(ADDRESS, MSG)
    view = user.open("INBOX")
    uids = [m.uid for m in view.messages]
    index = user.maildir / "dovecot-uidlist"
    before = index.read_bytes()
    # A writer died after writing its temp file but before the rename.
    (user.maildir / "dovecot-uidlist.tmp").write_bytes(b"3 V1 N1\n")
    again = MailStore(store.root, hostname="mx1").user(ADDRESS).open("INBOX")
    assert (again.uidvalidity, [m.uid for m in again.messages]) == (view.uidvalidity, uids)
    assert index.read_bytes() == before
    store.deliver(ADDRESS, MSG)
    again.refresh()  # the next write simply replaces the stale temp file
    assert [m.uid for m in again.messages] == [*uids, 4]
    assert not (user.maildir / "dovecot-uidlist.tmp").exists()


def test_uidvalidity_is_stable_and_unique(store: MailStore, user: UserStore) -> None:
    values = {user.status(name).uidvalidity for name in ("INBOX", "Sent", "Drafts", "Trash")}
    assert len(values) == 4  # each folder its own, even when created in the same second
    fresh = MailStore(store.root, hostname="mx1").user(ADDRESS)
    assert {fresh.status(n).uidvalidity for n in ("INBOX", "Sent", "Drafts", "Trash")} == values


def test_corrupt_index_is_rebuilt_with_a_new_uidvalidity(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    old = user.open("INBOX").uidvalidity
    (user.maildir / "dovecot-uidlist").write_text("garbage\n")
    view = MailStore(store.root, hostname="mx1").user(ADDRESS).open("INBOX")
    assert view.uidvalidity != old
    assert [m.uid for m in view.messages] == [1]


def test_cached_sync_still_sees_other_processes(
    store: MailStore, user: UserStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Treat every directory mtime as settled so refresh relies on the stamps cache.
    monkeypatch.setattr(mailbox_module, "_SETTLE_NS", -(10**18))
    store.deliver(ADDRESS, MSG)
    view = user.open("INBOX")
    assert not view.refresh()
    # Another "process": rename a file to add a flag, bypassing this process's state.
    path = view.path(1)
    old_mtime = os.stat(path.parent).st_mtime_ns
    os.rename(path, path.with_name(path.name.split(":")[0] + ":2,F"))
    os.utime(path.parent, ns=(old_mtime + 10**9, old_mtime + 10**9))
    changes = view.refresh()
    assert [(seq, info.flags) for seq, info in changes.flags] == [(1, frozenset({"\\Flagged"}))]
