"""SMTP submission throughput: the full mailserver stack against a bare aiosmtpd sink.

Figures, not assertions (DESIGN.md, "Testing"). One run measures, with the
same load and the same client:

  bare   aiosmtpd with a handler that discards everything (AUTH accepts any
         credentials, DATA answers "250 OK"): the ceiling of aiosmtpd itself;
  full   the real stack, built in-process in a temp dir from the default
         settings: SQLite directory, argon2id hashes behind the auth cache,
         the policy at MAIL/RCPT/DATA on fresh account snapshots, policy log
         writes, fsynced Maildir delivery;
  tls    (with --tls) the full stack on its real implicit-TLS listener
         (`serve.start_submission`, generated certificate).

The load: --sessions concurrent clients (aiosmtplib), each on ONE persistent
connection: EHLO and AUTH PLAIN once, then --messages transactions of
MAIL/RCPT/DATA with a ~10 KB text/plain message whose From: is the login.
All sessions log in first and then start sending together; the figures are
messages/s over that sending phase and the latency of whole transactions
(MAIL sent .. DATA's reply), p50/p99. Logins are timed separately.

Bench-only bypass, for the plain-TCP comparison: the submission listeners
refuse AUTH unless the session is encrypted (`SmtpConnection.encrypted`).
`BenchServer` overrides that property to say True, so the full stack can be
compared with the bare sink without TLS on either side. Nothing else is
changed; the production listeners never use this class. `--tls` measures the
real listener, with TLS, as a second figure.

Each server runs in its own process (this script with --serve), so the
client's CPU does not share the server's event loop; CPU seconds of both
sides over the sending phase are printed too, to show which side was busy.
Everything is on loopback, bounded, and cleans up its temp dir.

    .venv/bin/python bench/smtp_submit.py [--sessions 20] [--messages 50] [--tls]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import logging
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

DOMAIN = "bench.example"
HOSTNAME = "mail.bench.example"
BODY_BYTES = 10_000
START_TIMEOUT = 90.0  # seconds a server may take to start (argon2 hashes for the accounts)
CLIENT_TIMEOUT = 60.0  # seconds any one SMTP command may take
KINDS = ("bare", "full", "tls")
PROSE = """The database section reviewed the account figures for the quarter and found that the
numbers agree with the ledger, except where noted below; the differences come from late
postings and will be corrected in the next period."""
AIOSMTPD_NOISE = ("auth_required == True but auth_require_tls", "login_data is deprecated")
TICKS = os.sysconf("SC_CLK_TCK")


def login_of(i: int) -> str:
    return f"user{i}@{DOMAIN}"


def password_of(i: int) -> str:
    return f"bench-password-{i:04d}"


# --- the servers (run with --serve, one process each) ---------------------------------------


async def serve_bare(sessions: int, workdir: Path) -> tuple[asyncio.Server, dict[str, Any]]:
    """aiosmtpd with a do-nothing handler and an authenticator that accepts anything."""
    del sessions, workdir
    from aiosmtpd.smtp import SMTP, AuthResult

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    def accept_all(*_args: Any) -> AuthResult:
        return AuthResult(success=True)

    loop = asyncio.get_running_loop()
    handler = Sink()
    server = await loop.create_server(
        lambda: SMTP(
            handler,
            authenticator=accept_all,
            auth_require_tls=False,
            auth_required=True,
            enable_SMTPUTF8=True,
            hostname=HOSTNAME,
            ident="mailserver",
            loop=loop,
        ),
        "127.0.0.1",
        0,
    )
    return server, {}


def full_settings(workdir: Path) -> Any:
    from mailserver import config

    settings = config.load(None, base=workdir)
    return dataclasses.replace(
        settings,
        server=dataclasses.replace(settings.server, node="bench", hostname=HOSTNAME),
        smtp=dataclasses.replace(
            settings.smtp, listen="127.0.0.1", submission_port=0, submissions_port=0
        ),
    )


async def build_full(sessions: int, workdir: Path) -> Any:
    """The real services in `workdir`, with `sessions` accounts (argon2id, default cost)."""
    from mailserver.app import build_services, password_hasher, utc_now

    settings = full_settings(workdir)
    services = build_services(settings)
    hasher = password_hasher(settings)
    hashes = await asyncio.gather(
        *(asyncio.to_thread(hasher.hash, password_of(i)) for i in range(sessions))
    )
    for i, password_hash in enumerate(hashes):
        account = await services.directory.add_account(
            login_of(i), password_hash=password_hash, actor="bench", now=utc_now()
        )
        # As `account add` leaves it: the Maildir appears with the first delivery; make it now
        # so the first message of each session does not also pay for mkdir + directory fsyncs.
        services.store.user(account.address).ensure_created()
    return services


def start_queue(services: Any) -> tuple[Any, Any, Any]:
    """The spool and its runner, as `mailserver serve` starts them (the 250 waits for the
    spool's fsyncs; the runner then delivers into the Maildirs)."""
    from mailserver.queue.runner import QueueRunner
    from mailserver.queue.spool import Spool

    spool = Spool(services.settings.queue_dir)
    runner = QueueRunner(services, spool)
    return spool, runner, asyncio.create_task(runner.run())


async def serve_full(sessions: int, workdir: Path) -> tuple[asyncio.Server, dict[str, Any]]:
    """The full stack on plain TCP, AUTH allowed by the bench-only `BenchServer`."""
    from mailserver.smtp.session import SmtpConnection, connection_options
    from mailserver.smtp.submission import SubmissionHandler

    class BenchServer(SmtpConnection):
        """BENCH ONLY: claims every session is encrypted, so AUTH works on plain TCP.

        Lets the full stack be compared with the bare sink without TLS on either side.
        The production listeners (`serve.start_submission`) never use this class.
        """

        @property
        def encrypted(self) -> bool:
            return True

    services = await build_full(sessions, workdir)
    settings = services.settings
    spool, runner, task = start_queue(services)
    handler = SubmissionHandler(services, spool, runner.enqueued)
    options = connection_options(settings)
    server = await asyncio.get_running_loop().create_server(
        lambda: BenchServer(handler, auth_require_tls=False, auth_required=True, **options),
        "127.0.0.1",
        0,
    )
    return server, {"services": services, "runner": task}


async def serve_tls(sessions: int, workdir: Path) -> tuple[asyncio.Server, dict[str, Any]]:
    """The full stack on its real implicit-TLS listener (generated self-signed certificate)."""
    from mailserver.serve import start_submission, tls_context

    services = await build_full(sessions, workdir)
    spool, runner, task = start_queue(services)
    _handler, listeners = await start_submission(
        services, tls_context(services.settings), spool, runner.enqueued
    )
    starttls, implicit = listeners
    starttls.server.close()  # only the implicit-TLS listener is measured
    return implicit.server, {"services": services, "runner": task}


async def serve_main(kind: str, sessions: int, workdir: Path, port_file: Path) -> None:
    # aiosmtpd logs every command at INFO; `mailserver serve` silences it the same way.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # aiosmtpd warns on every connection that AUTH is allowed without its STARTTLS check (the
    # point of the plain-TCP servers here; the implicit-TLS listener is encrypted anyway), and
    # on every successful AUTH that its own code set the deprecated Session.login_data.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    logging.getLogger("mail.log").addFilter(
        lambda record: not any(text in record.getMessage() for text in AIOSMTPD_NOISE)
    )
    starter = {"bare": serve_bare, "full": serve_full, "tls": serve_tls}[kind]
    server, extra = await starter(sessions, workdir)
    port = server.sockets[0].getsockname()[1]
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.rename(port_file)  # atomic: the client never reads half a port
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=600)  # never outlive a lost client
    server.close()
    services = extra.get("services")
    if services is not None:
        cache = services.authenticator
        stats = {"auth_cache_hits": cache.hits, "auth_cache_misses": cache.misses}
        port_file.with_suffix(".stats").write_text(json.dumps(stats))
        services.log.write("stop")
        await services.close()


