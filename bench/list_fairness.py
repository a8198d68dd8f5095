"""Fairness under abuse: one account's costly LISTs and NOOP floods against another's NOOPs.

Figures, not assertions (DESIGN.md, "Testing"). The real server runs as
`mailserver --config F serve` in its own process. An attacker account owns
--mailboxes mailboxes with 200-character names of a's and, from a process of its
own, for --duration seconds (a) repeats the costliest LIST it can send
(`*a*a...*a*b`, as many `*a` as the names are long, so no shortcut applies), and (b)
on a second connection pipelines --flood NOOPs in one write, reads every reply and
starts again. Meanwhile a victim account, on its own connection, sends one NOOP at a
time. Printed: the victim's NOOP round trip p50/p99/max with the server idle (the
reference, measured first in the same run) and under attack, how long each LIST took,
and how many flood NOOPs were answered per second.

    .venv/bin/python bench/list_fairness.py [--duration 10] [--mailboxes 100]
        [--flood 20000] [--name-length 200] [--no-list] [--tmpdir DIR] [--json]

`--no-list` leaves the LISTs out: a server that still matches with a backtracking
regular expression never answers that LIST, so floods alone compare it with this one.

Everything is on 127.0.0.1 and bounded (60 s per command); the temp dir and every
process started here are removed or ended at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from imap_load import (
    COMMAND_TIMEOUT,
    DOMAIN,
    PASSWORD,
    Client,
    MailServer,
    Processes,
    client_context,
    percentile,
)

ATTACKER, VICTIM = f"attacker@{DOMAIN}", f"victim@{DOMAIN}"


async def login(port: int, account: str) -> Client:
    client = await Client.connect(port, client_context())
    await client.login(account, PASSWORD)
    return client


async def noop_round_trips(port: int, duration: float) -> list[float]:
    """The victim: one NOOP at a time for `duration` seconds; each round trip in seconds."""
    client = await login(port, VICTIM)
    times: list[float] = []
    end = time.monotonic() + duration
    while time.monotonic() < end:
        start = time.perf_counter()
        await asyncio.wait_for(client.command(b"NOOP"), COMMAND_TIMEOUT)
        times.append(time.perf_counter() - start)
    await client.close()
    return times


async def repeat_list(port: int, pattern: bytes, end: float) -> list[float]:
    client = await login(port, ATTACKER)
    times: list[float] = []
    while time.monotonic() < end:
        start = time.perf_counter()
        await asyncio.wait_for(client.command(b'LIST "" "' + pattern + b'"'), COMMAND_TIMEOUT)
        times.append(time.perf_counter() - start)
    await client.close()
    return times


async def repeat_flood(port: int, flood: int, end: float) -> int:
    client = await login(port, ATTACKER)
    answered = 0
    while time.monotonic() < end:
        client.writer.write(b"f NOOP\r\n" * flood)
        for _ in range(flood):
            line = await asyncio.wait_for(client.reader.readuntil(b"\r\n"), COMMAND_TIMEOUT)
            answered += line.startswith(b"f OK")
    await client.close()
    return answered


def attack(port: int, pattern: bytes, flood: int, duration: float, results: Any) -> None:
    """The attacker's process: LISTs and floods side by side until the time is up."""

    async def both() -> tuple[list[float], int]:
        end = time.monotonic() + duration
        if not pattern:
            return [], await repeat_flood(port, flood, end)
        return await asyncio.gather(repeat_list(port, pattern, end), repeat_flood(port, flood, end))

    lists, answered = asyncio.run(both())
    results.send({"list_seconds": lists, "flood_answered": answered})


async def make_mailboxes(port: int, count: int, length: int) -> None:
    client = await login(port, ATTACKER)
    for i in range(count):
        name = "a" * length + f"{i:03d}"
        await asyncio.wait_for(client.command(b'CREATE "' + name.encode() + b'"'), COMMAND_TIMEOUT)
    await client.close()


def summary(times: list[float]) -> dict[str, float]:
    return {
        "count": len(times),
        "p50_ms": percentile(times, 50) * 1e3,
        "p99_ms": percentile(times, 99) * 1e3,
        "max_ms": max(times, default=float("nan")) * 1e3,
    }


def run(args: argparse.Namespace, tmp: Path, processes: Processes) -> dict[str, Any]:
    server = MailServer(tmp / "mailserver", processes)
    server.write_config()
    server.add_accounts([ATTACKER, VICTIM])
    server.start()
    port = server.imaps_port
    asyncio.run(make_mailboxes(port, args.mailboxes, args.name_length))
    pattern = b"*a" * args.name_length + b"*b"  # matches none of the names, at full cost
    if args.no_list:
        pattern = b""

    idle = asyncio.run(noop_round_trips(port, args.duration))
    receiver, sender = multiprocessing.get_context("spawn").Pipe(duplex=False)
    attacker = multiprocessing.get_context("spawn").Process(
        target=attack, args=(port, pattern, args.flood, args.duration, sender)
    )
    attacker.start()
    attacked = asyncio.run(noop_round_trips(port, args.duration))
    attacked_figures = receiver.recv()
    attacker.join(COMMAND_TIMEOUT)
    server.stop()
    return {
        "idle": summary(idle),
        "attacked": summary(attacked),
        "list": summary(attacked_figures["list_seconds"]),
        "flood_noops_per_second": attacked_figures["flood_answered"] / args.duration,
        "pattern_length": len(pattern),
    }


def report(figures: dict[str, Any], args: argparse.Namespace) -> str:
    rows = [
        f"# {platform.python_implementation()} {platform.python_version()}, "
        f"{args.mailboxes} mailboxes of {args.name_length + 3} characters, "
        f"LIST pattern of {figures['pattern_length']} characters, floods of {args.flood} NOOPs",
        "| what | count | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in (
        ("idle", "victim NOOP, server idle"),
        ("attacked", "victim NOOP, under attack"),
        ("list", "attacker's worst LIST"),
    ):
        f = figures[key]
        if not f["count"]:
            continue
        cells = [str(f["count"])] + [f"{f[k]:.2f}" for k in ("p50_ms", "p99_ms", "max_ms")]
        rows.append(f"| {label} | {' | '.join(cells)} |")
    rows.append(f"flood NOOPs answered: {figures['flood_noops_per_second']:.0f}/s")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--mailboxes", type=int, default=100)
    parser.add_argument("--flood", type=int, default=20_000)
    parser.add_argument("--name-length", type=int, default=200)
    parser.add_argument("--no-list", action="store_true", help="floods only (any server)")
    parser.add_argument("--tmpdir", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="list-fairness-", dir=args.tmpdir))
    processes = Processes()
    try:
        figures = run(args, tmp, processes)
    finally:
        processes.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures, indent=2) if args.json else report(figures, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
