"""Hostile and broken clients over a raw TLS socket: the server answers and survives."""

from __future__ import annotations

import socket
import ssl

from tests.integration.conftest import PASSWORD, MailServer, client_tls_context
from tests.integration.test_imap_messages import BOB, imap_client, send, thai_message


class Raw:
    """A bare TLS connection that reads replies up to a tagged line."""

    def __init__(self, server: MailServer) -> None:
        sock = socket.create_connection(("127.0.0.1", server.imaps_port), timeout=10)
        self.sock: ssl.SSLSocket = client_tls_context().wrap_socket(sock)
        self.buffer = b""
        self.read_until(b"\r\n")

    def read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def command(self, line: bytes, tag: bytes = b"t") -> bytes:
        """Send `tag line`; return every response line up to and including the tagged one."""
        self.sock.sendall(tag + b" " + line + b"\r\n")
        reply = b""
        while True:
            response = self.read_until(b"\r\n")
            reply += response
            if response.startswith(tag + b" "):
                return reply

    def login(self) -> None:
        reply = self.command(f'LOGIN {BOB} "{PASSWORD}"'.encode(), b"l")
        assert b"l OK" in reply


def still_serving(server: MailServer) -> None:
    client = imap_client(server)
    client.select_folder("INBOX")
    client.logout()


def test_overlong_line_gets_bad_and_the_session_goes_on(server: MailServer) -> None:
    raw = Raw(server)
    raw.sock.sendall(b"a NOOP " + b"x" * 200_000 + b"\r\n")
    assert b"BAD" in raw.read_until(b"\r\n")
    assert b"t OK" in raw.command(b"NOOP")
    still_serving(server)


def test_oversized_literal_is_refused_without_continuation(make_server) -> None:
    server = make_server(imap={"max_literal": 10_000})
    server.add_account(BOB)
    raw = Raw(server)
    raw.login()
    raw.sock.sendall(b"a APPEND INBOX {50000}\r\n")
    reply = raw.read_until(b"\r\n")
    assert reply.startswith(b"a NO") or reply.startswith(b"a BAD"), reply
    assert b"TOOBIG" in reply
    assert b"t OK" in raw.command(b"NOOP")


def test_garbage_and_unknown_commands(server: MailServer) -> None:
    raw = Raw(server)
    for line in (b"\x00\xff\xfe garbage", b"a", b"a FOO", b"a FETCH", b'a LOGIN "unterminated'):
        raw.sock.sendall(line + b"\r\n")
        assert b"BAD" in raw.read_until(b"\r\n")
    assert b"t OK" in raw.command(b"NOOP")


def test_disconnect_mid_literal_and_mid_fetch_leave_the_mailbox_intact(server: MailServer) -> None:
    send(server, thai_message())
    raw = Raw(server)
    raw.login()
    raw.sock.sendall(b"a APPEND INBOX {5000}\r\n")
    raw.read_until(b"\r\n")  # + Ready
    raw.sock.sendall(b"From: half a message\r\n")
    raw.sock.close()
    raw = Raw(server)
    raw.login()
    raw.command(b"SELECT INBOX")
    raw.sock.sendall(b"f FETCH 1:* (BODY[])\r\n")
    raw.sock.close()
    client = imap_client(server)
    assert client.select_folder("INBOX")[b"EXISTS"] == 1
    client.logout()


def test_unknown_fetch_items_and_bad_sequence_sets(server: MailServer) -> None:
    send(server, thai_message())
    raw = Raw(server)
    raw.login()
    raw.command(b"SELECT INBOX")
    assert b"t BAD" in raw.command(b"FETCH 1 (NOSUCHITEM)")
    assert b"t BAD" in raw.command(b"FETCH 0:x (FLAGS)")
    assert b"t BAD" in raw.command(b"FETCH 5 (FLAGS)")
    assert b"t OK" in raw.command(b"UID FETCH 999 (FLAGS)")
    assert b"t BAD" in raw.command(b"STORE 1 +FLAGS (\\Recent)")
    still_serving(server)
