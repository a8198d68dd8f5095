"""`mailserver lifecycle sweep | apply` and serve's periodic sweep, end to end.

The real CLI against a real data directory (SQLite directory) or a real slapd;
mails go through the real queue into the recipients' Maildir. Dates are chosen
relative to today (UTC), so no clock is faked.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from policy.rules import departure_window, last_day_of_access
from policy.settings import PolicySettings
from tests.integration.conftest import (
    PASSWORD,
    MailServer,
    client_tls_context,
    write_config,
)
from tests.integration.slapd import Slapd, make_slapd
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

DOMAIN = "bangkok.go.th"
ADMIN, ALICE, BOB, CAROL, DAVE = (
    f"{n}@{DOMAIN}" for n in ("admin", "alice", "bob", "carol", "dave")
)
TRAFFIC, HR = f"traffic@{DOMAIN}", f"hr@{DOMAIN}"
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"


def today() -> date:
    return datetime.now(UTC).date()


def separation_with(days_left: int) -> date:
    """A separation date whose grace window (3 months) ends `days_left` days from today."""
    for back in range(60, 120):
        separated = today() - timedelta(days=back)
        if (departure_window(separated, PolicySettings()) - today()).days == days_left:
            return separated
    raise AssertionError(f"no separation date leaves {days_left} days")


EXPIRED = timedelta(days=200)


def cli_written(server: MailServer) -> list[dict[str, Any]]:
    """The policy log without the lines the node writes on its own schedule (the change
    feed noticing accounts an earlier command changed)."""
    return [r for r in server.log_records() if r["event"] != "directory-change"]


def lifecycle_lines(server: MailServer, action: str | None = None) -> list[dict[str, Any]]:
    return [
        r
        for r in server.log_records()
        if r["event"] == "admin"
        and str(r.get("action", "")).startswith(("lifecycle", "hr-"))
        and (action is None or r["action"] == action)
    ]


def status_of(server: MailServer, login: str) -> dict[str, str]:
    shown = server.cli("account", "show", login).stdout
    return {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in shown.splitlines())
    }


def closed_by_server(session: imaplib.IMAP4) -> bool:
    """Whether the server has ended this IMAP session (the next command finds it gone)."""
    try:
        session.noop()
    except imaplib.IMAP4.abort:
        return True
    return False


def read_mail(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]


@pytest.fixture
def offline(tmp_path: Path) -> MailServer:
    """A data directory and config for CLI runs with no server running."""
    root = tmp_path / "offline"
    root.mkdir()
    config, ports = write_config(root, lifecycle={"sweep_interval_seconds": 0})
    return MailServer(root, config, ports["submission"], ports["submissions"], {})


# --- the sweep ---------------------------------------------------------------------------


def test_sweep_suspends_warns_once_and_changes_nothing_the_second_time(make_server) -> None:
    server = make_server(lifecycle={"sweep_interval_seconds": 0})
    for login in (ALICE, BOB, CAROL, DAVE):
        server.add_account(login)
    expired = today() - EXPIRED
    server.cli("account", "depart", BOB, "--date", expired.isoformat())
    carol_separated = separation_with(5)
    server.cli("account", "depart", CAROL, "--date", carol_separated.isoformat())
    server.cli("account", "depart", DAVE, "--date", (today() - timedelta(days=10)).isoformat())

    result = server.cli("lifecycle", "sweep")
    ends = departure_window(expired, PolicySettings())
    assert f"suspended {BOB}: departure grace ended on {ends.isoformat()}" in result.stdout
    assert f"warn {CAROL}" in result.stdout and "7-day warning, 5 days left" in result.stdout
    assert "2 done, 0 failed" in result.stdout

    shown = status_of(server, BOB)
    assert shown["status"] == "suspended"
    assert shown["reason"].startswith(f"departure grace ended on {ends.isoformat()}")
    assert shown["changed by"] == "lifecycle"
    assert status_of(server, CAROL)["status"] == "departed"
    assert status_of(server, DAVE)["status"] == "departed"

    (suspended,) = lifecycle_lines(server, "lifecycle-suspend")
    assert suspended["actor"] == "lifecycle"
    assert suspended["account"] == BOB
    assert suspended["reason"] == "departed_expired"
    assert suspended["status"] == "suspended"
    assert suspended["detail"].startswith("departure grace ended")
    assert suspended["sessions_notified"] == 0  # the running server was told
    (warned,) = lifecycle_lines(server, "lifecycle-warn")
    assert warned["account"] == CAROL and warned["reason"] == "departure_warning"
    assert warned["recipients"] == [CAROL] and warned["queue_id"]

    (path,) = server.wait_for_mail(CAROL)
    warning = read_mail(path)
    suspended_from = departure_window(carol_separated, PolicySettings())
    last_day = last_day_of_access(suspended_from).isoformat()
    assert warning["To"] == CAROL
    assert warning["Auto-Submitted"] == "auto-generated"
    text = body(warning)
    # One wording for the two days, in the Subject and the body, in English and Thai.
    for phrase in (
        f"last day of access {last_day}, suspended from {suspended_from.isoformat()}",
        f"ใช้งานได้ถึงวันที่ {last_day} (วันสุดท้าย) ระงับการใช้งานตั้งแต่วันที่ {suspended_from.isoformat()}",
    ):
        assert phrase in warning["Subject"] and phrase in text
    for needed in ("IMAP", "mbsync", "Outlook", "mailserver export"):
        assert needed in text
    assert "กรุณาสำรองอีเมล" in text  # Thai: "please back up your mail"
    assert "ผู้ดูแลระบบ ฝ่ายฐานข้อมูล" in text  # whom to contact, in Thai
    assert server.maildir_messages(DAVE) == []  # 80-odd days left: not yet

    before = lifecycle_lines(server)  # the change feed may add lines of its own meanwhile
    again = server.cli("lifecycle", "sweep")
    assert again.stdout.strip() == "nothing to do"
    assert lifecycle_lines(server) == before
    server.wait_for_empty_queue()
    assert len(server.maildir_messages(CAROL)) == 1


def test_dry_run_says_what_and_changes_nothing(offline: MailServer) -> None:
    offline.add_account(BOB)
    offline.add_account(CAROL)
    offline.cli("account", "depart", BOB, "--date", (today() - EXPIRED).isoformat())
    offline.cli("account", "depart", CAROL, "--date", separation_with(20).isoformat())
    before = offline.log_records()

    result = offline.cli("lifecycle", "sweep", "--dry-run")
    assert f"would suspend {BOB}: departure grace ended" in result.stdout
    assert f"would warn {CAROL}" in result.stdout and "30-day warning" in result.stdout
    assert "dry run: 2 change(s) planned, nothing done" in result.stdout
    assert status_of(offline, BOB)["status"] == "departed"
    assert offline.log_records() == before
    assert not (offline.data_dir / "lifecycle-state.json").exists()
    assert list((offline.data_dir / "queue" / "envelopes").glob("*")) == []


def test_custom_actor_and_mail_queued_while_no_server_runs(offline: MailServer) -> None:
    offline.add_account(CAROL)
    offline.cli("account", "depart", CAROL, "--date", separation_with(1).isoformat())
    result = offline.cli("lifecycle", "sweep", "--actor", "admin.niran")
    assert "1-day warning" in result.stdout
    assert "1 message(s) queued: they go out when the server runs" in result.stdout
    (line,) = lifecycle_lines(offline, "lifecycle-warn")
    assert line["actor"] == "admin.niran"
    assert "sessions_notified" not in line
    assert len(list((offline.data_dir / "queue" / "envelopes").glob("*.json"))) == 1


def _imap_login(server: MailServer, login: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=client_tls_context())
    client.login(login, PASSWORD)
    client.select("INBOX")
    return client


def test_orphans_reported_once_suspended_after_n_days_and_resolved(make_server) -> None:
    server = make_server(
        lifecycle={
            "sweep_interval_seconds": 0,
            "admin_address": ADMIN,
            "suspend_orphans_after_days": 30,
        }
    )
    server.add_account(ADMIN)
    for login in (ALICE, BOB, CAROL):
        server.add_account(login, "--unit", "Finance")
    # traffic: its responsible person left 200 days ago; hr: its person moves unit today.
    server.add_account(TRAFFIC, "--role", "--responsible", BOB, "--unit", "Finance")
    server.cli(
        "account", "add", HR, "--role", "--responsible", CAROL, "--unit", "Finance", "--no-password"
    )
    server.cli("account", "depart", BOB, "--date", (today() - EXPIRED).isoformat())
    server.cli("account", "set-unit", CAROL, "Traffic")
    session = _imap_login(server, TRAFFIC)  # an orphan in report mode still works

    result = server.cli("lifecycle", "sweep")
    assert f"orphan {HR} (unit Finance): responsible person moved to another unit" in result.stdout
    assert f"suspended {TRAFFIC}: orphaned role mailbox since" in result.stdout
    assert f"report orphaned role mailboxes to {ADMIN}: 1 orphaned, 1 suspended" in result.stdout

    # Memo 4.3, without notice: the role's live IMAP session is closed at once.
    wait_until(lambda: closed_by_server(session), what="the IMAP session to be closed")
    assert status_of(server, TRAFFIC)["status"] == "suspended"
    assert status_of(server, HR)["status"] == "active"  # 0 days orphaned
    (suspend,) = lifecycle_lines(server, "lifecycle-suspend-orphan")
    assert suspend["account"] == TRAFFIC and suspend["reason"] == "role_orphaned"
    assert suspend["sessions_notified"] == 1
    (report_line,) = lifecycle_lines(server, "lifecycle-orphan-report")
    assert report_line["recipients"] == [ADMIN]
    assert [o["account"] for o in report_line["orphans"]] == [HR]
    assert report_line["orphans"][0]["why"] == ["responsible_moved_unit"]
    assert report_line["suspended"] == [TRAFFIC]

    (path,) = server.wait_for_mail(ADMIN)
    report = body(read_mail(path))
    assert HR in report and "unit:        Finance" in report
    assert "why:         responsible person moved to another unit" in report
    assert f"since:       {today().isoformat()} (0 days)" in report
    assert "Suspended by this sweep, without notice (1)" in report and TRAFFIC in report

    # Same orphans: no second report.
    assert server.cli("lifecycle", "sweep").stdout.strip().endswith("nothing to do")
    server.wait_for_empty_queue()
    assert len(server.maildir_messages(ADMIN)) == 1

    # The unit names a new responsible person: the next report says it is resolved.
    server.cli("account", "set-responsible", HR, ALICE)
    result = server.cli("lifecycle", "sweep")
    assert "0 orphaned, 0 suspended, 1 resolved" in result.stdout
    latest = body(read_mail(server.wait_for_mail(ADMIN, 2)[-1]))
    assert "No role mailbox is orphaned now." in latest
    assert f"No longer orphaned since the last report (1):\n\n  {HR}" in latest


def test_serve_sweeps_periodically(make_server) -> None:
    server = make_server(lifecycle={"sweep_interval_seconds": 0.5})
    server.add_account(BOB)
    server.add_account(CAROL)
    server.add_account(DAVE)
    server.cli("account", "depart", BOB, "--date", (today() - EXPIRED).isoformat())
    server.cli("account", "depart", CAROL, "--date", separation_with(7).isoformat())
    records = server.wait_for_log(
        lambda r: r.get("action") == "lifecycle-suspend" and r.get("account") == BOB, timeout=10
    )
    (line,) = [r for r in records if r.get("action") == "lifecycle-suspend"]
    assert line["actor"] == "lifecycle"
    assert line["sessions_notified"] == 0  # told through the server's own AccountWatch
    assert status_of(server, BOB)["status"] == "suspended"
    (path,) = server.wait_for_mail(CAROL)
    assert "7 days left" in body(read_mail(path))
    # A later sweep (it is the one that warns dave, who departs only now) sends nothing
    # twice. It takes accounts in login order: a second warning to carol would be queued
    # and logged before dave's.
    server.cli("account", "depart", DAVE, "--date", separation_with(7).isoformat())
    (path,) = server.wait_for_mail(DAVE)
    assert "7 days left" in body(read_mail(path))
    server.wait_for_empty_queue()
    assert [r["account"] for r in lifecycle_lines(server)] == [BOB, CAROL, DAVE]
    assert len(server.maildir_messages(CAROL)) == 1


def test_a_state_file_that_cannot_be_read_stops_the_sweep(offline: MailServer) -> None:
    offline.data_dir.mkdir(parents=True, exist_ok=True)
    (offline.data_dir / "lifecycle-state.json").write_text("{not json")
    result = offline.cli("lifecycle", "sweep", check=False)
    assert result.returncode == 1
    assert "lifecycle-state.json: unreadable" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# --- the HR feed -----------------------------------------------------------------------


def test_apply_hr_feed_dry_run_errors_and_idempotence(make_server, tmp_path: Path) -> None:
    server = make_server(lifecycle={"sweep_interval_seconds": 0})
    for login in (ALICE, BOB, CAROL):
        server.add_account(login, "--unit", "Finance")
    server.add_account(TRAFFIC, "--role", "--responsible", ALICE, "--unit", "Finance")
    server.cli("account", "depart", CAROL, "--date", "2026-01-15")
    feed = tmp_path / "hr.csv"
    feed.write_text(
        "login,date,kind,unit\n"
        f"{BOB},2026-11-01,Retire,\n"
        f"{ALICE},2026-11-02,transfer,Traffic\n"
        f"nobody@{DOMAIN},2026-11-01,resign,\n"
        f"{BOB},01/11/2026,resign,\n"
        f"{CAROL},2026-01-15,end of contract,\n"
        f"{BOB},2026-11-01,promoted,\n",
        encoding="utf-8",
    )
    # What the CLI writes; the node's own lines (the change feed noticing the accounts just
    # added) may land at any moment and are not the dry run's.
    before = cli_written(server)
    dry = server.cli("lifecycle", "apply", str(feed), "--dry-run", check=False)
    assert dry.returncode == 1
    assert dry.stdout.splitlines()[:3] == [
        f"note: line 3: {TRAFFIC}: will be orphaned: its responsible person {ALICE}"
        " moved unit; the unit must name a new one",
        f"{BOB}: active -> departed 2026-11-01",
        f"{ALICE}: unit Finance -> unit Traffic",
    ]
    assert "dry run: 2 change(s), 1 unchanged, 3 error(s); nothing changed" in dry.stdout
    assert dry.stderr.splitlines() == [
        f"{feed}: line 4: unknown login nobody@{DOMAIN}",
        f"{feed}: line 5: {BOB}: bad date '01/11/2026': expected YYYY-MM-DD",
        f"{feed}: line 7: {BOB}: unknown kind 'promoted': expected separation"
        " (retire, resign, transfer-out, end-of-contract) or transfer",
    ]
    assert status_of(server, BOB)["status"] == "active"
    assert status_of(server, ALICE)["unit"] == "Finance"
    assert cli_written(server) == before

    strict = server.cli("lifecycle", "apply", str(feed), "--strict", check=False)
    assert strict.returncode == 1 and "--strict: errors found" in strict.stdout
    assert status_of(server, BOB)["status"] == "active"

    applied = server.cli("lifecycle", "apply", str(feed), "--actor", "hr.sync", check=False)
    assert applied.returncode == 1  # some lines failed; the others were applied
    assert "2 change(s), 1 unchanged, 3 error(s)" in applied.stdout
    bob = status_of(server, BOB)
    assert (bob["status"], bob["separation date"]) == ("departed", "2026-11-01")
    assert status_of(server, ALICE)["unit"] == "Traffic"
    depart, transfer = lifecycle_lines(server)
    assert (depart["action"], depart["account"], depart["actor"]) == ("hr-depart", BOB, "hr.sync")
    assert depart["detail"] == "hr.csv line 2 (Retire): active -> departed 2026-11-01"
    assert depart["sessions_notified"] == 0
    assert (transfer["action"], transfer["account"]) == ("hr-transfer", ALICE)
    assert transfer["detail"] == "hr.csv line 3 (transfer): unit Finance -> unit Traffic"

    again = server.cli("lifecycle", "apply", str(feed), check=False)
    assert "0 change(s), 3 unchanged, 3 error(s)" in again.stdout
    assert len(lifecycle_lines(server)) == 2

    # The feed orphaned the traffic mailbox: the next sweep reports it (policy log only).
    swept = server.cli("lifecycle", "sweep")
    assert f"orphan {TRAFFIC} (unit Finance): responsible person moved" in swept.stdout
    assert "report orphaned role mailboxes to the policy log" in swept.stdout


def test_a_clean_feed_exits_zero(offline: MailServer, tmp_path: Path) -> None:
    offline.add_account(BOB)
    feed = tmp_path / "clean.csv"
    feed.write_text(f"\ufefflogin,date,kind\n{BOB},2026-11-20,transfer-out\n", encoding="utf-8")
    result = offline.cli("lifecycle", "apply", str(feed))
    assert result.stdout.splitlines() == [
        f"{BOB}: active -> departed 2026-11-20",
        "1 change(s), 0 unchanged, 0 error(s)",
    ]
    missing = offline.cli("lifecycle", "apply", str(tmp_path / "none.csv"), check=False)
    assert missing.returncode == 1 and "cannot read" in missing.stderr


# --- LDAP: the suspension reaches every system -----------------------------------------

PRASERT = "prasert.w@bangkok.go.th"
PRASERT_DN = "uid=prasert.w,ou=people,dc=bangkok,dc=go,dc=th"
PRASERT_PASSWORD = "sample-password-3"


@pytest.fixture
def ppolicy_slapd(tmp_path: Path) -> Iterator[Slapd]:
    server = make_slapd(tmp_path / "slapd", ppolicy=True)
    server.start()
    try:
        server.add_ldif(SAMPLE.read_text())
        yield server
    finally:
        server.stop()


def test_sweep_suspends_a_departed_account_in_ldap(ppolicy_slapd: Slapd, tmp_path: Path) -> None:
    root = tmp_path / "cli"
    (root / "var").mkdir(parents=True)  # a node that has run: the CLI refuses a missing one
    config, ports = write_config(
        root,
        directory=ppolicy_slapd.directory_settings(root),
        lifecycle={"sweep_interval_seconds": 0},
    )
    cli = MailServer(root, config, ports["submission"], ports["submissions"], {})
    separated = today() - EXPIRED
    ppolicy_slapd.modify_ldif(
        f"dn: {PRASERT_DN}\nchangetype: modify\nreplace: mailSeparationDate\n"
        f"mailSeparationDate: {separated:%Y%m%d}000000Z\n"
    )
    assert ppolicy_slapd.can_bind(PRASERT_DN, PRASERT_PASSWORD)

    result = cli.cli("lifecycle", "sweep")
    assert f"suspended {PRASERT}: departure grace ended" in result.stdout
    shown = status_of(cli, PRASERT)
    assert shown["status"] == "suspended" and shown["changed by"] == "lifecycle"
    (line,) = lifecycle_lines(cli, "lifecycle-suspend")
    assert line["account"] == PRASERT and line["reason"] == "departed_expired"

    # Memo 4.2: every system that binds against the directory refuses the user now.
    assert not ppolicy_slapd.can_bind(PRASERT_DN, PRASERT_PASSWORD)
    # An HR transfer of the traffic mailbox's responsible person orphans it (memo 4.3).
    feed = root / "hr.csv"
    feed.write_text(
        f"login,date,kind,unit\nsomchai.k@bangkok.go.th,{today()},transfer,Finance Department\n"
    )
    applied = cli.cli("lifecycle", "apply", str(feed))
    assert "unit Traffic and Transport Department -> unit Finance Department" in applied.stdout
    assert "note: line 2: traffic@bangkok.go.th: will be orphaned" in applied.stdout
    assert status_of(cli, "somchai.k@bangkok.go.th")["unit"] == "Finance Department"
    swept = cli.cli("lifecycle", "sweep")
    assert (
        "orphan traffic@bangkok.go.th (unit Traffic and Transport Department):"
        " responsible person moved to another unit [somchai.k@bangkok.go.th]"
    ) in swept.stdout
    # The other sample accounts are untouched, and another sweep does nothing.
    somchai_dn = f"uid=somchai.k,ou=people,{ppolicy_slapd.base}"
    assert ppolicy_slapd.can_bind(somchai_dn, "sample-password-1")
    assert cli.cli("lifecycle", "sweep").stdout.strip().endswith("\nnothing to do")
