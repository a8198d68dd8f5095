"""The embedded directory: accounts in one SQLite file (the default with no setup).

The server and the admin CLI (another process) use the same file at once:
the database runs in WAL mode (readers never wait for a writer) with a busy
timeout (writers queue instead of failing), and every write takes the write
lock up front (``BEGIN IMMEDIATE``) so a read can never fail to upgrade.

All SQLite calls run on one dedicated thread that owns the connection, and
password verification on a small pool of its own, so neither stalls the
event loop and a slow hash never delays a plain lookup.

Logins are stored as `mailserver.logins.normal_login` gives them (ASCII, lower-case)
and looked up the same way; addresses are stored lower-case.
Times are stored as ISO 8601 UTC text, days as ISO dates. `revision` is a
fresh random token on every write to an account, so a cache that remembers it
notices any change (a counter could repeat if an account were re-created).

The schema carries its version in ``PRAGMA user_version``; `MIGRATIONS` lists
the steps, the n-th one taking the file from version n-1 to n. To change the
schema, append one function.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

from mailserver import private
from mailserver.directory import (
    AccountExists,
    AccountNotFound,
    DirectoryError,
    DirectoryUnavailable,
    EntryChange,
)
from mailserver.directory.values import check_role_links, clean_update
from mailserver.directory.values import text as _text
from mailserver.directory.values import valid_address as _address
from mailserver.directory.values import valid_addresses as _addresses
from mailserver.directory.values import valid_login as _login
from mailserver.logins import normal_login
from mailserver.passwords import PasswordHasher
from policy.model import Account, AccountKind, AccountStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

# How long a write waits for another process's write lock before giving up.
BUSY_TIMEOUT_MS = 5_000


# --- schema -----------------------------------------------------------------


def _migration_1(conn: sqlite3.Connection) -> None:
    """Accounts, their addresses, role-mailbox delegates and extra sender addresses."""
    statements = [
        """
        CREATE TABLE accounts (
            login           TEXT PRIMARY KEY CHECK (login = lower(login)),
            address         TEXT NOT NULL CHECK (address = lower(address)),
            kind            TEXT NOT NULL,
            status          TEXT NOT NULL,
            status_reason   TEXT NOT NULL DEFAULT '',
            status_actor    TEXT NOT NULL DEFAULT '',
            status_since    TEXT,
            separation_date TEXT,
            unit            TEXT NOT NULL DEFAULT '',
            unit_since      TEXT,
            responsible     TEXT,
            display_name    TEXT NOT NULL DEFAULT '',
            smtp_enabled    INTEGER NOT NULL DEFAULT 1,
            imap_enabled    INTEGER NOT NULL DEFAULT 1,
            password_hash   TEXT,
            revision        TEXT NOT NULL,
            created         TEXT NOT NULL,
            updated         TEXT NOT NULL
        )
        """,
        """
        CREATE TABLE addresses (
            address TEXT PRIMARY KEY CHECK (address = lower(address)),
            login   TEXT NOT NULL REFERENCES accounts (login) ON DELETE CASCADE
        )
        """,
        "CREATE INDEX addresses_login ON addresses (login)",
        """
        CREATE TABLE delegates (
            login    TEXT NOT NULL REFERENCES accounts (login) ON DELETE CASCADE,
            delegate TEXT NOT NULL,
            PRIMARY KEY (login, delegate)
        )
        """,
        """
        CREATE TABLE send_as (
            login   TEXT NOT NULL REFERENCES accounts (login) ON DELETE CASCADE,
            address TEXT NOT NULL,
            PRIMARY KEY (login, address)
        )
        """,
        "CREATE INDEX accounts_status ON accounts (status)",
    ]
    for statement in statements:
        conn.execute(statement)


# MIGRATIONS[n - 1] takes the schema from version n - 1 to version n.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_migration_1,)

_COLUMNS = (
    "login, address, kind, status, status_reason, status_actor, status_since,"
    " separation_date, unit, unit_since, responsible, display_name, smtp_enabled,"
    " imap_enabled, revision"
)


class SqliteDirectory:
    """`Directory` over a SQLite file; see the module docstring.

    Opens lazily on first use (or call `open` to fail early); a failed open is
    retried on the next call. After `close` every call raises DirectoryUnavailable.
    """

    # Subclasses (and tests) may extend the list; the file's user_version follows it.
    migrations: tuple[Callable[[sqlite3.Connection], None], ...] = MIGRATIONS

    def __init__(self, path: Path, hasher: PasswordHasher, *, hash_workers: int = 2) -> None:
        self.path = Path(path)
        self.hasher = hasher
        self._conn: sqlite3.Connection | None = None  # touched only on the db thread
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="directory-db")
        self._hash_pool = ThreadPoolExecutor(
            max_workers=max(1, hash_workers), thread_name_prefix="password-hash"
        )
        self._closed = False

    @property
    def schema_version(self) -> int:
        """The schema version this code writes (the number of migrations)."""
        return len(self.migrations)

    # --- life cycle ---------------------------------------------------------

    async def open(self) -> None:
        """Open the file, creating and migrating it as needed; DirectoryUnavailable if not."""
        await self._run(lambda conn: None)

    async def close(self) -> None:
        """Close the connection and stop the worker threads."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._db, self._disconnect)
        self._db.shutdown(wait=False)
        self._hash_pool.shutdown(wait=False)

    # --- reads --------------------------------------------------------------

    async def authenticate(self, login: str, password: str) -> Account | None:
        """The account when `password` is right; None for an unknown login or a wrong one.

        An unknown login (or one with no password, or one that is not a login) pays for a
        dummy argon2 verify at the configured cost, and a wrong password for at least
        that (`PasswordHasher.verify_login`), so both cost the same. A right password
        stored in an older scheme is re-hashed with argon2id (a write: the revision
        changes).
        """
        normal = normal_login(login)
        found = None if normal is None else await self._run(_load_with_hash, normal)
        if found is None or not found[1]:
            await self._hashing(self.hasher.dummy_verify, password)
            return None
        account, stored = found[0], found[1]
        if not await self._hashing(self.hasher.verify_login, password, stored):
            return None
        if self.hasher.needs_rehash(stored):
            account = await self._upgrade_hash(account, stored, password)
        return account

    async def get(self, login: str) -> Account | None:
        """A fresh snapshot of the account with this login (case-insensitive), or None."""
        normal = normal_login(login)
        return None if normal is None else await self._run(_load, normal)

    async def password_hashes(self) -> dict[str, str | None]:
        """login -> stored password hash of every account (for `account export` to LDIF)."""
        return await self._run(_all_hashes)

    async def find_by_address(self, address: str) -> Account | None:
        """The account that receives mail for `address` (primary or alias), or None."""
        return await self._run(_load_by_address, address.lower())

    async def local_domains(self) -> frozenset[str]:
        """Domains of every address in the directory, lower-case."""
        return await self._run(_domains)

    async def list_accounts(self, status: AccountStatus | None = None) -> list[Account]:
        """Every account (or those with `status`), ordered by login."""
        return await self._run(_load_all, None if status is None else AccountStatus(status))

    async def changed_since(self, since: datetime) -> list[EntryChange]:
        """Accounts written at or after `since` (any process sharing this database)."""
        return await self._run(_changed_since, _ts(since))

    # --- writes -------------------------------------------------------------

    async def add_account(
        self,
        login: str,
        *,
        password_hash: str | None,
        address: str | None = None,
        aliases: tuple[str, ...] = (),
        kind: AccountKind = AccountKind.PERSON,
        status: AccountStatus = AccountStatus.ACTIVE,
        unit: str = "",
        responsible: str | None = None,
        display_name: str = "",
        actor: str = "",
        now: datetime,
    ) -> Account:
        """Create an account; raises AccountExists if the login or an address is taken.

        `address` defaults to the login. A role mailbox needs a `responsible`
        login that exists. A departed account is made with `set_status`, which
        records the separation date.
        """
        login = _login(login)
        primary = _address(address if address is not None else login)
        kind = AccountKind(kind)
        status = AccountStatus(status)
        if status is AccountStatus.DEPARTED:
            raise DirectoryError(
                "a departed account needs its separation date: add it, then use set_status"
            )
        self._check_hash(password_hash)
        row = {
            "login": login,
            "address": primary,
            "kind": kind.value,
            "status": status.value,
            "status_actor": actor,
            "status_since": _ts(now),
            "unit": _text("unit", unit),
            "unit_since": _ts(now) if unit else None,
            "responsible": _login(responsible) if responsible is not None else None,
            "display_name": _text("display_name", display_name),
            "password_hash": password_hash,
            "revision": _revision(),
            "created": _ts(now),
            "updated": _ts(now),
        }
        if kind is AccountKind.ROLE and row["responsible"] is None:
            raise DirectoryError(f"role mailbox {login} needs a responsible person")
        if kind is AccountKind.PERSON and row["responsible"] is not None:
            raise DirectoryError("only role mailboxes have a responsible person")
        extra = tuple(a for a in _addresses(aliases) if a != primary)
        return await self._run(_insert, row, extra)

    async def set_password_hash(self, login: str, password_hash: str, *, now: datetime) -> Account:
        """Replace the stored password hash (already hashed by the caller)."""
        self._check_hash(password_hash)
        return await self._run(
            _set_columns, _login(login), {"password_hash": password_hash}, _ts(now)
        )

    async def set_status(
        self,
        login: str,
        status: AccountStatus,
        *,
        reason: str = "",
        actor: str = "",
        now: datetime,
        separation_date: date | None = None,
    ) -> Account:
        """Move the account to `status`, recording why, who and when.

        DEPARTED needs `separation_date` (memo 4.1). ACTIVE clears the reason and
        the separation date. Other statuses keep a recorded separation date
        unless a new one is given.
        """
        status = AccountStatus(status)
        columns: dict[str, Any] = {
            "status": status.value,
            "status_reason": _text("reason", reason),
            "status_actor": _text("actor", actor),
            "status_since": _ts(now),
        }
        if status is AccountStatus.DEPARTED and separation_date is None:
            raise DirectoryError("a departed account needs its separation date")
        if separation_date is not None:
            if not isinstance(separation_date, date) or isinstance(separation_date, datetime):
                raise DirectoryError("separation_date must be a date")
            columns["separation_date"] = separation_date.isoformat()
        if status is AccountStatus.ACTIVE:
            columns["status_reason"] = ""
            columns["separation_date"] = None
        return await self._run(_set_columns, _login(login), columns, _ts(now))

    async def update(self, login: str, *, now: datetime, **changes: object) -> Account:
        """Change other fields: unit (records unit_since when it changes), responsible,
        delegates, aliases, send_as (tuples replace the whole list), smtp_enabled,
        imap_enabled, display_name. Unknown keys raise DirectoryError.
        """
        return await self._run(_update, _login(login), clean_update(changes), _ts(now))

    # --- plumbing -----------------------------------------------------------

    def _check_hash(self, password_hash: str | None) -> None:
        if password_hash is not None and self.hasher.identify(password_hash) is None:
            # Most likely a plaintext password passed by mistake: never store it.
            raise DirectoryError("password_hash is not a hash in a known scheme")

    async def _upgrade_hash(self, account: Account, stored: str, password: str) -> Account:
        """Re-hash a verified password with argon2id; the login succeeds even if this fails."""
        new_hash = await self._hashing(self.hasher.hash, password)
        try:
            upgraded = await self._run(
                _replace_hash, account.login, stored, new_hash, _ts(datetime.now(UTC))
            )
        except DirectoryError as exc:
            log.warning("password hash of %s not upgraded: %s", account.login, exc)
            return account
        if upgraded is not None:
            log.info("password hash of %s upgraded to argon2id", account.login)
            return upgraded
        return account

    async def _hashing(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise DirectoryUnavailable("the directory is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._hash_pool, functools.partial(fn, *args))

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` on the database thread."""
        if self._closed:
            raise DirectoryUnavailable("the directory is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, functools.partial(self._call, fn, *args))

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return fn(self._connection(), *args)
        except sqlite3.IntegrityError as exc:
            raise DirectoryError(f"refused by the directory database: {exc}") from exc
        except sqlite3.Error as exc:
            if not isinstance(exc, sqlite3.OperationalError):
                # Corruption and the like: reopen from scratch next time.
                self._disconnect()
            raise DirectoryUnavailable(f"directory database {self.path}: {exc}") from exc
        except OSError as exc:
            raise DirectoryUnavailable(f"directory database {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        # The database holds the password hashes: 0600 before SQLite opens it, and SQLite
        # gives its -wal and -shm files the database's mode.
        private.make_dirs(self.path.parent)
        private.create_file(self.path)
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn, self.migrations)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except sqlite3.Error:
                log.warning("closing the directory database failed", exc_info=True)


# --- database-thread functions (each takes the connection first) ------------


@contextmanager
def _transaction(conn: sqlite3.Connection, mode: str = "DEFERRED") -> Iterator[None]:
    """One transaction: IMMEDIATE for writes (takes the write lock now, waits if busy)."""
    conn.execute(f"BEGIN {mode}")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _migrate(conn: sqlite3.Connection, migrations: tuple[Callable[..., None], ...]) -> None:
    """Apply the migrations the file lacks, each in its own transaction."""
    target = len(migrations)
    while True:
        with _transaction(conn, "IMMEDIATE"):
            # Read under the write lock: another process may be migrating too.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > target:
                raise DirectoryUnavailable(
                    f"directory schema version {version} is newer than this program's {target}"
                )
            if version == target:
                return
            migrations[version](conn)
            conn.execute(f"PRAGMA user_version = {version + 1}")
        log.info("directory schema migrated to version %d", version + 1)


def _load(conn: sqlite3.Connection, login: str) -> Account | None:
    with _transaction(conn):
        row = conn.execute(f"SELECT {_COLUMNS} FROM accounts WHERE login = ?", (login,)).fetchone()
        return None if row is None else _assemble(conn, [row])[0]


def _all_hashes(conn: sqlite3.Connection) -> dict[str, str | None]:
    rows = conn.execute("SELECT login, password_hash FROM accounts ORDER BY login").fetchall()
    return {row["login"]: row["password_hash"] for row in rows}


def _load_with_hash(conn: sqlite3.Connection, login: str) -> tuple[Account, str | None] | None:
    with _transaction(conn):
        row = conn.execute(
            f"SELECT {_COLUMNS}, password_hash FROM accounts WHERE login = ?", (login,)
        ).fetchone()
        return None if row is None else (_assemble(conn, [row])[0], row["password_hash"])


def _load_by_address(conn: sqlite3.Connection, address: str) -> Account | None:
    with _transaction(conn):
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM accounts"
            " WHERE login = (SELECT login FROM addresses WHERE address = ?)",
            (address,),
        ).fetchone()
        return None if row is None else _assemble(conn, [row])[0]


def _load_all(conn: sqlite3.Connection, status: AccountStatus | None) -> list[Account]:
    with _transaction(conn):
        if status is None:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM accounts ORDER BY login").fetchall()
        else:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM accounts WHERE status = ? ORDER BY login",
                (status.value,),
            ).fetchall()
        return _assemble(conn, rows)


def _changed_since(conn: sqlite3.Connection, since: str) -> list[EntryChange]:
    rows = conn.execute(
        "SELECT login, revision, updated FROM accounts WHERE updated >= ? ORDER BY updated",
        (since,),
    ).fetchall()
    return [
        EntryChange(row["login"], row["revision"], datetime.fromisoformat(row["updated"]))
        for row in rows
    ]


def _domains(conn: sqlite3.Connection) -> frozenset[str]:
    rows = conn.execute("SELECT address FROM addresses").fetchall()
    return frozenset(r[0].rpartition("@")[2] for r in rows if "@" in r[0])


def _assemble(conn: sqlite3.Connection, rows: list[sqlite3.Row]) -> list[Account]:
    """Accounts from their rows plus their aliases, delegates and send_as lists."""
    if not rows:
        return []
    logins = [r["login"] for r in rows]
    lists = {name: _grouped(conn, name, logins) for name in ("addresses", "delegates", "send_as")}
    accounts = []
    for row in rows:
        login = row["login"]
        aliases = tuple(a for a in lists["addresses"].get(login, ()) if a != row["address"])
        try:
            accounts.append(
                Account(
                    login=login,
                    address=row["address"],
                    aliases=aliases,
                    kind=AccountKind(row["kind"]),
                    status=AccountStatus(row["status"]),
                    status_reason=row["status_reason"],
                    status_actor=row["status_actor"],
                    status_since=_parse_ts(row["status_since"]),
                    separation_date=_parse_date(row["separation_date"]),
                    unit=row["unit"],
                    unit_since=_parse_ts(row["unit_since"]),
                    responsible=row["responsible"],
                    delegates=tuple(lists["delegates"].get(login, ())),
                    send_as=tuple(lists["send_as"].get(login, ())),
                    smtp_enabled=bool(row["smtp_enabled"]),
                    imap_enabled=bool(row["imap_enabled"]),
                    revision=row["revision"],
                    display_name=row["display_name"],
                )
            )
        except (ValueError, TypeError) as exc:
            # Data this code cannot read: refuse rather than guess (fail closed).
            raise DirectoryUnavailable(f"unreadable directory entry {login!r}: {exc}") from exc
    return accounts


def _grouped(conn: sqlite3.Connection, table: str, logins: list[str]) -> dict[str, list[str]]:
    """login -> values of `table`'s second column, in insertion order."""
    column = {"addresses": "address", "delegates": "delegate", "send_as": "address"}[table]
    if len(logins) == 1:
        query = f"SELECT login, {column} FROM {table} WHERE login = ? ORDER BY rowid"
        rows = conn.execute(query, logins).fetchall()
    else:  # every account: one scan beats a query per login
        rows = conn.execute(f"SELECT login, {column} FROM {table} ORDER BY rowid").fetchall()
    grouped: dict[str, list[str]] = {}
    for login, value in rows:
        grouped.setdefault(login, []).append(value)
    return grouped


def _insert(conn: sqlite3.Connection, row: dict[str, Any], aliases: tuple[str, ...]) -> Account:
    login = row["login"]
    with _transaction(conn, "IMMEDIATE"):
        if _exists(conn, login):
            raise AccountExists(f"login {login} is taken")
        _check_free(conn, login, (row["address"], *aliases))
        if row["responsible"] is not None:
            _check_logins(conn, login, "responsible", [row["responsible"]])
        names = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        conn.execute(f"INSERT INTO accounts ({names}) VALUES ({marks})", row)
        conn.executemany(
            "INSERT INTO addresses (address, login) VALUES (?, ?)",
            [(a, login) for a in (row["address"], *aliases)],
        )
        account = _load_inside(conn, login)
    log.info("account %s added", login)
    return account


def _set_columns(
    conn: sqlite3.Connection, login: str, columns: dict[str, Any], now: str
) -> Account:
    with _transaction(conn, "IMMEDIATE"):
        _touch(conn, login, columns, now)
        return _load_inside(conn, login)


def _replace_hash(
    conn: sqlite3.Connection, login: str, old: str, new: str, now: str
) -> Account | None:
    """Swap the hash only if nobody changed it since it was verified."""
    with _transaction(conn, "IMMEDIATE"):
        cursor = conn.execute(
            "UPDATE accounts SET password_hash = ?, revision = ?, updated = ?"
            " WHERE login = ? AND password_hash = ?",
            (new, _revision(), now, login, old),
        )
        return _load_inside(conn, login) if cursor.rowcount else None


def _update(conn: sqlite3.Connection, login: str, changes: dict[str, Any], now: str) -> Account:
    with _transaction(conn, "IMMEDIATE"):
        current = conn.execute(
            "SELECT kind, address, unit FROM accounts WHERE login = ?", (login,)
        ).fetchone()
        if current is None:
            raise AccountNotFound(f"no account {login}")
        role = current["kind"] == AccountKind.ROLE.value
        columns: dict[str, Any] = {}
        for key in ("display_name", "smtp_enabled", "imap_enabled"):
            if key in changes:
                columns[key] = changes[key]
        if "unit" in changes and changes["unit"] != current["unit"]:
            columns["unit"] = changes["unit"]
            columns["unit_since"] = now
        check_role_links(login, role, changes)
        if "responsible" in changes:
            responsible = changes["responsible"]
            if responsible is not None:
                _check_logins(conn, login, "responsible", [responsible])
            columns["responsible"] = responsible
        if "delegates" in changes:
            _check_logins(conn, login, "delegate", changes["delegates"])
            _replace_list(conn, "delegates", "delegate", login, changes["delegates"])
        if "send_as" in changes:
            _replace_list(conn, "send_as", "address", login, changes["send_as"])
        if "aliases" in changes:
            aliases = tuple(a for a in changes["aliases"] if a != current["address"])
            conn.execute(
                "DELETE FROM addresses WHERE login = ? AND address != ?",
                (login, current["address"]),
            )
            _check_free(conn, login, aliases)
            conn.executemany(
                "INSERT INTO addresses (address, login) VALUES (?, ?)",
                [(a, login) for a in aliases],
            )
        _touch(conn, login, columns, now)
        return _load_inside(conn, login)


def _touch(conn: sqlite3.Connection, login: str, columns: dict[str, Any], now: str) -> None:
    """Set `columns` and a new revision; AccountNotFound if there is no such login."""
    values = {**columns, "revision": _revision(), "updated": now}
    assignments = ", ".join(f"{name} = :{name}" for name in values)
    cursor = conn.execute(
        f"UPDATE accounts SET {assignments} WHERE login = :_login", {**values, "_login": login}
    )
    if cursor.rowcount == 0:
        raise AccountNotFound(f"no account {login}")


def _load_inside(conn: sqlite3.Connection, login: str) -> Account:
    """Read back an account inside the current write transaction."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM accounts WHERE login = ?", (login,)).fetchone()
    return _assemble(conn, [row])[0]


def _replace_list(
    conn: sqlite3.Connection, table: str, column: str, login: str, values: Iterable[str]
) -> None:
    conn.execute(f"DELETE FROM {table} WHERE login = ?", (login,))
    conn.executemany(
        f"INSERT INTO {table} (login, {column}) VALUES (?, ?)", [(login, v) for v in values]
    )


def _exists(conn: sqlite3.Connection, login: str) -> bool:
    return conn.execute("SELECT 1 FROM accounts WHERE login = ?", (login,)).fetchone() is not None


def _check_free(conn: sqlite3.Connection, login: str, addresses: Iterable[str]) -> None:
    for address in addresses:
        owner = conn.execute("SELECT login FROM addresses WHERE address = ?", (address,)).fetchone()
        if owner is not None and owner[0] != login:
            raise AccountExists(f"address {address} belongs to {owner[0]}")


def _check_logins(conn: sqlite3.Connection, login: str, what: str, logins: Iterable[str]) -> None:
    for other in logins:
        if other == login:
            raise DirectoryError(f"{login} cannot be its own {what}")
        if not _exists(conn, other):
            raise AccountNotFound(f"{what} {other} is not an account")


# --- values -----------------------------------------------------------------


def _revision() -> str:
    return uuid.uuid4().hex


def _ts(moment: datetime) -> str:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise ValueError("times must be timezone-aware datetimes")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _parse_ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC)


def _parse_date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)
