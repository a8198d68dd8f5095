"""Real SMTP peers on loopback for the outbound client: Postfix's smtp-sink, and aiosmtpd.

* `make_sink(*options)` starts `smtp-sink` (it ships with Debian's postfix) with
  its own options (`-r RCPT` tempfails, `-f RCPT` rejects, `-q DATA` hangs up,
  `-W RCPT:5` stalls...) and dumps every transaction to a file that
  `SmtpSink.messages()` parses. smtp-sink never offers STARTTLS, and offers AUTH
  in clear: a good peer for "TLS required" and "no credentials in clear".
* `make_peer(...)` starts an aiosmtpd server (the project's own SMTP library,
  a real implementation, in its own thread) that can offer STARTTLS with a
  generated certificate, accept AUTH for one user, and reject chosen recipients;
  it records what it received and every AUTH attempt.
* `silent_port` is a TCP listener that never answers (the kernel completes the
  handshake from the listen backlog; nothing ever accepts or writes).

Test modules load the fixtures with `pytest_plugins = ["tests.integration.sink"]`.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from mailserver.tls import ensure_self_signed, server_context
from tests.integration.conftest import free_port, require_tool
from tests.waiting import accepts_connections, wait_until

PEER_NAME = "mx.test.example"
PEER_USER, PEER_PASSWORD = "relay-user", "relay secret"


@dataclass(frozen=True)
class SinkMessage:
    """One transaction as smtp-sink dumped it (its X- records, then the message)."""

    helo: str
    proto: str  # "SMTP" (HELO) or "ESMTP" (EHLO)
    mail_args: str  # e.g. "<a@b.example> BODY=8BITMIME"
    rcpt_args: tuple[str, ...]
    content: bytes  # the message as the client sent it, CRLF lines, dots unstuffed


def parse_dump(data: bytes) -> SinkMessage:
    """A dump file: X-* records, a three-line Received:, the message, then an empty line.

    smtp-sink writes lines with LF; they are turned back into CRLF, so `content`
    compares byte for byte with what a client sent (it had CRLF lines throughout).
    """
    lines = data.split(b"\n")
    records: dict[str, list[str]] = {}
    index = 0
    while not lines[index].startswith(b"Received: "):
        name, _, value = lines[index].decode().partition(": ")
        records.setdefault(name, []).append(value)
        index += 1
    index += 1
    while lines[index].startswith(b"\t"):
        index += 1
    body = b"\n".join(lines[index:])
    assert body.endswith(b"\n\n"), "smtp-sink ends each dump with an empty line"
    return SinkMessage(
        helo=records.get("X-Helo-Args", [""])[0],
        proto=records["X-Client-Proto"][0],
        mail_args=records["X-Mail-Args"][0],
        rcpt_args=tuple(records.get("X-Rcpt-Args", [])),
        content=body[:-1].replace(b"\n", b"\r\n"),
    )


@dataclass
class SmtpSink:
    """A running smtp-sink."""

    port: int
    dump_dir: Path
    process: subprocess.Popen[bytes]

    def messages(self) -> list[SinkMessage]:
        """Every transaction that got as far as the message, oldest first.

        smtp-sink opens the file at MAIL; one without the Received: record it writes
        at DATA is a transaction that ended before the message (it stays empty when
        no recipient was accepted).
        """
        files = sorted(self.dump_dir.glob("msg.*"), key=lambda p: (p.stat().st_mtime_ns, p.name))
        dumps = (path.read_bytes() for path in files)
        return [parse_dump(data) for data in dumps if b"\nReceived: " in data]

    def wait_messages(self, count: int, timeout: float = 5.0) -> list[SinkMessage]:
        """The messages once there are `count` (smtp-sink writes them as it answers)."""

        def arrived() -> list[SinkMessage] | None:
            found = self.messages()
            return found if len(found) >= count else None

        return wait_until(arrived, timeout, what=f"{count} message(s) at smtp-sink")


def _wait_listening(port: int, process: subprocess.Popen[bytes] | None = None) -> None:
    def listening() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"peer exited with {process.returncode}")
        return accepts_connections(port)

    wait_until(listening, 10, what=f"a peer to listen on port {port}")


@contextlib.contextmanager
def run_sink(*options: str) -> Iterator[SmtpSink]:
    """smtp-sink on 127.0.0.1:<free port> with `options`, dumping to a temp directory."""
    binary = require_tool("smtp-sink")
    # Not under pytest's tmp_path: as root smtp-sink must drop to `nobody` (-u), who
    # has to reach and write the dump directory.
    dump_dir = Path(tempfile.mkdtemp(prefix="smtp-sink-"))
    os.chmod(dump_dir, 0o755)
    args = [binary, "-h", "sink.test.example", "-d", f"{dump_dir}/msg."]
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(dump_dir, nobody.pw_uid, nobody.pw_gid)
        args += ["-u", "nobody"]
    port = free_port()
    process = subprocess.Popen(
        [*args, *options, f"127.0.0.1:{port}", "64"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        try:
            _wait_listening(port, process)
        except (RuntimeError, AssertionError):  # it exited, or never listened
            process.kill()
            _, stderr = process.communicate()
            raise RuntimeError(f"smtp-sink did not start: {stderr.decode()}") from None
        yield SmtpSink(port, dump_dir, process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(dump_dir, ignore_errors=True)


@pytest.fixture
def make_sink() -> Iterator[Callable[..., SmtpSink]]:
    """Factory: `make_sink("-f", "RCPT")` starts an smtp-sink; all stop at teardown."""
    with contextlib.ExitStack() as stack:
        yield lambda *options: stack.enter_context(run_sink(*options))


@dataclass(frozen=True)
class PeerMessage:
    """One message the aiosmtpd peer accepted, with what it knew of the session."""

    helo: str
    mail_from: str
    mail_options: tuple[str, ...]
    rcpt_tos: tuple[str, ...]
    content: bytes
    tls: bool
    login: str | None


@dataclass(frozen=True)
class AuthAttempt:
    mechanism: str
    login: str
    password: str
    tls: bool


@dataclass
class PeerHandler:
    """aiosmtpd handler: refuses the recipients in `replies` with their reply, keeps the rest."""

    replies: dict[str, str] = field(default_factory=dict)
    received: list[PeerMessage] = field(default_factory=list)
    auth_attempts: list[AuthAttempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.replies:
            return self.replies[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        auth = session.auth_data
        message = PeerMessage(
            helo=session.host_name or "",
            mail_from=envelope.mail_from or "",
            mail_options=tuple(envelope.mail_options),
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=bytes(envelope.original_content or b""),
            tls=session.ssl is not None,
            login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
        )
        with self.lock:
            self.received.append(message)
        return "250 2.0.0 Ok: queued as PEER1"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        login, password = data.login.decode(), data.password.decode()
        with self.lock:
            self.auth_attempts.append(
                AuthAttempt(mechanism, login, password, session.ssl is not None)
            )
        ok = (login, password) == (PEER_USER, PEER_PASSWORD)
        # handled=False: aiosmtpd answers 535 itself (with True it would say nothing).
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


@dataclass
class Peer:
    """A running aiosmtpd peer and its recordings."""

    port: int
    handler: PeerHandler
    cert_file: Path
    name: str = PEER_NAME  # its greeting name, and the name in its certificate
    user: str = PEER_USER  # the one login it accepts
    password: str = PEER_PASSWORD

    @property
    def received(self) -> list[PeerMessage]:
        return list(self.handler.received)

    @property
    def auth_attempts(self) -> list[AuthAttempt]:
        return list(self.handler.auth_attempts)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this peer's certificate (and only that)."""
        return ssl.create_default_context(cafile=str(self.cert_file))


