"""Slow clients: connections held open by saying nothing, or by trickling bytes.

Before login a connection gets a short timeout (`imap.login_timeout_seconds`,
`pop3.login_timeout_seconds`), not the 30 minutes RFC 3501 §5.4 asks for a
logged-in session. And the timeout bounds a whole command from its first byte,
not each read: a client sending one byte every few seconds is closed too.
The servers here run with one-second timeouts; the tests wait for the close.
"""

from __future__ import annotations

from tests.integration.conftest import PASSWORD
from tests.security.peer_sockets import BOB, Peer, imap_peer, imaplib_session, logged_in_peer
from tests.waiting import wait_until

SHORT = {"login_timeout_seconds": 1, "idle_timeout_seconds": 1}
# How long the tests give the server to act on a one-second timeout, and how often a
# trickling client sends its next byte (each read succeeds well within the timeout).
PATIENCE = 8.0
TRICKLE_INTERVAL = 0.2


def test_idle_imap_connection_before_login_is_closed(make_server) -> None:
    server = make_server(imap={"login_timeout_seconds": 1})
    peer = imap_peer(server, tls=False)
    wait_until(peer.hung_up, PATIENCE, what="the server to close the idle connection")
    assert b"* BYE" in peer.received


def test_logged_in_imap_session_keeps_the_long_idle_timeout(make_server) -> None:
    server = make_server(imap={"login_timeout_seconds": 1})
    server.add_account(BOB)
    client = imaplib_session(server)
    anonymous = imap_peer(server, tls=False)
    wait_until(anonymous.hung_up, PATIENCE, what="the anonymous connection to be closed")
    assert client.noop()[0] == "OK"  # idle as long as the anonymous one, still served
    client.logout()


def test_imap_line_trickled_a_byte_at_a_time_is_closed(make_server) -> None:
    server = make_server(imap=SHORT)
    server.add_account(BOB)
    peer = logged_in_peer(server)
    peer.send(b"a NOOP ")
    wait_until(
        lambda: peer.trickle(b"x"),
        PATIENCE,
        TRICKLE_INTERVAL,
        what="the server to close a trickling command line",
    )


def test_imap_login_literal_trickled_before_login_is_closed(make_server) -> None:
    server = make_server(imap=SHORT)
    peer = imap_peer(server)
    peer.send(b"a LOGIN " + BOB.encode() + b" {4000}\r\n")
    assert peer.reply(b"a").startswith(b"+")
    wait_until(
        lambda: peer.trickle(b"x"),
        PATIENCE,
        TRICKLE_INTERVAL,
        what="the server to close a trickling literal",
    )


def pop3_peer(port: int, *, tls: bool = False) -> Peer:
    peer = Peer(port, tls=tls)
    assert peer.read_line().startswith(b"+OK")
    return peer


def test_idle_pop3_connection_before_login_is_closed(make_server) -> None:
    server = make_server(pop3={"login_timeout_seconds": 1})
    peer = pop3_peer(server.ports["pop3"])
    wait_until(peer.hung_up, PATIENCE, what="the server to close the idle connection")
    assert b"-ERR" in peer.received


def test_pop3_line_trickled_a_byte_at_a_time_is_closed(make_server) -> None:
    server = make_server(pop3={"idle_timeout_seconds": 1})
    server.add_account(BOB)
    peer = pop3_peer(server.ports["pop3s"], tls=True)
    for line in (f"USER {BOB}", f"PASS {PASSWORD}"):
        peer.send(line.encode() + b"\r\n")
        assert peer.read_line().startswith(b"+OK")
    peer.send(b"NOOP")
    wait_until(
        lambda: peer.trickle(b"x"),
        PATIENCE,
        TRICKLE_INTERVAL,
        what="the server to close a trickling command line",
    )
