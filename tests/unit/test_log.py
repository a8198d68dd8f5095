"""The policy log: line format, password refusal, daily rotation, retention."""

from __future__ import annotations

import gzip
import json
import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mailserver.log import PolicyLog, format_ts


class Clock:
    """An injectable clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def lines_of(path: Path) -> list[dict]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f.read().split("\n") if line]


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


NOV25 = datetime(2026, 11, 25, 21, 40, 3, 123456, tzinfo=UTC)


def test_line_format_and_canonical_field_order(tmp_path: Path) -> None:
    log = PolicyLog(tmp_path, node="mx1", clock=Clock(NOV25))
    record = log.write(
        "send",
        code="5.7.1",
        status="queued",
        recipients=("somchai@bangkok.go.th", "นิด@bangkok.go.th"),
        sender="alice@bangkok.go.th",
        result="allow",
        client_ip="203.0.113.5",
        session="s1",
        size=1234,
        message_id="<m1@bangkok.go.th>",
        actor="admin",
        protocol="smtp",
        client_port=51234,
        tls=True,
        login="alice@bangkok.go.th",
        account="alice@bangkok.go.th",
        rule="memo-4.2",
        reason="ok",
    )
    log.close()
    raw = (tmp_path / "policy.log").read_text(encoding="utf-8")
    assert raw.endswith("\n") and raw.count("\n") == 1
    assert ", " not in raw and '": ' not in raw  # compact separators
    assert "นิด@bangkok.go.th" in raw  # ensure_ascii=False
    parsed = json.loads(raw)
    assert parsed == record
    assert list(parsed) == [
        "ts",
        "node",
        "event",
        "session",
        "protocol",
        "client_ip",
        "client_port",
        "tls",
        "login",
        "account",
        "rule",
        "reason",
        "result",
        "message_id",
        "sender",
        "recipients",
        "size",
        "status",
        "code",
        "actor",
    ]
    assert parsed["ts"] == "2026-11-25T21:40:03.123Z"
    assert parsed["node"] == "mx1" and parsed["event"] == "send"
    assert parsed["recipients"] == ["somchai@bangkok.go.th", "นิด@bangkok.go.th"]


def test_ts_is_utc_with_milliseconds() -> None:
    bangkok = timezone(timedelta(hours=7))
    assert format_ts(datetime(2026, 11, 26, 4, 40, 3, 5000, tzinfo=bangkok)) == (
        "2026-11-25T21:40:03.005Z"
    )
    assert format_ts(datetime(2026, 11, 25, 21, 40, 3)) == "2026-11-25T21:40:03.000Z"


def test_none_values_are_dropped(tmp_path: Path) -> None:
    log = PolicyLog(tmp_path, node="n", clock=Clock(NOV25))
    record = log.write("auth", login="bob", client_ip=None, rule=None, detail=None, result="deny")
    log.close()
    assert list(record) == ["ts", "node", "event", "login", "result"]
    assert lines_of(tmp_path / "policy.log") == [record]


def test_single_recipient_string_becomes_a_list(tmp_path: Path) -> None:
    with PolicyLog(tmp_path, node="n", clock=Clock(NOV25)) as log:
        record = log.write("deliver", recipients="a@b.th")
    assert record["recipients"] == ["a@b.th"]


@pytest.mark.parametrize("field", ["password", "passwd", "Pass", "client_secret", "SECRET_KEY"])
def test_password_like_fields_are_refused(tmp_path: Path, field: str) -> None:
    log = PolicyLog(tmp_path, node="n", clock=Clock(NOV25))
    with pytest.raises(ValueError, match="password"):
        log.write("auth", login="alice", **{field: "hunter2"})
    log.close()
    assert "hunter2" not in (tmp_path / "policy.log").read_text()
    assert (tmp_path / "policy.log").read_text() == ""


@pytest.mark.parametrize("field", ["ts", "node"])
def test_reserved_fields_are_refused(tmp_path: Path, field: str) -> None:
    log = PolicyLog(tmp_path, node="n", clock=Clock(NOV25))
    with pytest.raises(ValueError):
        log.write("auth", **{field: "x"})


def test_rotation_at_utc_midnight_keeps_every_line_in_its_day(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 25, 23, 59, 59, 900000, tzinfo=UTC))
    log = PolicyLog(tmp_path, node="n", clock=clock)
    log.write("auth", login="a")
    log.write("auth", login="b")
    assert log.rotate_if_due() is False
    clock.now = datetime(2026, 11, 26, 0, 0, 0, 100000, tzinfo=UTC)
    log.write("auth", login="c")
    log.write("auth", login="d")
    assert names(tmp_path) == {"policy.log", "policy.log-20261125.gz"}
    assert [r["login"] for r in lines_of(tmp_path / "policy.log-20261125.gz")] == ["a", "b"]
    assert [r["login"] for r in lines_of(tmp_path / "policy.log")] == ["c", "d"]

    # rotate_if_due rotates without waiting for a write (e.g. from a timer).
    clock.now = datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC)
    assert log.rotate_if_due() is True
    assert [r["login"] for r in lines_of(tmp_path / "policy.log-20261126.gz")] == ["c", "d"]
    # A day with no lines leaves no file behind.
    clock.now = datetime(2026, 11, 28, 0, 0, 1, tzinfo=UTC)
    log.rotate_if_due()
    log.write("auth", login="e")
    log.close()
    assert names(tmp_path) == {"policy.log", "policy.log-20261125.gz", "policy.log-20261126.gz"}
    assert [r["login"] for r in lines_of(tmp_path / "policy.log")] == ["e"]


def test_background_compression_keeps_every_line(tmp_path: Path) -> None:
    """The server's mode: a write after midnight only renames; a thread gzips."""
    clock = Clock(datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC))
    log = PolicyLog(tmp_path, node="n", clock=clock, compress_in_background=True)
    for n in range(1000):
        log.write("auth", login=f"u{n}")
    clock.now = datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC)
    log.write("auth", login="after")
    log.close()  # waits for the gzip thread
    assert names(tmp_path) == {"policy.log", "policy.log-20261125.gz"}
    rotated = [r["login"] for r in lines_of(tmp_path / "policy.log-20261125.gz")]
    assert rotated == [f"u{n}" for n in range(1000)]
    assert [r["login"] for r in lines_of(tmp_path / "policy.log")] == ["after"]


