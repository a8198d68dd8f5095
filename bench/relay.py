"""Relay throughput: submission -> queue -> remote SMTP sink, mailserver against Postfix.

Figures, not assertions (DESIGN.md, "Testing"). One run measures, with the same load,
the same client and the same remote:

  mailserver  `python -m mailserver.cli --config F serve` in its own process, data in the
              temp dir, one account added with `mailserver account add --password-stdin`,
              `relay.smarthost = "127.0.0.1:<sink port>"` and
              `relay.smarthost_require_tls = false` (the sink offers no STARTTLS); the load
              submits on the implicit-TLS submissions port with AUTH PLAIN once per session.
  postfix     a private Postfix instance (`postfix -c <tmp>/postfix/etc start`, Debian's
              binaries, its own main.cf/master.cf, queue and data directories in the temp
              dir, `relayhost = [127.0.0.1]:<sink port>`, `mynetworks = 127.0.0.0/8`, no
              chroot); the load submits to its smtpd on a loopback port in clear and
              without AUTH (relaying is allowed by mynetworks). The asymmetry (no TLS
              handshake, no AUTH, no policy for Postfix) is in the table.

The remote is one real `smtp-sink` (Postfix's test server, run with `-u nobody`), shared by
both, dumping every transaction to a file of its own (`-d`). smtp-sink cannot say when a
message arrived, so the arrival time of a message is the mtime of its dump file: smtp-sink
writes the file while it reads DATA and closes it at the final dot, before its 250. The file
is matched to the submission by the message's (unique) Message-ID. mtimes come from the
kernel's coarse clock: they are quantised to one tick (4 ms on the 250 Hz kernel this was
written on; the tick seen is printed) and early by up to one tick.

The load: --sessions concurrent sessions (aiosmtplib), each on ONE persistent connection
(EHLO, and AUTH PLAIN once for mailserver), sending --messages messages of ~10 KB
(text/plain, unique Message-ID) to a recipient at remote.example. All sessions connect and
log in first, then start sending together. A warm-up of one message per session precedes
the measured rounds of each server (connections, processes, auth cache, Postfix's smtpd
and smtp processes), and rounds alternate between the servers, each waiting for the sink to
have every message and the server's queue to be empty.

Printed per server (median round by delivered messages/s, with every round's rates):
messages/s accepted by submission (over the sending phase) and fully delivered to the sink
(messages at the sink / (last arrival - start of sending)); p50/p99 of a submission
transaction (MAIL sent .. 250 after DATA); queue latency p50/p99 (250 received by the client
.. arrival at the sink); the drain tail (last arrival - end of sending); CPU per message of
the machine less the client and the sink (everything the server did, in all its processes,
plus the kernel's loopback work), and of mailserver's process alone.

Everything is on 127.0.0.1; every wait is bounded (60 s per SMTP command, 60 s for a server
to start, --drain-timeout for the deliveries of a round); the processes started here are
stopped by their ids, the Postfix instance with `postfix -c DIR stop` (then `abort`, then its
master's pid), and the temp dir is removed, also on Ctrl-C or SIGTERM.

    .venv/bin/python bench/relay.py [--sessions 20] [--messages 50] [--rounds 3]
        [--only mailserver|postfix] [--per-destination N] [--tmpdir DIR] [--json] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import grp
import itertools
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = "bench.example"
REMOTE = "remote.example"
HOSTNAME = "mail.bench.example"
LOGIN = f"sender@{DOMAIN}"
PASSWORD = "bench-relay-password"
BODY_BYTES = 10_000
START_TIMEOUT = 60.0  # seconds a server may take to listen
CLIENT_TIMEOUT = 60.0  # seconds any one SMTP command may take
SETTLE_TIMEOUT = 30.0  # seconds a server's queue may take to empty after the sink has all
POSTFIX = Path("/usr/sbin/postfix")
SMTP_SINK = Path("/usr/sbin/smtp-sink")
SERVERS = ("mailserver", "postfix")
LABELS = {
    "mailserver": "mailserver (implicit TLS + AUTH, policy, spool)",
    "postfix": "Postfix 3.7 (plain TCP, no AUTH, mynetworks)",
}
PROSE_TEXT = (
    "The database section reviewed the account figures for the quarter and found that the "
    "numbers agree with the ledger, except where noted below; the differences come from late "
    "postings and will be corrected in the next period."
)
PROSE = PROSE_TEXT.split()
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*<([^>\r\n]+)>", re.IGNORECASE | re.MULTILINE)
TICKS = os.sysconf("SC_CLK_TCK")


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (all its threads), or of its thread `tid`, from /proc.

    0 once it is gone.
    """
    path = f"/proc/{pid}/stat" if tid is None else f"/proc/{pid}/task/{tid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields)
    return (user + nice + system + irq + softirq + steal) / TICKS


