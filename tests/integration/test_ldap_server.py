"""`mailserver serve` on a real slapd: logins over SMTP and IMAP bind against LDAP, and a
status change made with ldapmodify (by any tool, not our CLI) kicks a live IMAP session.

The server talks to slapd over StartTLS, verified against slapd's CA, as in production;
`ldap://` in clear is refused unless `directory.ldap_allow_cleartext` says otherwise."""

from __future__ import annotations

import smtplib
import time
from pathlib import Path
from typing import Any

import imapclient
import pytest

from tests.integration.conftest import client_tls_context
from tests.integration.slapd import Slapd, slapd, tls_slapd  # noqa: F401 (fixtures)
from tests.integration.tcprelay import Relay

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
SOMCHAI, PASSWORD = "somchai.k@bangkok.go.th", "sample-password-1"
MALEE = "malee.s@bangkok.go.th"


def submission_login(server: Any, timeout: float = 10) -> int:
    """Somchai's AUTH over implicit-TLS submission: the reply code."""
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=timeout
    ) as smtp:
        return smtp.login(SOMCHAI, PASSWORD)[0]


def ldap_server(make_server: Any, server: Slapd, tmp_path: Path) -> Any:
    server.add_ldif(SAMPLE.read_text())
    return make_server(
        directory=server.directory_settings(tmp_path, ldap_connect_timeout=2),
        imap={"account_recheck_seconds": 1},
    )


def test_ldap_logins_and_a_suspension_made_with_ldapmodify(
    make_server: Any,
    tls_slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = ldap_server(make_server, tls_slapd, tmp_path)
    assert submission_login(server, timeout=10) == 235
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
    tls_slapd.modify_ldif(
        f"dn: uid=somchai.k,ou=people,{tls_slapd.base}\nchangetype: modify\n"
        "replace: mailAccountStatus\nmailAccountStatus: locked\n"
    )
    deadline = time.monotonic() + 10
    responses: list[Any] = []
    while time.monotonic() < deadline and not any(r and r[0] == b"BYE" for r in responses):
        responses += client.idle_check(timeout=0.5)
    assert any(r and r[0] == b"BYE" for r in responses)
    kick = [r for r in server.log_records() if r["event"] == "kick"]
    assert kick and kick[-1]["reason"] == "account_locked"


def test_ldap_outage_fails_closed(make_server: Any, tls_slapd: Slapd, tmp_path: Path) -> None:  # noqa: F811
    server = ldap_server(make_server, tls_slapd, tmp_path)
    tls_slapd.stop()
    with (
        smtplib.SMTP_SSL(
            "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=15
        ) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        smtp.login(SOMCHAI, PASSWORD)
    assert refused.value.smtp_code == 454  # temporary: the client tries again later
    tls_slapd.start()
    assert submission_login(server, timeout=15) == 235


def test_the_server_starts_while_the_directory_is_down(
    make_server: Any,
    tls_slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    tls_slapd.add_ldif(SAMPLE.read_text())
    tls_slapd.stop()
    server = make_server(directory=tls_slapd.directory_settings(tmp_path, ldap_connect_timeout=2))
    with (
        smtplib.SMTP_SSL(
            "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=15
        ) as smtp,
        pytest.raises(smtplib.SMTPAuthenticationError) as refused,
    ):
        smtp.login(SOMCHAI, PASSWORD)
    assert refused.value.smtp_code == 454
    tls_slapd.start()
    assert submission_login(server, timeout=15) == 235
    assert server.process.poll() is None


def test_logins_bind_over_start_tls_and_no_password_crosses_in_clear(
    make_server: Any,
    tls_slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    tls_slapd.add_ldif(SAMPLE.read_text())
    relay = Relay(tls_slapd.port)  # keeps every byte the server sends to slapd
    settings = tls_slapd.directory_settings(tmp_path, ldap_urls=[relay.url()])
    assert settings["ldap_start_tls"] is True and "ldap_allow_cleartext" not in settings
    server = make_server(directory=settings)
    assert submission_login(server, timeout=10) == 235
    wire = bytes(relay.sent)
    assert wire and PASSWORD.encode() not in wire and tls_slapd.admin_password.encode() not in wire
    assert "ldap_allow_cleartext" not in server.stderr_path.read_text()
    relay.close()


def test_ldap_in_clear_is_refused_at_start(
    make_server: Any,
    slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Secure by default: `ldap://` without StartTLS and without the opt-in never starts."""
    settings = slapd.directory_settings(tmp_path, ldap_allow_cleartext=False)
    with pytest.raises(RuntimeError, match=r"directory\.ldap_urls: .* in clear"):
        make_server(directory=settings)


def test_ldap_in_clear_with_the_opt_in_starts_with_a_warning(
    make_server: Any,
    slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`ldap_allow_cleartext` (a directory on loopback): the server runs and says so."""
    slapd.add_ldif(SAMPLE.read_text())
    settings = slapd.directory_settings(tmp_path)
    assert settings["ldap_allow_cleartext"] is True
    server = make_server(directory=settings)
    assert submission_login(server, timeout=10) == 235
    warnings = [
        line
        for line in server.stderr_path.read_text().splitlines()
        if "WARNING" in line and "ldap_allow_cleartext" in line
    ]
    assert len(warnings) == 1 and slapd.url in warnings[0]
