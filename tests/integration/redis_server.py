"""A real redis-server on a free loopback port, in the test's temporary directory.

    from tests.integration.redis_server import RedisServer, redis_server_fixture  # noqa: F401

    async def test_something(redis_server: RedisServer) -> None:
        counters = RedisCounters.from_url(redis_server.url)

Nothing is persisted (`--save ''`, no append-only file). `stop` ends it (the
port then refuses), `pause`/`resume` freeze it with SIGSTOP/SIGCONT (the port
still accepts connections but nothing answers: a hung Redis), `start` starts
it again on the same port, empty.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import end_process, free_port, require_tool
from tests.waiting import wait_until


class RedisServer:
    """One redis-server process on 127.0.0.1."""

    def __init__(self, root: Path, binary: str) -> None:
        self.root = root
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "redis.log"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it (again) and return once it answers PING."""
        command = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.root),
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        process = self.process

        def answers() -> bool:
            if process.poll() is not None:
                pytest.fail(f"redis-server exited:\n{self.log()}")
            return self.ping()

        wait_until(answers, 10, what="redis-server to answer PING")
        return self

    def ping(self) -> bool:
        """Whether it answers PING now (an inline command, so no client is involved)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def pause(self) -> None:
        """Freeze it: connections are accepted by the kernel, nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """End it; its port refuses connections afterwards."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGCONT)  # a paused process cannot act on TERM
        end_process(self.process)
        self.process = None


@pytest.fixture(name="redis_server")  # named apart, so a test's parameter does not shadow it
def redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server for this test, stopped after it."""
    root = tmp_path / "redis"
    root.mkdir()
    server = RedisServer(root, require_tool("redis-server"))
    server.start()
    yield server
    server.stop()
