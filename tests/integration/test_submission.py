"""Submission over loopback with real clients: smtplib, aiosmtplib and swaks."""

from __future__ import annotations

import base64
import smtplib
import subprocess
from email.message import EmailMessage

import aiosmtplib
import pytest

from tests.integration.conftest import (
    PASSWORD,
    MailServer,
    client_tls_context,
    login_once,
    require_tool,
)
from tests.integration.leaks import TRICKY_PASSWORDS, assert_no_leak_on_any_attempt, sasl_plain

ALICE, BOB = "alice@bangkok.go.th", "bob@bangkok.go.th"


def message(sender: str = ALICE, to: str = BOB, subject: str = "Hello") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Alice <{sender}>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = "<test-1@bangkok.go.th>"
    msg["Date"] = "Wed, 25 Nov 2026 10:00:00 +0700"
    msg.set_content("สวัสดีครับ\nA line of text.\n.leading dot survives\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def starttls_session(server: MailServer, login: str = ALICE) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10)
    smtp.starttls(context=client_tls_context())
    smtp.login(login, PASSWORD)
    return smtp


def stored_body(server: MailServer, address: str) -> bytes:
    (path,) = server.wait_for_mail(address)
    content = path.read_bytes()
    return content


def test_swaks_starttls_delivers_exact_bytes(server: MailServer, tmp_path) -> None:
    swaks = require_tool("swaks")
    sent = message()
    data_file = tmp_path / "message.eml"
    # swaks ends the data with CRLF "." CRLF itself: give it the message without its last CRLF.
    data_file.write_bytes(sent.removesuffix(b"\r\n"))
    result = subprocess.run(
        [
            swaks,
            "--server",
            f"127.0.0.1:{server.submission_port}",
            "--tls",
            "--auth-user",
            ALICE,
            "--auth-password",
            PASSWORD,
            "--auth",
            "PLAIN",
            "--from",
            ALICE,
            "--to",
            BOB,
            "--data",
            str(data_file),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 Ok: queued as" in result.stdout
    stored = stored_body(server, BOB)
    # Trace headers are prepended; the client's bytes follow unchanged (LF line ends, as
    # Maildir stores them).
    assert stored.startswith(b"Return-Path: <alice@bangkok.go.th>\nReceived: from ")
    assert stored.endswith(sent.replace(b"\r\n", b"\n"))
    assert b"\r" not in stored


def test_swaks_auth_login_over_implicit_tls(server: MailServer) -> None:
    swaks = require_tool("swaks")
    result = subprocess.run(
        [
            swaks,
            "--server",
            f"127.0.0.1:{server.submissions_port}",
            "--tlsc",
            "--auth-user",
            ALICE,
            "--auth-password",
            PASSWORD,
            "--auth",
            "LOGIN",
            "--from",
            ALICE,
            "--to",
            BOB,
            "--header",
            f"From: {ALICE}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(server.wait_for_mail(BOB)) == 1


def test_smtplib_implicit_tls_465(server: MailServer) -> None:
    sent = message()
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=10
    ) as smtp:
        smtp.login(ALICE, PASSWORD)
        refused = smtp.sendmail(ALICE, [BOB], sent)
    assert refused == {}
    assert stored_body(server, BOB).endswith(sent.replace(b"\r\n", b"\n"))
    # A normal session leaves no warnings in the server's diagnostics.
    assert "WARNING" not in server.stderr_path.read_text()


async def test_aiosmtplib_starttls_delivers(server: MailServer) -> None:
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=server.submission_port,
        tls_context=client_tls_context(),
        start_tls=True,
    )
    await client.connect()
    await client.login(ALICE, PASSWORD)
    errors, response = await client.sendmail(ALICE, [BOB], message())
    await client.quit()
    assert errors == {}
    assert response.startswith("2.0.0 Ok: queued as")
    assert len(server.wait_for_mail(BOB)) == 1


def test_auth_refused_before_starttls(server: MailServer) -> None:
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth"), "AUTH must not be offered in cleartext"
        assert smtp.has_extn("starttls")
        plain = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode()).decode()
        code, _text = smtp.docmd("AUTH", f"PLAIN {plain}")
        assert code == 530
        code, _ = smtp.docmd("MAIL", f"FROM:<{ALICE}>")
        assert code == 530
    assert not any(r["event"] == "auth" for r in server.log_records())


@pytest.mark.parametrize("login", [ALICE, "nobody@bangkok.go.th"])
def test_wrong_password_or_unknown_user_get_the_same_answer(server: MailServer, login) -> None:
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            login_once(smtp, login, "not the password")
    assert refused.value.smtp_code == 535
    assert refused.value.smtp_error.startswith(b"5.7.8")
    (record,) = [r for r in server.log_records() if r["event"] == "auth"]
    assert record["result"] == "deny" and record["reason"] == "bad_credentials"
    assert record["login"] == login


@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("suspend", ["--reason", "compromised"]),
        ("lock", ["--reason", "phishing"]),
        ("close", []),
        ("depart", ["--date", "2020-01-31"]),
    ],
)
def test_disabled_account_cannot_log_in(server: MailServer, command: str, extra) -> None:
    server.cli("account", command, ALICE, *extra)
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            login_once(smtp, ALICE, PASSWORD)
    assert refused.value.smtp_code == 525
    assert b"5.7.13" in refused.value.smtp_error
    assert b"administrator" in refused.value.smtp_error.lower()
    (record,) = [r for r in server.log_records() if r["event"] == "auth"]
    assert record["result"] == "deny"


