"""IMAP load: a realistic client mix against mailserver and Dovecot, and connection scale.

Figures, not assertions (DESIGN.md, "Testing"). Two measurements, each against the real
server started as `mailserver --config F serve` in its own process (never in the client's):

  mix    --accounts accounts (argon2id, added with `mailserver account add`), each INBOX
         preloaded with --messages messages (written straight into the Maildirs with
         `MailStore.deliver` before the server starts). --sessions concurrent implicit-TLS
         sessions, each logged in once, then for --duration seconds a loop of what a mail
         client does: SELECT INBOX; FETCH 1:* (FLAGS UID RFC822.SIZE); the headers (FROM
         SUBJECT DATE) of the newest 50; BODY[] of one message; SEARCH UNSEEN; SEARCH SUBJECT
         "word"; STORE +FLAGS (\\Seen); APPEND to Sent; IDLE then DONE at once. Printed per
         command: operations/s, p50/p99 latency and its share of the session's time. Dovecot
         (Debian's, when installed) gets the same mailboxes and the same mix in the same run,
         also over implicit TLS; the ratios are printed.
  scale  --idle-sessions sessions (10,000) over implicit TLS, all logged in to one account
         (the auth cache makes every login after the first cheap) and idling: SELECT INBOX,
         IDLE. The server's VmRSS (/proc/PID/status) before, after the logins and after IDLE,
         KiB per session, the server's CPU while 10,000 sessions idle, and how long setting
         them up took. The clients run in 2-4 processes of their own (~3,500 connections
         each), connecting through a small concurrency limit so the listen backlog (100,
         asyncio's default) never overflows.

The client is a small asyncio IMAP client written here: it parses no more than it must
(tagged status, literals, the lines it needs), so its CPU stays small beside the server's.
The client processes of `scale` shrink their own TLS read buffers (see `client_tls_buffer`);
that changes only the load generator, never the server.

Everything is on 127.0.0.1; the run is bounded (default ~2.5-3 minutes: 20 s of mix per server,
a 10,000-session scale step); the temp dir and every process started here are removed or
ended at the end, also on Ctrl-C (children run in their own process groups and are stopped
by their ids).

    .venv/bin/python bench/imap_load.py [--only mix|scale] [--sessions 20] [--duration 20]
        [--idle-sessions 10000] [--no-dovecot] [--tmpdir DIR] [--json] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import email.utils
import json
import math
import os
import platform
import pwd
import queue
import random
import re
import resource
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "bench.example"
HOSTNAME = "mail.bench.example"
PASSWORD = "bench-imap-password"
IDLE_LOGIN = f"phone@{DOMAIN}"
TICKS = os.sysconf("SC_CLK_TCK")
START_TIMEOUT = 60.0  # seconds a server may take to listen
COMMAND_TIMEOUT = 60.0  # seconds any one IMAP command may take
CLIENT_LINE_LIMIT = 4 * 1024 * 1024
SESSIONS_PER_CLIENT_PROCESS = 3500
CONNECT_CONCURRENCY = 30  # per client process: 3-4 processes stay under a backlog of 100
SCALE_IDLE_WINDOW = 10.0  # seconds the server's CPU is watched with every session in IDLE
OPS = (
    "SELECT",
    "FETCH 1:* FLAGS",
    "FETCH 50 headers",
    "FETCH BODY[]",
    "SEARCH UNSEEN",
    "SEARCH SUBJECT",
    "STORE +FLAGS",
    "APPEND Sent",
    "IDLE+DONE",
)
SUBJECT_WORDS = (
    "budget report meeting agenda quarter figures ledger minutes review draft invoice "
    "schedule travel approval contract summary proposal training audit payroll"
)
PROSE_TEXT = (
    "The database section reviewed the account figures for the quarter and found that the "
    "numbers agree with the ledger, except where noted below; the differences come from late "
    "postings and will be corrected in the next period."
)
WORDS = SUBJECT_WORDS.split()
PROSE = PROSE_TEXT.split()


def login_of(i: int) -> str:
    return f"user{i}@{DOMAIN}"


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- the mailboxes -------------------------------------------------------------------------


def make_message(rng: random.Random, n: int, sender: str, recipient: str) -> bytes:
    """One message of a few KB (text/plain), every 10th with a ~30 KB attachment; CRLF."""
    from email.message import EmailMessage
    from email.policy import SMTP as SMTP_POLICY

    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Sender {n % 37} <{sender}>"
    msg["To"] = recipient
    msg["Subject"] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) + f" #{n}"
    when = dt.datetime(2025, 11, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=37 * n)
    msg["Date"] = email.utils.format_datetime(when)
    msg["Message-ID"] = f"<{n}.{rng.getrandbits(48):x}@{DOMAIN}>"
    target = rng.choice((1500, 3000, 5000, 8000, 15000))
    words = [PROSE[(n + k) % len(PROSE)] for k in range(target // 6)]
    lines = [" ".join(words[k : k + 11]) for k in range(0, len(words), 11)]
    msg.set_content("\n".join(lines) + "\n", charset="utf-8", cte="7bit")
    if n % 10 == 0:
        msg.add_attachment(rng.randbytes(22_000), "application", "pdf", filename=f"doc{n}.pdf")
    return msg.as_bytes()


def mailbox_messages(count: int, recipient: str, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [make_message(rng, n, f"colleague{n % 13}@{DOMAIN}", recipient) for n in range(count)]


def preload(mail_root: Path, logins: list[str], count: int) -> int:
    """Deliver `count` messages into each INBOX, straight into the Maildirs; bytes written."""
    sys.path.insert(0, str(ROOT))
    from mailserver.store.mailstore import MailStore

    store = MailStore(mail_root, hostname=HOSTNAME)

    def fill(i_login: tuple[int, str]) -> int:
        i, login = i_login
        total = 0
        for message in mailbox_messages(count, login, seed=i):
            store.deliver(login, message)
            total += len(message)
        return total

    with ThreadPoolExecutor(8) as pool:
        return sum(pool.map(fill, enumerate(logins)))


# --- processes ----------------------------------------------------------------------------


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    fields = proc_stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields)
    return (user + nice + system + irq + softirq + steal) / TICKS


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


class Processes:
    """Children started here, each in its own process group; all stopped on exit."""

    def __init__(self) -> None:
        self.children: list[subprocess.Popen[Any]] = []

    def start(self, command: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
        # Own session: a Ctrl-C reaches only this script, which then stops the children in
        # order (a server must not die before the clients that hold its connections).
        child = subprocess.Popen(command, start_new_session=True, **kwargs)
        self.children.append(child)
        return child

    def stop(self, child: subprocess.Popen[Any], timeout: float = 30.0) -> None:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGTERM)
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
        # Stragglers of its group (Dovecot's session processes) go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)

    def close(self) -> None:
        for child in reversed(self.children):
            self.stop(child, timeout=10.0)
        self.children.clear()


def wait_listening(port: int, process: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{what} exited with status {process.returncode}") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen within {START_TIMEOUT:.0f} s") from None
            time.sleep(0.05)


# --- mailserver --------------------------------------------------------------------------


@dataclass
class MailServer:
    """`mailserver serve` in a temp dir: config, accounts, mailboxes."""

    workdir: Path
    processes: Processes
    imaps_port: int = 0
    process: subprocess.Popen[Any] | None = None

    @property
    def config(self) -> Path:
        return self.workdir / "mailserver.toml"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "var"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        ports = {name: free_port() for name in ("sub", "subs", "imap", "imaps", "pop", "pops")}
        self.imaps_port = ports["imaps"]
        self.config.write_text(
            f"""[server]
