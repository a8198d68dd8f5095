"""Memory an anonymous client can make the IMAP server hold with a literal before login.

Figures, not assertions (DESIGN.md, "Testing"). For each checkout given (default: this
one), `mailserver serve` is started from that checkout in a temp dir and --connections
(10) anonymous clients connect to the plain (STARTTLS) IMAP port at once and send, never
logging in:

  sync     `a LOGIN {30000000}`; on `+` the 30,000,000 bytes, without the closing CRLF
           (the command stays open and the server holds what it read).
  nonsync  `a LOGIN {30000000+}` and the bytes straight after (LITERAL+, RFC 7888).

The server's VmRSS and VmHWM (/proc/PID/status) are printed before the clients connect
and once every client has sent all it was let send (or was refused or closed), with what
each client got back. The reference is the other checkout in the same run (e.g. main);
each figure is that checkout's own, and the RSS growth per client is printed side by side.

    .venv/bin/python bench/literal_memory.py [--checkout DIR ...] [--connections 10]
        [--size 30000000] [--only sync|nonsync]

Everything is on 127.0.0.1; each server is stopped (by its process id) and its temp dir
removed at the end; every socket has a 60 s timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1 << 20
SOCKET_TIMEOUT = 60.0
START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_kib(pid: int, field: str) -> int:
    """One `Vm...` figure of /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


@dataclass
class Server:
    """`mailserver serve` run from `checkout` in `workdir`, every listener on a free port."""

    checkout: Path
    workdir: Path
    imap_port: int = 0
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        ports = {
            name: free_port() for name in ("sub", "subs", "mx", "imap", "imaps", "pop", "pops")
        }
        self.imap_port = ports["imap"]
        config = self.workdir / "mailserver.toml"
        config.write_text(
            f'[server]\nnode = "bench"\nhostname = "mail.bench.example"\n'
            f'data_dir = "{self.workdir / "var"}"\nshutdown_grace_seconds = 1.0\n'
            f"[smtp]\nsubmission_port = {ports['sub']}\nsubmissions_port = {ports['subs']}\n"
            f"[mx]\nport = {ports['mx']}\n"
            f"[imap]\nport = {ports['imap']}\ntls_port = {ports['imaps']}\n"
            f"[pop3]\nport = {ports['pop']}\ntls_port = {ports['pops']}\n"
            '[log]\nlevel = "WARNING"\n'
        )
        env = dict(os.environ, PYTHONPATH=str(self.checkout))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mailserver.cli", "--config", str(config), "serve"],
            cwd=self.workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "server.stderr").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.imap_port), timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mailserver did not start") from None
                time.sleep(0.1)

    def memory(self) -> tuple[int, int]:
        assert self.process is not None
        return status_kib(self.process.pid, "VmRSS"), status_kib(self.process.pid, "VmHWM")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def attack(port: int, size: int, mode: str) -> tuple[socket.socket, str]:
    """One anonymous client; returns its socket (kept open) and the first reply it got."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
    reader = sock.makefile("rb")
    reader.readline()  # greeting
    marker = b"{%d}" % size if mode == "sync" else b"{%d+}" % size
    sock.sendall(b"a LOGIN " + marker + b"\r\n")
    reply = b""
    if mode == "sync":
        reply = reader.readline()
        if not reply.startswith(b"+"):
            return sock, reply.decode(errors="replace").strip()
    sent = 0
    block = b"x" * CHUNK
    try:
        while sent < size:
            sock.sendall(block[: min(CHUNK, size - sent)])
            sent += min(CHUNK, size - sent)
    except OSError as exc:
        return sock, f"{reply.decode(errors='replace').strip()} closed after {sent} bytes ({exc})"
    if mode == "nonsync":
        sock.settimeout(2)
        with contextlib.suppress(OSError):
            reply = reader.readline()
    return sock, f"{reply.decode(errors='replace').strip()} sent all {sent} bytes"


def measure(checkout: Path, mode: str, connections: int, size: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="literal-memory-") as tmp:
        server = Server(checkout, Path(tmp))
        server.start()
        try:
            time.sleep(1.0)  # let the server finish starting up before the baseline
            before = server.memory()
            with ThreadPoolExecutor(connections) as pool:
                results = list(
                    pool.map(lambda _: attack(server.imap_port, size, mode), range(connections))
                )
            time.sleep(1.0)  # let the server read what is in flight
            after = server.memory()
            for sock, _ in results:
                sock.close()
        finally:
            server.stop()
    replies = sorted({reply for _, reply in results})
    return {"before": before, "after": after, "replies": replies}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", action="append", type=Path, help="repeatable")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--size", type=int, default=30_000_000)
    parser.add_argument("--only", choices=("sync", "nonsync"), action="append")
    args = parser.parse_args()
    checkouts = args.checkout or [ROOT]
    for mode in args.only or ["sync", "nonsync"]:
        growth = {}
        for checkout in checkouts:
            figures = measure(checkout.resolve(), mode, args.connections, args.size)
            (rss0, _hwm0), (rss1, hwm1) = figures["before"], figures["after"]  # type: ignore[misc]
            growth[checkout] = rss1 - rss0
            print(
                f"{mode:8} {checkout!s:40} RSS {rss0 / 1024:7.1f} -> {rss1 / 1024:7.1f} MiB"
                f" ({(rss1 - rss0) / 1024:+.1f} MiB, peak {hwm1 / 1024:.1f} MiB);"
                f" replies: {figures['replies']}"
            )
        if len(checkouts) > 1:
            per_client = ", ".join(
                f"{c}: {g / args.connections:.0f} KiB" for c, g in growth.items()
            )
            print(f"{mode:8} RSS growth per client: {per_client}")


if __name__ == "__main__":
    main()
