"""Fixtures that start the real `mailserver` on free loopback ports in a temp directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mailserver.queue.spool import Spool
from tests.waiting import accepts_connections, wait_until

PASSWORD = "correct horse battery staple"
# The checkout these tests belong to: the server they start must run its code.
REPO_ROOT = Path(__file__).resolve().parents[2]
# The listeners `mailserver serve` starts (the fixture waits for each to accept).
LISTENERS = ("submission", "submissions", "mx", "imap", "imaps", "pop3", "pop3s")
# The server and the CLI run under the umask of a default system (0022), whatever the
# test runner's: they must keep their files private despite it.
SERVER_UMASK = 0o022


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def end_process(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM a peer, SIGKILL it after `timeout` seconds, and reap it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def require_tool(name: str) -> str:
    """Path of a peer program; `make test` installs them, so a missing one fails the test."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make test` (it installs the test peers)")
    return path


def checkout_env() -> dict[str, str]:
    """The environment for `python -m mailserver.cli`: it imports this checkout's code.

    The server runs in a temp directory, where `python -m` would otherwise import the
    copy installed in the virtualenv (another checkout's), not the code under test."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def client_tls_context() -> ssl.SSLContext:
    """Clients in the tests accept the server's generated self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def login_once(smtp: smtplib.SMTP, login: str, password: str) -> None:
    """One AUTH PLAIN attempt (smtplib.login would retry with every other mechanism)."""
    smtp.ehlo_or_helo_if_needed()
    smtp.user, smtp.password = login, password
    smtp.auth("PLAIN", smtp.auth_plain)


@dataclass
class MailServer:
    """A running `mailserver serve` subprocess and the means to administer it."""

    root: Path
    config: Path
    submission_port: int
    submissions_port: int
    ports: dict[str, int]
    process: subprocess.Popen[bytes] | None = None
    stdout_path: Path = field(init=False)
    stderr_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.stdout_path = self.root / "server.stdout"
        self.stderr_path = self.root / "server.stderr"

    def stdout(self) -> str:
        """What the server printed on stdout so far (its start and stop reports)."""
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    @property
    def data_dir(self) -> Path:
        return self.root / "var"

    def start(self) -> None:
        with self.stdout_path.open("ab") as stdout, self.stderr_path.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailserver.cli", "--config", str(self.config), "serve"],
                stdout=stdout,
                stderr=stderr,
                cwd=self.root,
                env=checkout_env(),
                umask=SERVER_UMASK,
            )
        process = self.process
        waiting = set(self.ports.values())  # each port is connected to once it listens

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"mailserver exited: {self.stderr_path.read_text()}")
            waiting.difference_update([port for port in waiting if accepts_connections(port)])
            return not waiting

        wait_until(listening, 20, 0.05, what="mailserver to listen on every port")

    def stop(self, timeout: float = 20) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def cli(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "mailserver.cli", "--config", str(self.config), *args],
            input=input,
            capture_output=True,
            text=True,
            cwd=self.root,
            env=checkout_env(),
            umask=SERVER_UMASK,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"mailserver {' '.join(args)} failed: {result.stderr}")
        return result

    def add_account(self, login: str, *extra: str, password: str = PASSWORD) -> None:
        self.cli("account", "add", login, "--password-stdin", *extra, input=password + "\n")

    def log_records(self) -> list[dict[str, Any]]:
        path = self.data_dir / "log" / "policy.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def wait_for_log(self, predicate: Any, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The policy log once a record matching `predicate` is in it (the server writes it
        after answering, so a client may finish first); fails the test if none comes."""

        def matched() -> list[dict[str, Any]] | None:
            records = self.log_records()
            return records if any(predicate(r) for r in records) else None

        return wait_until(matched, timeout, what="a matching policy-log record")

    def wait_for_mail(self, address: str, count: int = 1, timeout: float = 10.0) -> list[Path]:
        """The messages in the account's INBOX once there are `count` (delivery is by the
        queue, just after the 250); fails the test if they do not arrive in time."""

        def delivered() -> list[Path] | None:
            found = self.maildir_messages(address)
            return found if len(found) >= count else None

        return wait_until(delivered, timeout, what=f"{count} message(s) for {address}")

    def queued(self) -> list[str]:
        """The ids of the messages in the queue's spool (not yet delivered or bounced)."""
        return Spool(self.data_dir / "queue").ids()

    def wait_for_empty_queue(self, timeout: float = 15.0) -> None:
        """Return once every queued message is delivered or bounced; fail the test if the
        spool still holds some after `timeout` seconds."""
        wait_until(lambda: not self.queued(), timeout, what="the queue to drain")

    def submit(
        self, content: bytes, to: str, sender: str = "alice@bangkok.go.th", wait: bool = True
    ) -> None:
        """Send over implicit-TLS submission as `sender`; wait until the queue delivered it."""
        before = len(self.maildir_messages(to))
        with smtplib.SMTP_SSL(
            "127.0.0.1", self.submissions_port, context=client_tls_context(), timeout=10
        ) as smtp:
            smtp.login(sender, PASSWORD)
            smtp.sendmail(sender, [to], content)
        if wait:
            self.wait_for_mail(to, before + 1)

    def maildir_messages(self, address: str) -> list[Path]:
        """The INBOX message files: new/ and cur/ (an IMAP session moves them to cur/)."""
        local, _, domain = address.partition("@")
        maildir = self.data_dir / "mail" / domain / local / "Maildir"
        found = [
            p
            for sub in ("new", "cur")
            if (maildir / sub).exists()
            for p in (maildir / sub).iterdir()
        ]
        return sorted(found, key=lambda p: p.name)

    @property
    def imap_port(self) -> int:
        return self.ports["imap"]

    @property
    def imaps_port(self) -> int:
        return self.ports["imaps"]


