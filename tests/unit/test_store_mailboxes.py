"""Folders of an account: Maildir++ layout, CREATE/DELETE/RENAME, LIST, subscriptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailserver.store.errors import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotFound,
    StoreError,
)
from mailserver.store.mailstore import MailStore, UserStore

ADDRESS = "somchai@example.ac.th"


@pytest.fixture
def store(tmp_path: Path) -> MailStore:
    return MailStore(tmp_path, hostname="mx1")


@pytest.fixture
def user(store: MailStore) -> UserStore:
    return store.user(ADDRESS)


def listing(user: UserStore) -> dict[str, tuple[bool, bool]]:
    return {m.name: (m.selectable, m.has_children) for m in user.list_mailboxes()}


def test_ensure_created_makes_special_use_folders_and_subscribes(user: UserStore) -> None:
    user.ensure_created()
    user.ensure_created()  # idempotent
    infos = {m.name: m.special_use for m in user.list_mailboxes()}
    assert infos == {
        "INBOX": None,
        "Archive": "\\Archive",
        "Drafts": "\\Drafts",
        "Junk": "\\Junk",
        "Sent": "\\Sent",
        "Trash": "\\Trash",
    }
    assert user.list_mailboxes()[0].name == "INBOX"
    assert user.subscriptions() == ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]
    for folder in ("Sent", "Trash"):
        path = user.maildir / f".{folder}"
        assert {"cur", "new", "tmp", "maildirfolder", "dovecot-uidlist"} <= {
            p.name for p in path.iterdir()
        }


def test_thai_names_are_stored_in_modified_utf7(user: UserStore) -> None:
    user.create("งาน/รายงาน 2567")
    assert (user.maildir / ".&DgcOMg4Z-").is_dir()
    assert (user.maildir / ".&DgcOMg4Z-.&DiMOMg4iDgcOMg4Z- 2567" / "cur").is_dir()
    assert listing(user) == {
        "INBOX": (True, False),
        "งาน": (True, True),
        "งาน/รายงาน 2567": (True, False),
    }
    # A second store (another session, after a restart) reads the same names back.
    again = MailStore(user.maildir.parents[2], hostname="mx2").user(ADDRESS)
    assert [m.name for m in again.list_mailboxes()] == ["INBOX", "งาน", "งาน/รายงาน 2567"]
    assert again.status("งาน/รายงาน 2567").messages == 0


@pytest.mark.parametrize("name", ["", "a//b", "/a", "a/", "a.b", "a*", "a%b", "bad\x01", ".."])
def test_invalid_names(user: UserStore, name: str) -> None:
    with pytest.raises(InvalidMailboxName):
        user.create(name)


def test_create_existing_and_inbox_any_case(user: UserStore) -> None:
    user.create("Projects")
    with pytest.raises(MailboxExists):
        user.create("Projects")
    with pytest.raises(MailboxExists):
        user.create("inbox")
    user.create("inBox/child")  # INBOX is case-insensitive also as a parent
    assert listing(user)["INBOX/child"] == (True, False)
    assert listing(user)["INBOX"] == (True, True)
    assert (user.maildir / ".INBOX.child").is_dir()


def test_unknown_entries_in_the_maildir_are_ignored(user: UserStore) -> None:
    user.create("Real")
    for junk in (".&&&bad", "..creating-x", "courierimapkeywords", ".A&AGE-"):
        (user.maildir / junk).mkdir()
    (user.maildir / ".plain-file").write_text("not a folder")
    (user.maildir / ".a.").mkdir()  # empty level
    assert set(listing(user)) == {"INBOX", "Real"}


def test_implied_parents_are_noselect(user: UserStore) -> None:
    (user.maildir.parent).mkdir(parents=True, exist_ok=True)
    user.list_mailboxes()
    for sub in ("cur", "new", "tmp"):
        (user.maildir / ".a.b" / sub).mkdir(parents=True)  # as another tool might leave it
    assert listing(user)["a"] == (False, True)
    with pytest.raises(MailboxNotFound):
        user.open("a")
    with pytest.raises(StoreError):
        user.delete("a")  # \Noselect with inferiors (RFC 3501 §6.3.4)


def test_delete_leaf_removes_it_and_a_new_one_gets_a_new_uidvalidity(user: UserStore) -> None:
    user.create("Old")
    user.append("Old", b"Subject: x\r\n\r\nx\r\n")
    before = user.status("Old").uidvalidity
    user.delete("Old")
    assert "Old" not in listing(user)
    assert not any(p.name.startswith("..") for p in user.maildir.iterdir())
    with pytest.raises(MailboxNotFound):
        user.delete("Old")
    user.create("Old")
    status = user.status("Old")
    assert status.uidvalidity > before and status.messages == 0 and status.uidnext == 1


def test_delete_with_children_keeps_a_noselect_parent(user: UserStore) -> None:
    user.create("a/b")
    user.append("a", b"x\r\n")
    user.delete("a")
    assert listing(user)["a"] == (False, True)
    assert listing(user)["a/b"] == (True, False)
    with pytest.raises(MailboxNotFound):
        user.status("a")
    with pytest.raises(StoreError):
        user.delete("a")
    user.delete("a/b")
    user.delete("a")  # now a \Noselect leaf: removed
    assert set(listing(user)) == {"INBOX"}


def test_recreate_a_noselect_parent(user: UserStore) -> None:
    user.create("a/b")
    user.delete("a")
    user.create("a")
    assert listing(user)["a"] == (True, True)
    assert user.status("a").messages == 0


def test_inbox_cannot_be_deleted(user: UserStore) -> None:
    with pytest.raises(StoreError):
        user.delete("INBOX")


def test_rename_moves_children_keeps_uids_and_subscriptions(user: UserStore) -> None:
    user.create("a/b/c")
    uidvalidity, uid = user.append("a/b", b"x\r\n", flags=["\\Seen"])
    user.subscribe("a/b")
    user.subscribe("other")
    user.rename("a", "z/y")
    assert set(listing(user)) == {"INBOX", "z", "z/y", "z/y/b", "z/y/b/c"}
    status = user.status("z/y/b")
    assert (status.uidvalidity, status.messages, status.uidnext) == (uidvalidity, 1, uid + 1)
    assert user.subscriptions() == ["z/y/b", "other"]
    with pytest.raises(MailboxNotFound):
        user.rename("a", "q")


def test_rename_errors(user: UserStore) -> None:
    user.create("a")
    user.create("b")
    with pytest.raises(MailboxExists):
        user.rename("a", "b")
    with pytest.raises(MailboxExists):
        user.rename("a", "INBOX")
    with pytest.raises(InvalidMailboxName):
        user.rename("a", "a/inner")


def test_rename_inbox_moves_messages_and_leaves_inbox_empty(store: MailStore) -> None:
    user = store.user(ADDRESS)
    user.create("INBOX/kept")
    store.deliver(ADDRESS, b"Subject: 1\r\n\r\none\r\n")
    store.deliver(ADDRESS, b"Subject: 2\r\n\r\ntwo\r\n")
    view = user.open("INBOX")
    view.store_flags([view.messages[1].uid], ["\\Flagged"], "+")
    view.close()
    inbox_next = user.status("INBOX").uidnext
    user.rename("INBOX", "Old Inbox")
    assert user.status("INBOX").messages == 0
    assert user.status("INBOX").uidnext == inbox_next  # UIDs are not reused
    assert "INBOX/kept" in listing(user)
    moved = user.open("Old Inbox")
    assert [m.uid for m in moved.messages] == [1, 2]
    assert [m.flags for m in moved.messages] == [frozenset(), frozenset({"\\Flagged"})]
    assert moved.read(1) == b"Subject: 1\r\n\r\none\r\n"


def test_subscriptions(user: UserStore) -> None:
    user.subscribe("Ghost/ผี")  # need not exist (RFC 3501 §6.3.6)
    user.subscribe("inbox")
    user.subscribe("INBOX")
    assert user.subscriptions() == ["Ghost/ผี", "INBOX"]
    assert (user.maildir / "subscriptions").read_text() == "Ghost/&DhwONQ-\nINBOX\n"
    user.unsubscribe("Ghost/ผี")
    user.unsubscribe("never")
    assert user.subscriptions() == ["INBOX"]


def test_dovecot_v2_subscriptions_file_is_read(user: UserStore) -> None:
    user.list_mailboxes()
    (user.maildir / "subscriptions").write_text("V\t2\n\nINBOX\nWork\tProjects\n")
    assert user.subscriptions() == ["INBOX", "Work/Projects"]