def test_pending_account_cannot_log_in_until_approved(make_server) -> None:
    server = make_server()
    server.add_account("carol@bangkok.go.th", "--pending")
    server.add_account(BOB)
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login("carol@bangkok.go.th", PASSWORD)
    assert refused.value.smtp_code == 525
    server.cli("account", "approve", "carol@bangkok.go.th")
    with starttls_session(server, "carol@bangkok.go.th") as smtp:
        smtp.sendmail("carol@bangkok.go.th", [BOB], message(sender="carol@bangkok.go.th"))
    assert len(server.wait_for_mail(BOB)) == 1


def test_departed_in_grace_may_log_in_but_not_send(server: MailServer) -> None:
    import datetime as dt

    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    server.cli("account", "depart", ALICE, "--date", yesterday)
    with starttls_session(server) as smtp:
        code, text = smtp.mail(ALICE)
    assert code == 550 and text.startswith(b"5.7.13")
    decisions = [r for r in server.log_records() if r["event"] in ("auth", "mail")]
    assert [(r["event"], r["result"], r["reason"]) for r in decisions] == [
        ("auth", "allow", "departed_grace"),
        ("mail", "deny", "departed_grace"),
    ]


def test_suspension_reaches_an_authenticated_session(server: MailServer) -> None:
    with starttls_session(server) as smtp:
        server.cli("account", "suspend", ALICE, "--reason", "compromised")
        code, text = smtp.mail(ALICE)
        assert code == 550, text
        assert b"5.7.13" in text and b"compromised" in text
        # Any other command of the suspended account ends the session.
        code, text = smtp.noop()
        assert code == 421 and text.startswith(b"4.7.0"), text
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            login_once(smtp, ALICE, PASSWORD)
    refusals = [r for r in server.log_records() if r.get("result") == "deny"]
    assert [(r["event"], r["reason"]) for r in refusals] == [
        ("mail", "account_suspended"),
        ("kick", "account_suspended"),
        ("auth", "account_suspended"),
    ]
    admin = [r for r in server.log_records() if r["event"] == "admin"]
    assert admin[-1]["action"] == "suspend" and admin[-1]["detail"] == "compromised"


def test_suspension_between_mail_and_rcpt_refuses_rcpt(server: MailServer) -> None:
    with starttls_session(server) as smtp:
        assert smtp.mail(ALICE)[0] == 250
        server.cli("account", "suspend", ALICE, "--reason", "compromised")
        code, _ = smtp.rcpt(BOB)
    assert code == 550
    assert server.maildir_messages(BOB) == []