# --- the load -------------------------------------------------------------------------------


def message_template(i: int, sessions: int) -> tuple[str, str, bytes]:
    """(sender, recipient, message) of session i; the message has a MSGID placeholder."""
    from email.message import EmailMessage
    from email.policy import SMTP as SMTP_POLICY

    sender, recipient = login_of(i), login_of((i + 1) % sessions)
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = f"User {i} <{sender}>"
    msg["To"] = f"User {(i + 1) % sessions} <{recipient}>"
    msg["Subject"] = f"Quarterly figures, part {i}"
    msg["Date"] = "Tue, 25 Nov 2025 10:00:00 +0700"
    msg["Message-ID"] = "<MSGID@bench.example>"
    words = PROSE.split()
    lines, line, size = [], [], 0
    for n in range(100_000):
        word = words[n % len(words)]
        if sum(len(w) + 1 for w in line) + len(word) > 72:
            lines.append(" ".join(line))
            size += len(lines[-1]) + 2
            line = []
            if len(lines) % 12 == 0:
                lines.append("")
            if size >= BODY_BYTES:
                break
        line.append(word)
    msg.set_content("\n".join(lines) + "\n", charset="utf-8", cte="7bit")
    return sender, recipient, msg.as_bytes()


@dataclasses.dataclass
class SessionResult:
    login_seconds: float = 0.0
    latencies: list[float] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)


