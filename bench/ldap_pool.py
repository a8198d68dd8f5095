"""Logins/s through `LdapDirectory.authenticate` against a real slapd (figures only).

Starts a throw-away slapd on loopback (tests/integration/slapd.py: our schema and
deploy/ldap/sample.ldif), then runs --logins authentications (right password) from
--concurrency asyncio tasks on one LdapDirectory, after a short warm-up, and prints
logins/s and p50/p99 latency of one `authenticate`. With --count-connections the
client talks through a tiny TCP relay in front of slapd (threads copying bytes; it
slows every run down) that counts the TCP connections opened during the timed run.

    .venv/bin/python bench/ldap_pool.py [--logins 2000] [--concurrency 16] [--rounds 3]
    .venv/bin/python bench/ldap_pool.py --count-connections
    .venv/bin/python bench/ldap_pool.py --tls starttls   # or ldaps

`--tls` serves TLS from slapd with a generated CA (needs the TLS option of the
fixture). Everything stays on 127.0.0.1; the temp dir is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import inspect
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailserver.directory.ldap import LdapDirectory  # noqa: E402
from tests.integration.slapd import make_slapd  # noqa: E402

SAMPLE = ROOT / "deploy" / "ldap" / "sample.ldif"
LOGIN, PASSWORD = "somchai.k@bangkok.go.th", "sample-password-1"


class CountingRelay:
    """127.0.0.1:port -> target, one thread pair per connection; counts accepted ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket

        self.target = target
        self.accepted = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket

        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: object, sink: object) -> None:
        import socket

        assert isinstance(source, socket.socket) and isinstance(sink, socket.socket)
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self._listener.close()


async def run(url: str, base: str, args: argparse.Namespace, options: dict[str, object]) -> dict:
    ldap = LdapDirectory([url], base, connect_timeout=5.0, receive_timeout=10.0, **options)  # type: ignore[arg-type]
    try:
        for _ in range(20):  # warm-up
            assert await ldap.authenticate(LOGIN, PASSWORD) is not None
        latencies: list[float] = []
        remaining = args.logins

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                account = await ldap.authenticate(LOGIN, PASSWORD)
                latencies.append(time.perf_counter() - started)
                assert account is not None

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await ldap.close()
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tls", choices=("none", "starttls", "ldaps"), default="none")
    parser.add_argument("--pool-size", type=int, default=None, help="LdapDirectory pool_size")
    parser.add_argument("--count-connections", action="store_true")
    args = parser.parse_args()
    accepts = inspect.signature(LdapDirectory).parameters
    with tempfile.TemporaryDirectory(prefix="bench-ldap-") as tmp:
        root = Path(tmp)
        tls_options: dict[str, object] = {}
        if args.tls != "none":
            from tests.integration.ldap_certs import make_ca

            ca = make_ca(root / "ca", "bench CA")
            server = make_slapd(root / "slapd", tls=ca.issue(root / "server"))
            tls_options = {"ca_file": str(ca.cert_file), "start_tls": args.tls == "starttls"}
        else:
            server = make_slapd(root / "slapd")
        server.start()
        relay = None
        try:
            server.add_ldif(SAMPLE.read_text())
            port = server.tls_port if args.tls == "ldaps" else server.port
            if args.count_connections:
                relay = CountingRelay(("127.0.0.1", port))
                port = relay.port
            scheme = "ldaps" if args.tls == "ldaps" else "ldap"
            # The certificate names 127.0.0.1, and the relay listens there too.
            url = f"{scheme}://127.0.0.1:{port}"
            options = dict(tls_options)
            if args.pool_size is not None and "pool_size" in accepts:
                options["pool_size"] = args.pool_size
            print(
                f"{args.logins} logins, {args.concurrency} concurrent, tls={args.tls}, "
                f"pool={'yes' if 'pool_size' in accepts else 'no (fresh connections)'}"
            )
            results = []
            for round_ in range(args.rounds):
                before = relay.accepted if relay else 0
                result = asyncio.run(run(url, server.base, args, options))
                results.append(result)
                counted = f"  {relay.accepted - before} TCP connections" if relay else ""
                print(
                    f"round {round_ + 1}: {result['rate']:7.0f} logins/s  "
                    f"p50 {result['p50']:6.2f} ms  p99 {result['p99']:6.2f} ms{counted}"
                )
            best = sorted(results, key=lambda r: r["rate"])[len(results) // 2]
            print(f"median: {best['rate']:.0f} logins/s, p50 {best['p50']:.2f} ms")
        finally:
            if relay is not None:
                relay.close()
            server.stop()


if __name__ == "__main__":
    main()