def test_a_clock_going_backwards_does_not_rotate(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC))
    log = PolicyLog(tmp_path, node="n", clock=clock)
    log.write("auth", login="a")
    clock.now = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)
    log.write("auth", login="b")
    log.close()
    assert names(tmp_path) == {"policy.log"}
    assert [r["login"] for r in lines_of(tmp_path / "policy.log")] == ["a", "b"]


def test_concurrent_writers_across_midnight_lose_nothing(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC))
    log = PolicyLog(tmp_path, node="n", clock=clock)
    started = threading.Barrier(5)

    def writer(i: int) -> None:
        started.wait()
        for j in range(300):
            log.write("deliver", session=f"{i}-{j}", detail="x" * 50)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    started.wait()
    clock.now = datetime(2026, 11, 26, 0, 0, 0, tzinfo=UTC)
    for t in threads:
        t.join()
    log.close()
    records = lines_of(tmp_path / "policy.log")
    if (tmp_path / "policy.log-20261125.gz").exists():
        old = lines_of(tmp_path / "policy.log-20261125.gz")
        assert all(r["ts"].startswith("2026-11-25") for r in old)
        records += old
    assert sorted(r["session"] for r in records) == sorted(
        f"{i}-{j}" for i in range(4) for j in range(300)
    )


def test_startup_rotates_a_stale_file_by_its_first_line(tmp_path: Path) -> None:
    clock = Clock(datetime(2026, 11, 20, 10, 0, tzinfo=UTC))
    with PolicyLog(tmp_path, node="n", clock=clock) as log:
        log.write("auth", login="old1")
        log.write("auth", login="old2")
    clock.now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    with PolicyLog(tmp_path, node="n", clock=clock) as log:
        assert [r["login"] for r in lines_of(tmp_path / "policy.log-20261120.gz")] == [
            "old1",
            "old2",
        ]
        assert (tmp_path / "policy.log").read_text() == ""
        log.write("auth", login="new")
    assert [r["login"] for r in lines_of(tmp_path / "policy.log")] == ["new"]


def test_startup_uses_mtime_when_the_first_line_is_unreadable(tmp_path: Path) -> None:
    (tmp_path / "policy.log").write_text("garbage\n")
    stamp = datetime(2026, 11, 21, 12, 0, tzinfo=UTC).timestamp()
    os.utime(tmp_path / "policy.log", (stamp, stamp))
    PolicyLog(tmp_path, node="n", clock=Clock(NOV25)).close()
    with gzip.open(tmp_path / "policy.log-20261121.gz", "rt") as f:
        assert f.read() == "garbage\n"


