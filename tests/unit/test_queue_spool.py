"""The spool: durable enqueue, atomic updates, crash debris, JSON round trips."""

from __future__ import annotations

import datetime as dt
import errno
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from mailserver.queue.model import QueuedMessage, Recipient, RecipientState
from mailserver.queue.spool import Spool, SpoolError

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)


def enqueue(spool: Spool, content: bytes = b"Subject: x\r\n\r\nbody\r\n") -> QueuedMessage:
    return spool.enqueue(
        "alice@bangkok.go.th",
        [Recipient("bob@bangkok.go.th"), Recipient("x@example.com", notify=("FAILURE",))],
        content,
        now=NOW,
        origin="submission",
        login="alice@bangkok.go.th",
    )


def test_enqueue_then_load_round_trips(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    message = enqueue(spool)
    assert spool.ids() == [message.id]
    assert spool.load(message.id) == message
    assert spool.content(message.id) == b"Subject: x\r\n\r\nbody\r\n"
    assert message.size == len(b"Subject: x\r\n\r\nbody\r\n")
    assert {r.domain for r in message.recipients} == {"bangkok.go.th", "example.com"}


def test_update_records_each_recipient_durably(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    message = enqueue(spool)
    done = replace(
        message.recipients[0],
        state=RecipientState.DELIVERED,
        attempts=1,
        last_code=250,
        last_text="2.0.0 ok",
        last_attempt=NOW,
    )
    spool.update(message.with_recipient(done))
    reread = Spool(tmp_path).load(message.id)  # a new process sees the same state
    assert reread.recipients[0].state is RecipientState.DELIVERED
    assert reread.recipients[0].last_attempt == NOW
    assert [r.address for r in reread.pending] == ["x@example.com"]
    assert reread.recipients[1].notify == ("FAILURE",)


def test_recover_removes_debris_of_a_crash(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    kept = enqueue(spool)
    (spool.messages / "ORPHAN").write_bytes(b"data written before a crash, no envelope")
    (spool.tmp / "half-written").write_bytes(b"x")
    assert spool.recover() == 2
    assert spool.ids() == [kept.id]
    assert (spool.messages / kept.id).exists()


def test_remove_and_unknown_ids(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    message = enqueue(spool)
    spool.remove(message.id)
    assert spool.ids() == []
    with pytest.raises(SpoolError):
        spool.load(message.id)
    with pytest.raises(SpoolError):
        spool.update(message)
    with pytest.raises(SpoolError):
        spool.enqueue("a@b", [], b"x", now=NOW)


def test_ids_are_unique_and_in_arrival_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    ids = [enqueue(spool).id for _ in range(50)]
    assert len(set(ids)) == 50
    assert spool.ids() == sorted(ids)


def test_unreadable_envelope_is_an_error_not_a_crash(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    message = enqueue(spool)
    (spool.envelopes / f"{message.id}.json").write_text("{not json")
    with pytest.raises(SpoolError, match="unreadable"):
        spool.load(message.id)
    assert list(spool.all()) == []


def test_a_failed_enqueue_leaves_nothing_behind(tmp_path: Path, monkeypatch: Any) -> None:
    """The disk fills up between the data file and the envelope: the client gets a 4xx,
    so the data file goes too (nothing of a refused message may stay to be delivered)."""
    spool = Spool(tmp_path)

    def disk_full(message: QueuedMessage) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool, "_write_envelope", disk_full)
    with pytest.raises(OSError):
        enqueue(spool)
    assert [p for sub in ("messages", "envelopes", "tmp") for p in (tmp_path / sub).iterdir()] == []