def wait_listening(port: int, alive: Any, what: str) -> None:
    """Until something accepts on 127.0.0.1:port; `alive()` False means it died."""
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if not alive():
                raise RuntimeError(f"{what} exited before listening") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen within {START_TIMEOUT:.0f} s") from None
            time.sleep(0.05)


def stop_child(child: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL, to one child started here (it has its own session)."""
    if child.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            child.wait()


def owner_ids(user: str) -> tuple[int, int]:
    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


# --- the remote: smtp-sink --------------------------------------------------------------------


@dataclass
class Sink:
    """smtp-sink on a free loopback port, one dump file per transaction in `dump_dir`."""

    dump_dir: Path
    port: int = 0
    process: subprocess.Popen[Any] | None = None

    def start(self) -> None:
        self.dump_dir.mkdir(mode=0o755)
        args = [str(SMTP_SINK), "-h", "sink.remote.example", "-d", f"{self.dump_dir}/m."]
        if os.geteuid() == 0:  # smtp-sink must drop root; `nobody` writes the dumps
            os.chown(self.dump_dir, *owner_ids("nobody"))
            args += ["-u", "nobody"]
        self.port = free_port()
        self.process = subprocess.Popen(
            [*args, f"127.0.0.1:{self.port}", "256"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=(self.dump_dir.parent / "smtp-sink.stderr").open("wb"),
            start_new_session=True,
        )
        process = self.process
        wait_listening(self.port, lambda: process.poll() is None, "smtp-sink")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def count(self) -> int:
        return sum(1 for _ in os.scandir(self.dump_dir))

    def collect(self) -> tuple[dict[str, int], int]:
        """{Message-ID: mtime in ns} of the complete dumps, and how many others; all removed."""
        arrivals: dict[str, int] = {}
        other = 0
        for entry in os.scandir(self.dump_dir):
            mtime = entry.stat().st_mtime_ns
            data = Path(entry.path).read_bytes()
            found = MESSAGE_ID.search(data)
            if found is None or not data.endswith(b"\n\n"):
                other += 1
            else:
                arrivals[found.group(1).decode()] = mtime
            os.unlink(entry.path)
        return arrivals, other

    def stop(self) -> None:
        if self.process is not None:
            stop_child(self.process)


# --- the servers ------------------------------------------------------------------------------


@dataclass
class MailServer:
    """`mailserver serve` in `workdir`, relaying everything remote to the sink."""

    workdir: Path
    sink_port: int
    per_destination: int | None
    profile: Path | None = None
    port: int = 0
    process: subprocess.Popen[Any] | None = None

    use_tls = True
    login: str | None = LOGIN

    @property
    def config(self) -> Path:
        return self.workdir / "mailserver.toml"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "var"

    @property
    def envelopes(self) -> Path:
        return self.data_dir / "queue" / "envelopes"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / "mailserver.stderr"

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mailserver.cli", "--config", str(self.config), *args]

    def start(self) -> None:
        self.workdir.mkdir()
        ports = {n: free_port() for n in ("sub", "subs", "mx", "imap", "imaps", "pop", "pops")}
        self.port = ports["subs"]
        queue = ""
        if self.per_destination is not None:
            queue = f"\n[queue]\nper_destination = {self.per_destination}\n"
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

[mx]
listen = "127.0.0.1"
port = {ports["mx"]}

[imap]
listen = "127.0.0.1"
port = {ports["imap"]}
tls_port = {ports["imaps"]}

[pop3]
listen = "127.0.0.1"
port = {ports["pop"]}
tls_port = {ports["pops"]}

[relay]
smarthost = "127.0.0.1:{self.sink_port}"
smarthost_require_tls = false
{queue}
[log]
level = "WARNING"
"""
        )
        done = subprocess.run(
            self.cli("account", "add", LOGIN, "--password-stdin", "--actor", "bench"),
            input=PASSWORD + "\n",
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=START_TIMEOUT,
        )
        if done.returncode != 0:
            raise RuntimeError(f"account add: {done.stderr.strip()}")
        command = self.cli("serve")
        if self.profile is not None:  # cProfile of the event-loop thread, written at SIGTERM
            command[1:3] = ["-m", "cProfile", "-o", str(self.profile), "-m", "mailserver.cli"]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr_path.open("wb"),
            start_new_session=True,
        )
        process = self.process
        try:
            wait_listening(self.port, lambda: process.poll() is None, "mailserver")
        except RuntimeError as exc:
            tail = self.stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
            raise RuntimeError(f"{exc}: {' | '.join(tail)}") from None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def queued(self) -> int:
        return sum(1 for _ in self.envelopes.glob("*.json"))

    def problems(self) -> list[str]:
        if not self.stderr_path.exists():
            return []
        lines = self.stderr_path.read_text(errors="replace").splitlines()
        return [line for line in lines if "ERROR" in line or "Traceback" in line]

    def stop(self) -> None:
        if self.process is not None:
            stop_child(self.process)


