"""Unknown login versus wrong password: what each costs over the wire, per protocol.

Figures, not assertions (DESIGN.md, "Testing"). A login refused for an unknown user
must cost what one refused for a wrong password does, or the response time tells an
attacker which logins exist (an enumeration oracle; docs/security.md, "Logins").

Starts the real server (`python -m mailserver.cli --config F serve`, the integration
tests' `MailServer`: SQLite directory, policy log, generated certificate) in a temp dir
with argon2id at the configured default cost (19 MiB, t=2) or `--memory-kib` /
`--time-cost`, and `auth.failure_delay_seconds = 0` so the pause that hides a failure's
cost does not also hide a difference in work (it is a constant added to both). One
account, kanya@bangkok.go.th, is added with the CLI (argon2id), and deploy/ldap/sample.ldif
is imported with `account import-ldif`, as a migrated directory is: its people keep
their {SSHA} hashes until they next log in. Then for each protocol, on one implicit-TLS
connection, `--logins` (200) triples of refused logins alternate:

  unknown  a login that does not exist (a fresh one each time, in the same domain)
  wrong    kanya@bangkok.go.th with a fresh wrong password each time
  legacy   somchai.k@bangkok.go.th ({SSHA}, imported) with a fresh wrong password

SMTP is AUTH PLAIN with an initial response, IMAP is LOGIN, POP3 is AUTH PLAIN. The time
is that of the command alone (sent .. its reply read). Printed: median and p90 of each,
in ms, and the difference of the medians. The first 5 pairs warm up and are not counted.

    .venv/bin/python bench/login_timing.py [--logins 200] [--only smtp|imap|pop3]
        [--memory-kib 19456] [--time-cost 2] [--json]

Everything stays on 127.0.0.1; the server is stopped and the temp dir removed at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import platform
import secrets
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.conftest import (  # noqa: E402
    MailServer,
    client_tls_context,
    write_config,
)

ACCOUNT = "kanya@bangkok.go.th"
LEGACY_ACCOUNT = "somchai.k@bangkok.go.th"  # {SSHA} in the sample LDIF
SAMPLE = ROOT / "deploy" / "ldap" / "sample.ldif"
LOGINS = {"unknown": "nobody{i:05d}@bangkok.go.th", "wrong": ACCOUNT, "legacy": LEGACY_ACCOUNT}
PASSWORD = "bench-login-timing-password"
WARM_UP = 5
TIMEOUT = 30.0


def plain(login: str, password: str) -> str:
    """A SASL PLAIN initial response (RFC 4616), base64."""
    return base64.b64encode(f"\0{login}\0{password}".encode()).decode()


class Line:
    """A TLS connection read line by line (just enough of each protocol)."""

    def __init__(self, port: int) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock = client_tls_context().wrap_socket(raw, server_hostname="localhost")
        self.file = self.sock.makefile("rb")

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode() + b"\r\n")

    def read(self) -> str:
        line = self.file.readline()
        if not line:
            raise ConnectionError("the server closed the connection")
        return line.decode("utf-8", "replace").rstrip("\r\n")

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def smtp_attempt(conn: Line) -> Callable[[str, str], None]:
    conn.read()  # greeting
    conn.send("EHLO bench.example")
    while not conn.read().startswith("250 "):
        pass

    def attempt(login: str, password: str) -> None:
        conn.send(f"AUTH PLAIN {plain(login, password)}")
        while (reply := conn.read())[3:4] == "-":  # one line per language
            pass
        assert reply.startswith("535"), reply

    return attempt


def imap_attempt(conn: Line) -> Callable[[str, str], None]:
    conn.read()  # greeting
    counter = iter(range(1, 1 << 30))

    def attempt(login: str, password: str) -> None:
        tag = f"a{next(counter)}"
        conn.send(f'{tag} LOGIN "{login}" "{password}"')
        while not (reply := conn.read()).startswith(tag + " "):
            pass
        assert reply.startswith(tag + " NO"), reply

    return attempt


def pop3_attempt(conn: Line) -> Callable[[str, str], None]:
    conn.read()  # greeting

    def attempt(login: str, password: str) -> None:
        conn.send(f"AUTH PLAIN {plain(login, password)}")
        reply = conn.read()
        assert reply.startswith("-ERR"), reply

    return attempt


PROTOCOLS = {"smtp": ("submissions", smtp_attempt), "imap": ("imaps", imap_attempt)}
PROTOCOLS["pop3"] = ("pop3s", pop3_attempt)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def measure(server: MailServer, protocol: str, logins: int) -> dict[str, dict[str, float]]:
    """Alternating unknown / wrong-password / legacy-hash logins on one connection; ms."""
    listener, start = PROTOCOLS[protocol]
    conn = Line(server.ports[listener])
    times: dict[str, list[float]] = {kind: [] for kind in LOGINS}
    try:
        attempt = start(conn)
        for i in range(logins + WARM_UP):
            for kind, pattern in LOGINS.items():
                login = pattern.format(i=i)
                password = "wrong-" + secrets.token_hex(6)
                began = time.perf_counter()
                attempt(login, password)
                if i >= WARM_UP:
                    times[kind].append((time.perf_counter() - began) * 1000)
    finally:
        conn.close()
    return {
        kind: {"median": statistics.median(v), "p90": percentile(v, 90), "n": len(v)}
        for kind, v in times.items()
    }


def report(results: dict[str, dict[str, dict[str, float]]], args: argparse.Namespace) -> str:
    lines = [
        f"{platform.node()} {platform.machine()}, Python {platform.python_version()}; "
        f"argon2id m={args.memory_kib} KiB t={args.time_cost}; {args.logins} of each",
        "ms per refused login; Δ = median of unknown less median of the other",
        f"{'protocol':<9}"
        + "".join(f"{kind + ' p50':>13}{'p90':>7}" for kind in LOGINS)
        + f"{'Δwrong':>8}{'Δlegacy':>9}",
    ]
    for protocol, r in results.items():
        row = "".join(f"{r[k]['median']:>13.1f}{r[k]['p90']:>7.1f}" for k in LOGINS)
        unknown = r["unknown"]["median"]
        lines.append(
            f"{protocol:<9}{row}{unknown - r['wrong']['median']:>+8.1f}"
            f"{unknown - r['legacy']['median']:>+9.1f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--only", choices=sorted(PROTOCOLS), action="append")
    parser.add_argument("--memory-kib", type=int, default=19_456)
    parser.add_argument("--time-cost", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    auth = {
        "argon2_memory_kib": args.memory_kib,
        "argon2_time_cost": args.time_cost,
        "failure_delay_seconds": 0,
    }
    with tempfile.TemporaryDirectory(prefix="login-timing-") as tmp:
        root = Path(tmp)
        config, ports = write_config(root, auth=auth, log={"level": "WARNING"})
        listening = {k: v for k, v in ports.items() if k in ("submissions", "imaps", "pop3s")}
        server = MailServer(root, config, ports["submission"], ports["submissions"], listening)
        server.start()
        try:
            server.add_account(ACCOUNT, password=PASSWORD)
            server.cli("account", "import-ldif", str(SAMPLE))
            results = {p: measure(server, p, args.logins) for p in (args.only or PROTOCOLS)}
        finally:
            server.stop()
    print(json.dumps(results, indent=2) if args.json else report(results, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
