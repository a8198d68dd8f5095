"""A real dnsmasq name server on a free loopback port, serving the records a test gives.

    from tests.integration.dnsmasq import Dnsmasq, Records, dnsmasq  # noqa: F401 (fixture)

    def test_something(dnsmasq: Dnsmasq) -> None:
        dnsmasq.serve(Records().mx("a.test", "mx1.a.test", 10).a("mx1.a.test", "192.0.2.1"))
        resolver = mx.make_resolver(dnsmasq.servers, dnsmasq.port)

dnsmasq takes its records on the command line, so `serve` (re)starts it with the
new set. What it does, found by trying dnsmasq 2.90:

- Without upstream servers dnsmasq answers REFUSED for names it does not know,
  which a resolver reports as a server failure. Every zone the records are in is
  therefore declared local (`--local=/zone/`): unknown names in it get NXDOMAIN,
  and known names asked for another type get an empty answer (NODATA).
- `--mx-host=domain,.,0` serves a real null MX (RFC 7505: preference 0, exchange
  the root name) on the wire; `--dns-rr=domain,15,000000` (raw MX rdata) does too.
  Note `--mx-host=domain` without a host name means "the machine dnsmasq runs on".
- One `--host-record` holds at most one IPv4 and one IPv6 address (a second IPv4
  silently replaces the first), so each address gets its own option; repeated
  options for one name are all served.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import end_process, free_port, require_tool
from tests.waiting import accepts_connections, wait_until

# Top-level domains always answered locally (RFC 2606 / RFC 6761 test names).
DEFAULT_ZONES = ("test", "example", "invalid")
# dnsmasq lives in /usr/sbin, which is not on an ordinary user's PATH.
SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")


class Records:
    """The records dnsmasq serves; the methods chain: `Records().mx(...).a(...)`."""

    def __init__(self) -> None:
        self._options: list[str] = []
        self._addresses: dict[str, list[str]] = {}
        self._zones: list[str] = list(DEFAULT_ZONES)

    def mx(self, domain: str, host: str, preference: int = 10) -> Records:
        """An MX record: mail for `domain` goes to `host`."""
        self._zone_of(domain)
        self._options.append(f"--mx-host={domain},{host},{preference}")
        return self

    def null_mx(self, domain: str, *, raw: bool = False) -> Records:
        """A null MX (RFC 7505): "0 .". With `raw`, as a raw type-15 record instead."""
        self._zone_of(domain)
        if raw:
            # RDATA: preference 0 (two octets), exchange the root name (one zero octet).
            self._options.append(f"--dns-rr={domain},15,000000")
        else:
            self._options.append(f"--mx-host={domain},.,0")
        return self

    def a(self, host: str, address: str) -> Records:
        """An A record, or an AAAA record for an IPv6 address."""
        ipaddress.ip_address(address)  # a typo in a test fails here, not in dnsmasq
        self._zone_of(host)
        self._addresses.setdefault(host, []).append(address)
        return self

    def aaaa(self, host: str, address: str) -> Records:
        """An AAAA record (the same as `a` with an IPv6 address)."""
        if ipaddress.ip_address(address).version != 6:
            raise ValueError(f"{address} is not an IPv6 address")
        return self.a(host, address)

    def txt(self, name: str, text: str) -> Records:
        """A TXT record (a name that exists without MX or address records)."""
        if "," in text or '"' in text:
            raise ValueError("keep TXT test data free of commas and quotes")
        self._zone_of(name)
        self._options.append(f"--txt-record={name},{text}")
        return self

    def zone(self, name: str) -> Records:
        """Answer for `name` and below only from these records (NXDOMAIN otherwise)."""
        if name not in self._zones:
            self._zones.append(name)
        return self

    def arguments(self) -> list[str]:
        """The dnsmasq options for these records."""
        # One option per address: a --host-record takes at most one IPv4 and one IPv6
        # address, and a second IPv4 in the same option replaces the first.
        hosts = [
            f"--host-record={host},{address}"
            for host, addresses in self._addresses.items()
            for address in addresses
        ]
        zones = [f"--local=/{zone}/" for zone in self._zones]
        return [*zones, *self._options, *hosts]

    def _zone_of(self, name: str) -> None:
        self.zone(name.rstrip(".").rpartition(".")[2] or name)


class Dnsmasq:
    """One dnsmasq process on 127.0.0.1; `serve` (re)starts it with a set of records."""

    def __init__(self, root: Path, binary: str) -> None:
        self.root = root
        self.binary = binary
        self.port = _free_udp_tcp_port()
        self.records = Records()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = root / "dnsmasq.log"

    @property
    def servers(self) -> list[str]:
        return ["127.0.0.1"]

    def serve(self, records: Records | None = None) -> Dnsmasq:
        """Serve `records` (or `self.records`), restarting dnsmasq if it runs."""
        if records is not None:
            self.records = records
        self.stop()
        for _ in range(5):
            if self._start():
                return self
            # Another process took the port between the check and the bind: move.
            self.port = _free_udp_tcp_port()
        pytest.fail(f"dnsmasq did not start:\n{self.log()}")

    def log(self) -> str:
        """dnsmasq's log so far (every query is logged)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None:
            return
        end_process(self.process)
        self.process = None

    def _start(self) -> bool:
        command = [
            self.binary,
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            f"--port={self.port}",
            f"--pid-file={self.root / 'dnsmasq.pid'}",
            "--log-facility=-",
            "--log-queries",
            *self.records.arguments(),
        ]
        with self.log_path.open("ab") as log:
            log.write(f"$ {' '.join(command)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        process = self.process

        def outcome() -> str | None:
            if process.poll() is not None:
                return "exited"
            # dnsmasq opens its UDP and TCP sockets together, before it accepts.
            return "listening" if accepts_connections(self.port) else None

        try:
            result = wait_until(outcome, 10, what="dnsmasq to listen")
        except AssertionError:
            self.stop()
            return False
        if result == "exited":
            self.process = None
            return False
        return True


def _free_udp_tcp_port() -> int:
    """A loopback port free for TCP and for UDP (DNS listens on both)."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no loopback port free for both TCP and UDP")


def find_dnsmasq() -> str:
    """The dnsmasq binary; fails the test (never skips) when it is not installed."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    return shutil.which("dnsmasq", path=search) or require_tool("dnsmasq")


@pytest.fixture
def dnsmasq(tmp_path: Path) -> Iterator[Dnsmasq]:
    """A dnsmasq for this test, started by `dnsmasq.serve(records)`, stopped after."""
    root = tmp_path / "dnsmasq"
    root.mkdir()
    server = Dnsmasq(root, find_dnsmasq())
    yield server
    server.stop()