node = "bench"
hostname = "{HOSTNAME}"
data_dir = "{self.data_dir}"
shutdown_grace_seconds = 1.0

[smtp]
listen = "127.0.0.1"
submission_port = {ports["sub"]}
submissions_port = {ports["subs"]}

[imap]
listen = "127.0.0.1"
port = {ports["imap"]}
tls_port = {ports["imaps"]}

[pop3]
listen = "127.0.0.1"
port = {ports["pop"]}
tls_port = {ports["pops"]}

[auth]
failure_delay_seconds = 0.1

[limits]
# Every bench client connects from 127.0.0.1, thousands at once (as Dovecot's
# mail_max_userip_connections below).
max_connections_per_ip = 0
max_connections = 0

[log]
level = "WARNING"
"""
        )

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mailserver.cli", "--config", str(self.config), *args]

    def add_accounts(self, logins: list[str]) -> None:
        """`mailserver account add --password-stdin`, a few at a time (argon2id each)."""

        def add(login: str) -> None:
            command = self.cli("account", "add", login, "--password-stdin", "--actor", "bench")
            for attempt in range(5):
                done = subprocess.run(
                    command, input=PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT
                )
                if done.returncode == 0:
                    return
                if "locked" not in done.stderr or attempt == 4:
                    raise RuntimeError(f"account add {login}: {done.stderr.strip()}")
                time.sleep(0.2 * (attempt + 1))  # SQLite: another `account add` is writing

        add(logins[0])  # the first one creates the directory database alone
        with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
            list(pool.map(add, logins[1:]))

    def start(self, profile: Path | None = None) -> None:
        command = self.cli("serve")
        if profile is not None:  # cProfile of the event-loop thread, written at SIGTERM
            command[1:3] = ["-m", "cProfile", "-o", str(profile), "-m", "mailserver.cli"]
        self.process = self.processes.start(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr.open("ab"),  # summarised by `logged_errors`
            preexec_fn=raise_nofile,  # the `ulimit -n` of 10,000 sessions
        )
        wait_listening(self.imaps_port, self.process, "mailserver")

    @property
    def stderr(self) -> Path:
        return self.workdir / "server.stderr"

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process, timeout=60.0)
            self.process = None

    def logged_errors(self) -> tuple[int, str]:
        """How many ERROR lines the server wrote to stderr, and the first one."""
        if not self.stderr.exists():
            return 0, ""
        errors = [x for x in self.stderr.read_text(errors="replace").splitlines() if " ERROR " in x]
        return len(errors), errors[0] if errors else ""


# --- Dovecot ------------------------------------------------------------------------------


@dataclass
class DovecotServer:
    """Debian's Dovecot on implicit TLS in a temp dir, static passdb, Maildirs of `nobody`.

    The layout is the one mailserver's store uses (`<root>/<domain>/<user>/Maildir`), so
    the same preload fills both. Configured like tests/integration/dovecot.py, plus TLS
    with the certificate mailserver generated, and a per-user connection limit that lets
    a bench open many sessions.
    """

    workdir: Path
    processes: Processes
    port: int = 0
    process: subprocess.Popen[Any] | None = None

    @property
    def mail_root(self) -> Path:
        return self.workdir / "mail"

    def write_config(self, cert: Path, key: Path) -> Path:
        nobody = pwd.getpwnam("nobody")
        self.port = free_port()
        for sub in ("run", "state", "mail"):
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        config = self.workdir / "dovecot.conf"
        config.write_text(
            f"""