@dataclass
class PostfixServer:
    """A private Postfix instance: own config, queue and data directories in `workdir`."""

    workdir: Path
    sink_port: int
    port: int = 0
    started: bool = False
    master_pid: int | None = None

    use_tls = False
    login: str | None = None

    @property
    def etc(self) -> Path:
        return self.workdir / "etc"

    @property
    def queue_dir(self) -> Path:
        return self.workdir / "queue"

    @property
    def maillog(self) -> Path:
        return self.workdir / "maillog"

    @staticmethod
    def unavailable() -> str | None:
        """Why a private Postfix cannot run here, or None."""
        if not POSTFIX.exists():
            return f"{POSTFIX} is not installed"
        if os.geteuid() != 0:
            return "starting Postfix needs root (its master runs as root, daemons as postfix)"
        try:
            pwd.getpwnam("postfix")
            grp.getgrnam("postdrop")
        except KeyError as exc:
            return f"missing user/group for Postfix: {exc}"
        return None

    def postfix(self, command: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(POSTFIX), "-c", str(self.etc), command],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def start(self) -> None:
        self.workdir.mkdir(mode=0o755)
        self.etc.mkdir()
        self.queue_dir.mkdir()  # `postfix start` makes its subdirectories with their owners
        data = self.workdir / "data"
        data.mkdir(mode=0o700)
        os.chown(data, *owner_ids("postfix"))  # master.lock is created by the postfix user
        self.port = free_port()
        (self.etc / "main.cf").write_text(
            f"""# Private benchmark instance, generated by bench/relay.py.
compatibility_level = 3.6
queue_directory = {self.queue_dir}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix.bench.example
mydomain = bench.example
myorigin = $myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
relayhost = [127.0.0.1]:{self.sink_port}
mynetworks = 127.0.0.0/8
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file = {self.maillog}
maillog_file_prefixes = {self.workdir}
biff = no
"""
        )
        # Debian's services minus chroot (the temp dir has no chroot tree), plus the smtpd.
        services = [
            f"127.0.0.1:{self.port} inet n - n - - smtpd",
            "pickup unix n - n 60 1 pickup",
            "cleanup unix n - n - 0 cleanup",
            "qmgr unix n - n 300 1 qmgr",
            "rewrite unix - - n - - trivial-rewrite",
            "bounce unix - - n - 0 bounce",
            "defer unix - - n - 0 bounce",
            "trace unix - - n - 0 bounce",
            "verify unix - - n - 1 verify",
            "flush unix n - n 1000? 0 flush",
            "proxymap unix - - n - - proxymap",
            "smtp unix - - n - - smtp",
            "relay unix - - n - - smtp",
            "showq unix n - n - - showq",
            "error unix - - n - - error",
            "retry unix - - n - - error",
            "discard unix - - n - - discard",
            "local unix - n n - - local",
            "anvil unix - - n - 1 anvil",
            "scache unix - - n - 1 scache",
            "postlog unix-dgram n - n - 1 postlogd",
        ]
        (self.etc / "master.cf").write_text("\n".join(services) + "\n")
        self.started = True  # from here on, cleanup runs `postfix stop`
        done = self.postfix("start")
        pid_file = self.queue_dir / "pid" / "master.pid"
        with contextlib.suppress(OSError, ValueError):
            self.master_pid = int(pid_file.read_text().split()[0])
        if done.returncode != 0:
            tail = self.maillog.read_text().splitlines()[-5:] if self.maillog.exists() else []
            raise RuntimeError(
                f"postfix start exited {done.returncode}: {done.stderr.strip()} " + " | ".join(tail)
            )
        wait_listening(self.port, lambda: True, "Postfix smtpd")

    @property
    def pid(self) -> int | None:
        return None  # many processes: only the machine's CPU tells

    def queued(self) -> int:
        names = ("maildrop", "incoming", "active", "deferred", "hold")
        return sum(len(files) for name in names for _, _, files in os.walk(self.queue_dir / name))

    def problems(self) -> list[str]:
        if not self.maillog.exists():
            return []
        words = ("status=deferred", "status=bounced", "warning:", "fatal:", "panic:", "error:")
        lines = self.maillog.read_text(errors="replace").splitlines()
        return [
            line
            for line in lines
            if any(w in line for w in words) and "not owned by postfix" not in line
        ]

    def stop(self) -> None:
        if not self.started:
            return
        self.started = False
        try:
            if self.postfix("stop", timeout=30).returncode == 0:
                deadline = time.monotonic() + 10
                while self.master_alive() and time.monotonic() < deadline:
                    time.sleep(0.1)
        except subprocess.TimeoutExpired:
            pass
        if self.master_alive():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.postfix("abort", timeout=30)
        if self.master_alive() and self.master_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.master_pid, signal.SIGKILL)

    def master_alive(self) -> bool:
        if self.master_pid is None:
            return False
        try:
            stat = Path(f"/proc/{self.master_pid}/stat").read_text()
        except OSError:
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- the load ---------------------------------------------------------------------------------