def test_startup_keeps_appending_to_todays_file(tmp_path: Path) -> None:
    clock = Clock(NOV25)
    with PolicyLog(tmp_path, node="n", clock=clock) as log:
        log.write("auth", login="a")
    with PolicyLog(tmp_path, node="n", clock=clock) as log:
        log.write("auth", login="b")
    assert names(tmp_path) == {"policy.log"}
    assert [r["login"] for r in lines_of(tmp_path / "policy.log")] == ["a", "b"]


def test_rotating_into_an_existing_archive_appends_to_it(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "policy.log-20261124.gz", "wt") as f:
        f.write('{"ts":"2026-11-24T01:00:00.000Z","event":"auth","login":"x"}\n')
    (tmp_path / "policy.log").write_text(
        '{"ts":"2026-11-24T23:00:00.000Z","event":"auth","login":"y"}\n'
    )
    PolicyLog(tmp_path, node="n", clock=Clock(NOV25)).close()
    assert [r["login"] for r in lines_of(tmp_path / "policy.log-20261124.gz")] == ["x", "y"]
    assert names(tmp_path) == {"policy.log", "policy.log-20261124.gz"}


def test_startup_compresses_a_rotated_file_left_by_a_crash(tmp_path: Path) -> None:
    (tmp_path / "policy.log-20261123").write_text('{"event":"auth","login":"z"}\n')
    PolicyLog(tmp_path, node="n", clock=Clock(NOV25)).close()
    assert names(tmp_path) == {"policy.log", "policy.log-20261123.gz"}
    assert [r["login"] for r in lines_of(tmp_path / "policy.log-20261123.gz")] == ["z"]


def touch_day(directory: Path, days_ago: int, suffix: str = ".gz") -> Path:
    day = NOV25.date() - timedelta(days=days_ago)
    path = directory / f"policy.log-{day:%Y%m%d}{suffix}"
    path.write_bytes(gzip.compress(b"{}\n"))
    return path


def test_prune_keeps_younger_than_retention_and_deletes_older(tmp_path: Path) -> None:
    log = PolicyLog(tmp_path, node="n", clock=Clock(NOV25))
    kept = [touch_day(tmp_path, d) for d in (1, 89, 90)]
    deleted = [touch_day(tmp_path, d) for d in (91, 400)]
    unrelated = [
        "notes.txt",
        "policy.log-2026.gz",
        "policy.log-20261399.gz",
        "other.log-20200101.gz",
    ]
    unrelated += ["policy.log-20200101.gz.tmp", "policy.log-20200101.bak", "xpolicy.log-20200101"]
    for name in unrelated:
        (tmp_path / name).write_text("keep me")
    assert sorted(log.prune()) == sorted(deleted)
    log.close()
    assert names(tmp_path) == {"policy.log", *(p.name for p in kept), *unrelated}


def test_rotation_prunes(tmp_path: Path) -> None:
    clock = Clock(NOV25)
    log = PolicyLog(tmp_path, node="n", clock=clock)
    log.write("auth")
    old = touch_day(tmp_path, 90)  # 91 days old tomorrow
    young = touch_day(tmp_path, 88)
    clock.now = NOV25 + timedelta(days=1)
    log.write("auth")
    log.close()
    assert not old.exists()
    assert young.exists() and (tmp_path / "policy.log-20261125.gz").exists()


def test_longer_retention_keeps_more(tmp_path: Path) -> None:
    log = PolicyLog(tmp_path, node="n", retention_days=365, clock=Clock(NOV25))
    keep, drop = touch_day(tmp_path, 200), touch_day(tmp_path, 366)
    assert log.prune() == [drop]
    assert keep.exists()


@pytest.mark.parametrize("days", [0, 30, 89, -1])
def test_retention_below_90_days_is_rejected(tmp_path: Path, days: int) -> None:
    with pytest.raises(ValueError, match="90"):
        PolicyLog(tmp_path, node="n", retention_days=days)
    assert not (tmp_path / "policy.log").exists()


def test_log_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """The policy log holds traffic records: its directory 0700, the log and each rotated
    day 0600, even under umask 022 (docs/security.md, "File permissions")."""
    old = os.umask(0o022)
    try:
        clock = Clock(datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC))
        log = PolicyLog(tmp_path / "var" / "log", node="n", clock=clock)
        log.write("auth", login="a")
        clock.now = datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC)
        log.write("auth", login="b")
        log.close()
    finally:
        os.umask(old)
    modes = {
        str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777)
        for p in [tmp_path / "var", *(tmp_path / "var").rglob("*")]
    }
    assert modes == {
        "var": "0o700",
        "var/log": "0o700",
        "var/log/policy.log": "0o600",
        "var/log/policy.log-20261125.gz": "0o600",
    }