async def run_session(
    i: int,
    sessions: int,
    messages: int,
    port: int,
    use_tls: bool,
    ready: asyncio.Barrier,
    result: SessionResult,
) -> None:
    import aiosmtplib

    sender, recipient, template = message_template(i, sessions)
    smtp = aiosmtplib.SMTP(
        hostname="127.0.0.1",
        port=port,
        use_tls=use_tls,
        start_tls=False,
        validate_certs=False,
        timeout=CLIENT_TIMEOUT,
        local_hostname="client.bench.example",
    )
    try:
        started = time.perf_counter()
        await smtp.connect()
        await smtp.ehlo()
        await smtp.auth_plain(sender, password_of(i))
        result.login_seconds = time.perf_counter() - started
    except Exception as exc:
        result.errors.append(f"login: {exc!r}")
    await ready.wait()  # everyone starts sending together, logged in or not
    if result.errors:
        return
    try:
        for n in range(messages):
            body = template.replace(b"MSGID", f"{i}.{n}.{time.time_ns()}".encode())
            t0 = time.perf_counter()
            await smtp.mail(sender)
            await smtp.rcpt(recipient)
            await smtp.data(body)
            result.latencies.append(time.perf_counter() - t0)
        await smtp.quit()
    except Exception as exc:
        result.errors.append(f"message {len(result.latencies)}: {exc!r}")
        smtp.close()


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def drive(
    port: int, server_pid: int, sessions: int, messages: int, use_tls: bool
) -> dict[str, Any]:
    results = [SessionResult() for _ in range(sessions)]
    ready = asyncio.Barrier(sessions + 1)
    tasks = [
        asyncio.create_task(run_session(i, sessions, messages, port, use_tls, ready, results[i]))
        for i in range(sessions)
    ]
    login_started = time.perf_counter()
    await ready.wait()
    login_wall = time.perf_counter() - login_started
    server_cpu0, client_cpu0 = cpu_seconds(server_pid), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    server_cpu, client_cpu = (
        cpu_seconds(server_pid) - server_cpu0,
        time.process_time() - client_cpu0,
    )
    latencies = sorted(x for r in results for x in r.latencies)
    errors = [e for r in results for e in r.errors]
    logins = sorted(r.login_seconds for r in results if r.login_seconds)
    return {
        "messages": len(latencies),
        "expected": sessions * messages,
        "errors": errors,
        "wall": wall,
        "rate": len(latencies) / wall if wall else 0.0,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "login_wall": login_wall,
        "login_max": logins[-1] if logins else float("nan"),
        "server_cpu": server_cpu,
        "client_cpu": client_cpu,
    }


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(p) - 1]


def count_delivered(workdir: Path) -> int:
    return sum(1 for _ in workdir.glob(f"var/mail/{DOMAIN}/*/Maildir/new/*"))


