"""`mailserver serve` on a real slapd: logins over SMTP and IMAP bind against LDAP, and a
status change made with ldapmodify (by any tool, not our CLI) kicks a live IMAP session."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path
from typing import Any

import imapclient
import pytest

from tests.integration.conftest import client_tls_context
from tests.integration.slapd import Slapd, slapd  # noqa: F401 (fixture)

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
SOMCHAI, PASSWORD = "somchai.k@bangkok.go.th", "sample-password-1"
MALEE = "malee.s@bangkok.go.th"


def ldap_server(make_server: Any, server: Slapd, tmp_path: Path) -> Any:
    server.add_ldif(SAMPLE.read_text())
    return make_server(
        directory=server.directory_settings(tmp_path, ldap_connect_timeout=2),
        imap={"account_recheck_seconds": 1},
    )


def test_ldap_logins_and_a_suspension_made_with_ldapmodify(
    make_server: Any,
    slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = ldap_server(make_server, slapd, tmp_path)
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=10
    ) as smtp:
        assert smtp.login(SOMCHAI, PASSWORD)[0] == 235
    with (
        smtplib.SMTP_SSL(
            "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=10
        ) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        smtp.login(MALEE, "sample-password-2")  # suspended in the sample directory
    assert refused.value.smtp_code == 525

    client = imapclient.IMAPClient(
        "127.0.0.1", port=server.imaps_port, ssl=True, ssl_context=client_tls_context(), timeout=10
    )
    client.login(SOMCHAI, PASSWORD)
    client.select_folder("INBOX")
    client.idle()
    slapd.modify_ldif(
        f"dn: uid=somchai.k,ou=people,{slapd.base}\nchangetype: modify\n"
        "replace: mailAccountStatus\nmailAccountStatus: locked\n"
    )
    deadline = time.monotonic() + 10
    responses: list[Any] = []
    while time.monotonic() < deadline and not any(r and r[0] == b"BYE" for r in responses):
        responses += client.idle_check(timeout=0.5)
    assert any(r and r[0] == b"BYE" for r in responses)
    kick = [r for r in server.log_records() if r["event"] == "kick"]
    assert kick and kick[-1]["reason"] == "account_locked"


def test_ldap_outage_fails_closed(make_server: Any, slapd: Slapd, tmp_path: Path) -> None:  # noqa: F811
    server = ldap_server(make_server, slapd, tmp_path)
    slapd.stop()
    with (
        smtplib.SMTP_SSL(
            "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=15
        ) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        smtp.login(SOMCHAI, PASSWORD)
    assert refused.value.smtp_code == 454  # temporary: the client tries again later
    slapd.start()
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=15
    ) as smtp:
        assert smtp.login(SOMCHAI, PASSWORD)[0] == 235


def test_the_server_starts_while_the_directory_is_down(
    make_server: Any,
    slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    slapd.add_ldif(SAMPLE.read_text())
    slapd.stop()
    server = make_server(directory=slapd.directory_settings(tmp_path, ldap_connect_timeout=2))
    with (
        smtplib.SMTP_SSL(
            "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=15
        ) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        smtp.login(SOMCHAI, PASSWORD)
    assert refused.value.smtp_code == 454
    slapd.start()
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=15
    ) as smtp:
        assert smtp.login(SOMCHAI, PASSWORD)[0] == 235
    assert server.process.poll() is None
