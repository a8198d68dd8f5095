"""Selected-mailbox views: UIDs, \\Recent, flags, expunge, copy/move, as sessions see them."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailserver.store.errors import InvalidFlag, MailboxNotFound, MessageNotFound, StoreError
from mailserver.store.mailstore import MailStore, UserStore

ADDRESS = "malee@example.ac.th"
MSG = b"Subject: hello\r\n\r\nline one\r\nline two\r\n"


@pytest.fixture
def store(tmp_path: Path) -> MailStore:
    return MailStore(tmp_path, hostname="mx1")


@pytest.fixture
def user(store: MailStore) -> UserStore:
    user = store.user(ADDRESS)
    user.ensure_created()
    return user


def test_delivered_messages_get_uids_in_order_and_stay_put(
    store: MailStore, user: UserStore
) -> None:
    for i in range(3):
        store.deliver(ADDRESS, b"Subject: %d\r\n\r\nx\r\n" % i)
    view = user.open("INBOX")
    assert [m.uid for m in view.messages] == [1, 2, 3]
    assert view.uidnext == 4
    assert [view.read(m.uid).split(b"\r\n")[0] for m in view.messages] == [
        b"Subject: 0",
        b"Subject: 1",
        b"Subject: 2",
    ]
    uidvalidity = view.uidvalidity
    # A restart: new store objects, same files.
    again = MailStore(store.root, hostname="mx1").user(ADDRESS).open("INBOX")
    assert (again.uidvalidity, [m.uid for m in again.messages]) == (uidvalidity, [1, 2, 3])


def test_read_gives_crlf_and_size_matches(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    view = user.open("INBOX")
    info = view.messages[0]
    assert view.read(info.uid) == MSG
    assert info.size == len(MSG)
    assert view.path(info.uid).read_bytes() == MSG.replace(b"\r\n", b"\n")
    # A file stored with CRLF by another tool is passed through unchanged.
    cur = user.maildir / "cur"
    (cur / "1700000000.M1P1Q1.other,S=8,W=8:2,S").write_bytes(b"a\r\nb\r\n\r\n")
    view.refresh()
    assert view.read(view.messages[-1].uid) == b"a\r\nb\r\n\r\n"


def test_recent_is_claimed_by_exactly_one_session(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    examine = user.open("INBOX", readonly=True)
    assert [m.recent for m in examine.messages] == [False]  # EXAMINE claims nothing
    first = user.open("INBOX")
    second = user.open("INBOX")
    assert [m.recent for m in first.messages] == [True]
    assert [m.recent for m in second.messages] == [False]
    store.deliver(ADDRESS, MSG)
    changes = second.refresh()
    assert (changes.exists, changes.recent) == (2, 1)
    changes = first.refresh()
    assert (changes.exists, changes.recent) == (2, 1)  # its old one, not the new one
    assert [m.recent for m in first.messages] == [True, False]
    assert user.status("INBOX").recent == 0
    assert [m.recent for m in user.open("INBOX").messages] == [False, False]


def test_two_views_see_each_others_flags_and_expunges(store: MailStore, user: UserStore) -> None:
    for _ in range(5):
        store.deliver(ADDRESS, MSG)
    a, b = user.open("INBOX"), user.open("INBOX")
    result = a.store_flags([2, 3, 4], ["\\Deleted", "\\Seen"], "+")
    assert result == {uid: frozenset({"\\Deleted", "\\Seen"}) for uid in (2, 3, 4)}
    changes = b.refresh()
    assert [(seq, info.uid) for seq, info in changes.flags] == [(2, 2), (3, 3), (4, 4)]
    assert not a.refresh()  # its own change is not news to it
    b.store_flags([3], ["\\Deleted"], "-")
    assert a.expunge() == [2, 3]  # uids 2 and 4: seq 2, then old seq 4 is now 3
    assert [m.uid for m in a.messages] == [1, 3, 5]
    changes = b.refresh()
    assert changes.expunged == [2, 3]
    assert changes.exists is None
    assert [m.uid for m in b.messages] == [1, 3, 5]
    assert b.messages[1].flags == frozenset({"\\Seen"})


def test_store_modes_keywords_and_recent_ignored(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    view = user.open("INBOX")
    assert view.store_flags([1], ["\\seen", "$Label1", "\\Recent", "$Forwarded"], "") == {
        1: frozenset({"\\Seen", "$Label1", "$Forwarded"})
    }
    assert view.path(1).name.endswith(":2,PSa")
    assert (user.maildir / "dovecot-keywords").read_text() == "0 $Label1\n"
    assert view.store_flags([1], ["$label1"], "-") == {1: frozenset({"\\Seen", "$Forwarded"})}
    assert view.store_flags([1], ["$LABEL1", "Work"], "+")[1] == frozenset(
        {"\\Seen", "$Forwarded", "$Label1", "Work"}
    )
    assert view.store_flags([99], ["\\Seen"], "+") == {}
    with pytest.raises(InvalidFlag):
        view.store_flags([1], ["\\Bogus"], "+")
    with pytest.raises(InvalidFlag):
        view.store_flags([1], ["has space"], "+")
    reopened = user.open("INBOX")
    assert reopened.messages[0].flags == frozenset({"\\Seen", "$Forwarded", "$Label1", "Work"})


def test_concurrent_flag_changes_merge(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    a, b = user.open("INBOX"), user.open("INBOX")
    a.store_flags([1], ["\\Seen"], "+")
    # b has not refreshed, yet its +\Flagged must not drop a's \Seen.
    assert b.store_flags([1], ["\\Flagged"], "+") == {1: frozenset({"\\Seen", "\\Flagged"})}
    assert a.refresh().flags[0][1].flags == frozenset({"\\Seen", "\\Flagged"})


def test_readonly_view_refuses_changes(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    view = user.open("INBOX", readonly=True)
    with pytest.raises(StoreError):
        view.store_flags([1], ["\\Seen"], "+")
    with pytest.raises(StoreError):
        view.expunge()
    with pytest.raises(StoreError):
        view.move([1], "Trash")
    assert view.copy([1], "Trash").mapping == [(1, 1)]


def test_uid_expunge_only_touches_given_uids(store: MailStore, user: UserStore) -> None:
    for _ in range(3):
        store.deliver(ADDRESS, MSG)
    view = user.open("INBOX")
    view.store_flags([1, 2, 3], ["\\Deleted"], "+")
    assert view.expunge([3, 1]) == [1, 2]
    assert [m.uid for m in view.messages] == [2]
    assert user.open("INBOX").messages[0].uid == 2


def test_uids_are_never_reused(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    view = user.open("INBOX")
    view.store_flags([1], ["\\Deleted"], "+")
    view.expunge()
    store.deliver(ADDRESS, MSG)
    assert view.refresh().exists == 1
    assert [m.uid for m in view.messages] == [2]


def test_vanished_file_is_message_not_found(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    a = user.open("INBOX")
    a.path(1).unlink()  # another node expunged it behind our back
    with pytest.raises(MessageNotFound):
        a.read(1)
    with pytest.raises(MessageNotFound):
        a.read(42)
    assert a.refresh().expunged == [1]


def test_read_follows_a_rename_by_another_session(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    a, b = user.open("INBOX"), user.open("INBOX")
    b.store_flags([1], ["\\Answered"], "+")
    assert a.read(1) == MSG  # a's idea of the file name is stale, the message is not


def test_append_flags_internaldate_and_uids(user: UserStore) -> None:
    when = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    uidvalidity, uid = user.append("Drafts", MSG, flags=["\\Draft", "$todo"], internaldate=when)
    assert uid == 1
    assert user.append("Drafts", MSG) == (uidvalidity, 2)
    view = user.open("Drafts")
    first, second = view.messages
    assert first.flags == frozenset({"\\Draft", "$todo"}) and not first.recent
    assert first.internaldate == when
    assert os.stat(view.path(1)).st_mtime == when.timestamp()
    assert second.recent  # no flags: saved to new/, as Dovecot does
    with pytest.raises(MailboxNotFound):
        user.append("Nope", MSG)


def test_copy_keeps_flags_and_date_and_links(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    store.deliver(ADDRESS, MSG)
    view = user.open("INBOX")
    view.store_flags([2], ["\\Flagged", "Important"], "+")
    result = view.copy([2, 1, 99], "Archive")
    assert result.uidvalidity == user.status("Archive").uidvalidity
    assert result.mapping == [(1, 1), (2, 2)]
    archive = user.open("Archive", readonly=True)
    assert [m.flags for m in archive.messages] == [
        frozenset(),
        frozenset({"\\Flagged", "Important"}),
    ]
    assert archive.messages[1].internaldate == view.messages[1].internaldate
    assert os.stat(archive.path(2)).st_ino == os.stat(view.path(2)).st_ino  # hard link
    assert archive.read(1) == MSG
    with pytest.raises(MailboxNotFound):
        view.copy([1], "Nope")
    assert [m.uid for m in view.messages] == [1, 2]


def test_move_reports_expunges_at_once(store: MailStore, user: UserStore) -> None:
    for _ in range(4):
        store.deliver(ADDRESS, MSG)
    view, other = user.open("INBOX"), user.open("INBOX")
    view.store_flags([3], ["\\Seen"], "+")
    result = view.move([2, 3], "Trash")
    assert result.mapping == [(2, 1), (3, 2)]
    assert result.expunged == [2, 2]
    assert [m.uid for m in view.messages] == [1, 4]
    assert not view.refresh()
    assert other.refresh().expunged == [2, 2]
    trash = user.open("Trash")
    assert [m.flags for m in trash.messages] == [frozenset(), frozenset({"\\Seen"})]
    assert user.status("INBOX").messages == 2


def test_deleted_mailbox_ends_the_view(user: UserStore) -> None:
    user.create("Tmp")
    view = user.open("Tmp")
    user.delete("Tmp")
    with pytest.raises(MailboxNotFound):
        view.refresh()


def test_status(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    store.deliver(ADDRESS, MSG + b"more\r\n")
    status = user.status("INBOX")
    assert (status.messages, status.recent, status.unseen, status.uidnext) == (2, 2, 2, 3)
    assert status.size == 2 * len(MSG) + 6
    user.open("INBOX").store_flags([1], ["\\Seen"], "+")
    status = user.status("inbox")
    assert (status.recent, status.unseen) == (0, 1)


def test_unknown_files_are_ignored(store: MailStore, user: UserStore) -> None:
    store.deliver(ADDRESS, MSG)
    (user.maildir / "cur" / ".hidden").write_text("x")
    (user.maildir / "new" / "subdir").mkdir()
    (user.maildir / "cur" / "foreign-without-sizes:2,S").write_bytes(b"a\nb\n")
    view = user.open("INBOX")
    assert len(view.messages) == 2
    assert view.messages[1].size == 6  # computed from content when W= is missing
    assert view.read(view.messages[1].uid) == b"a\r\nb\r\n"


def test_many_threads_delivering_and_syncing(store: MailStore, user: UserStore) -> None:
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            for _ in range(25):
                user.append("INBOX", MSG)
        except BaseException as exc:
            errors.append(exc)

    def sync() -> None:
        try:
            view = user.open("INBOX")
            for _ in range(25):
                view.refresh()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (deliver, deliver, sync, sync, deliver)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    view = user.open("INBOX")
    assert [m.uid for m in view.messages] == list(range(1, 76))


def test_large_mailbox_built_from_files(tmp_path: Path) -> None:
    store = MailStore(tmp_path, hostname="mx1")
    user = store.user(ADDRESS)
    user.list_mailboxes()
    cur = user.maildir / "cur"
    count = 20_000
    for i in range(count):
        flags = "S" if i % 2 else ""
        (cur / f"{1_700_000_000 + i}.M{i}P1Q{i}.mx1,S=4,W=6:2,{flags}").write_bytes(b"a\nb\n")
    view = user.open("INBOX")
    assert len(view.messages) == count
    assert view.messages[-1].uid == count
    assert sum(1 for m in view.messages if "\\Seen" in m.flags) == count // 2
    assert all(m.size == 6 for m in view.messages)
    reopened = user.open("INBOX")
    assert [m.uid for m in reopened.messages[:3]] == [1, 2, 3]
    assert user.status("INBOX").messages == count
    assert user.quota()[0] == 6 * count
