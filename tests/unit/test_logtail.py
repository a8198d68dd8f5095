"""`mailserver logs tail`: filters, formatting, read-back and follow mode."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailserver.log import PolicyLog
from mailserver.logtail import format_record, tail
from tests.waiting import wait_until


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


NOV25 = datetime(2026, 11, 25, 21, 40, 3, tzinfo=UTC)


def run(directory: Path, **options: object) -> list[str]:
    out = io.StringIO()
    kwargs: dict = {"follow": False, "user": None, "result": None, "event": None}
    kwargs |= {"as_json": False, **options}
    assert tail(directory, out=out, **kwargs) == 0
    return out.getvalue().splitlines()


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    with PolicyLog(tmp_path, node="n1", clock=Clock(NOV25)) as log:
        log.write(
            "auth",
            protocol="smtp",
            client_ip="203.0.113.5",
            client_port=51234,
            login="Alice@bangkok.go.th",
            rule="memo-4.2-locked",
            reason="account_locked",
            result="deny",
        )
        log.write("auth", protocol="imap", login="bob@bangkok.go.th", result="allow")
        log.write(
            "send",
            protocol="smtp",
            account="alice@bangkok.go.th",
            result="allow",
            message_id="<m1@bangkok.go.th>",
            sender="alice@bangkok.go.th",
            recipients=["somchai@bangkok.go.th", "nid@example.org"],
            size=2048,
            status="queued",
        )
        log.write("auth", protocol="imap", login="carol@bangkok.go.th", result="deny")
    return tmp_path


def test_auth_line_is_readable_and_aligned() -> None:
    line = format_record(
        {
            "ts": "2026-11-25T21:40:03.123Z",
            "node": "n1",
            "event": "auth",
            "session": "s7",
            "protocol": "smtp",
            "client_ip": "203.0.113.5",
            "client_port": 51234,
            "login": "alice@bangkok.go.th",
            "rule": "memo-4.2-locked",
            "reason": "account_locked",
            "result": "deny",
            "detail": "locked by HR",
        }
    )
    assert line == (
        "2026-11-25 21:40:03Z  smtp   auth      deny    alice@bangkok.go.th       "
        '203.0.113.5:51234      memo-4.2-locked/account_locked  session=s7  detail="locked by HR"'
    )


def test_columns_line_up_across_records() -> None:
    a = format_record({"ts": "2026-11-25T21:40:03.123Z", "event": "auth", "result": "deny"})
    b = format_record(
        {
            "ts": "2026-11-25T21:40:04.000Z",
            "protocol": "imap",
            "event": "deliver",
            "result": "allow",
            "login": "x@y.th",
            "client_ip": "198.51.100.7",
            "client_port": 993,
        }
    )
    # The rule column starts at the same offset whatever the earlier columns hold.
    assert a.endswith("  -") and b.endswith("  -") and len(a) == len(b)


def test_mail_line_shows_envelope_size_status_and_id() -> None:
    line = format_record(
        {
            "ts": "2026-11-25T21:40:03.123Z",
            "event": "deliver",
            "protocol": "smtp",
            "client_ip": "2001:db8::1",
            "client_port": 25,
            "result": "allow",
            "sender": "a@x.th",
            "recipients": ["b@bangkok.go.th", "c@bangkok.go.th"],
            "size": 2048,
            "status": "delivered",
            "message_id": "<m1@x.th>",
        }
    )
    assert "[2001:db8::1]:25" in line
    assert line.endswith(
        "a@x.th -> b@bangkok.go.th,c@bangkok.go.th  "
        "size=2048  status=delivered  message_id=<m1@x.th>"
    )


def test_missing_fields_render_as_dashes() -> None:
    assert format_record({}) == "-  -      -         -       -                         -" + (
        " " * 20 + "  -"
    )


def test_last_n_lines_in_order(logdir: Path) -> None:
    out = run(logdir, lines=2)
    assert len(out) == 2
    assert "send" in out[0] and "carol@bangkok.go.th" in out[1]


def test_filter_by_user_matches_login_or_account_case_insensitively(logdir: Path) -> None:
    out = run(logdir, user="ALICE@bangkok.go.th")
    assert len(out) == 2
    assert "auth" in out[0] and "memo-4.2-locked/account_locked" in out[0]
    assert "alice@bangkok.go.th -> somchai@bangkok.go.th,nid@example.org" in out[1]
    assert run(logdir, user="alice") == out  # the local part alone
    assert run(logdir, user="nobody") == []


def test_filter_by_result_and_event(logdir: Path) -> None:
    denied = run(logdir, result="deny")
    assert [("Alice" in ln, "carol" in ln) for ln in denied] == [(True, False), (False, True)]
    assert len(run(logdir, event="send")) == 1
    assert len(run(logdir, event="auth", result="allow", user="bob")) == 1
    assert run(logdir, event="send", result="deny") == []


def test_json_prints_stored_lines_unchanged(logdir: Path) -> None:
    stored = (logdir / "policy.log").read_text(encoding="utf-8").splitlines()
    assert run(logdir, as_json=True, result="deny") == [stored[0], stored[3]]
    assert [json.loads(ln)["event"] for ln in run(logdir, as_json=True)] == [
        "auth",
        "auth",
        "send",
        "auth",
    ]


def test_malformed_lines_are_shown_raw_and_never_crash(logdir: Path) -> None:
    with open(logdir / "policy.log", "ab") as f:
        f.write(b'not json at all\n[1, 2]\n\xff\xfe broken utf-8\n{"ts": 5}\n\n')
    out = run(logdir, lines=5)
    assert out[1:4] == ["not json at all", "[1, 2]", "\ufffd\ufffd broken utf-8"]
    assert out[4].startswith("5  -")  # a dict with odd values is still formatted
    # With a filter, lines we cannot read cannot match.
    assert all("broken" not in ln for ln in run(logdir, result="deny"))


def test_partial_last_line_is_shown_without_follow(logdir: Path) -> None:
    with open(logdir / "policy.log", "a") as f:
        f.write('{"ts":"2026-11-25T22:00:00.000Z","event":"auth","login":"dave"}')
    assert "dave" in run(logdir, lines=1)[0]


def test_reads_back_into_rotated_days(tmp_path: Path) -> None:
    clock = Clock(NOV25 - timedelta(days=2))
    log = PolicyLog(tmp_path, node="n", clock=clock)
    log.write("auth", login="day1", result="deny")
    clock.now = NOV25 - timedelta(days=1)
    log.write("auth", login="day2", result="deny")
    log.write("auth", login="day2-ok", result="allow")
    clock.now = NOV25
    log.write("auth", login="day3", result="deny")
    log.close()
    assert len(list(tmp_path.glob("policy.log-*.gz"))) == 2
    out = run(tmp_path, result="deny", lines=3)
    assert [ln.split()[5] for ln in out] == ["day1", "day2", "day3"]
    assert [ln.split()[5] for ln in run(tmp_path, result="deny", lines=2)] == ["day2", "day3"]


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert tail(tmp_path / "nope", follow=False, user=None, result=None, event=None,
                as_json=False, out=io.StringIO()) == 1  # fmt: skip


def test_empty_directory_prints_nothing(tmp_path: Path) -> None:
    assert run(tmp_path) == []


class Polls(threading.Event):
    """The `stop` event handed to tail(follow=True): it also counts the follower's waits
    (it waits once before each poll), so a test can wait until a poll has happened."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)

    def wait_for_a_poll(self) -> None:
        """Return once the follower has polled at least once after this call."""
        seen = self.waits
        wait_until(lambda: self.waits >= seen + 2, what="a poll of the follower")


