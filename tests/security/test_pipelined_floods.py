"""One client pipelines thousands of commands in one write; another client's command
must not wait for all of them (each session takes turns, `mailserver.fairness`).

The flood is sent as one write small enough to arrive in one read of the server
(one loopback segment), so a session that never yields answers all of it before
looking at any other client. The probe is sent once the flood is being answered.
The assertion is about order, not time: when the probe's reply has arrived, not all
of the flood's replies have (they are read as they come, and whatever the kernel
already holds for the flooder is counted before deciding).
"""

from __future__ import annotations

import selectors
import socket

import pytest

from tests.integration.conftest import MailServer

# 60 000 bytes: under the 64 KiB of one loopback segment and one server read.
FLOOD_BYTES = 60_000
BIG_BUFFER = 4 * 1024 * 1024  # the flooder's socket holds every reply unread


def connect(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BIG_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BIG_BUFFER)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


class Lines:
    """Counts the reply lines a socket has received (every reply here is one line)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.data = sock, b""

    @property
    def count(self) -> int:
        return self.data.count(b"\r\n")

    def read_some(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.data += chunk

    def read_until(self, count: int) -> None:
        while self.count < count:
            self.read_some()

    def read_what_has_arrived(self) -> None:
        self.sock.setblocking(False)
        try:
            while True:
                self.read_some()
        except BlockingIOError:
            pass
        finally:
            self.sock.settimeout(10)


def flood_replies_before_probe(port: int, flood_line: bytes, probe_line: bytes) -> tuple[int, int]:
    """(flood replies received when the probe's reply came, flood size)."""
    count = FLOOD_BYTES // len(flood_line)
    flooder, prober = Lines(connect(port)), Lines(connect(port))
    try:
        flooder.read_until(1)  # greetings
        prober.read_until(1)
        flooder.sock.sendall(flood_line * count)
        flooder.read_until(2)  # the server is answering the flood
        prober.sock.sendall(probe_line)
        with selectors.DefaultSelector() as selector:
            selector.register(flooder.sock, selectors.EVENT_READ, flooder)
            selector.register(prober.sock, selectors.EVENT_READ, prober)
            while prober.count < 2:
                ready = selector.select(timeout=10)
                assert ready, "no reply within 10 s"
                for key, _ in ready:
                    key.data.read_some()
        flooder.read_what_has_arrived()
        answered_before = flooder.count - 1
        flooder.read_until(count + 1)  # and the whole flood is still answered
        return answered_before, count
    finally:
        flooder.sock.close()
        prober.sock.close()


@pytest.mark.parametrize(
    ("listener", "flood_line", "probe_line"),
    [
        ("imap", b"a NOOP\r\n", b"b NOOP\r\n"),  # valid before login (RFC 3501 §6.1.2)
        ("pop3", b"NOOP\r\n", b"NOOP\r\n"),  # before login: one -ERR line each
        ("submission", b"NOOP\r\n", b"NOOP\r\n"),  # RFC 5321 §4.1.1.9
    ],
)
def test_a_pipelined_flood_does_not_make_another_client_wait_for_all_of_it(
    server: MailServer, listener: str, flood_line: bytes, probe_line: bytes
) -> None:
    answered_before, count = flood_replies_before_probe(
        server.ports[listener], flood_line, probe_line
    )
    assert answered_before < count, "the probe waited for the whole flood"
