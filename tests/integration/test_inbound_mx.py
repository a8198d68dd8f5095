"""The inbound MX with swaks and smtplib as "the Internet": local delivery through the queue,
recipient verification, and every classic relay trick refused."""

from __future__ import annotations

import smtplib
import subprocess
from typing import Any

import pytest

from tests.integration.conftest import MailServer, client_tls_context, require_tool

ALICE, BOB = "alice@bangkok.go.th", "bob@bangkok.go.th"
OUTSIDER = "partner@example.org"


def swaks(server: MailServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            require_tool("swaks"),
            "--server",
            f"127.0.0.1:{server.ports['mx']}",
            "--helo",
            "mx.example.org",
            "--from",
            OUTSIDER,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def mx(server: MailServer) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10)
    smtp.ehlo("mx.example.org")
    return smtp


def test_mail_from_the_internet_is_delivered(server: MailServer) -> None:
    result = swaks(server, "--to", BOB, "--tls", "--header", "Subject: from outside")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "250 2.0.0 Ok: queued as" in result.stdout
    (path,) = server.wait_for_mail(BOB)
    stored = path.read_bytes()
    assert stored.startswith(b"Return-Path: <partner@example.org>\nReceived: from mx.example.org")
    assert b"with ESMTPS" in stored and b"Subject: from outside" in stored
    data = [
        r for r in server.log_records() if r["event"] == "data" and r.get("protocol") == "smtp-mx"
    ]
    assert data and data[0]["client_ip"] == "127.0.0.1" and data[0]["status"] == "queued"


@pytest.mark.parametrize(
    "recipient",
    [
        "someone@example.com",
        "someone%example.com@bangkok.go.th",
        "example.com!someone@bangkok.go.th",
        '"someone@example.com"@bangkok.go.th',
        "someone@[127.0.0.1]",
        "@relay.example:someone@example.com",
    ],
)
def test_relay_tricks_are_refused(server: MailServer, recipient: str) -> None:
    with mx(server) as smtp:
        smtp.mail(OUTSIDER)
        code, text = smtp.docmd("RCPT", f"TO:<{recipient}>")
    assert code >= 500, (recipient, code, text)
    assert server.maildir_messages(BOB) == []


def test_user_at_local_at_remote_is_malformed(server: MailServer) -> None:
    with mx(server) as smtp:
        smtp.mail(OUTSIDER)
        code, _ = smtp.docmd("RCPT", "TO:<bob@bangkok.go.th@example.com>")
    assert code >= 500


def test_unknown_and_disabled_recipients(make_server: Any) -> None:
    server = make_server(policy={"inbound_suspended": "reject-disabled"})
    server.add_account(ALICE)
    server.add_account(BOB)
    server.add_account("carol@bangkok.go.th")
    server.cli("account", "suspend", BOB, "--reason", "left")
    server.cli("account", "lock", "carol@bangkok.go.th", "--reason", "phishing")
    with mx(server) as smtp:
        smtp.mail(OUTSIDER)
        code, text = smtp.rcpt("nobody@bangkok.go.th")
        assert (code, text[:5]) == (550, b"5.1.1")
        code, text = smtp.rcpt(BOB)
        assert (code, text[:5]) == (550, b"5.2.1")
        assert b"left" not in text  # outsiders do not learn why
        assert smtp.rcpt("carol@bangkok.go.th")[0] == 250  # locked: nothing is lost
        assert smtp.rcpt(ALICE)[0] == 250