class Follow:
    """Runs tail(follow=True) in threads; `polls` shows how far the followers got."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.polls = Polls()
        self.threads: list[threading.Thread] = []
        self.results: list[int] = []

    def __call__(self, **filters: object) -> io.StringIO:
        out = io.StringIO()
        kwargs: dict = {"user": None, "result": None, "event": None, "as_json": False} | filters

        def target() -> None:
            self.results.append(
                tail(self.directory, follow=True, out=out, stop=self.polls, **kwargs)
            )

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)
        return out


@pytest.fixture
def follow(tmp_path: Path) -> Iterator[Follow]:
    """Start tail(follow=True) in a thread; stop and join it at teardown."""
    follower = Follow(tmp_path)
    yield follower
    follower.polls.set()
    for thread in follower.threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
    assert follower.results == [0] * len(follower.threads)


def logins(out: io.StringIO) -> list[str]:
    return [json.loads(ln)["login"] for ln in out.getvalue().splitlines()]


def test_follow_prints_appended_lines_and_survives_rotation(tmp_path: Path, follow) -> None:
    clock = Clock(datetime(2026, 11, 25, 23, 59, 58, tzinfo=UTC))
    log = PolicyLog(tmp_path, node="n", clock=clock)
    log.write("auth", login="before", result="deny")
    out = follow(result="deny", as_json=True, lines=5)
    wait_until(lambda: logins(out) == ["before"])

    log.write("auth", login="ok", result="allow")
    log.write("auth", login="late1", result="deny")
    wait_until(lambda: logins(out) == ["before", "late1"])

    # Lines written just before midnight, then rotation by the next day's first write.
    log.write("auth", login="late2", result="deny")
    clock.now = datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC)
    log.write("auth", login="new1", result="deny")
    log.write("auth", login="new2", result="deny")
    wait_until(lambda: logins(out) == ["before", "late1", "late2", "new1", "new2"])
    assert (tmp_path / "policy.log-20261125.gz").exists()

    clock.now = datetime(2026, 11, 27, 0, 0, 1, tzinfo=UTC)
    log.write("auth", login="new3", result="deny")
    wait_until(lambda: logins(out)[-1] == "new3")
    log.close()
    assert logins(out) == ["before", "late1", "late2", "new1", "new2", "new3"]


def test_follow_waits_for_the_log_to_appear(tmp_path: Path, follow) -> None:
    out = follow(as_json=False)
    follow.polls.wait_for_a_poll()  # it has looked for the file and not found it
    assert not (tmp_path / "policy.log").exists()
    with PolicyLog(tmp_path, node="n", clock=Clock(NOV25)) as log:
        log.write("auth", protocol="imap", login="first", result="allow")
    wait_until(lambda: "first" in out.getvalue())
    assert out.getvalue().startswith("2026-11-25 21:40:03Z  imap   auth      allow   first")


def test_follow_joins_a_line_written_in_two_pieces(tmp_path: Path, follow) -> None:
    path = tmp_path / "policy.log"
    path.write_text("")
    out = follow(as_json=True)
    follow.polls.wait_for_a_poll()
    with open(path, "a") as f:
        f.write('{"event":"auth",')
        f.flush()
        follow.polls.wait_for_a_poll()  # it has read the first piece
        assert out.getvalue() == ""
        f.write('"login":"split"}\n')
    wait_until(lambda: logins(out) == ["split"])
