"""Raw client sockets for the attack tests: plain or TLS, reading replies by hand.

A hostile client does not behave like imaplib: it sends literals without waiting
for "+", stops in the middle of a line, or never reads. These helpers let a test
do that and see exactly what the server sent back, and whether it hung up.
"""

from __future__ import annotations

import imaplib
import socket
import ssl

from tests.integration.conftest import PASSWORD, MailServer, client_tls_context

BOB = "bob@bangkok.go.th"


class Peer:
    """One connection; `received` keeps what the server sent and has not been read yet."""

    def __init__(self, port: int, *, tls: bool) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock: socket.socket = client_tls_context().wrap_socket(sock) if tls else sock
        self.received = b""
        self.closed = False

    def read_line(self) -> bytes:
        """The next line the server sends (ConnectionError if it closes first)."""
        while b"\r\n" not in self.received:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; received {self.received!r}")
            self.received += chunk
        line, _, self.received = self.received.partition(b"\r\n")
        return line + b"\r\n"

    def reply(self, tag: bytes) -> bytes:
        """Every line up to and including the tagged reply (or continuation) for `tag`."""
        lines = b""
        while True:
            line = self.read_line()
            lines += line
            if line.startswith(tag + b" ") or line.startswith(b"+"):
                return lines

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hung_up(self) -> bool:
        """True once the server has closed the connection; keeps anything it sent first.

        For `wait_until`: it looks without blocking for long (50 ms)."""
        if self.closed:
            return True
        self.sock.settimeout(0.05)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    self.closed = True
                    return True
                self.received += chunk
        except (TimeoutError, ssl.SSLWantReadError):
            return False
        except (ConnectionError, ssl.SSLError):
            self.closed = True
            return True
        finally:
            self.sock.settimeout(10)

    def trickle(self, byte: bytes) -> bool:
        """Send one byte unless the server hung up; for `wait_until`, True once it has."""
        if self.hung_up():
            return True
        try:
            self.sock.sendall(byte)
        except (ConnectionError, ssl.SSLError):
            self.closed = True
            return True
        return False

    def close(self) -> None:
        self.sock.close()


def imap_peer(server: MailServer, *, tls: bool = True) -> Peer:
    """An IMAP connection past the greeting (implicit TLS, or the plain STARTTLS port)."""
    peer = Peer(server.ports["imaps" if tls else "imap"], tls=tls)
    assert peer.read_line().startswith(b"* OK")
    return peer


def logged_in_peer(server: MailServer, login: str = BOB) -> Peer:
    """An IMAP connection over TLS, logged in as `login`."""
    peer = imap_peer(server)
    peer.send(f'l LOGIN {login} "{PASSWORD}"\r\n'.encode())
    assert b"l OK" in peer.reply(b"l")
    return peer


def imaplib_session(server: MailServer, login: str = BOB) -> imaplib.IMAP4_SSL:
    """A well-behaved client (imaplib over TLS), logged in as `login`."""
    client = imaplib.IMAP4_SSL(
        "127.0.0.1", server.imaps_port, ssl_context=client_tls_context(), timeout=10
    )
    client.login(login, PASSWORD)
    return client
