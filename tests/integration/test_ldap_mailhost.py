"""Routing by the directory's mailHost: mail for a mailbox another server holds is
forwarded to that server by SMTP, mail for a mailbox held here is stored here.

slapd gets the misc schema (inetLocalMailRecipient, mailHost); the "other server" is an
aiosmtpd peer on loopback, named 127.0.0.1 in mailHost.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import client_tls_context
from tests.integration.sink import make_peer  # noqa: F401 (fixture)
from tests.integration.slapd import SCHEMA_DIR, Slapd, make_slapd
from tests.waiting import wait_until

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
SOMCHAI, PRASERT = "somchai.k@bangkok.go.th", "prasert.w@bangkok.go.th"
PASSWORD = "sample-password-1"


@pytest.fixture
def misc_slapd(tmp_path: Path) -> Iterator[Slapd]:
    server = make_slapd(tmp_path / "slapd", extra_schemas=(SCHEMA_DIR / "misc.ldif",))
    server.start()
    try:
        server.add_ldif(SAMPLE.read_text())
        yield server
    finally:
        server.stop()


def test_mail_for_a_mailbox_held_elsewhere_is_forwarded_to_its_mail_host(
    make_server: Any,
    make_peer: Any,  # noqa: F811
    misc_slapd: Slapd,
    tmp_path: Path,
) -> None:
    other = make_peer()
    misc_slapd.modify_ldif(
        f"dn: uid=somchai.k,ou=people,{misc_slapd.base}\nchangetype: modify\n"
        "add: objectClass\nobjectClass: inetLocalMailRecipient\n"
        "-\nadd: mailHost\nmailHost: 127.0.0.1\n"
    )
    server = make_server(
        directory=misc_slapd.directory_settings(tmp_path),
        relay={"mail_host_port": other.port},
    )
    with smtplib.SMTP(
        "127.0.0.1", server.ports["mx"], local_hostname="mx.example.org", timeout=10
    ) as smtp:
        for rcpt in (SOMCHAI, PRASERT):
            smtp.sendmail(
                "citizen@example.org",
                [rcpt],
                f"From: citizen@example.org\r\nTo: {rcpt}\r\nSubject: road repair\r\n\r\nhi\r\n",
            )
    # Held here (no mailHost): stored in this server's Maildir.
    assert len(server.wait_for_mail(PRASERT)) == 1
    # Held by the other server: handed to it, nothing stored here.
    (forwarded,) = wait_until(lambda: other.received, what="the hand-off to the other server")
    assert forwarded.rcpt_tos == (SOMCHAI,)
    assert forwarded.mail_from == "citizen@example.org"
    assert b"Subject: road repair" in forwarded.content
    assert server.maildir_messages(SOMCHAI) == []
    deliver = [
        r
        for r in server.log_records()
        if r["event"] == "deliver" and r.get("recipients") == [SOMCHAI]
    ]
    assert deliver[-1]["status"] == "delivered" and "127.0.0.1" in deliver[-1]["remote"]


def test_a_mail_host_naming_this_node_is_local(
    make_server: Any,
    misc_slapd: Slapd,
    tmp_path: Path,
) -> None:
    misc_slapd.modify_ldif(
        f"dn: uid=somchai.k,ou=people,{misc_slapd.base}\nchangetype: modify\n"
        "add: objectClass\nobjectClass: inetLocalMailRecipient\n"
        "-\nadd: mailHost\nmailHost: MAIL1.bangkok.go.th.\n"
    )
    server = make_server(
        directory=misc_slapd.directory_settings(tmp_path),
        server={"mail_host_names": ["mail1.bangkok.go.th"]},
    )
    with smtplib.SMTP(
        "127.0.0.1", server.ports["mx"], local_hostname="mx.example.org", timeout=10
    ) as smtp:
        smtp.sendmail(
            "citizen@example.org",
            [SOMCHAI],
            f"From: citizen@example.org\r\nTo: {SOMCHAI}\r\nSubject: x\r\n\r\nhi\r\n",
        )
    assert len(server.wait_for_mail(SOMCHAI)) == 1


def test_imap_and_pop3_logins_say_which_server_holds_the_mailbox(
    make_server: Any,
    misc_slapd: Slapd,
    tmp_path: Path,
) -> None:
    misc_slapd.modify_ldif(
        f"dn: uid=somchai.k,ou=people,{misc_slapd.base}\nchangetype: modify\n"
        "add: objectClass\nobjectClass: inetLocalMailRecipient\n"
        "-\nadd: mailHost\nmailHost: mail2.bangkok.go.th\n"
    )
    server = make_server(directory=misc_slapd.directory_settings(tmp_path))
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=client_tls_context())
    with pytest.raises(imaplib.IMAP4.error) as refused:
        imap.login(SOMCHAI, PASSWORD)
    assert "[REFERRAL imap://mail2.bangkok.go.th/]" in str(refused.value)
    assert "mail2.bangkok.go.th" in str(refused.value)
    imap.logout()
    pop = poplib.POP3_SSL("127.0.0.1", server.ports["pop3s"], context=client_tls_context())
    pop.user(SOMCHAI)
    with pytest.raises(poplib.error_proto) as pop_refused:
        pop.pass_(PASSWORD)
    assert b"mail2.bangkok.go.th" in pop_refused.value.args[0]
    pop.quit()
    # Sending goes through any node.
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=10
    ) as smtp:
        assert smtp.login(SOMCHAI, PASSWORD)[0] == 235
    (line,) = [r for r in server.log_records() if r["event"] == "login" and r["protocol"] == "imap"]
    assert line["reason"] == "mailbox_elsewhere" and line["result"] == "deny"
