"""`mailserver export ACCOUNT --format mbox|maildir -o FILE.tar.gz` (memo 4.1).

Works whatever the account's status: an administrator exports a leaver's mail as well
as the leaver can copy it with an IMAP client during the grace. The export is written
to the policy log as an admin action (actor, account, format, counts; never content).
A progress bar goes to stderr when it is a terminal; the summary line to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from mailserver import config
from mailserver.app import open_directory, open_log
from mailserver.backup.export import FORMATS, ExportError, ExportResult, export_mailbox
from mailserver.backup.progress import MIB
from mailserver.cli_errors import fail, notice
from mailserver.cli_settings import admin_settings
from mailserver.store.maildir import MailboxPathError
from mailserver.store.mailstore import MailStore
from policy.model import Account


def add_parser(commands: Any, default_actor: str) -> None:
    """Add the top-level `export` command."""
    export = commands.add_parser("export", help="back up an account's mail to a .tar.gz")
    export.add_argument("login", help="the account's login (its primary address)")
    export.add_argument(
        "--format", required=True, choices=FORMATS, help="a Maildir per folder, or an mbox each"
    )
    export.add_argument(
        "-o", "--output", required=True, type=Path, help="the archive to write (FILE.tar.gz)"
    )
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar and no summary line"
    )
    export.add_argument("--actor", default=default_actor, help="who exports it (logged)")
    export.set_defaults(run=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    settings = admin_settings(args)
    try:
        return _export(settings, args)
    except (ExportError, MailboxPathError) as exc:
        return fail(str(exc))


async def _lookup(settings: config.Settings, login: str) -> Account | None:
    directory = open_directory(settings)
    try:
        return await directory.get(login)
    finally:
        await directory.close()


def _export(settings: config.Settings, args: argparse.Namespace) -> int:
    login = args.login.strip().lower()
    account = asyncio.run(_lookup(settings, login))
    store = MailStore(settings.mail_root, hostname=settings.server.hostname)
    user = store.user(login)
    if account is None:
        if not user.maildir.is_dir():
            return fail(f"no account {login!r} and no mailbox")
        notice(f"note: {login} is not in the directory")
    output: Path = args.output
    # In this thread, so that Ctrl-C stops it (and removes the temporary file).
    result: ExportResult = export_mailbox(
        user,
        args.format,
        output,
        force=args.force,
        progress_stream=None if args.quiet else sys.stderr,
    )
    log = open_log(settings)
    try:
        log.write(
            "admin",
            actor=args.actor,
            action="export",
            account=login,
            result="allow",
            status=account.status.value if account else "unknown",
            format=args.format,
            messages=result.messages,
            folders=result.folders,
            bytes=result.bytes,
            vanished=result.vanished,
            output=str(output.resolve()),
        )
    finally:
        log.close()
    if not args.quiet:
        vanished = f", {result.vanished} expunged meanwhile" if result.vanished else ""
        print(
            f"exported {result.messages} messages in {result.folders} folders, "
            f"{result.bytes / MIB:.1f} MiB -> {output}"
            f" ({result.archive_bytes / MIB:.1f} MiB compressed{vanished})"
        )
    return 0