def message_template(session: int) -> tuple[str, bytes]:
    """(recipient, message) of one session; the message has a MSGID placeholder."""
    from email.message import EmailMessage
    from email.policy import SMTP as SMTP_POLICY

    recipient = f"colleague{session}@{REMOTE}"
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"Bench Sender <{LOGIN}>"
    msg["To"] = f"Colleague {session} <{recipient}>"
    msg["Subject"] = f"Quarterly figures, part {session}"
    msg["Date"] = "Tue, 25 Nov 2025 10:00:00 +0700"
    msg["Message-ID"] = "<MSGID>"
    lines: list[str] = []
    size = 0
    n = 0
    while size < BODY_BYTES:
        words = [PROSE[(n + k) % len(PROSE)] for k in range(11)]
        lines.append(" ".join(words))
        size += len(lines[-1]) + 2
        n += 11
        if len(lines) % 12 == 0:
            lines.append("")
    msg.set_content("\n".join(lines) + "\n", charset="utf-8", cte="7bit")
    return recipient, msg.as_bytes()


@dataclass
class Sent:
    message_id: str
    transaction: float  # seconds from MAIL sent to the 250 after DATA
    accepted_ns: int  # wall clock (time.time_ns) when the 250 after DATA arrived


@dataclass
class SessionResult:
    sent: list[Sent] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


async def run_session(
    server: MailServer | PostfixServer,
    tag: str,
    session: int,
    messages: int,
    ready: asyncio.Barrier,
    result: SessionResult,
) -> None:
    import aiosmtplib

    recipient, template = message_template(session)
    smtp = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=server.port,
        use_tls=server.use_tls,
        start_tls=False,
        validate_certs=False,
        timeout=CLIENT_TIMEOUT,
        local_hostname="client.bench.example",
    )
    try:
        await smtp.connect()
        await smtp.ehlo()
        if server.login is not None:
            await smtp.auth_plain(server.login, PASSWORD)
    except Exception as exc:
        result.errors.append(f"login: {exc!r}")
    await ready.wait()  # everyone starts sending together, connected or not
    if result.errors:
        return
    try:
        for n in range(messages):
            message_id = f"{tag}.{session}.{n}.{time.time_ns():x}@{DOMAIN}"
            body = template.replace(b"<MSGID>", f"<{message_id}>".encode())
            t0 = time.perf_counter()
            await smtp.mail(LOGIN)
            await smtp.rcpt(recipient)
            await smtp.data(body)
            accepted = time.time_ns()
            result.sent.append(Sent(message_id, time.perf_counter() - t0, accepted))
        await smtp.quit()
    except Exception as exc:
        result.errors.append(f"message {len(result.sent)}: {exc!r}")
        smtp.close()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(p) - 1]


