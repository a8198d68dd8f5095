"""Start-up report, graceful shutdown and the admin CLI against a real server."""

from __future__ import annotations

import contextlib
import shlex
import smtplib
import sys

import pytest

from tests.integration.conftest import PASSWORD, MailServer, client_tls_context, login_once
from tests.integration.test_submission import ALICE, BOB, message
from tests.waiting import accepts_connections, wait_until


def wait_until_draining(server: MailServer) -> None:
    """After SIGTERM: the server has said it is stopping and closed its listeners."""
    wait_until(lambda: "mailserver stopping" in server.stdout(), what="the stopping report")
    wait_until(
        lambda: not accepts_connections(server.submission_port), what="the listeners to close"
    )


def test_serve_reports_what_it_started(server: MailServer) -> None:
    server.stop()
    report = server.stdout()
    assert f"127.0.0.1:{server.submission_port}" in report
    assert f"127.0.0.1:{server.submissions_port}" in report
    assert str(server.data_dir) in report
    assert "policy.log" in report
    assert (server.data_dir / "certs" / "server.crt").exists()


def test_first_start_says_how_to_add_an_account(make_server) -> None:
    """The hint is the command as this server was started: here `python -m`, --config."""
    server = make_server()
    server.stop()
    report = server.stdout()
    command = shlex.join([sys.executable, "-m", "mailserver.cli", "--config", str(server.config)])
    assert f"  {command} account add alice@bangkok.go.th\n" in report


def test_sigterm_finishes_a_transaction_in_flight(server: MailServer) -> None:
    sent = message()
    smtp = smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10)
    smtp.starttls(context=client_tls_context())
    smtp.login(ALICE, PASSWORD)
    smtp.mail(ALICE)
    smtp.rcpt(BOB)
    code, _ = smtp.docmd("DATA")
    assert code == 354
    wire = sent.replace(b"\r\n.", b"\r\n..")  # dot-stuffing, RFC 5321 4.5.2
    smtp.send(wire[: len(wire) // 2])
    server.process.send_signal(15)
    wait_until_draining(server)
    assert server.process.poll() is None, "the server must wait for the transaction"
    smtp.send(wire[len(wire) // 2 :] + b".\r\n")
    code, text = smtp.getreply()
    assert code == 250, text
    assert server.process.wait(15) == 0
    events = [r["event"] for r in server.log_records()]
    assert events[-1] == "stop"
    # Accepted means spooled: delivered before the stop, or at the next start.
    server.start()
    (stored,) = server.wait_for_mail(BOB)
    assert stored.read_bytes().endswith(sent.replace(b"\r\n", b"\n"))


def test_new_connections_refused_while_draining(server: MailServer) -> None:
    smtp = smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10)
    smtp.starttls(context=client_tls_context())
    smtp.login(ALICE, PASSWORD)
    smtp.mail(ALICE)
    server.process.send_signal(15)
    wait_until_draining(server)
    assert server.process.poll() is None, "the server must wait for the transaction"
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", server.submission_port, timeout=2)
    smtp.rset()
    assert server.process.wait(15) == 0


def test_admin_errors_are_one_line(server: MailServer) -> None:
    for args in (
        ("account", "show", "nobody@bangkok.go.th"),
        ("account", "add", ALICE, "--password-stdin"),
        ("account", "add", "not-an-address", "--password-stdin"),
        ("account", "approve", ALICE),
        ("account", "depart", ALICE, "--date", "2026-13-45"),
    ):
        result = server.cli(*args, input=PASSWORD + "\n", check=False)
        assert result.returncode != 0, args
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_account_show_and_list(server: MailServer) -> None:
    server.cli("account", "suspend", BOB, "--reason", "left the unit", "--actor", "somchai")
    shown = server.cli("account", "show", BOB).stdout
    assert "suspended" in shown and "left the unit" in shown and "somchai" in shown
    listed = server.cli("account", "list", "--status", "suspended").stdout
    assert BOB in listed and ALICE not in listed
    admin = [r for r in server.log_records() if r["event"] == "admin"]
    assert admin[-1]["actor"] == "somchai"


def test_logs_tail_filters(server: MailServer) -> None:
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        with contextlib.suppress(smtplib.SMTPAuthenticationError):
            login_once(smtp, ALICE, "wrong password")
    out = server.cli("logs", "tail", "--result", "deny", "--user", ALICE).stdout
    lines = out.strip().splitlines()
    assert len(lines) == 1 and "bad_credentials" in lines[0]
    raw = server.cli("logs", "tail", "--event", "auth", "--json").stdout
    assert raw.strip().startswith("{")
