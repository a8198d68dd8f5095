"""The change feed against a real slapd: a change made with ldapmodify (not our CLI, so
no control-socket message) reaches live sessions within `directory.change_poll_seconds`.

The periodic re-checks are set to an hour here, so only the feed can explain a kick.
"""

from __future__ import annotations

import smtplib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import imapclient

from mailserver.directory.ldap import LdapDirectory
from tests.integration.conftest import client_tls_context
from tests.integration.slapd import Slapd, slapd  # noqa: F401 (fixture)
from tests.integration.tcprelay import Relay
from tests.waiting import wait_until, wait_until_async

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
SOMCHAI, PASSWORD = "somchai.k@bangkok.go.th", "sample-password-1"
POLL = 0.5


def lock_somchai(server: Slapd) -> None:
    server.modify_ldif(
        f"dn: uid=somchai.k,ou=people,{server.base}\nchangetype: modify\n"
        "replace: mailAccountStatus\nmailAccountStatus: locked\n"
        "-\nreplace: mailStatusReason\nmailStatusReason: phishing victim\n"
    )


async def test_changed_since_sees_a_write_by_another_tool(slapd: Slapd) -> None:  # noqa: F811
    slapd.add_ldif(SAMPLE.read_text())
    directory = LdapDirectory(
        [slapd.url], slapd.base, bind_dn=slapd.admin_dn, bind_password=slapd.admin_password
    )
    try:
        before = datetime.now(UTC) - timedelta(seconds=1)
        first = {c.login: c for c in await directory.changed_since(before)}
        assert SOMCHAI in first  # just added
        # modifyTimestamp has whole seconds: look from the second after the add, and
        # change the entry once slapd's clock (this machine's, not ours to move) is there.
        after_add = first[SOMCHAI].modified + timedelta(seconds=1)
        assert SOMCHAI not in {c.login for c in await directory.changed_since(after_add)}
        await wait_until_async(lambda: datetime.now(UTC) >= after_add, what="the next second")
        lock_somchai(slapd)
        (change,) = [c for c in await directory.changed_since(after_add) if c.login == SOMCHAI]
        assert change.revision and change.revision != first[SOMCHAI].revision
        assert change.modified >= after_add
    finally:
        await directory.close()


def feed_server(make_server: Any, server: Slapd, tmp_path: Path, **directory: Any) -> Any:
    server.add_ldif(SAMPLE.read_text())
    return make_server(
        directory=server.directory_settings(tmp_path, change_poll_seconds=POLL, **directory),
        imap={"account_recheck_seconds": 3600},
        smtp={"account_staleness_seconds": 3600},
    )


def test_ldapmodify_kicks_idle_imap_and_refuses_the_next_smtp_commands(
    make_server: Any,
    slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = feed_server(make_server, slapd, tmp_path)
    smtp = smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=10
    )
    assert smtp.login(SOMCHAI, PASSWORD)[0] == 235
    assert smtp.noop()[0] == 250
    imap = imapclient.IMAPClient(
        "127.0.0.1", port=server.imaps_port, ssl=True, ssl_context=client_tls_context(), timeout=10
    )
    imap.login(SOMCHAI, PASSWORD)
    imap.select_folder("INBOX")
    imap.idle()

    changed_at = time.monotonic()
    lock_somchai(slapd)
    responses: list[Any] = []
    while time.monotonic() - changed_at < 10 and not any(r and r[0] == b"BYE" for r in responses):
        responses += imap.idle_check(timeout=0.2)
    kicked_after = time.monotonic() - changed_at
    assert any(r and r[0] == b"BYE" for r in responses)
    # Within the bound: one poll interval plus a little work (the default bound is 5 s).
    assert kicked_after < POLL + 3, kicked_after

    # A transaction command gets the policy's own refusal; the session stays open...
    code, text = smtp.mail(SOMCHAI)
    assert code == 550 and text.startswith(b"5.7.13"), text
    # ...and the next other command ends it.
    code, text = smtp.noop()
    assert code == 421, text
    assert b"4.7.0" in text
    try:
        smtp.noop()
        raise AssertionError("the session must be closed after 421")
    except smtplib.SMTPServerDisconnected:
        pass
    records = server.log_records()
    feed = [r for r in records if r["event"] == "directory-change" and r.get("account") == SOMCHAI]
    assert feed and feed[0]["sessions_notified"] == 2  # the IMAP and the SMTP session
    kicks = {r["protocol"]: r for r in records if r["event"] == "kick"}
    assert kicks["smtp"]["reason"] == "account_locked"
    assert kicks["imap"]["reason"] == "account_locked"


def test_a_password_changed_with_ldapmodify_is_refused_at_once_despite_the_cache(
    make_server: Any,
    slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    server = feed_server(make_server, slapd, tmp_path)

    def login(password: str) -> int:
        with smtplib.SMTP_SSL(
            "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=10
        ) as smtp:
            try:
                return smtp.login(SOMCHAI, password)[0]
            except smtplib.SMTPAuthenticationError as exc:
                return exc.smtp_code

    assert login(PASSWORD) == 235  # now in the verified-credentials cache
    slapd.modify_ldif(
        f"dn: uid=somchai.k,ou=people,{slapd.base}\nchangetype: modify\n"
        "replace: userPassword\nuserPassword: a-new-password-9\n"
    )
    assert login(PASSWORD) == 535
    assert login("a-new-password-9") == 235


def test_an_outage_and_the_recovery_are_one_policy_log_line_each(
    make_server: Any,
    slapd: Slapd,  # noqa: F811
    tmp_path: Path,
) -> None:
    relay = Relay(slapd.port)  # counts the server's attempts to reach the directory
    try:
        server = feed_server(make_server, slapd, tmp_path, ldap_urls=[relay.url()])

        def directory_lines(count: int = 0) -> list[dict[str, Any]]:
            lines = [r for r in server.log_records() if r["event"] == "directory"]
            return lines if len(lines) >= count else []

        slapd.stop()
        (down,) = wait_until(lambda: directory_lines(1), 15, what="the outage line")
        assert down["state"] == "unavailable" and down["result"] == "tempfail"
        # More failing polls (each one connects at least once): still one line.
        attempts = relay.accepted
        wait_until(lambda: relay.accepted >= attempts + 4, 15, what="more failing polls")
        assert len(directory_lines()) == 1
        slapd.start()
        down, up = wait_until(lambda: directory_lines(2), 15, what="the recovery line")
        assert up["state"] == "recovered" and up["result"] == "allow"
    finally:
        relay.close()