async def drive(
    server: MailServer | PostfixServer,
    sink: Sink,
    tag: str,
    sessions: int,
    messages: int,
    drain_timeout: float,
) -> dict[str, Any]:
    """One round: the load, then wait for the sink to have every accepted message."""
    results = [SessionResult() for _ in range(sessions)]
    ready = asyncio.Barrier(sessions + 1)
    tasks = [
        asyncio.create_task(run_session(server, tag, i, messages, ready, results[i]))
        for i in range(sessions)
    ]
    await ready.wait()
    server_pid = server.pid
    busy0, client0, sink0 = machine_busy_seconds(), time.process_time(), cpu_seconds(sink.pid)
    server0 = cpu_seconds(server_pid) if server_pid else 0.0
    loop0 = cpu_seconds(server_pid, server_pid) if server_pid else 0.0  # main thread = loop
    start_ns, started = time.time_ns(), time.perf_counter()
    await asyncio.gather(*tasks)
    submit_wall = time.perf_counter() - started
    sent = [s for r in results for s in r.sent]
    deadline = time.monotonic() + drain_timeout
    while sink.count() < len(sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    busy = machine_busy_seconds() - busy0
    client = time.process_time() - client0
    sink_cpu = cpu_seconds(sink.pid) - sink0
    server_cpu = cpu_seconds(server_pid) - server0 if server_pid else None
    loop_cpu = cpu_seconds(server_pid, server_pid) - loop0 if server_pid else None
    settle_deadline = time.monotonic() + SETTLE_TIMEOUT
    while server.queued() and time.monotonic() < settle_deadline:
        await asyncio.sleep(0.05)
    left_in_queue = server.queued()
    await asyncio.sleep(0.1)  # the last transactions close their dump files
    arrivals, other_dumps = sink.collect()
    latencies = [
        (arrivals[s.message_id] - s.accepted_ns) / 1e9 for s in sent if s.message_id in arrivals
    ]
    mine = [arrivals[s.message_id] for s in sent if s.message_id in arrivals]
    last_arrival_ns = max(mine, default=start_ns)
    delivered_wall = (last_arrival_ns - start_ns) / 1e9
    end_of_sending_ns = max((s.accepted_ns for s in sent), default=start_ns)
    return {
        "expected": sessions * messages,
        "accepted": len(sent),
        "delivered": len(mine),
        "unmatched_dumps": len(arrivals) - len(mine) + other_dumps,
        "left_in_queue": left_in_queue,
        "errors": [e for r in results for e in r.errors],
        "submit_wall": submit_wall,
        "accepted_rate": len(sent) / submit_wall if submit_wall else 0.0,
        "delivered_wall": delivered_wall,
        "delivered_rate": len(mine) / delivered_wall if delivered_wall > 0 else 0.0,
        "drain_tail": (last_arrival_ns - end_of_sending_ns) / 1e9,
        "submit_p50": percentile([s.transaction for s in sent], 50),
        "submit_p99": percentile([s.transaction for s in sent], 99),
        "queue_p50": percentile(latencies, 50),
        "queue_p99": percentile(latencies, 99),
        "queue_max": max(latencies, default=float("nan")),
        "queue_min": min(latencies, default=float("nan")),
        "mtime_tick": mtime_tick(mine),
        "server_side_cpu": busy - client - sink_cpu,
        "server_cpu": server_cpu,
        "loop_cpu": loop_cpu,
        "sink_cpu": sink_cpu,
        "client_cpu": client,
    }


def mtime_tick(mtimes: list[int]) -> float:
    """The smallest step between distinct arrival mtimes, in seconds (the clock's tick)."""
    distinct = sorted(set(mtimes))
    steps = [b - a for a, b in itertools.pairwise(distinct)]
    return min(steps, default=0) / 1e9


# --- the run ----------------------------------------------------------------------------------


def median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median delivered messages/s, plus every round's rates."""
    ordered = sorted(runs, key=lambda f: f["delivered_rate"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    median["accepted_rates"] = [f["accepted_rate"] for f in runs]
    median["delivered_rates"] = [f["delivered_rate"] for f in runs]
    median["all_errors"] = [e for f in runs for e in f["errors"]]
    median["all_delivered"] = sum(f["delivered"] for f in runs)
    median["all_expected"] = sum(f["expected"] for f in runs)
    return median


def ms(seconds: float | None) -> str:
    return "" if seconds is None or seconds != seconds else f"{seconds * 1000:.1f}"


def report(
    results: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    notes: list[str],
) -> str:
    rows = [
        "| server | accepted msg/s | (all rounds) | delivered msg/s | (all rounds) "
        "| submit p50 ms | p99 ms | queue p50 ms | p99 ms | drain tail s "
        "| server-side CPU ms/msg | of which server process |",
        "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in results.items():
        n = max(f["delivered"], 1)
        own = "" if f["server_cpu"] is None else f"{f['server_cpu'] * 1000 / n:.2f}"
        rows.append(
            f"| {LABELS[name]} | {f['accepted_rate']:.0f} "
            f"| {' '.join(f'{r:.0f}' for r in f['accepted_rates'])} "
            f"| {f['delivered_rate']:.0f} "
            f"| {' '.join(f'{r:.0f}' for r in f['delivered_rates'])} "
            f"| {ms(f['submit_p50'])} | {ms(f['submit_p99'])} "
            f"| {ms(f['queue_p50'])} | {ms(f['queue_p99'])} | {f['drain_tail']:.2f} "
            f"| {f['server_side_cpu'] * 1000 / n:.2f} | {own} |"
        )
    lines = [
        f"{args.sessions} sessions x {args.messages} messages of ~{BODY_BYTES // 1000} KB to "
        f"one smtp-sink, median of {args.rounds} rounds (by delivered msg/s); "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "",
        *rows,
        "",
    ]
    ms_f, pf_f = results.get("mailserver"), results.get("postfix")
    if ms_f and pf_f and pf_f["accepted_rate"] and pf_f["delivered_rate"]:
        lines.append(
            f"mailserver / Postfix: accepted {ms_f['accepted_rate'] / pf_f['accepted_rate']:.2f}, "
            f"delivered {ms_f['delivered_rate'] / pf_f['delivered_rate']:.2f} of the "
            f"messages/s; queue latency p50 {ms_f['queue_p50'] / pf_f['queue_p50']:.1f}x, "
            f"p99 {ms_f['queue_p99'] / pf_f['queue_p99']:.1f}x"
        )
    for name, f in results.items():
        extra = [
            f"{f['all_delivered']} of {f['all_expected']} messages at the sink over all rounds",
            f"arrival mtime tick {f['mtime_tick'] * 1000:.1f} ms",
            f"queue latency min {ms(f['queue_min'])} / max {ms(f['queue_max'])} ms",
            f"sink CPU {f['sink_cpu'] * 1000 / max(f['delivered'], 1):.2f} ms/msg, "
            f"client CPU {f['client_cpu'] * 1000 / max(f['delivered'], 1):.2f} ms/msg",
        ]
        if f["loop_cpu"] is not None:
            extra.append(
                f"server process CPU {f['server_cpu'] * 1000 / max(f['delivered'], 1):.2f} "
                f"ms/msg, of which event-loop thread "
                f"{f['loop_cpu'] * 1000 / max(f['delivered'], 1):.2f}, other threads "
                f"{(f['server_cpu'] - f['loop_cpu']) * 1000 / max(f['delivered'], 1):.2f}; "
                f"{f['server_cpu'] / f['delivered_wall']:.0%} of a core over the round"
            )
        if f["left_in_queue"]:
            extra.append(f"{f['left_in_queue']} still queued after the round")
        if f["unmatched_dumps"]:
            extra.append(f"{f['unmatched_dumps']} dumps not matched to a submission")
        if f["all_errors"]:
            extra.append(f"{len(f['all_errors'])} client errors, first: {f['all_errors'][0]}")
        lines.append(f"{name}: " + "; ".join(extra))
    lines.extend(notes)
    return "\n".join(lines)


def print_profile(path: Path) -> None:
    """mailserver's event-loop thread, over the whole run (warm-up included), to stderr."""
    import pstats

    if not path.exists():
        log(f"no profile written at {path}")
        return
    stats = pstats.Stats(str(path), stream=sys.stderr).strip_dirs()
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(50)


def background_load(seconds: float = 1.0) -> float:
    """Cores' worth of CPU the machine is busy with before anything starts here."""
    busy0 = machine_busy_seconds()
    time.sleep(seconds)
    return (machine_busy_seconds() - busy0) / seconds


def run(args: argparse.Namespace, tmp: Path, cleanup: list[Any]) -> int:
    names = args.only or list(SERVERS)
    notes: list[str] = []
    idle = background_load()
    if idle > 0.1:
        warning = (
            f"WARNING: the machine was already busy before the run ({idle:.0%} of a core "
            "over 1 s): another load shares the CPUs, the figures are not clean"
        )
        log(warning)
        notes.append(warning)
    sink = Sink(tmp / "sink")
    cleanup.append(sink.stop)
    sink.start()
    log(f"smtp-sink on 127.0.0.1:{sink.port}, dumps in {sink.dump_dir}")
    servers: dict[str, MailServer | PostfixServer] = {}
    if "mailserver" in names:
        log("mailserver: adding the account and starting `mailserver serve` ...")
        profile = tmp / "mailserver.prof" if args.profile else None
        mailserver = MailServer(tmp / "mailserver", sink.port, args.per_destination, profile)
        cleanup.append(mailserver.stop)
        mailserver.start()
        servers["mailserver"] = mailserver
    if "postfix" in names:
        why = PostfixServer.unavailable()
        postfix = PostfixServer(tmp / "postfix", sink.port)
        if why is None:
            log("postfix: starting a private instance ...")
            cleanup.append(postfix.stop)
            try:
                postfix.start()
                servers["postfix"] = postfix
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
                why = str(exc)
        if why is not None:
            log(f"postfix: not measured: {why}")
            notes.append(f"Postfix not measured: {why}")

    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in servers}
    for name, server in servers.items():
        log(f"{name}: warm-up, 1 message per session ...")
        warm = asyncio.run(drive(server, sink, f"warm-{name}", args.sessions, 1, 30.0))
        if warm["errors"] or warm["delivered"] != warm["expected"]:
            log(f"{name}: warm-up: {warm['delivered']} delivered, errors {warm['errors'][:2]}")
    for n in range(args.rounds):
        for name, server in servers.items():
            log(f"round {n + 1}: {name} ...")
            figures = asyncio.run(
                drive(
                    server,
                    sink,
                    f"{name}-{n}",
                    args.sessions,
                    args.messages,
                    args.drain_timeout,
                )
            )
            log(
                f"  accepted {figures['accepted_rate']:.0f}/s, delivered "
                f"{figures['delivered']}/{figures['expected']} at "
                f"{figures['delivered_rate']:.0f}/s, queue p50 {ms(figures['queue_p50'])} ms"
            )
            rounds[name].append(figures)
    for name, server in servers.items():
        problems = server.problems()
        if problems:
            notes.append(f"{name}: {len(problems)} problem lines in its log, first: {problems[0]}")
    results = {name: median_round(runs) for name, runs in rounds.items() if runs}
    print(report(results, args, notes))
    mailserver = servers.get("mailserver")
    if isinstance(mailserver, MailServer) and mailserver.profile is not None:
        mailserver.stop()  # writes the profile
        print_profile(mailserver.profile)
    if args.json:
        print(json.dumps({"results": results, "rounds": rounds}, indent=2, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (20)")
    parser.add_argument("--messages", type=int, default=50, help="messages per session (50)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per server (3)")
    parser.add_argument("--only", choices=SERVERS, action="append", help="just these servers")
    parser.add_argument(
        "--per-destination",
        type=int,
        help="mailserver's queue.per_destination (default: its own default, 4)",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=120.0,
        help="seconds a round may wait for the sink to have every message (120)",
    )
    parser.add_argument("--tmpdir", type=Path, help="where the temp dir goes (queues, dumps)")
    parser.add_argument("--json", action="store_true", help="also print the raw figures")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile mailserver's event-loop thread, print to stderr",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 200 or not 1 <= args.messages <= 10_000:
        parser.error("--sessions must be 1..200 and --messages 1..10000")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1..20")
    if not SMTP_SINK.exists():
        parser.error(f"{SMTP_SINK} is missing (Debian package postfix)")

    def terminate(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started ignored
    tmp = Path(tempfile.mkdtemp(prefix="relay-bench-", dir=args.tmpdir))
    os.chmod(tmp, 0o755)  # the postfix and nobody users must reach their directories
    log(f"data in {tmp}")
    cleanup: list[Any] = []
    try:
        return run(args, tmp, cleanup)
    except KeyboardInterrupt:
        log("interrupted: cleaning up")
        return 130
    finally:
        # Ignore further Ctrl-C while stopping, so the Postfix instance is never left running.
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        for stop in reversed(cleanup):
            try:
                stop()
            except Exception as exc:
                log(f"cleanup: {exc!r}")
        shutil.rmtree(tmp, ignore_errors=True)
        signal.signal(signal.SIGINT, previous)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
