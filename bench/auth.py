"""Logins against a real slapd through SMTP and IMAP, and suspension propagation time.

Figures, not assertions (DESIGN.md, "Testing"). Starts a throw-away slapd on loopback
(tests/integration/slapd.py: our schema, deploy/ldap/sample.ldif plus --users bench
people with {SSHA} passwords) and `mailserver --config F serve` in its own process on
the LDAP backend, then measures:

  logins       --logins logins (default 2000) from --concurrency clients (16), users taken
               in turn: SMTP = implicit-TLS connection, AUTH PLAIN, QUIT; IMAP = implicit
               TLS connection, LOGIN, LOGOUT. Logins/s over the whole run (connection and
               TLS handshake included) and p50/p99 of the AUTH / LOGIN command alone.
               Twice: with the credential cache off (`auth.cache_size = 0`: every login
               is a search and a bind on slapd) and on (the default: a fresh read of the
               entry, no bind).
  propagation  --trials trials (30): a user logs in over IMAP, SELECTs INBOX and IDLEs;
               `ldapmodify` (the real tool, as an administrator would) sets
               mailAccountStatus: locked; the time from ldapmodify's exit to the BYE
               on the IMAP session, p50/p99/max. Only the change feed can explain a kick
               within seconds: the periodic re-check is left at its default (30 s).
               `--poll` sets directory.change_poll_seconds (default 5, the default).

Everything stays on 127.0.0.1; the temp dir and every process started here are removed
or stopped at the end.

    .venv/bin/python bench/auth.py [--logins 2000] [--concurrency 16] [--users 200]
        [--trials 30] [--poll 5] [--only logins|propagation] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import os
import platform
import random
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiosmtplib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.slapd import Slapd, make_slapd  # noqa: E402

SAMPLE = ROOT / "deploy" / "ldap" / "sample.ldif"
DOMAIN = "bangkok.go.th"
PASSWORD = "bench-auth-password"
START_TIMEOUT = 60.0
COMMAND_TIMEOUT = 30.0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def login_of(i: int) -> str:
    return f"bench{i:04d}@{DOMAIN}"


def ssha(password: str) -> str:
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def people_ldif(base: str, users: int) -> str:
    entries = []
    for i in range(users):
        login = login_of(i)
        uid = login.partition("@")[0]
        entries.append(
            f"dn: uid={uid},ou=people,{base}\n"
            "objectClass: inetOrgPerson\nobjectClass: mailAccount\n"
            f"uid: {uid}\ncn: Bench {i}\nsn: {i}\nmail: {login}\n"
            "mailAccountStatus: active\nmailUnit: Bench Unit\n"
            f"userPassword: {ssha(PASSWORD)}\n"
        )
    return "\n".join(entries)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@functools.cache
def client_context() -> ssl.SSLContext:
    """One context for every connection (building one reads the system's CA bundle)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the server's generated certificate
    return context


class Server:
    """`mailserver serve` on the LDAP backend, in its own process group."""

    def __init__(self, workdir: Path, slapd: Slapd, settings: dict[str, dict[str, Any]]) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True)
        secret = workdir / "ldap-password"
        secret.write_text(slapd.admin_password + "\n")
        self.smtps_port, self.imaps_port = free_port(), free_port()
        sections: dict[str, dict[str, Any]] = {
            "server": {"data_dir": str(workdir / "var"), "hostname": "mail.bench.example"},
            "smtp": {"submission_port": free_port(), "submissions_port": self.smtps_port},
            "mx": {"port": free_port()},
            "imap": {"port": free_port(), "tls_port": self.imaps_port},
            "pop3": {"port": free_port(), "tls_port": free_port()},
            "directory": {
                "backend": "ldap",
                "ldap_urls": [slapd.url],
                "ldap_allow_cleartext": True,  # slapd on loopback
                "ldap_base": slapd.base,
                "ldap_bind_dn": slapd.admin_dn,
                "ldap_bind_password_file": str(secret),
            },
            "log": {"level": "WARNING"},
        }
        for name, values in settings.items():
            sections.setdefault(name, {}).update(values)
        config = workdir / "mailserver.toml"
        config.write_text("".join(_toml_section(k, v) for k, v in sections.items()))
        self.process = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "mailserver"), "--config", str(config), "serve"],
            stdout=subprocess.DEVNULL,
            stderr=(workdir / "server.log").open("wb"),
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.imaps_port), timeout=1).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("mailserver did not start; see server.log") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _toml_section(name: str, values: dict[str, Any]) -> str:
    return f"[{name}]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()) + "\n"


# --- clients -------------------------------------------------------------------------