@contextlib.contextmanager
def run_peer(
    cert_dir: Path,
    *,
    starttls: bool = True,
    auth_require_tls: bool = True,
    replies: dict[str, str] | None = None,
    data_size_limit: int = 10_000_000,
) -> Iterator[Peer]:
    """aiosmtpd on 127.0.0.1:<free port> as `mx.test.example`; STARTTLS unless told not to."""
    cert, key = ensure_self_signed(cert_dir, PEER_NAME)
    handler = PeerHandler(replies=dict(replies or {}))
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname=PEER_NAME,
        tls_context=server_context(cert, key) if starttls else None,
        require_starttls=False,
        authenticator=handler.authenticate,
        auth_require_tls=auth_require_tls,
        data_size_limit=data_size_limit,
        enable_SMTPUTF8=True,
        decode_data=False,
    )
    controller.start()
    try:
        yield Peer(port, handler, cert)
    finally:
        controller.stop()


@pytest.fixture
def make_peer(tmp_path: Path) -> Iterator[Callable[..., Peer]]:
    """Factory: `make_peer(replies={...})` starts an aiosmtpd peer; all stop at teardown."""
    with contextlib.ExitStack() as stack:
        yield lambda **options: stack.enter_context(run_peer(tmp_path / "peer-certs", **options))


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port where TCP connects but no SMTP greeting ever comes."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]
