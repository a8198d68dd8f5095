"""The Maildir store: layout, durability protocol, exact content, unsafe names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mailserver.store.maildir import MailboxPathError, MaildirStore


def test_delivery_lands_in_new_with_dovecot_layout(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path, "mx1")
    path = store.deliver("Bob@Bangkok.go.th", b"Subject: hi\r\n\r\nbody\r\n")
    assert path.parent == tmp_path / "bangkok.go.th" / "bob" / "Maildir" / "new"
    assert path.read_bytes() == b"Subject: hi\n\nbody\n"
    assert {p.name for p in path.parent.parent.iterdir()} == {"tmp", "new", "cur"}
    assert list((path.parent.parent / "tmp").iterdir()) == []


def test_file_name_carries_sizes(tmp_path: Path) -> None:
    content = b"Subject: x\r\n\r\n" + "สวัสดี".encode() + b"\r\n"
    path = MaildirStore(tmp_path, "mx1").deliver("a@b.th", content)
    stored = path.read_bytes()
    assert f",S={len(stored)},W={len(content)}" in path.name
    assert ":" not in path.name and ".mx1," in path.name


def test_file_names_are_unique_and_private(tmp_path: Path) -> None:
    store = MaildirStore(tmp_path, "host/with:odd")
    paths = {store.deliver("a@b.th", b"x\r\n") for _ in range(50)}
    assert len(paths) == 50
    for path in paths:
        assert "/" not in path.name and ":" not in path.name
        assert os.stat(path).st_mode & 0o077 == 0


@pytest.mark.parametrize(
    "address", ["../etc@b.th", "a/b@b.th", ".hidden@b.th", "a@../b", "a@b/c", "a..b@b.th", "@b.th"]
)
def test_unsafe_addresses_never_name_a_path(tmp_path: Path, address: str) -> None:
    with pytest.raises(MailboxPathError):
        MaildirStore(tmp_path).deliver(address, b"x\r\n")
    assert list(tmp_path.iterdir()) == []
