"""Literal bombs: a client announces a huge literal to make the server buffer or read it.

RFC 7888 §4 and RFC 3501 §7.5: the server may refuse a literal by answering the
command instead of sending "+"; a non-synchronising literal over the limit is
already on its way, so the server answers BAD [TOOBIG] and closes rather than
read it. Before login only small literals are taken (LOGIN, AUTHENTICATE);
after login APPEND is measured against the quota (RFC 9208 §5.1) before "+".
"""

from __future__ import annotations

import re

from tests.integration.conftest import PASSWORD, MailServer
from tests.security.peer_sockets import BOB, imap_peer, imaplib_session, logged_in_peer
from tests.waiting import wait_until


def test_huge_login_literal_before_login_is_refused_without_continuation(
    server: MailServer,
) -> None:
    peer = imap_peer(server, tls=False)  # anonymous, on the plain port
    peer.send(b"a LOGIN {30000000}\r\n")
    reply = peer.reply(b"a")
    assert re.match(rb"a (NO|BAD) \[TOOBIG\]", reply), reply
    # A long password still fits: LOGIN with a literal gets its "+" (and then the verdict).
    peer.close()
    peer = imap_peer(server)
    password = PASSWORD.encode()
    peer.send(b"b LOGIN " + BOB.encode() + b" {%d}\r\n" % len(password))
    assert peer.reply(b"b").startswith(b"+")
    peer.send(password + b"\r\n")
    assert peer.reply(b"b").startswith(b"b OK")


def test_append_before_login_gets_bad_and_no_continuation(server: MailServer) -> None:
    peer = imap_peer(server)
    peer.send(b"a APPEND INBOX {5000}\r\n")
    reply = peer.reply(b"a")
    assert reply.startswith(b"a BAD"), reply
    peer.send(b"t NOOP\r\n")  # the refused command took no bytes: the next line is a command
    assert peer.reply(b"t").startswith(b"t OK")


def test_append_over_quota_is_refused_before_the_literal(make_server) -> None:
    server = make_server(store={"quota_bytes": 100_000})
    server.add_account(BOB)
    peer = logged_in_peer(server)
    peer.send(b"a APPEND INBOX {200000}\r\n")
    reply = peer.reply(b"a")
    assert re.match(rb"a NO \[OVERQUOTA\]", reply), reply
    peer.send(b"t NOOP\r\n")
    assert peer.reply(b"t").startswith(b"t OK")
    peer.send(b"b APPEND INBOX {20}\r\n")  # within the quota: "+" as before
    assert peer.reply(b"b").startswith(b"+")


def test_imaplib_sees_appendlimit_and_a_refused_append(make_server) -> None:
    server = make_server(imap={"max_literal": 50_000})
    server.add_account(BOB)
    client = imaplib_session(server)
    assert "APPENDLIMIT=50000" in client.capabilities  # RFC 7889
    message = b"Subject: big\r\n\r\n" + b"x" * 60_000 + b"\r\n"
    status, data = client.append("INBOX", None, None, message)
    assert status == "NO" and b"[TOOBIG]" in data[0], (status, data)
    assert client.noop()[0] == "OK"
    client.logout()


def test_non_sync_literal_over_the_limit_closes_the_connection(make_server) -> None:
    server = make_server(imap={"max_literal": 10_000})
    server.add_account(BOB)
    peer = logged_in_peer(server)
    # Three times the limit: once read and thrown away (up to 4x), now the connection closes.
    peer.send(b"a APPEND INBOX {30000+}\r\n" + b"x" * 20000)
    assert re.match(rb"a BAD \[TOOBIG\]", peer.reply(b"a"))
    wait_until(peer.hung_up, what="the server to close the connection")
    assert b"* BYE" in peer.received


def test_non_sync_literal_before_login_over_the_small_limit_closes(server: MailServer) -> None:
    peer = imap_peer(server, tls=False)
    peer.send(b"a LOGIN {100000+}\r\n")  # 100 kB: fine after login, too big before it
    assert re.match(rb"a BAD \[TOOBIG\]", peer.reply(b"a"))
    wait_until(peer.hung_up, what="the server to close the connection")
