"""The `mailserver` command: serve, account administration, logs, check-config.

Errors are one clear line on stderr and a non-zero exit status, never a
traceback (`cli_errors`). Administrative commands say which settings and data
directory they use and never start an empty one by accident (`cli_settings`).
Every change to an account is written to the policy log with who made it, what
changed and why.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import getpass
import io
import logging
import os
import re
import sys
import typing
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from mailserver import config, config_checks, logtail
from mailserver.app import open_directory, open_log, password_hasher, utc_now
from mailserver.backup import commands as backup_commands
from mailserver.cli_errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    fail,
    notice,
    stdout_closed,
)
from mailserver.cli_settings import admin_settings, invocation, settings_source
from mailserver.config_source import ENV_VAR, LOCAL_FILE, SYSTEM_FILE
from mailserver.control import notify_account_changed, notify_queue_changed
from mailserver.directory import Directory, DirectoryError, ldap_schema
from mailserver.directory import ldif as ldif_io
from mailserver.durable import write_file_durably
from mailserver.lifecycle import commands as lifecycle_commands
from mailserver.logins import normal_login
from mailserver.queue import admin as queue_admin
from mailserver.queue.model import QueuedMessage
from mailserver.queue.spool import Spool, SpoolError
from mailserver.store.maildir import MailboxPathError, MaildirStore
from policy.model import Account, AccountKind, AccountStatus
from policy.standing import Standing, standing

_ADDRESS = re.compile(r"^[^@\s]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are one line too (argparse prints the whole usage by default)."""

    def error(self, message: str) -> typing.NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (see `cli_errors` for the values).

    Output cut short by its reader (`mailserver account list | head`) ends the command
    quietly with 141, whichever command it is.
    """
    try:
        return _run_command(argv)
    except BrokenPipeError:
        return stdout_closed()


def _run_command(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:
        # --help (or a usage error) exits from inside argparse: its text may still sit in
        # stdout's buffer, and a reader gone away must show here too, not at interpreter
        # exit (Python before 3.11.4 then prints "Exception ignored ... BrokenPipeError").
        sys.stdout.flush()
        raise
    try:
        status = int(args.run(args) or 0)
        sys.stdout.flush()  # a reader gone away shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        raise
    except (CliError, DirectoryError, config.ConfigError, MailboxPathError, SpoolError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except Exception as exc:  # the operator gets one line; the details go to the debug log
        logging.getLogger(__name__).debug("unexpected error", exc_info=exc)
        return fail(f"unexpected error: {type(exc).__name__}: {exc}")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="mailserver", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config",
        type=Path,
        help=f"settings file (default: ${ENV_VAR}, else ./{LOCAL_FILE}, else {SYSTEM_FILE},"
        " else built-in defaults with data under ./var)",
    )
    parser.set_defaults(run=lambda _args: parser.print_help())
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser("serve", help="start the mail server")
    serve.set_defaults(run=cmd_serve)

    check = commands.add_parser("check-config", help="validate a settings file")
    check.add_argument(
        "file", type=Path, nargs="?", help="file to check (default: the one commands use)"
    )
    check.set_defaults(run=cmd_check_config)

    logs = commands.add_parser("logs", help="read the policy log").add_subparsers(
        metavar="ACTION", required=True
    )
    tail = logs.add_parser("tail", help="show the latest policy log records")
    tail.add_argument("-f", "--follow", action="store_true", help="keep printing new records")
    tail.add_argument("-n", "--lines", type=int, default=20, help="records to show (default 20)")
    tail.add_argument("--user", help="only records of this login")
    tail.add_argument("--result", choices=["allow", "deny", "tempfail"], help="only this result")
    tail.add_argument("--event", help="only this event (auth, mail, rcpt, data, deliver, admin...)")
    tail.add_argument("--json", action="store_true", help="print the raw JSON lines")
    tail.set_defaults(run=cmd_logs_tail)

    queue = commands.add_parser("queue", help="inspect and manage the mail queue").add_subparsers(
        metavar="ACTION", required=True
    )
    _queue_commands(queue)

    account = commands.add_parser("account", help="manage accounts").add_subparsers(
        metavar="ACTION", required=True
    )
    _account_commands(account)
    backup_commands.add_parser(commands, default_actor=_default_actor())

    lifecycle = commands.add_parser(
        "lifecycle", help="leavers and unit mailboxes (memo 4): sweep, HR feed"
    ).add_subparsers(metavar="ACTION", required=True)
    lifecycle_commands.add_parsers(lifecycle, default_actor=_default_actor())

    schema = commands.add_parser(
        "ldap-schema", help="print our LDAP schema (deploy/ldap/mailserver.ldif, .schema)"
    )
    schema.add_argument(
        "form",
        choices=ldap_schema.FORMS,
        help="schema: a file for slapd.conf to include; ldif: the cn=config entry for ldapadd",
    )
    schema.add_argument(
        "--oid-arc",
        default=ldap_schema.PLACEHOLDER_ARC,
        help="define it under your IANA Private Enterprise Number, e.g. 1.3.6.1.4.1.12345"
        " (default: a placeholder)",
    )
    schema.set_defaults(run=cmd_ldap_schema)
    return parser


def _queue_commands(sub: Any) -> None:
    sub.add_parser("list", help="queued messages, oldest first").set_defaults(run=cmd_queue_list)
    show = sub.add_parser("show", help="one message: envelope and each recipient's state")
    show.add_argument("id")
    show.set_defaults(run=cmd_queue_show)
    retry = sub.add_parser("retry", help="try again now")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?")
    target.add_argument("--all", action="store_true", help="every queued message")
    retry.set_defaults(run=cmd_queue_retry)
    for name, helptext in (
        ("delete", "remove a message without telling anyone (logged)"),
        ("bounce", "give up: return the message to its sender with a DSN"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("id")
        p.add_argument("--actor", default=_default_actor(), help="who does it (logged)")
        p.set_defaults(run=cmd_queue_delete if name == "delete" else cmd_queue_bounce)
    sub.add_parser("stats", help="queue size and today's deliveries").set_defaults(
        run=cmd_queue_stats
    )


def _account_commands(sub: Any) -> None:
    def action(name: str, func: Callable[..., Any], helptext: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=helptext)
        p.add_argument("login", help="the account's login (its primary address)")
        p.add_argument("--actor", default=_default_actor(), help="who makes the change (logged)")
        # The first `account add` of a new installation creates its data directory.
        p.set_defaults(run=lambda args: _run(func, args, may_create=name == "add"))
        return p

    add = action("add", account_add, "create an account (asks for the password)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--alias", action="append", default=[], help="another address (repeatable)")
    add.add_argument("--role", action="store_true", help="a unit's (role) mailbox")
    add.add_argument("--responsible", help="login of the role mailbox's responsible person")
    add.add_argument("--unit", default="", help="unit (department)")
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--pending", action="store_true", help="create awaiting approval")
    add.add_argument("--no-password", action="store_true", help="no password (role mailboxes)")

    action("show", account_show, "show one account")
    lst = sub.add_parser("list", help="list accounts")
    lst.add_argument("--status", choices=[s.value for s in AccountStatus])
    lst.set_defaults(run=lambda args: _run(account_list, args))

    action("approve", account_approve, "approve a pending account")
    passwd = action("passwd", account_passwd, "set a new password")
    passwd.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    for name, helptext in (
        ("suspend", "suspend: no login, no sending"),
        ("lock", "security lock (memo 4.2): every protocol, at once"),
    ):
        p = action(name, account_suspend if name == "suspend" else account_lock, helptext)
        p.add_argument("--reason", required=True, help="why (logged, shown to the user)")
    action("unsuspend", account_unsuspend, "make a suspended or locked account active again")
    depart = action("depart", account_depart, "the person left on DATE (memo 4.1)")
    depart.add_argument("--date", required=True, type=dt.date.fromisoformat, help="YYYY-MM-DD")
    close = action("close", account_close, "close the account")
    close.add_argument("--reason", default="", help="why (logged)")
    resp = action("set-responsible", account_set_responsible, "name a role's responsible person")
    resp.add_argument("responsible", help="login of the responsible person")
    resp.add_argument("--delegate", action="append", default=[], help="also may send as the role")
    unit = action("set-unit", account_set_unit, "move the account to another unit")
    unit.add_argument("unit", help="the new unit")
    export = sub.add_parser("export", help="write every account as LDIF (to move to LDAP)")
    export.add_argument("-o", "--output", type=Path, help="LDIF file to write (default: stdout)")
    export.add_argument("--base", help="DN of the entries' parent (default: ldap_user_base)")
    export.add_argument("--force", action="store_true", help="overwrite an existing file")
    export.add_argument("--actor", default=_default_actor(), help="who exports (logged)")
    export.set_defaults(run=lambda args: _run(account_export, args))
    load = sub.add_parser("import-ldif", help="add the accounts of an LDIF file")
    load.add_argument("file", type=Path, help="LDIF in our schema (e.g. from `account export`)")
    load.add_argument("--dry-run", action="store_true", help="show what would be done")
    load.add_argument("--update", action="store_true", help="update existing accounts too")
    load.add_argument("--actor", default=_default_actor(), help="who imports (logged)")
    load.set_defaults(run=lambda args: _run(account_import_ldif, args, may_create=True))


def _default_actor() -> str:
    try:
        return os.environ.get("SUDO_USER") or getpass.getuser()
    except Exception:
        return "unknown"


# --- commands ------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from mailserver.serve import serve

    source = settings_source(args)
    settings = config.load_valid(source.path)
    missing = config_checks.missing_files(settings)
    for error in missing:
        fail(f"{error.key}: {error.message}")
    if missing:
        return EXIT_ERROR
    for warning in config_checks.advisories(settings):
        notice(f"warning: {warning.key}: {warning.message}")
    logging.basicConfig(
        level=settings.log.level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # aiosmtpd's own logger echoes every command line at INFO; ours is the policy log.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    asyncio.run(serve(settings, source=source.describe(), command=_this_command(args)))
    return 0


def _this_command(args: argparse.Namespace) -> str:
    """How to run `mailserver` again from here with the same --config (for serve's hints)."""
    main_module = sys.modules.get("__main__")
    spec = getattr(main_module, "__spec__", None)
    return invocation(
        args.config,
        argv0=sys.argv[0] if sys.argv and sys.argv[0] else "mailserver",
        module=spec.name if spec is not None else None,
        executable=sys.executable,
        cwd=Path.cwd(),
    )


def cmd_check_config(args: argparse.Namespace) -> int:
    path = args.file or settings_source(args).path
    label = str(path) if path is not None else "built-in defaults"
    try:
        settings = config.load(path)
    except config.ConfigError as exc:
        print(f"{label}: {exc.key}: {exc.message}", file=sys.stderr)
        return EXIT_ERROR
    errors = config.validate(settings) + config_checks.missing_files(settings)
    for error in errors:
        print(f"{label}: {error.key}: {error.message}", file=sys.stderr)
    for warning in config_checks.advisories(settings):
        print(f"{label}: warning: {warning.key}: {warning.message}", file=sys.stderr)
    if errors:
        return EXIT_ERROR
    print(f"{label}: ok")
    return 0


def cmd_ldap_schema(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(ldap_schema.render(args.form, args.oid_arc))
    except ValueError as exc:
        raise CliError(f"ldap-schema: {exc}") from None
    return 0


def cmd_logs_tail(args: argparse.Namespace) -> int:
    settings = admin_settings(args)
    return logtail.tail(
        settings.log_dir,
        follow=args.follow,
        user=args.user,
        result=args.result,
        event=args.event,
        as_json=args.json,
        lines=args.lines,
        out=sys.stdout,
    )


def _spool(args: argparse.Namespace) -> tuple[config.Settings, Spool]:
    settings = admin_settings(args)
    return settings, Spool(settings.queue_dir)


def cmd_queue_list(args: argparse.Namespace) -> int:
    _, spool = _spool(args)
    for line in queue_admin.summary_lines(spool, utc_now()):
        print(line)
    return 0


def cmd_queue_show(args: argparse.Namespace) -> int:
    _, spool = _spool(args)
    for line in queue_admin.show_lines(_load(spool, args.id)):
        print(line)
    return 0


def cmd_queue_retry(args: argparse.Namespace) -> int:
    settings, spool = _spool(args)
    ids = spool.ids() if args.all else [_load(spool, args.id).id]
    for queue_id in ids:
        queue_admin.retry(spool, queue_id, utc_now())
    told = notify_queue_changed(settings.data_dir)
    print(f"{len(ids)} message(s) will be retried" + ("" if told else " when the server runs"))
    return 0


def cmd_queue_delete(args: argparse.Namespace) -> int:
    settings, spool = _spool(args)
    message = _load(spool, args.id)
    spool.remove(message.id)
    _queue_record(settings, "queue-delete", message, args.actor)
    notify_queue_changed(settings.data_dir)
    print(f"{message.id} deleted")
    return 0


def cmd_queue_bounce(args: argparse.Namespace) -> int:
    settings, spool = _spool(args)
    message = queue_admin.bounce(spool, _load(spool, args.id).id, utc_now())
    _queue_record(settings, "queue-bounce", message, args.actor)
    told = notify_queue_changed(settings.data_dir)
    print(
        f"{message.id} will be returned to <{message.sender}>"
        + ("" if told else " when the server runs")
    )
    return 0


def cmd_queue_stats(args: argparse.Namespace) -> int:
    settings, spool = _spool(args)
    print(queue_admin.summary_lines(spool, utc_now())[-1])
    counts = queue_admin.log_stats(settings.log_dir, utc_now().date())
    print(
        "today: " + (", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no deliveries")
    )
    return 0


def _load(spool: Spool, queue_id: str) -> QueuedMessage:
    try:
        return spool.load(queue_id)
    except SpoolError as exc:
        raise CliError(str(exc)) from None


def _queue_record(
    settings: config.Settings, action: str, message: QueuedMessage, actor: str
) -> None:
    log = open_log(settings)
    try:
        log.write(
            "admin",
            actor=actor,
            action=action,
            queue_id=message.id,
            sender=message.sender,
            recipients=[r.address for r in message.pending],
        )
    finally:
        log.close()


class Admin:
    """What an account command needs: the directory, the log, and who is acting."""

    def __init__(self, args: argparse.Namespace, *, may_create: bool = False) -> None:
        self.settings = admin_settings(args, may_create=may_create)
        self.directory: Directory = open_directory(self.settings)
        self.log = open_log(self.settings)
        self.actor: str = getattr(args, "actor", "") or _default_actor()
        self.args = args

    def record(self, action: str, account: Account, **fields: Any) -> None:
        """Log the change, then tell a server running on this node so live sessions see it."""
        told = notify_account_changed(self.settings.data_dir, account.login)
        self.log.write(
            "admin",
            actor=self.actor,
            action=action,
            account=account.login,
            result="allow",
            status=account.status.value,
            sessions_notified=told,
            **fields,
        )

    def standing(self, account: Account) -> Standing:
        """The account's life-cycle state as the policy applies it now."""
        return standing(account, utc_now(), self.settings.policy)


def _run(
    func: Callable[[Admin], Coroutine[Any, Any, int | None]],
    args: argparse.Namespace,
    *,
    may_create: bool = False,
) -> int:
    async def go() -> int | None:
        admin = Admin(args, may_create=may_create)
        try:
            return await func(admin)
        finally:
            await admin.directory.close()
            admin.log.close()

    return asyncio.run(go()) or 0


def _login(admin: Admin) -> str:
    """The login argument in normal form (`mailserver.logins`, as every server takes it)."""
    login = normal_login(admin.args.login)
    if login is None or not _ADDRESS.match(login):
        raise CliError(
            f"{admin.args.login!r} is not a login like alice@bangkok.go.th"
            " (ASCII, no spaces; see docs/security.md, Logins)"
        )
    return login


def _read_password(admin: Admin) -> str:
    if admin.args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise CliError("the passwords do not match")
    if len(password) < 8:
        raise CliError("the password must have at least 8 characters")
    return password


async def _hash(admin: Admin, password: str) -> str:
    return await asyncio.to_thread(password_hasher(admin.settings).hash, password)


async def account_add(admin: Admin) -> None:
    args, login = admin.args, _login(admin)
    MaildirStore(admin.settings.mail_root).maildir(login)  # the address must name a mailbox
    for alias in args.alias:
        if not _ADDRESS.match(alias.lower()):
            raise CliError(f"alias {alias!r} is not an address")
    kind = AccountKind.ROLE if args.role else AccountKind.PERSON
    if kind is AccountKind.ROLE and not args.responsible:
        raise CliError("a role mailbox needs --responsible LOGIN")
    password_hash = None if args.no_password else await _hash(admin, _read_password(admin))
    account = await admin.directory.add_account(
        login,
        password_hash=password_hash,
        aliases=tuple(a.lower() for a in args.alias),
        kind=kind,
        status=AccountStatus.PENDING if args.pending else AccountStatus.ACTIVE,
        unit=args.unit,
        responsible=args.responsible.lower() if args.responsible else None,
        display_name=args.name,
        actor=admin.actor,
        now=utc_now(),
    )
    admin.record("add", account, detail=f"kind={account.kind.value}")
    print(f"added {account.login} ({account.status.value})")


async def account_show(admin: Admin) -> None:
    account = await _get(admin)
    for key, value in _describe(account, admin.standing(account)):
        print(f"{key + ':':<18}{value}")


# `account list` columns: login, kind, status as the policy applies it, separation date,
# end of the grace window (the first day refused), then the recorded reason, if any.
_LIST_HEADER = ("LOGIN", "KIND", "STATUS", "SEPARATION", "GRACE ENDS")


def _list_line(login: str, kind: str, status: str, separation: str, ends: str) -> str:
    return f"{login:<40} {kind:<7} {status:<26} {separation:<10} {ends:<10}"


async def account_list(admin: Admin) -> None:
    status = AccountStatus(admin.args.status) if admin.args.status else None
    accounts = await admin.directory.list_accounts(status)
    if accounts and sys.stdout.isatty():  # a header for people; scripts get the rows only
        print(_list_line(*_LIST_HEADER).rstrip())
    for account in accounts:
        state = admin.standing(account)
        note = f"  {account.status_reason}" if account.status_reason else ""
        line = _list_line(
            account.login,
            account.kind.value,
            state.label,
            _day(state.separation_date),
            _day(state.grace_ends),
        )
        print((line + note).rstrip())


def _day(day: dt.date | None) -> str:
    return day.isoformat() if day is not None else "-"


async def account_approve(admin: Admin) -> None:
    account = await _get(admin)
    if account.status is not AccountStatus.PENDING:
        raise CliError(f"{account.login} is {account.status.value}, not pending")
    await _set_status(admin, AccountStatus.ACTIVE, "approve", reason="")


async def account_passwd(admin: Admin) -> None:
    account = await _get(admin)
    password_hash = await _hash(admin, _read_password(admin))
    account = await admin.directory.set_password_hash(account.login, password_hash, now=utc_now())
    admin.record("passwd", account)
    print(f"password of {account.login} changed")


async def account_suspend(admin: Admin) -> None:
    await _set_status(admin, AccountStatus.SUSPENDED, "suspend", reason=admin.args.reason)


async def account_lock(admin: Admin) -> None:
    await _set_status(admin, AccountStatus.LOCKED, "lock", reason=admin.args.reason)


async def account_unsuspend(admin: Admin) -> None:
    await _set_status(admin, AccountStatus.ACTIVE, "unsuspend", reason="")


async def account_depart(admin: Admin) -> None:
    await _set_status(
        admin, AccountStatus.DEPARTED, "depart", reason="", separation_date=admin.args.date
    )


async def account_close(admin: Admin) -> None:
    await _set_status(admin, AccountStatus.CLOSED, "close", reason=admin.args.reason)


async def account_set_responsible(admin: Admin) -> None:
    role = await _get(admin)
    if role.kind is not AccountKind.ROLE:
        raise CliError(f"{role.login} is not a role mailbox")
    person = await admin.directory.get(admin.args.responsible)
    if person is None:
        raise CliError(f"no account {admin.args.responsible!r}")
    delegates = tuple(d.lower() for d in admin.args.delegate)
    role = await admin.directory.update(
        role.login, now=utc_now(), responsible=person.login, delegates=delegates
    )
    admin.record("set-responsible", role, detail=f"responsible={person.login}")
    print(f"{role.login}: responsible person is now {person.login}")


async def account_set_unit(admin: Admin) -> None:
    account = await _get(admin)
    account = await admin.directory.update(account.login, now=utc_now(), unit=admin.args.unit)
    admin.record("set-unit", account, detail=f"unit={account.unit}")
    print(f"{account.login}: unit is now {account.unit}")


async def account_export(admin: Admin) -> None:
    args, directory = admin.args, admin.settings.directory
    base = args.base or directory.ldap_user_base or directory.ldap_base
    if not base:
        raise CliError("give --base DN (or set directory.ldap_user_base)")
    if args.output is not None and args.output.exists() and not args.force:
        raise CliError(f"{args.output} exists (use --force to overwrite it)")
    accounts = await admin.directory.list_accounts()
    hashes_of = getattr(admin.directory, "password_hashes", None)
    hashes = await hashes_of() if hashes_of is not None else {}
    if hashes_of is None:
        notice("this directory does not give out password hashes")
    out = io.BytesIO()
    for warning in ldif_io.write_ldif(out, accounts, hashes, base):
        notice(f"note: {warning}")
    if args.output is None:
        sys.stdout.buffer.write(out.getvalue())
        sys.stdout.flush()
    else:
        # Mode 0600: it holds password hashes. No lock: two exports may race to one file.
        write_file_durably(args.output, out.getvalue())
        print(f"exported {len(accounts)} accounts under {base} -> {args.output}")
    admin.log.write(
        "admin",
        actor=admin.actor,
        action="account-export",
        result="allow",
        accounts=len(accounts),
        output=str(args.output or "-"),
    )


async def account_import_ldif(admin: Admin) -> int:
    args = admin.args
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        raise CliError(f"{args.file}: {exc.strerror or exc}") from None
    parsed = ldif_io.parse_accounts(data, password_hasher(admin.settings))
    for line in (*parsed.problems, *parsed.warnings):
        print(f"{args.file}: {line}", file=sys.stderr)
    result = await ldif_io.import_accounts(
        admin.directory,
        parsed.accounts,
        actor=admin.actor,
        now=utc_now(),
        dry_run=args.dry_run,
        update=args.update,
    )
    for account in result.added:
        admin.record("import-ldif", account, detail=f"added from {args.file.name}")
    for account in result.updated:
        admin.record("import-ldif", account, detail=f"updated from {args.file.name}")
    done = "would be imported" if args.dry_run else "imported"
    print(
        f"{len(parsed.accounts)} accounts in {args.file.name}: "
        f"{len(result.planned or result.added + result.updated)} {done}, "
        f"{len(result.skipped)} existed, "
        f"{len(result.failed) + len(parsed.problems)} failed"
    )
    return EXIT_ERROR if result.failed or parsed.problems else 0


async def _get(admin: Admin) -> Account:
    account = await admin.directory.get(_login(admin))
    if account is None:
        raise CliError(f"no account {admin.args.login!r}")
    return account


async def _set_status(admin: Admin, status: AccountStatus, action: str, **kwargs: Any) -> None:
    account = await _get(admin)
    account = await admin.directory.set_status(
        account.login, status, actor=admin.actor, now=utc_now(), **kwargs
    )
    admin.record(action, account, detail=kwargs.get("reason") or None)
    state = admin.standing(account)
    ends = _day(state.grace_ends)
    extra = ""
    if state.grace_ends is not None and not state.still_staff:
        extra = f" (separated {_day(state.separation_date)}, grace ends {ends})"
    elif state.grace_ends is not None:
        extra = f"; departed from then, grace ends {ends}"
    print(f"{account.login} is now {state.label}{extra}")


def _describe(account: Account, state: Standing) -> list[tuple[str, str]]:
    rows = [
        ("login", account.login),
        ("address", account.address),
        ("aliases", ", ".join(account.aliases) or "-"),
        ("kind", account.kind.value),
        ("status", state.label),
    ]
    if account.status_reason:
        rows.append(("reason", account.status_reason))
    if account.status_actor:
        rows.append(("changed by", account.status_actor))
    if account.status_since:
        rows.append(("since", account.status_since.isoformat(timespec="seconds")))
    if account.separation_date:
        rows.append(("separation date", account.separation_date.isoformat()))
    if state.grace_ends is not None:
        over = " (over: logins refused; the sweep suspends it)" if state.grace_over else ""
        rows.append(("grace ends", state.grace_ends.isoformat() + over))
    rows.append(("unit", account.unit or "-"))
    if account.kind is AccountKind.ROLE:
        rows.append(("responsible", account.responsible or "-"))
        rows.append(("delegates", ", ".join(account.delegates) or "-"))
    rows.append(("smtp", "enabled" if account.smtp_enabled else "disabled"))
    rows.append(("imap", "enabled" if account.imap_enabled else "disabled"))
    return rows


if __name__ == "__main__":
    sys.exit(main())