def write_config(root: Path, **sections: dict[str, Any]) -> tuple[Path, dict[str, int]]:
    ports = {name: free_port() for name in ("submission", "submissions", "mx", "imap", "imaps")}
    ports |= {name: free_port() for name in ("pop3", "pop3s")}
    submission, submissions = ports["submission"], ports["submissions"]
    settings: dict[str, dict[str, Any]] = {
        "server": {
            "data_dir": str(root / "var"),
            "node": "test-node",
            "hostname": "mail.test.example",
            "shutdown_grace_seconds": 10,
        },
        "smtp": {"submission_port": submission, "submissions_port": submissions},
        "mx": {"port": ports["mx"]},
        "imap": {"port": ports["imap"], "tls_port": ports["imaps"]},
        "pop3": {"port": ports["pop3"], "tls_port": ports["pop3s"]},
        "auth": {"argon2_memory_kib": 1024, "argon2_time_cost": 1, "failure_delay_seconds": 0.05},
    }
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    lines = []
    for name, values in settings.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    path = root / "mailserver.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, ports


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Any]:
    """Factory: `make_server(smtp={...})` starts a server with extra settings."""
    servers: list[MailServer] = []

    def factory(**sections: dict[str, Any]) -> MailServer:
        root = tmp_path / f"server{len(servers)}"
        root.mkdir()
        for attempt in range(3):
            config, ports = write_config(root, **sections)
            listening = {k: v for k, v in ports.items() if k in LISTENERS}
            server = MailServer(root, config, ports["submission"], ports["submissions"], listening)
            try:
                server.start()
                break
            except RuntimeError as exc:
                # A free port can be taken by another process's outgoing connection before
                # the server binds it; pick new ones rather than fail the test.
                if "address already in use" not in str(exc) or attempt == 2:
                    raise
        servers.append(server)
        return server

    yield factory
    for server in servers:
        if server.process is not None and server.process.poll() is None:
            server.stop()


@pytest.fixture
def server(make_server: Any) -> MailServer:
    """A running server with alice and bob, both active, in bangkok.go.th."""
    mail = make_server()
    mail.add_account("alice@bangkok.go.th")
    mail.add_account("bob@bangkok.go.th")
    return mail
