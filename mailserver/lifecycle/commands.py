"""`mailserver lifecycle sweep | apply`: the sweep and the HR feed from the command line.

Output is one line per account or action on stdout, problems one line each on
stderr; the exit status is 1 when anything failed. Both commands tell a server
running on this node what changed (control socket), as `account ...` does.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from mailserver import config
from mailserver.app import open_directory, open_log, utc_now
from mailserver.cli_errors import EXIT_ERROR, fail
from mailserver.cli_settings import admin_settings
from mailserver.control import notify_account_changed, notify_queue_changed
from mailserver.lifecycle import hrfeed, state
from mailserver.lifecycle.apply import FeedContext, apply_plan
from mailserver.lifecycle.sweep import DEFAULT_ACTOR, SweepContext, sweep
from mailserver.queue.model import QueuedMessage
from mailserver.queue.spool import Spool
from policy.calendar import utc_date


def add_parsers(sub: Any, default_actor: str) -> None:
    """Add `sweep` and `apply` to the `lifecycle` command group."""
    run = sub.add_parser(
        "sweep",
        help="suspend leavers whose grace ended, warn those near it, report orphaned roles",
    )
    run.add_argument("--dry-run", action="store_true", help="show what would be done, do nothing")
    run.add_argument("--actor", default=DEFAULT_ACTOR, help="who acts (logged; default lifecycle)")
    run.set_defaults(run=cmd_sweep)
    feed = sub.add_parser("apply", help="apply an HR feed (CSV: login,date,kind[,unit])")
    feed.add_argument("file", type=Path, help="the CSV file")
    feed.add_argument("--dry-run", action="store_true", help="show what would change, do nothing")
    feed.add_argument(
        "--strict", action="store_true", help="change nothing unless every line is valid"
    )
    feed.add_argument("--actor", default=default_actor, help="who makes the changes (logged)")
    feed.set_defaults(run=cmd_apply)


# --- sweep ---------------------------------------------------------------------------


def cmd_sweep(args: argparse.Namespace) -> int:
    settings = admin_settings(args)
    try:
        return asyncio.run(_sweep(settings, args.actor, args.dry_run))
    except state.StateError as exc:
        return fail(str(exc))


async def _sweep(settings: config.Settings, actor: str, dry_run: bool) -> int:
    directory = open_directory(settings)
    log = open_log(settings)
    queued: list[QueuedMessage] = []
    try:
        ctx = SweepContext(
            settings=settings,
            directory=directory,
            log=log,
            spool=Spool(settings.queue_dir),
            on_enqueued=queued.append,
            on_changed=lambda login: notify_account_changed(settings.data_dir, login),
            actor=actor,
        )
        report = await sweep(ctx, now=utc_now(), dry_run=dry_run)
    finally:
        await directory.close()
        log.close()
    for line in report.lines:
        print(line)
    changes = len(report.plan.changes)
    if dry_run:
        print(f"dry run: {changes} change(s) planned, nothing done")
        return 0
    if queued and not notify_queue_changed(settings.data_dir):
        print(f"{len(queued)} message(s) queued: they go out when the server runs")
    print(f"{report.done} done, {report.failed} failed" if changes else "nothing to do")
    return EXIT_ERROR if report.failed else 0


# --- apply ---------------------------------------------------------------------------


def cmd_apply(args: argparse.Namespace) -> int:
    settings = admin_settings(args)
    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return fail(f"{args.file}: cannot read: {exc}")
    return asyncio.run(_apply(settings, args, text))


async def _apply(settings: config.Settings, args: argparse.Namespace, text: str) -> int:
    rows, errors = hrfeed.parse_feed(text)
    now = utc_now()
    directory = open_directory(settings)
    log = open_log(settings)
    try:
        accounts = await directory.list_accounts()
        plan = hrfeed.plan_feed(rows, accounts, utc_date(now))
        errors = sorted([*errors, *plan.errors], key=lambda e: e.line)
        for note in plan.notes:
            print(f"note: {note}")
        if args.dry_run or (args.strict and errors):
            for change in plan.changes:
                print(change)
            for error in errors:
                print(f"{args.file}: {error}", file=sys.stderr)
            done = "dry run" if args.dry_run else "--strict: errors found"
            print(
                f"{done}: {len(plan.changes)} change(s), {plan.unchanged} unchanged, "
                f"{len(errors)} error(s); nothing changed"
            )
            return EXIT_ERROR if errors else 0
        ctx = FeedContext(
            directory=directory,
            log=log,
            on_changed=lambda login: notify_account_changed(settings.data_dir, login),
            actor=args.actor,
            source=args.file.name,
        )
        outcome = await apply_plan(ctx, plan, now=now, stop_at_error=args.strict)
    finally:
        await directory.close()
        log.close()
    for change in outcome.applied:
        print(change)
    errors = sorted([*errors, *outcome.errors], key=lambda e: e.line)
    for error in errors:
        print(f"{args.file}: {error}", file=sys.stderr)
    print(f"{len(outcome.applied)} change(s), {plan.unchanged} unchanged, {len(errors)} error(s)")
    return EXIT_ERROR if errors else 0