def test_null_sender_bounces_are_accepted(server: MailServer) -> None:
    result = subprocess.run(
        [
            require_tool("swaks"),
            "--server",
            f"127.0.0.1:{server.ports['mx']}",
            "--helo",
            "mx.example.org",
            "--from",
            "<>",
            "--to",
            BOB,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout
    assert server.wait_for_mail(BOB)[0].read_bytes().startswith(b"Return-Path: <>")


def test_helo_claiming_to_be_us_is_refused(server: MailServer) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as smtp:
        code, _ = smtp.ehlo("mail.test.example")
        assert code == 550
        code, _ = smtp.ehlo("bangkok.go.th")
        assert code == 550
        assert smtp.ehlo("mx.example.org")[0] == 250


def test_auth_is_not_offered_even_with_tls(server: MailServer) -> None:
    with mx(server) as smtp:
        assert not smtp.has_extn("auth")
        smtp.starttls(context=client_tls_context())
        smtp.ehlo("mx.example.org")
        assert not smtp.has_extn("auth")
        code, _ = smtp.docmd("AUTH", "PLAIN AGFsaWNlAHBhc3N3b3Jk")
        assert code == 503


def test_oversized_message_refused(make_server: Any) -> None:
    server = make_server(smtp={"max_message_size": 2048})
    server.add_account(BOB)
    with mx(server) as smtp:
        code, _ = smtp.mail(OUTSIDER, options=["SIZE=100000"])
        assert code == 552


def test_oversized_data_refused_without_size(make_server: Any) -> None:
    """A peer that does not declare SIZE is stopped at the end of DATA (RFC 1870 6.3)."""
    server = make_server(smtp={"max_message_size": 2048})
    server.add_account(BOB)
    body = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100
    with mx(server) as smtp:
        smtp.mail(OUTSIDER)
        assert smtp.rcpt(BOB)[0] == 250
        code, _ = smtp.data(body)
    assert code == 552
    assert server.maildir_messages(BOB) == []


def test_helo_that_is_not_a_name_is_refused_when_strict(make_server: Any) -> None:
    strict = make_server()
    with smtplib.SMTP("127.0.0.1", strict.ports["mx"], timeout=10) as smtp:
        assert smtp.ehlo("not_a_name!")[0] >= 500
        assert smtp.docmd("MAIL", f"FROM:<{OUTSIDER}>")[0] == 503  # no HELO accepted yet
    relaxed = make_server(mx={"strict_helo": False})
    with smtplib.SMTP("127.0.0.1", relaxed.ports["mx"], timeout=10) as smtp:
        assert smtp.ehlo("not_a_name!")[0] == 250


def test_single_label_helo_is_refused_like_postfix(server: MailServer) -> None:
    """Postfix's reject_non_fqdn_helo_hostname: 504 5.5.2, and no transaction follows."""
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as smtp:
        for name in ("foo", "localhost"):
            code, text = smtp.ehlo(name)
            assert (code, text) == (
                504,
                b"5.5.2 Helo command rejected: need fully-qualified hostname",
            ), name
            assert smtp.helo(name)[0] == 504
            assert smtp.docmd("MAIL", f"FROM:<{OUTSIDER}>")[0] == 503  # no HELO accepted
    records = server.wait_for_log(lambda r: r["event"] == "helo")
    (refused, *_) = [r for r in records if r["event"] == "helo"]
    assert (refused["rule"], refused["reason"], refused["result"]) == (
        "helo",
        "helo_not_fqdn",
        "deny",
    )
    assert refused["code"] == "504 5.5.2" and refused["detail"] == "foo"


@pytest.mark.parametrize("literal", ["[127.0.0.1]", "[IPv6:::1]", "[IPv6:2001:db8::25]"])
def test_address_literal_helo_is_accepted(server: MailServer, literal: str) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as smtp:
        assert smtp.ehlo(literal)[0] == 250
        assert smtp.mail(OUTSIDER)[0] == 250
        assert smtp.rcpt(BOB)[0] == 250


def test_swaks_with_a_single_label_helo_is_refused(server: MailServer) -> None:
    result = swaks(server, "--to", BOB, "--helo", "foo")
    assert result.returncode != 0
    assert "504 5.5.2 Helo command rejected: need fully-qualified hostname" in result.stdout
    assert "queued as" not in result.stdout
    literal = swaks(server, "--to", BOB, "--helo", "[127.0.0.1]")
    assert literal.returncode == 0, literal.stdout + literal.stderr
    (path,) = server.wait_for_mail(BOB)
    assert b"Received: from [127.0.0.1] ([127.0.0.1])" in path.read_bytes()


def test_single_label_helo_is_accepted_when_not_strict(make_server: Any) -> None:
    relaxed = make_server(mx={"strict_helo": False})
    with smtplib.SMTP("127.0.0.1", relaxed.ports["mx"], timeout=10) as smtp:
        assert smtp.ehlo("foo")[0] == 250


def test_refusals_are_logged_with_the_peer_ip(server: MailServer) -> None:
    with mx(server) as smtp:
        smtp.mail(OUTSIDER)
        assert smtp.rcpt("someone@example.com")[0] == 550
    records = server.wait_for_log(lambda r: r["event"] == "rcpt" and r.get("protocol") == "smtp-mx")
    (rcpt,) = [r for r in records if r["event"] == "rcpt" and r.get("protocol") == "smtp-mx"]
    assert rcpt["client_ip"] == "127.0.0.1"
    assert rcpt["result"] == "deny" and rcpt["recipients"] == ["someone@example.com"]
    assert rcpt["sender"] == OUTSIDER


def test_received_line_names_the_peer_without_auth(server: MailServer) -> None:
    """RFC 3848: plain ESMTP from a peer (no "A": nobody authenticated at the MX)."""
    result = swaks(server, "--to", BOB)
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = server.wait_for_mail(BOB)
    received = path.read_bytes().split(b"\n\n", 1)[0]
    assert b"Received: from mx.example.org ([127.0.0.1])" in received
    assert b"with ESMTP id" in received
    assert b"ESMTPA" not in received and b"ESMTPSA" not in received


def test_sender_without_a_domain_is_refused(server: MailServer) -> None:
    with mx(server) as smtp:
        code, text = smtp.docmd("MAIL", "FROM:<bob>")
        assert (code, text[:5]) == (553, b"5.1.7")
        assert smtp.mail(OUTSIDER)[0] == 250


def test_a_refused_ehlo_does_not_keep_an_earlier_name(server: MailServer) -> None:
    with smtplib.SMTP("127.0.0.1", server.ports["mx"], timeout=10) as smtp:
        assert smtp.ehlo("mx.example.org")[0] == 250
        assert smtp.ehlo("bangkok.go.th")[0] == 550
        code, _ = smtp.docmd("MAIL", f"FROM:<{OUTSIDER}>")
        assert code == 503  # send HELO/EHLO first
