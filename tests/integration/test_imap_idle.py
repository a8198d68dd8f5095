"""IDLE and concurrent sessions: pushed deliveries, each other's changes, and a suspended
account kicked out of IDLE."""

from __future__ import annotations

import time

import imapclient

from tests.integration.conftest import MailServer
from tests.integration.test_imap_messages import BOB, imap_client, send, thai_message


def idle_until(client: imapclient.IMAPClient, predicate, timeout: float = 5.0) -> list:
    """Collect IDLE responses until `predicate(responses)` holds or `timeout` passes."""
    seen: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate(seen):
        seen += client.idle_check(timeout=0.5)
    return seen


def test_delivery_reaches_an_idle_session_within_a_second(server: MailServer) -> None:
    client = imap_client(server)
    client.select_folder("INBOX")
    client.idle()
    started = time.monotonic()
    send(server, thai_message())
    responses = idle_until(client, lambda r: any(x[1:] == (b"EXISTS",) for x in r))
    elapsed = time.monotonic() - started
    client.idle_done()
    assert (1, b"EXISTS") in responses
    assert elapsed < 2.0  # SMTP transaction included
    client.logout()


def test_concurrent_sessions_see_flags_and_expunges(server: MailServer) -> None:
    for n in range(2):
        send(server, thai_message(subject=f"m{n}"))
    first, second = imap_client(server), imap_client(server)
    first.select_folder("INBOX")
    second.select_folder("INBOX")
    uids = first.search("ALL")
    first.add_flags(uids[:1], [b"\\Seen"])
    first.delete_messages(uids[1:])
    first.expunge()
    responses = second.noop()[1]
    assert (2, b"EXPUNGE") in responses
    assert (1, b"FETCH", (b"UID", uids[0], b"FLAGS", (b"\\Seen",))) in responses
    first.logout()
    second.logout()


def test_suspension_kicks_a_session_out_of_idle(server: MailServer) -> None:
    client = imap_client(server)
    client.select_folder("INBOX")
    client.idle()
    started = time.monotonic()
    server.cli("account", "suspend", BOB, "--reason", "compromised")
    responses = idle_until(client, lambda r: any(x[0] == b"BYE" for x in r if x), timeout=10)
    elapsed = time.monotonic() - started
    assert any(x[0] == b"BYE" for x in responses if x)
    assert elapsed < 5.0  # the control socket, not the 30 s re-check
    kicks = [r for r in server.log_records() if r["event"] == "kick"]
    assert kicks and kicks[-1]["reason"] == "account_suspended"
    admin = [r for r in server.log_records() if r["event"] == "admin"][-1]
    assert admin["sessions_notified"] == 1


def test_periodic_recheck_catches_changes_made_elsewhere(make_server) -> None:
    """A change the control socket never hears of (another node) is caught by the re-check."""
    server = make_server(imap={"account_recheck_seconds": 1})
    server.add_account(BOB)
    client = imap_client(server)
    client.select_folder("INBOX")
    # Suspend through the directory file directly, as another node writing LDAP would.
    import sqlite3

    db = sqlite3.connect(server.data_dir / "directory.sqlite3")
    db.execute("UPDATE accounts SET status='suspended', revision='x' WHERE login=?", (BOB,))
    db.commit()
    db.close()
    client.idle()
    responses = idle_until(client, lambda r: any(x[0] == b"BYE" for x in r if x), timeout=8)
    assert any(x[0] == b"BYE" for x in responses if x)