base_dir = {self.workdir}/run
state_dir = {self.workdir}/state
log_path = {self.workdir}/dovecot.log
info_log_path = {self.workdir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={self.mail_root}/%d/%n
}}
protocol imap {{
  mail_max_userip_connections = 100000
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""
        )
        return config

    def prepare(self, cert: Path, key: Path, logins: list[str], count: int) -> None:
        self.config = self.write_config(cert, key)
        preload(self.mail_root, logins, count)
        nobody = pwd.getpwnam("nobody")
        for login in logins:
            local, _, domain = login.partition("@")
            sent = self.mail_root / domain / local / "Maildir" / ".Sent"
            for sub in ("cur", "new", "tmp"):
                (sent / sub).mkdir(parents=True, exist_ok=True)
        for path in [self.mail_root, *self.mail_root.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)

    def start(self) -> None:
        dovecot = shutil.which("dovecot") or "/usr/sbin/dovecot"
        self.process = self.processes.start(
            [dovecot, "-F", "-c", str(self.config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_listening(self.port, self.process, "dovecot")
        except RuntimeError as exc:
            logfile = self.workdir / "dovecot.log"
            text = logfile.read_text()[-2000:] if logfile.exists() else ""
            raise RuntimeError(f"{exc}\n{text}") from None

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process)
            self.process = None


def dovecot_available() -> bool:
    return shutil.which("dovecot") is not None or os.path.exists("/usr/sbin/dovecot")


# --- a small IMAP client ------------------------------------------------------------------

_LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")


class ImapError(Exception):
    """A tagged NO/BAD, or an unexpected answer."""


def client_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Client:
    """Just enough IMAP for the bench: commands, literals skipped, tagged status checked."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.tags = 0
        self.literal_plus = False

    @classmethod
    async def connect(cls, port: int, context: ssl.SSLContext) -> Client:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, limit=CLIENT_LINE_LIMIT
        )
        client = cls(reader, writer)
        greeting = await reader.readuntil(b"\r\n")
        if not greeting.startswith(b"* OK"):
            raise ImapError(f"greeting: {greeting[:100]!r}")
        return client

    async def read_line(self) -> bytes:
        """One response line; literals are read and replaced by {} (their bytes dropped)."""
        line = await self.reader.readuntil(b"\r\n")
        while (match := _LITERAL.search(line)) is not None:
            await self.reader.readexactly(int(match.group(1)))
            line = line[: match.start()] + b"{}" + await self.reader.readuntil(b"\r\n")
        return line

    def _tag(self) -> bytes:
        self.tags += 1
        return b"a%d" % self.tags

    async def _finish(self, tag: bytes, untagged: list[bytes]) -> list[bytes]:
        prefix = tag + b" "
        while True:
            line = await self.read_line()
            if line.startswith(prefix):
                if line[len(prefix) : len(prefix) + 2] != b"OK":
                    raise ImapError(line[:200].decode(errors="replace").strip())
                return untagged
            untagged.append(line)

    async def command(self, text: bytes, literal: bytes | None = None) -> list[bytes]:
        """Send one command (with an optional trailing literal); the untagged lines."""
        tag = self._tag()
        untagged: list[bytes] = []
        if literal is None:
            self.writer.write(tag + b" " + text + b"\r\n")
        elif self.literal_plus:
            self.writer.write(b"%s %s {%d+}\r\n%s\r\n" % (tag, text, len(literal), literal))
        else:
            self.writer.write(b"%s %s {%d}\r\n" % (tag, text, len(literal)))
            while not (line := await self.read_line()).startswith(b"+"):
                if line.startswith(tag + b" "):
                    raise ImapError(line[:200].decode(errors="replace").strip())
                untagged.append(line)
            self.writer.write(literal + b"\r\n")
        return await self._finish(tag, untagged)

    async def login(self, user: str, password: str) -> None:
        untagged = await self.command(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))
        caps = b" ".join(untagged)
        if b"LITERAL+" not in caps:
            caps = b" ".join(await self.command(b"CAPABILITY"))
        self.literal_plus = b"LITERAL+" in caps

    async def idle_start(self) -> bytes:
        """Send IDLE and wait for the continuation; the tag to finish it with."""
        tag = self._tag()
        self.writer.write(tag + b" IDLE\r\n")
        while not (line := await self.read_line()).startswith(b"+"):
            if line.startswith(tag + b" "):
                raise ImapError(line[:200].decode(errors="replace").strip())
        return tag

    async def idle_done(self, tag: bytes) -> None:
        self.writer.write(b"DONE\r\n")
        await self._finish(tag, [])

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.write(b"z LOGOUT\r\n")
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)


def exists_of(untagged: list[bytes]) -> int:
    for line in untagged:
        parts = line.split()
        if len(parts) >= 3 and parts[2].upper() == b"EXISTS":
            return int(parts[1])
    raise ImapError("SELECT without EXISTS")


def search_hits(untagged: list[bytes]) -> int:
    for line in untagged:
        if line.upper().startswith(b"* SEARCH"):
            return len(line.split()) - 2
    return 0


# --- the mix ------------------------------------------------------------------------------


@dataclass
class SessionFigures:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    loops: int = 0
    login_seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


async def timed(figures: SessionFigures, op: str, coro: Any) -> Any:
    started = time.perf_counter()
    result = await asyncio.wait_for(coro, COMMAND_TIMEOUT)
    figures.latencies[op].append(time.perf_counter() - started)
    return result


async def mix_session(
    i: int,
    login: str,
    port: int,
    context: ssl.SSLContext,
    ready: asyncio.Barrier,
    go: asyncio.Event,
    deadline: list[float],
    figures: SessionFigures,
) -> None:
    rng = random.Random(1000 + i)
    sent = mailbox_messages(5, login, seed=10_000 + i)
    client: Client | None = None
    try:
        started = time.perf_counter()
        client = await asyncio.wait_for(Client.connect(port, context), COMMAND_TIMEOUT)
        await asyncio.wait_for(client.login(login, PASSWORD), COMMAND_TIMEOUT)
        figures.login_seconds = time.perf_counter() - started
        # Warm-up, outside the figures: the first SELECT moves new/ to cur/ and builds indexes.
        await asyncio.wait_for(client.command(b"SELECT INBOX"), COMMAND_TIMEOUT)
    except Exception as exc:
        figures.errors.append(f"login: {exc!r}")
    await ready.wait()
    await go.wait()
    if figures.errors or client is None:
        return
    try:
        while time.perf_counter() < deadline[0]:
            untagged = await timed(figures, "SELECT", client.command(b"SELECT INBOX"))
            n = exists_of(untagged)
            await timed(
                figures, "FETCH 1:* FLAGS", client.command(b"FETCH 1:* (FLAGS UID RFC822.SIZE)")
            )
            first = max(1, n - 49)
            await timed(
                figures,
                "FETCH 50 headers",
                client.command(
                    b"FETCH %d:%d (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)])" % (first, n)
                ),
            )
            await timed(
                figures, "FETCH BODY[]", client.command(b"FETCH %d BODY[]" % rng.randint(1, n))
            )
            await timed(figures, "SEARCH UNSEEN", client.command(b"SEARCH UNSEEN"))
            word = rng.choice(WORDS).encode()
            await timed(figures, "SEARCH SUBJECT", client.command(b'SEARCH SUBJECT "%s"' % word))
            await timed(
                figures,
                "STORE +FLAGS",
                client.command(b"STORE %d +FLAGS (\\Seen)" % rng.randint(1, n)),
            )
            message = sent[figures.loops % len(sent)]
            await timed(figures, "APPEND Sent", client.command(b"APPEND Sent (\\Seen)", message))
            started = time.perf_counter()
            tag = await asyncio.wait_for(client.idle_start(), COMMAND_TIMEOUT)
            await asyncio.wait_for(client.idle_done(tag), COMMAND_TIMEOUT)
            figures.latencies["IDLE+DONE"].append(time.perf_counter() - started)
            figures.loops += 1
    except Exception as exc:
        figures.errors.append(f"loop {figures.loops}: {exc!r}")
    finally:
        await client.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(p) - 1]


async def drive_mix(
    port: int, server_pid: int, logins: list[str], args: argparse.Namespace, whole_machine: bool
) -> dict[str, Any]:
    context = client_context()
    figures = [SessionFigures() for _ in range(args.sessions)]
    ready = asyncio.Barrier(args.sessions + 1)
    go = asyncio.Event()
    deadline = [math.inf]
    tasks = [
        asyncio.create_task(
            mix_session(i, logins[i % len(logins)], port, context, ready, go, deadline, figures[i])
        )
        for i in range(args.sessions)
    ]
    login_started = time.perf_counter()
    await asyncio.wait_for(ready.wait(), 300)
    login_wall = time.perf_counter() - login_started
    server_cpu0, client_cpu0 = cpu_seconds(server_pid), time.process_time()
    machine0 = machine_busy_seconds()
    started = time.perf_counter()
    deadline[0] = started + args.duration
    go.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    server_cpu, client_cpu = (
        cpu_seconds(server_pid) - server_cpu0,
        time.process_time() - client_cpu0,
    )
    machine = machine_busy_seconds() - machine0
    if whole_machine:
        # Dovecot works in many processes (a login and an imap process per session, auth,
        # ...), some started and ended within the run: count everything but the client.
        server_cpu = machine - client_cpu
    latencies = {op: [x for f in figures for x in f.latencies[op]] for op in OPS}
    ops = sum(len(v) for v in latencies.values())
    return {
        "wall": wall,
        "loops": sum(f.loops for f in figures),
        "ops": ops,
        "ops_rate": ops / wall,
        "per_op": {
            op: {
                "count": len(v),
                "rate": len(v) / wall,
                "p50": percentile(v, 50),
                "p99": percentile(v, 99),
                "total": sum(v),
            }
            for op, v in latencies.items()
        },
        "login_wall": login_wall,
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
        "machine_cpu": machine,
        "errors": [e for f in figures for e in f.errors],
    }


def run_mix(args: argparse.Namespace, tmp: Path, processes: Processes) -> dict[str, Any]:
    logins = [login_of(i) for i in range(args.accounts)]
    server = MailServer(tmp / "mailserver", processes)
    server.write_config()
    log(f"mix: adding {len(logins)} accounts with `mailserver account add` ...")
    server.add_accounts(logins)
    log(f"mix: preloading {args.messages} messages into each INBOX ...")
    size = preload(server.data_dir / "mail", logins, args.messages)
    profile = tmp / "mailserver.prof" if args.profile else None
    results: dict[str, Any] = {"mailbox_bytes": size // len(logins)}
    server.start(profile)
    try:
        assert server.process is not None
        log(f"mix: mailserver, {args.sessions} sessions for {args.duration:.0f} s ...")
        results["mailserver"] = asyncio.run(
            drive_mix(server.imaps_port, server.process.pid, logins, args, whole_machine=False)
        )
    finally:
        server.stop()
    results["mailserver"]["server_errors"] = server.logged_errors()
    if profile is not None and profile.exists():
        print_profile(profile)
    if not args.no_dovecot:
        if not dovecot_available():
            log("mix: dovecot is not installed; skipping the comparison")
        else:
            dovecot = DovecotServer(tmp / "dovecot", processes)
            log("mix: preparing Dovecot (same messages, implicit TLS) ...")
            certs = server.data_dir / "certs"
            dovecot.prepare(certs / "server.crt", certs / "server.key", logins, args.messages)
            dovecot.start()
            try:
                assert dovecot.process is not None
                log(f"mix: dovecot, {args.sessions} sessions for {args.duration:.0f} s ...")
                results["dovecot"] = asyncio.run(
                    drive_mix(dovecot.port, dovecot.process.pid, logins, args, whole_machine=True)
                )
            finally:
                dovecot.stop()
    return results


def print_profile(path: Path) -> None:
    import pstats

    stats = pstats.Stats(str(path), stream=sys.stderr).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


# --- connection scale --------------------------------------------------------------------


def client_tls_buffer() -> None:
    """LOAD GENERATOR ONLY: 16 KiB TLS read buffers in the client processes.

    asyncio's SSLProtocol preallocates 256 KiB per connection (DESIGN.md, known traps); with
    ~3,500 connections per client process that is ~0.9 GB per process of the bench's own
    memory. This touches the client processes only; the server's figure is the point.
    """
    import asyncio.sslproto

    asyncio.sslproto.SSLProtocol.max_size = 16 * 1024


async def idle_client_main(port: int, login: str, count: int, concurrency: int) -> None:
    """One client process of `scale`: open `count` sessions, report, idle, report, wait.

    Protocol with the parent (lines): prints `authed OK FAILED SECONDS ERROR`, waits for
    `select` on stdin, prints `idle OK FAILED SECONDS ERROR`, then holds every connection
    until `stop` (or end of input), and exits without logging out.
    """
    client_tls_buffer()
    context = client_context()
    limit = asyncio.Semaphore(concurrency)
    clients: list[Client] = []
    errors: list[str] = []
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)

    async def open_one() -> None:
        async with limit:
            try:
                client = await asyncio.wait_for(Client.connect(port, context), COMMAND_TIMEOUT)
                await asyncio.wait_for(client.login(login, PASSWORD), COMMAND_TIMEOUT)
                clients.append(client)
            except Exception as exc:
                errors.append(repr(exc))

    async def idle_one(client: Client) -> bool:
        async with limit:
            try:
                await asyncio.wait_for(client.command(b"SELECT INBOX"), COMMAND_TIMEOUT)
                await asyncio.wait_for(client.idle_start(), COMMAND_TIMEOUT)
                return True
            except Exception as exc:
                errors.append(repr(exc))
                return False

    def report(stage: str, ok: int, seconds: float) -> None:
        first = errors[0].replace(" ", "_")[:200] if errors else "-"
        print(f"{stage} {ok} {len(errors)} {seconds:.3f} {first}", flush=True)

    started = time.perf_counter()
    await asyncio.gather(*(open_one() for _ in range(count)))
    report("authed", len(clients), time.perf_counter() - started)
    await stdin.readline()  # "select"
    errors.clear()
    started = time.perf_counter()
    idled = await asyncio.gather(*(idle_one(c) for c in clients))
    report("idle", sum(idled), time.perf_counter() - started)
    await stdin.readline()  # "stop"
    for client in clients:
        client.writer.transport.abort()


class ClientProcess:
    """A scale client process and a thread that turns its output into queued lines."""

    def __init__(self, processes: Processes, command: list[str], lines: queue.Queue[Any]):
        self.process = processes.start(
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=raise_nofile,
        )
        self.lines = lines
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put((self, line.split()))
        self.lines.put((self, None))

    def tell(self, word: str) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.write(word + "\n")
            self.process.stdin.flush()


def collect(clients: list[ClientProcess], lines: queue.Queue[Any], stage: str) -> dict[str, Any]:
    """Wait for every client's report of `stage`; sum them."""
    ok = failed = 0
    seconds = 0.0
    first_error = ""
    waiting = set(clients)
    deadline = time.monotonic() + 600
    while waiting:
        try:
            client, parts = lines.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise RuntimeError(f"scale clients did not report {stage!r} in time") from None
        if parts is None:
            raise RuntimeError(f"a scale client exited early ({stage})")
        if parts[0] != stage:
            continue
        waiting.discard(client)
        ok += int(parts[1])
        failed += int(parts[2])
        seconds = max(seconds, float(parts[3]))
        if parts[4] != "-" and not first_error:
            first_error = parts[4]
    return {"ok": ok, "failed": failed, "seconds": seconds, "first_error": first_error}


def run_scale(args: argparse.Namespace, tmp: Path, processes: Processes) -> dict[str, Any]:
    hard = raise_nofile()
    if args.idle_sessions + 200 > hard:
        raise SystemExit(f"--idle-sessions {args.idle_sessions} needs more than {hard} files")
    server = MailServer(tmp / "scale", processes)
    server.write_config()
    log("scale: adding the shared account ...")
    server.add_accounts([IDLE_LOGIN])
    preload(server.data_dir / "mail", [IDLE_LOGIN], args.messages)
    server.start()
    assert server.process is not None
    pid = server.process.pid
    figures: dict[str, Any] = {"sessions": args.idle_sessions}
    try:
        figures["rss_start"] = rss_kib(pid)

        async def warm_up() -> None:  # the one argon2 verify, and a first SELECT, before
            client = await Client.connect(server.imaps_port, client_context())
            await client.login(IDLE_LOGIN, PASSWORD)
            await client.command(b"SELECT INBOX")
            await client.close()

        asyncio.run(warm_up())
        time.sleep(1.0)
        figures["rss_before"] = rss_kib(pid)
        n_procs = min(4, max(2, math.ceil(args.idle_sessions / SESSIONS_PER_CLIENT_PROCESS)))
        shares = [args.idle_sessions // n_procs] * n_procs
        shares[0] += args.idle_sessions - sum(shares)
        figures["client_processes"] = n_procs
        lines: queue.Queue[Any] = queue.Queue()
        log(
            f"scale: {args.idle_sessions} TLS sessions from {n_procs} client processes "
            f"(at most {CONNECT_CONCURRENCY * n_procs} connecting at once) ..."
        )
        cpu0 = cpu_seconds(pid)
        clients = [
            ClientProcess(
                processes,
                [sys.executable, __file__, "--idle-client", str(server.imaps_port), str(share)],
                lines,
            )
            for share in shares
        ]
        figures["authed"] = collect(clients, lines, "authed")
        figures["cpu_authed"] = cpu_seconds(pid) - cpu0
        time.sleep(1.0)
        figures["rss_authed"] = rss_kib(pid)
        log(f"scale: {figures['authed']['ok']} logged in; SELECT INBOX + IDLE ...")
        cpu0 = cpu_seconds(pid)
        for client in clients:
            client.tell("select")
        figures["idle"] = collect(clients, lines, "idle")
        figures["cpu_idle_setup"] = cpu_seconds(pid) - cpu0
        time.sleep(1.0)
        figures["rss_idle"] = rss_kib(pid)
        log(
            f"scale: {figures['idle']['ok']} in IDLE; watching the server {SCALE_IDLE_WINDOW:.0f} s"
        )
        cpu0 = cpu_seconds(pid)
        time.sleep(SCALE_IDLE_WINDOW)
        figures["cpu_idle_window"] = cpu_seconds(pid) - cpu0
        figures["rss_idle_end"] = rss_kib(pid)
        for client in clients:
            client.tell("stop")
        for client in clients:
            try:
                client.process.wait(60)
            except subprocess.TimeoutExpired:
                processes.stop(client.process)
    finally:
        server.stop()
    figures["server_errors"] = server.logged_errors()
    return figures


# --- output -----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}" if seconds == seconds else "-"


def mix_report(results: dict[str, Any], args: argparse.Namespace) -> str:
    ours, peer = results["mailserver"], results.get("dovecot")
    lines = [
        f"### Client mix: {args.sessions} sessions over implicit TLS, {args.accounts} accounts x "
        f"{args.messages} messages (~{results['mailbox_bytes'] // 1024} KiB per INBOX), "
        f"{args.duration:.0f} s",
        "",
    ]
    if peer:
        lines += [
            "| command | mailserver ops/s | p50 ms | p99 ms | time share "
            "| Dovecot ops/s | p50 ms | p99 ms | time share | ops/s ratio |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
    else:
        lines += [
            "| command | mailserver ops/s | p50 ms | p99 ms | time share |",
            "|---|---:|---:|---:|---:|",
        ]
    share_of = {
        name: sum(o["total"] for o in r["per_op"].values()) or 1.0
        for name, r in (("ours", ours), ("peer", peer or ours))
    }
    for op in OPS:
        a = ours["per_op"][op]
        row = (
            f"| {op} | {a['rate']:.1f} | {ms(a['p50'])} | {ms(a['p99'])} "
            f"| {a['total'] / share_of['ours']:.0%} |"
        )
        if peer:
            b = peer["per_op"][op]
            ratio = a["rate"] / b["rate"] if b["rate"] else float("nan")
            row += (
                f" {b['rate']:.1f} | {ms(b['p50'])} | {ms(b['p99'])} "
                f"| {b['total'] / share_of['peer']:.0%} | {ratio:.2f} |"
            )
        lines.append(row)

    def total_row(r: dict[str, Any], cpu_label: str) -> str:
        loops = max(r["loops"], 1)
        return (
            f"{r['ops_rate']:.0f} ops/s, {r['loops'] / r['wall']:.1f} loops/s; "
            f"{cpu_label} {r['server_cpu'] * 1000 / loops:.1f} ms/loop "
            f"({r['server_cpu'] / r['wall']:.0%} of a core), "
            f"client CPU {r['client_cpu'] * 1000 / loops:.1f} ms/loop; "
            f"{args.sessions} logins in {r['login_wall']:.2f} s"
        )

    lines += ["", f"mailserver: {total_row(ours, 'server process CPU')}"]
    if peer:
        lines.append(f"Dovecot:    {total_row(peer, 'machine CPU less the client')}")
        lines.append(
            f"mailserver / Dovecot: {ours['ops_rate'] / peer['ops_rate']:.2f} of the operations/s"
        )
    for name, r in (("mailserver", ours), ("Dovecot", peer)):
        if r and r["errors"]:
            lines.append(f"{name}: {len(r['errors'])} errors, first: {r['errors'][0]}")
    count, first = ours.get("server_errors", (0, ""))
    if count:
        lines.append(f"mailserver logged {count} ERROR lines on stderr; first: {first}")
    return "\n".join(lines)


def scale_report(f: dict[str, Any]) -> str:
    n = f["sessions"]
    ok = max(f["idle"]["ok"], 1)
    per_authed = (f["rss_authed"] - f["rss_before"]) / max(f["authed"]["ok"], 1)
    per_idle = (f["rss_idle"] - f["rss_before"]) / ok
    lines = [
        f"### Connection scale: {n} implicit-TLS sessions, one account, SELECT INBOX + IDLE",
        "",
        "| stage | sessions | server VmRSS MiB | KiB per session | setup s | server CPU s |",
        "|---|---:|---:|---:|---:|---:|",
        f"| server started | 0 | {f['rss_start'] / 1024:.0f} | | | |",
        f"| after one login + SELECT (warm-up) | 0 | {f['rss_before'] / 1024:.0f} | | | |",
        f"| TLS + LOGIN | {f['authed']['ok']} | {f['rss_authed'] / 1024:.0f} "
        f"| {per_authed:.1f} | {f['authed']['seconds']:.1f} | {f['cpu_authed']:.1f} |",
        f"| + SELECT INBOX + IDLE | {f['idle']['ok']} | {f['rss_idle'] / 1024:.0f} "
        f"| {per_idle:.1f} | {f['idle']['seconds']:.1f} | {f['cpu_idle_setup']:.1f} |",
        f"| idle for {SCALE_IDLE_WINDOW:.0f} s | {f['idle']['ok']} "
        f"| {f['rss_idle_end'] / 1024:.0f} | | | {f['cpu_idle_window']:.1f} |",
        "",
        f"{n} sessions in IDLE: {f['rss_idle'] / 1024:.0f} MiB resident "
        f"({(f['rss_idle'] - f['rss_before']) / 1024:.0f} MiB above the warm server; target "
        f"< 1024 MiB); idling costs the server {f['cpu_idle_window'] / SCALE_IDLE_WINDOW:.0%} "
        f"of a core; clients in {f['client_processes']} processes.",
    ]
    count, first = f.get("server_errors", (0, ""))
    if count:
        lines.append(
            f"mailserver logged {count} ERROR lines on stderr (most at shutdown, after the "
            f"clients dropped their connections); first: {first}"
        )
    for stage in ("authed", "idle"):
        if f[stage]["failed"]:
            lines.append(
                f"{stage}: {f[stage]['failed']} sessions failed, first: {f[stage]['first_error']}"
            )
    return "\n".join(lines)


def header() -> str:
    return (
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; {platform.platform()}"
    )


# --- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("mix", "scale"), action="append", help="run one part")
    parser.add_argument("--accounts", type=int, default=20, help="accounts of the mix (20)")
    parser.add_argument("--messages", type=int, default=200, help="messages per INBOX (200)")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent mix sessions (20)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of mix (20)")
    parser.add_argument("--idle-sessions", type=int, default=10_000, help="scale (10000)")
    parser.add_argument("--no-dovecot", action="store_true", help="skip the Dovecot mix")
    parser.add_argument("--tmpdir", type=Path, help="where the temp dir goes (system default)")
    parser.add_argument("--json", action="store_true", help="also print the raw figures")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile mailserver's event loop in the mix"
    )
    parser.add_argument("--idle-client", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.idle_client:
        port, count = args.idle_client
        raise_nofile()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(idle_client_main(port, IDLE_LOGIN, count, CONNECT_CONCURRENCY))
        return 0

    if not 1 <= args.accounts <= 1000 or not 1 <= args.sessions <= 1000:
        parser.error("--accounts and --sessions must be 1..1000")
    if not 50 <= args.messages <= 20_000 or not 1 <= args.duration <= 600:
        parser.error("--messages must be 50..20000 and --duration 1..600")
    if not 1 <= args.idle_sessions <= 100_000:
        parser.error("--idle-sessions must be 1..100000")

    parts = args.only or ["mix", "scale"]
    out: list[str] = [f"IMAP load, {header()}", ""]
    raw: dict[str, Any] = {}
    processes = Processes()
    tmp = Path(tempfile.mkdtemp(prefix="imap-bench-", dir=args.tmpdir))
    os.chmod(tmp, 0o755)  # Dovecot's session processes run as `nobody`
    log(f"data in {tmp}")
    try:
        if "mix" in parts:
            raw["mix"] = run_mix(args, tmp, processes)
            out += [mix_report(raw["mix"], args), ""]
        if "scale" in parts:
            raw["scale"] = run_scale(args, tmp, processes)
            out += [scale_report(raw["scale"]), ""]
    except KeyboardInterrupt:
        log("interrupted: stopping the servers and clients ...")
        return 130
    finally:
        processes.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n".join(out).rstrip())
    if args.json:
        print(json.dumps(raw, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
