"""STARTTLS command injection (CVE-2011-0411) on IMAP, POP3 and SMTP submission.

A raw socket client sends the upgrade command and an injected command behind it
in cleartext, then does the TLS handshake on the same socket; the injected
command must never be answered inside TLS. The injected bytes are placed in each
of the places the server can hold them when it writes its OK: in the same
segment as the command (the session's parser), beyond the 64 KiB a session reads
at a time (asyncio's StreamReader: the deterministic form of a second segment
arriving while the command is processed), in a segment of its own (wherever
timing puts it), and on the wire after the OK has been read.

IMAP and POP3 close the connection without a handshake (`mailserver/starttls.py`);
SMTP is aiosmtpd's, which drops its buffer at the upgrade (RFC 3207 §4.2): the
session goes on inside TLS as if nothing had been sent, or, when the bytes were
still on the wire, the handshake fails.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

import pytest

from tests.integration.conftest import MailServer, client_tls_context

# What a session reads from its StreamReader at a time (`reader.read(65536)`).
SESSION_READ = 65536


@dataclass(frozen=True)
class Dialect:
    """One protocol's side of the test: how to reach STARTTLS and what to inject."""

    port: str
    greeting: bytes  # how the greeting's last line starts
    opening: bytes  # sent after the greeting, before the upgrade command
    opened: bytes  # how the last line of the opening's answer starts
    upgrade: bytes
    upgrade_ok: bytes  # how the server's go-ahead starts
    injected: bytes
    filler_line: bytes  # a harmless command, to push the injected one past one read
    probe: bytes  # sent inside TLS
    probe_answer: bytes  # how the probe's own answer starts


IMAP = Dialect(
    port="imap",
    greeting=b"* OK",
    opening=b"",
    opened=b"",
    upgrade=b"a STARTTLS\r\n",
    upgrade_ok=b"a OK",
    injected=b"b CAPABILITY\r\n",
    filler_line=b"n NOOP\r\n",
    probe=b"c NOOP\r\n",
    probe_answer=b"c OK",
)
POP3 = Dialect(
    port="pop3",
    greeting=b"+OK",
    opening=b"",
    opened=b"",
    upgrade=b"STLS\r\n",
    upgrade_ok=b"+OK",
    injected=b"USER bob@bangkok.go.th\r\n",
    filler_line=b"NOOP\r\n",  # -ERR before login
    probe=b"CAPA\r\n",
    probe_answer=b"+OK",
)
SMTP = Dialect(
    port="submission",
    greeting=b"220 ",
    opening=b"EHLO client.example\r\n",
    opened=b"250 ",
    upgrade=b"STARTTLS\r\n",
    upgrade_ok=b"220 ",
    injected=b"EHLO injected.example\r\n",
    filler_line=b"NOOP\r\n",
    probe=b"NOOP\r\n",
    probe_answer=b"250 OK",
)

PLACEMENTS = ("same segment", "beyond one read", "own segment", "after the OK")
# Where the server is certain to hold the injected bytes when it writes its OK.
HELD_BY_THE_SERVER = ("same segment", "beyond one read")


def filler(line: bytes, size: int) -> bytes:
    """Copies of a command line, `size` bytes in all (the last one padded with spaces)."""
    count, extra = divmod(size, len(line))
    return line * (count - 1) + line[:-2] + b" " * extra + b"\r\n"


def read_until_line(sock: socket.socket, start: bytes) -> bytes:
    """Read until a whole line beginning with `start` has arrived (or the server closed)."""
    data = b""
    while not any(line.startswith(start) for line in data.split(b"\r\n")[:-1]):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def inject(server: MailServer, dialect: Dialect, placement: str) -> socket.socket:
    """Connect, send the upgrade command with the injected one placed as told, and read
    the server's go-ahead: the socket is then where a client starts its handshake."""
    sock = socket.create_connection(("127.0.0.1", server.ports[dialect.port]), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    read_until_line(sock, dialect.greeting)
    if dialect.opening:
        sock.sendall(dialect.opening)
        read_until_line(sock, dialect.opened)
    if placement == "same segment":
        sock.sendall(dialect.upgrade + dialect.injected)
    elif placement == "beyond one read":
        padding = filler(dialect.filler_line, SESSION_READ - len(dialect.upgrade))
        sock.sendall(padding + dialect.upgrade + dialect.injected)
    elif placement == "own segment":
        sock.sendall(dialect.upgrade)
        sock.sendall(dialect.injected)
    else:
        sock.sendall(dialect.upgrade)
    reply = read_until_line(sock, dialect.upgrade_ok)
    assert reply.endswith(b"\r\n") and reply.split(b"\r\n")[-2].startswith(dialect.upgrade_ok)
    if placement == "after the OK":
        sock.sendall(dialect.injected)
    return sock


def first_line_inside_tls(sock: socket.socket, probe: bytes) -> bytes | None:
    """The first line the server sends inside TLS once `probe` is sent there, or None when
    no TLS session comes up on the socket."""
    try:
        tls = client_tls_context().wrap_socket(sock, server_hostname="mail.test.example")
    except (ssl.SSLError, OSError):
        return None
    with tls:
        tls.sendall(probe)
        return read_until_line(tls, b"").partition(b"\r\n")[0]


@pytest.mark.parametrize("placement", PLACEMENTS)
@pytest.mark.parametrize("dialect", [IMAP, POP3], ids=["imap", "pop3"])
def test_cleartext_behind_starttls_closes_the_connection(
    server: MailServer, dialect: Dialect, placement: str
) -> None:
    """RFC 3501 §6.2.1, RFC 2595 §3.1/§4: no TLS session ever follows injected cleartext,
    so the injected command (CAPABILITY showing AUTH=PLAIN, USER) is never answered in it."""
    sock = inject(server, dialect, placement)
    with sock:
        assert first_line_inside_tls(sock, dialect.probe) is None
    if placement in HELD_BY_THE_SERVER:
        records = server.wait_for_log(lambda r: r["event"] == "cleartext_after_starttls")
        noted = [r for r in records if r["event"] == "cleartext_after_starttls"]
        assert [r["protocol"] for r in noted] == [dialect.port]
    assert not any(r["event"] == "login" for r in server.log_records())


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_smtp_submission_drops_cleartext_behind_starttls(
    server: MailServer, placement: str
) -> None:
    """RFC 3207 §4.2: the injected EHLO is never answered inside TLS. Held by aiosmtpd when
    it upgrades, it is dropped and the session goes on in TLS; still on the wire, it breaks
    the handshake. aiosmtpd stops reading past about 1 KiB (twice its command line limit),
    so only the same segment is sure to be held."""
    sock = inject(server, SMTP, placement)
    with sock:
        first = first_line_inside_tls(sock, SMTP.probe)
    if placement == "same segment":
        assert first is not None and first.startswith(SMTP.probe_answer), first
    elif placement == "after the OK":
        assert first is None
    else:
        assert first is None or first.startswith(SMTP.probe_answer), first