def test_sender_spoofing_refused(server: MailServer) -> None:
    with starttls_session(server) as smtp:
        code, text = smtp.mail(BOB)
        assert (code, text[:5]) == (553, b"5.7.1")
        code, _ = smtp.mail("<>")
        assert code == 550
        # Envelope right, From: header forged: refused at the end of DATA.
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail(ALICE, [BOB], message(sender=BOB))
        assert refused.value.smtp_code == 550
    assert server.maildir_messages(BOB) == []
    reasons = {r["reason"] for r in server.log_records() if r.get("result") == "deny"}
    assert {"sender_not_owned", "null_sender", "header_from_not_owned"} <= reasons


def test_role_mailbox_address_usable_by_its_responsible_person(server: MailServer) -> None:
    server.cli(
        "account", "add", "it-unit@bangkok.go.th", "--role", "--responsible", ALICE, "--no-password"
    )
    with starttls_session(server) as smtp:
        refused = smtp.sendmail(
            "it-unit@bangkok.go.th", [BOB], message(sender="it-unit@bangkok.go.th")
        )
    assert refused == {}
    with starttls_session(server, BOB) as smtp:
        code, _ = smtp.mail("it-unit@bangkok.go.th")
    assert code == 553


def test_recipients_unknown_remote_and_too_many(make_server) -> None:
    server = make_server(smtp={"max_recipients": 2})
    server.add_account(ALICE)
    server.add_account(BOB)
    with starttls_session(server) as smtp:
        smtp.mail(ALICE)
        assert smtp.rcpt("nobody@bangkok.go.th")[0] == 550
        # Remote recipients of an authenticated user are relayed by the queue.
        assert smtp.rcpt("someone@example.com")[0] == 250
        assert smtp.rcpt(BOB)[0] == 250
        code, text = smtp.rcpt(ALICE)
        assert (code, text[:5]) == (452, b"4.5.3")


def test_oversized_message_refused(make_server) -> None:
    server = make_server(smtp={"max_message_size": 4096})
    server.add_account(ALICE)
    server.add_account(BOB)
    big = message() + (b"x" * 78 + b"\r\n") * 100
    with starttls_session(server) as smtp:
        assert smtp.has_extn("size") and smtp.esmtp_features["size"] == "4096"
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail(ALICE, [BOB], big)  # smtplib announces SIZE=<len(big)>
        assert refused.value.smtp_code == 552
        smtp.rset()
        # A client that does not announce SIZE is stopped at the end of DATA.
        assert smtp.mail(ALICE)[0] == 250
        assert smtp.rcpt(BOB)[0] == 250
        code, _ = smtp.data(big)
        assert code == 552
    assert server.maildir_messages(BOB) == []


SMTP_AUTH_METHODS = ("PLAIN", "PLAIN after a challenge", "LOGIN")


def smtp_auth(server: MailServer, method: str, login: str, password: str) -> bool:
    """One AUTH over STARTTLS, sent by hand (smtplib only sends ASCII passwords): PLAIN
    with an initial response or after the 334, or LOGIN; True on 235."""
    with smtplib.SMTP("127.0.0.1", server.submission_port, timeout=10) as smtp:
        smtp.starttls(context=client_tls_context())
        smtp.ehlo()
        if method == "PLAIN":
            code, _ = smtp.docmd("AUTH", "PLAIN " + sasl_plain(login, password))
        elif method == "PLAIN after a challenge":
            code, _ = smtp.docmd("AUTH", "PLAIN")
            assert code == 334
            code, _ = smtp.docmd(sasl_plain(login, password))
        else:
            code, _ = smtp.docmd("AUTH", "LOGIN " + base64.b64encode(login.encode()).decode())
            assert code == 334
            code, _ = smtp.docmd(base64.b64encode(password.encode()).decode())
    assert code in (235, 535, 525), code  # 525 5.7.13: the account is disabled
    return code == 235


@pytest.mark.parametrize("secret", TRICKY_PASSWORDS)
def test_no_password_in_any_log(make_server, secret: str) -> None:
    """Every AUTH mechanism: right, wrong, unknown user, suspended; then every log."""
    assert_no_leak_on_any_attempt(make_server, ALICE, secret, SMTP_AUTH_METHODS, smtp_auth, "auth")