class Imap:
    """Just enough IMAP: tagged commands, the untagged lines before the tagged reply."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.n = reader, writer, 0

    @classmethod
    async def connect(cls, port: int) -> Imap:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(), server_hostname="localhost"
        )
        await asyncio.wait_for(reader.readline(), COMMAND_TIMEOUT)  # greeting
        return cls(reader, writer)

    async def command(self, text: str) -> tuple[bytes, list[bytes]]:
        self.n += 1
        tag = f"a{self.n}".encode()
        self.writer.write(tag + b" " + text.encode() + b"\r\n")
        untagged: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), COMMAND_TIMEOUT)
            if not line:
                raise ConnectionError("the server closed the connection")
            if line.startswith(tag + b" "):
                return line, untagged
            untagged.append(line)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


async def smtp_login(port: int, login: str) -> float:
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=port, use_tls=True, tls_context=client_context()
    )
    await client.connect(timeout=COMMAND_TIMEOUT)
    try:
        started = time.perf_counter()
        await client.login(login, PASSWORD, timeout=COMMAND_TIMEOUT)
        return time.perf_counter() - started
    finally:
        with contextlib.suppress(Exception):
            await client.quit()


async def imap_login(port: int, login: str) -> float:
    imap = await Imap.connect(port)
    try:
        started = time.perf_counter()
        reply, _ = await imap.command(f'LOGIN "{login}" "{PASSWORD}"')
        took = time.perf_counter() - started
        if b" OK" not in reply:
            raise RuntimeError(f"login refused: {reply!r}")
        await imap.command("LOGOUT")
        return took
    finally:
        await imap.close()


async def drive_logins(protocol: str, port: int, logins: int, concurrency: int, users: int) -> dict:
    login = smtp_login if protocol == "smtp" else imap_login
    latencies: list[float] = []
    counter = iter(range(logins))

    async def worker() -> None:
        for i in counter:
            latencies.append(await login(port, login_of(i % users)))

    for i in range(min(users, 20)):  # warm-up: TLS session setup paths, the server's caches
        await login(port, login_of(i))
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return {
        "logins": logins,
        "seconds": elapsed,
        "per_second": logins / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def ldapmodify(slapd: Slapd, ldif: str) -> None:
    subprocess.run(
        ["ldapmodify", "-x", "-H", slapd.url, "-D", slapd.admin_dn, "-w", slapd.admin_password],
        input=ldif.encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )


def status_ldif(slapd: Slapd, i: int, status: str) -> str:
    uid = login_of(i).partition("@")[0]
    return (
        f"dn: uid={uid},ou=people,{slapd.base}\nchangetype: modify\n"
        f"replace: mailAccountStatus\nmailAccountStatus: {status}\n"
    )


async def propagation(slapd: Slapd, port: int, trials: int, poll: float) -> dict:
    """Per trial: IDLE as user i, lock i with ldapmodify, time until BYE."""
    times: list[float] = []
    for i in range(trials):
        imap = await Imap.connect(port)
        try:
            await imap.command(f'LOGIN "{login_of(i)}" "{PASSWORD}"')
            await imap.command("SELECT INBOX")
            imap.n += 1
            imap.writer.write(f"a{imap.n} IDLE\r\n".encode())
            await asyncio.wait_for(imap.reader.readline(), COMMAND_TIMEOUT)  # "+ idling"
            # A random phase against the poll timer, as in real life (a trial starts just
            # after the previous BYE, that is just after a poll).
            await asyncio.sleep(random.uniform(0, poll))
            await asyncio.to_thread(ldapmodify, slapd, status_ldif(slapd, i, "locked"))
            changed = time.perf_counter()
            while True:
                line = await asyncio.wait_for(imap.reader.readline(), 120)
                if not line or line.startswith(b"* BYE"):
                    break
            times.append(time.perf_counter() - changed)
        finally:
            await imap.close()
        log(f"  trial {i + 1}/{trials}: BYE after {times[-1]:.2f} s")
    return {
        "trials": trials,
        "p50_s": percentile(times, 50),
        "p99_s": percentile(times, 99),
        "max_s": max(times),
        "min_s": min(times),
    }


# --- main ----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logins", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--poll", type=float, default=5.0, help="directory.change_poll_seconds")
    parser.add_argument("--only", choices=["logins", "propagation"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    args.users = max(args.users, args.trials)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs"
    results: dict[str, Any] = {"machine": f"{machine}, Python {platform.python_version()}"}
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp:
        root = Path(tmp)
        slapd = make_slapd(root / "slapd")
        slapd.start()
        try:
            slapd.add_ldif(SAMPLE.read_text())
            slapd.add_ldif(people_ldif(slapd.base, args.users))
            if args.only in (None, "logins"):
                for cache, size in (("cache off", 0), ("cache on", 10000)):
                    server = Server(root / f"server-{size}", slapd, {"auth": {"cache_size": size}})
                    try:
                        for protocol, port in (
                            ("smtp", server.smtps_port),
                            ("imap", server.imaps_port),
                        ):
                            log(f"{protocol} logins, {cache} ...")
                            results[f"{protocol} logins, {cache}"] = asyncio.run(
                                drive_logins(
                                    protocol, port, args.logins, args.concurrency, args.users
                                )
                            )
                    finally:
                        server.stop()
            if args.only in (None, "propagation"):
                server = Server(
                    root / "server-propagation",
                    slapd,
                    {"directory": {"change_poll_seconds": args.poll}},
                )
                try:
                    log(f"propagation, {args.trials} trials, poll {args.poll} s ...")
                    results["propagation"] = asyncio.run(
                        propagation(slapd, server.imaps_port, args.trials, args.poll)
                    )
                finally:
                    server.stop()
        finally:
            slapd.stop()
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"machine: {results.pop('machine')}")
    for name, figures in results.items():
        if name == "propagation":
            print(
                f"{name:<24} {figures['trials']} trials: p50 {figures['p50_s']:.2f} s, "
                f"p99 {figures['p99_s']:.2f} s, max {figures['max_s']:.2f} s "
                f"(poll every {args.poll:g} s)"
            )
        else:
            print(
                f"{name:<24} {figures['per_second']:7.1f} logins/s   login p50 "
                f"{figures['p50_ms']:6.1f} ms   p99 {figures['p99_ms']:6.1f} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
