"""Quota: RFC822.SIZE summed over every folder; APPEND and COPY are refused beyond it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailserver.store.errors import OverQuota
from mailserver.store.mailstore import MailStore

ADDRESS = "quota@example.ac.th"
MSG = b"Subject: q\r\n\r\n" + b"x" * 80 + b"\r\n"  # 96 bytes with CRLF


def test_usage_counts_every_folder(tmp_path: Path) -> None:
    store = MailStore(tmp_path, hostname="mx1")
    user = store.user(ADDRESS)
    user.ensure_created()
    assert user.quota() == (0, None)
    store.deliver(ADDRESS, MSG)
    user.append("Sent", MSG, flags=["\\Seen"])
    assert user.quota() == (2 * len(MSG), None)


def test_append_and_copy_beyond_quota_are_refused(tmp_path: Path) -> None:
    store = MailStore(tmp_path, hostname="mx1", default_quota_bytes=3 * len(MSG))
    user = store.user(ADDRESS)
    user.ensure_created()
    user.append("INBOX", MSG)
    user.append("INBOX", MSG)
    view = user.open("INBOX")
    with pytest.raises(OverQuota):
        view.copy([1, 2], "Archive")
    assert user.status("Archive").messages == 0
    view.copy([1], "Archive")
    assert user.quota() == (3 * len(MSG), 3 * len(MSG))
    with pytest.raises(OverQuota):
        user.append("INBOX", MSG)
    # MOVE does not change usage; SMTP delivery is not refused by the store.
    view.move([2], "Trash")
    store.deliver(ADDRESS, MSG)
    assert user.quota()[0] == 4 * len(MSG)
    # Expunging frees space.
    view.store_flags([1], ["\\Deleted"], "+")
    view.expunge()
    assert user.quota()[0] == 3 * len(MSG)


def test_per_user_quota_overrides_default(tmp_path: Path) -> None:
    store = MailStore(tmp_path, hostname="mx1", default_quota_bytes=10)
    assert store.user(ADDRESS).quota() == (0, 10)
    big = store.user(ADDRESS, quota_bytes=10_000)
    big.append("INBOX", MSG)
    assert big.quota() == (len(MSG), 10_000)