def median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median messages/s, plus the range of all rounds."""
    ordered = sorted(runs, key=lambda f: f["rate"])
    median = dict(ordered[(len(ordered) - 1) // 2])
    median["rates"] = [f["rate"] for f in runs]
    median["errors"] = [e for f in runs for e in f["errors"]]
    return median


def measure(kind: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    """Start one server process, drive the load against it, stop it, collect its figures."""
    workdir = root / kind
    workdir.mkdir(parents=True)
    port_file = workdir / "port"
    command = [sys.executable, __file__, "--serve", kind, "--port-file", str(port_file)]
    command += ["--sessions", str(args.sessions), "--workdir", str(workdir)]
    command += ["--profile"] if args.profile else []
    server = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists():
            if server.poll() is not None:
                raise RuntimeError(f"{kind} server exited with status {server.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} server did not start within {START_TIMEOUT:.0f} s")
            time.sleep(0.05)
        port = int(port_file.read_text())
        figures = asyncio.run(
            drive(port, server.pid, args.sessions, args.messages, use_tls=kind == "tls")
        )
        if kind != "bare":
            # The queue delivers after the 250: give it time to empty before stopping.
            started = time.monotonic()
            while (
                count_delivered(workdir) < figures["messages"] and time.monotonic() - started < 60
            ):
                time.sleep(0.05)
            figures["drain_s"] = round(time.monotonic() - started, 2)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    stats_file = port_file.with_suffix(".stats")
    if stats_file.exists():
        figures.update(json.loads(stats_file.read_text()))
    if kind != "bare":
        figures["delivered"] = count_delivered(workdir)
    return figures


# --- output ---------------------------------------------------------------------------------


LABELS = {
    "bare": "bare aiosmtpd sink (plain TCP)",
    "full": "full stack (plain TCP, bench AUTH bypass)",
    "tls": "full stack (implicit TLS listener)",
}


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    rows = [
        "| server | messages/s | (all rounds) | p50 ms | p99 ms | logins (all) s "
        "| server CPU ms/msg | client CPU ms/msg |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for kind, f in results.items():
        n = max(f["messages"], 1)
        rows.append(
            f"| {LABELS[kind]} | {f['rate']:.0f} | {' '.join(f'{r:.0f}' for r in f['rates'])} "
            f"| {f['p50'] * 1000:.1f} | {f['p99'] * 1000:.1f} "
            f"| {f['login_wall']:.2f} | {f['server_cpu'] * 1000 / n:.2f} "
            f"| {f['client_cpu'] * 1000 / n:.2f} |"
        )
    lines = [
        f"{args.sessions} sessions x {args.messages} messages of ~{BODY_BYTES // 1000} KB, "
        f"one connection per session; median of {args.rounds} rounds; {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, "
        f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "",
        *rows,
        "",
    ]
    bare = results.get("bare")
    for kind in ("full", "tls"):
        if bare and kind in results and bare["rate"]:
            ratio = results[kind]["rate"] / bare["rate"]
            lines.append(
                f"{LABELS[kind]}: {ratio:.0%} of the bare sink's messages/s (target >= 70%)"
            )
    for kind, f in results.items():
        notes = []
        if f["messages"] != f["expected"]:
            notes.append(f"{f['messages']} of {f['expected']} messages sent")
        if "delivered" in f and f["delivered"] != f["messages"]:
            notes.append(f"{f['delivered']} delivered to Maildir")
        if "auth_cache_misses" in f:
            notes.append(
                f"auth cache: {f['auth_cache_misses']} misses, {f['auth_cache_hits']} hits"
            )
        if f["errors"]:
            notes.append(f"{len(f['errors'])} errors, first: {f['errors'][0]}")
        if notes:
            lines.append(f"{kind}: " + "; ".join(notes))
    return "\n".join(lines)


def profile_server(run: Any) -> None:
    """Run the server under cProfile (event-loop thread only) and print where its time went."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.runcall(asyncio.run, run())
    stats = pstats.Stats(profiler, stream=sys.stderr).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(40)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions (20)")
    parser.add_argument("--messages", type=int, default=50, help="messages per session (50)")
    parser.add_argument("--tls", action="store_true", help="also the full stack over real TLS")
    parser.add_argument("--only", choices=KINDS, action="append", help="run just these servers")
    parser.add_argument(
        "--tmpdir",
        type=Path,
        help="where the temp dir (directory, log, Maildirs) goes; default: the system's",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds, interleaved (3)")
    parser.add_argument("--json", action="store_true", help="also print the raw figures")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the servers, print to stderr"
    )
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 1000 or not 1 <= args.messages <= 100_000:
        parser.error("--sessions must be 1..1000 and --messages 1..100000")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1..20")

    if args.serve:
        # Server process: `python bench/smtp_submit.py --serve full --port-file F` also works
        # by hand; it keeps its data in a temp dir unless --workdir names one.
        if args.port_file is None:
            parser.error("--serve needs --port-file")
        with contextlib.ExitStack() as stack:
            workdir = args.workdir or Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="smtp-bench-"))
            )
            run = functools.partial(serve_main, args.serve, args.sessions, workdir, args.port_file)
            if args.profile:
                profile_server(run)
            else:
                asyncio.run(run())
        return 0

    kinds = args.only or ["bare", "full", *(["tls"] if args.tls else [])]
    rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="smtp-bench-", dir=args.tmpdir) as tmp:
        print(f"data in {tmp}", file=sys.stderr)
        # Interleaved (bare, full, bare, full, ...), each on a fresh server, so drift in the
        # machine's load hits every server alike; the round with the median rate is reported.
        for n in range(args.rounds):
            for kind in kinds:
                print(f"round {n + 1}: {LABELS[kind]} ...", file=sys.stderr, flush=True)
                rounds[kind].append(measure(kind, args, Path(tmp) / f"{n}"))
    results = {kind: median_round(runs) for kind, runs in rounds.items()}
    print(report(results, args))
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    raise SystemExit(main())
