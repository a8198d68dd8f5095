"""SqliteDirectory against real SQLite files in a temporary directory."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from mailserver.directory import (
    AccountExists,
    AccountNotFound,
    Directory,
    DirectoryError,
    DirectoryUnavailable,
)
from mailserver.directory.local import MIGRATIONS, SqliteDirectory
from mailserver.passwords import PasswordHasher
from policy.model import Account, AccountKind, AccountStatus

NOW = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


class CountingHasher(PasswordHasher):
    """A real hasher that counts its calls."""

    def __init__(self) -> None:
        super().__init__(memory_kib=1024, time_cost=1, parallelism=1)
        self.verifies = 0
        self.dummies = 0

    def verify(self, password: str, stored: str | None) -> bool:
        self.verifies += 1
        return super().verify(password, stored)

    def dummy_verify(self, password: str) -> None:
        self.dummies += 1
        super().dummy_verify(password)


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
async def directory(tmp_path: Path, hasher: CountingHasher) -> AsyncIterator[SqliteDirectory]:
    d = SqliteDirectory(tmp_path / "dir.sqlite3", hasher)
    await d.open()
    yield d
    await d.close()


async def add(d: SqliteDirectory, login: str, password: str = "pw", **kw: object) -> Account:
    return await d.add_account(login, password_hash=d.hasher.hash(password), now=NOW, **kw)


def ssha(password: str, salt: bytes = b"s4lt") -> str:
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def test_satisfies_the_protocol(tmp_path: Path, hasher: CountingHasher) -> None:
    d: Directory = SqliteDirectory(tmp_path / "x.sqlite3", hasher)
    assert d is not None


# --- CRUD -------------------------------------------------------------------


async def test_add_and_get(directory: SqliteDirectory) -> None:
    added = await add(
        directory,
        "Somchai.J@Bangkok.go.th",
        unit="Database Section",
        display_name="Somchai J.",
        actor="admin",
        aliases=("somchai@bangkok.go.th",),
    )
    got = await directory.get("somchai.j@bangkok.go.th")
    assert got == added
    assert got is not None
    assert got.login == got.address == "somchai.j@bangkok.go.th"
    assert got.aliases == ("somchai@bangkok.go.th",)
    assert got.kind is AccountKind.PERSON
    assert got.status is AccountStatus.ACTIVE
    assert got.status_actor == "admin"
    assert got.status_since == NOW
    assert got.unit == "Database Section"
    assert got.unit_since == NOW
    assert got.display_name == "Somchai J."
    assert got.smtp_enabled and got.imap_enabled
    assert got.revision
    assert got.status_since is not None and got.status_since.tzinfo is not None


async def test_get_unknown_is_none(directory: SqliteDirectory) -> None:
    assert await directory.get("nobody@bangkok.go.th") is None
    assert await directory.find_by_address("nobody@bangkok.go.th") is None


async def test_address_differs_from_login(directory: SqliteDirectory) -> None:
    await add(directory, "staff01", address="Staff01@BMA.go.th")
    account = await directory.get("STAFF01")
    assert account is not None
    assert account.login == "staff01"
    assert account.address == "staff01@bma.go.th"
    assert await directory.find_by_address("STAFF01@bma.go.th") == account
    assert await directory.find_by_address("staff01") is None


async def test_find_by_alias_case_insensitive(directory: SqliteDirectory) -> None:
    account = await add(directory, "a@bangkok.go.th", aliases=("Alias@Bangkok.go.th",))
    assert await directory.find_by_address("ALIAS@bangkok.GO.TH") == account
    assert await directory.find_by_address("a@BANGKOK.go.th") == account


async def test_taken_login_or_address(directory: SqliteDirectory) -> None:
    await add(directory, "a@bangkok.go.th", aliases=("shared@bangkok.go.th",))
    with pytest.raises(AccountExists):
        await add(directory, "A@bangkok.go.th")
    with pytest.raises(AccountExists):
        await add(directory, "b@bangkok.go.th", aliases=("Shared@bangkok.go.th",))
    with pytest.raises(AccountExists):
        await add(directory, "c", address="a@bangkok.go.th")
    assert [a.login for a in await directory.list_accounts()] == ["a@bangkok.go.th"]
    # A failed add leaves nothing behind.
    assert await directory.find_by_address("b@bangkok.go.th") is None


async def test_add_rejects_bad_input(directory: SqliteDirectory) -> None:
    with pytest.raises(DirectoryError):
        await add(directory, "no-at-sign")  # the address defaults to the login
    with pytest.raises(DirectoryError):
        await add(directory, "a b@bangkok.go.th")
    with pytest.raises(DirectoryError, match="hash"):
        await directory.add_account("p@bangkok.go.th", password_hash="plaintext", now=NOW)
    with pytest.raises(DirectoryError, match="separation"):
        await add(directory, "d@bangkok.go.th", status=AccountStatus.DEPARTED)
    with pytest.raises(ValueError):
        await directory.add_account("n@bangkok.go.th", password_hash=None, now=datetime(2024, 1, 1))


async def test_account_without_password(directory: SqliteDirectory) -> None:
    account = await directory.add_account(
        "pending@bangkok.go.th", password_hash=None, status=AccountStatus.PENDING, now=NOW
    )
    assert account.status is AccountStatus.PENDING
    assert await directory.authenticate("pending@bangkok.go.th", "") is None


async def test_role_mailbox_needs_responsible(directory: SqliteDirectory) -> None:
    with pytest.raises(DirectoryError, match="responsible"):
        await add(directory, "saraban@bangkok.go.th", kind=AccountKind.ROLE)
    with pytest.raises(AccountNotFound):
        await add(
            directory, "saraban@bangkok.go.th", kind=AccountKind.ROLE, responsible="ghost@x.th"
        )
    await add(directory, "boss@bangkok.go.th")
    role = await add(
        directory,
        "saraban@bangkok.go.th",
        kind=AccountKind.ROLE,
        responsible="Boss@bangkok.go.th",
    )
    assert role.kind is AccountKind.ROLE
    assert role.responsible == "boss@bangkok.go.th"
    with pytest.raises(DirectoryError):
        await directory.update("saraban@bangkok.go.th", now=LATER, responsible=None)
    with pytest.raises(DirectoryError):
        await directory.update("boss@bangkok.go.th", now=LATER, responsible="saraban@bangkok.go.th")


async def test_list_accounts_by_status(directory: SqliteDirectory) -> None:
    for login in ("c@x.th", "a@x.th", "b@x.th"):
        await add(directory, login)
    await directory.set_status("b@x.th", AccountStatus.LOCKED, reason="spam", now=LATER)
    assert [a.login for a in await directory.list_accounts()] == ["a@x.th", "b@x.th", "c@x.th"]
    locked = await directory.list_accounts(AccountStatus.LOCKED)
    assert [a.login for a in locked] == ["b@x.th"]
    assert locked[0] == await directory.get("b@x.th")
    assert await directory.list_accounts(AccountStatus.CLOSED) == []


async def test_local_domains(directory: SqliteDirectory) -> None:
    assert await directory.local_domains() == frozenset()
    await add(directory, "a@Bangkok.go.th", aliases=("a@BMA.go.th",))
    await add(directory, "staff", address="staff@pr.bangkok.go.th")
    assert await directory.local_domains() == {"bangkok.go.th", "bma.go.th", "pr.bangkok.go.th"}


# --- updates and revisions --------------------------------------------------


async def test_update_fields(directory: SqliteDirectory) -> None:
    await add(directory, "boss@x.th", unit="Unit A")
    await add(directory, "deputy@x.th")
    await add(directory, "newboss@x.th")
    await add(directory, "role@x.th", kind=AccountKind.ROLE, responsible="boss@x.th")

    role = await directory.update(
        "ROLE@x.th",
        now=LATER,
        responsible="newboss@x.th",
        delegates=("Deputy@x.th", "deputy@x.th"),
        aliases=("info@x.th", "contact@x.th"),
        send_as=("Noreply@x.th",),
        smtp_enabled=False,
        imap_enabled=False,
        display_name="Role box",
    )
    assert role.responsible == "newboss@x.th"
    assert role.delegates == ("deputy@x.th",)
    assert role.aliases == ("info@x.th", "contact@x.th")
    assert role.send_as == ("noreply@x.th",)
    assert not role.smtp_enabled and not role.imap_enabled
    assert role.display_name == "Role box"
    assert await directory.find_by_address("contact@x.th") == role
    assert await directory.get("role@x.th") == role

    role = await directory.update("role@x.th", now=LATER, aliases=("contact@x.th",))
    assert role.aliases == ("contact@x.th",)
    assert await directory.find_by_address("info@x.th") is None
    assert await directory.find_by_address("role@x.th") == role  # primary kept


async def test_unit_since_changes_only_with_the_unit(directory: SqliteDirectory) -> None:
    await add(directory, "p@x.th", unit="Unit A")
    same = await directory.update("p@x.th", now=LATER, unit="Unit A")
    assert same.unit_since == NOW
    moved = await directory.update("p@x.th", now=LATER, unit="Unit B")
    assert (moved.unit, moved.unit_since) == ("Unit B", LATER)


async def test_update_rejects_bad_changes(directory: SqliteDirectory) -> None:
    await add(directory, "p@x.th")
    await add(directory, "q@x.th", aliases=("q2@x.th",))
    with pytest.raises(DirectoryError, match="password_hash"):
        await directory.update("p@x.th", now=LATER, password_hash="x")
    with pytest.raises(DirectoryError, match="status"):
        await directory.update("p@x.th", now=LATER, status="locked")
    with pytest.raises(DirectoryError):
        await directory.update("p@x.th", now=LATER, smtp_enabled="no")
    with pytest.raises(DirectoryError):
        await directory.update("p@x.th", now=LATER, aliases="single@x.th")
    with pytest.raises(DirectoryError, match="delegates"):
        await directory.update("p@x.th", now=LATER, delegates=("q@x.th",))
    with pytest.raises(AccountExists):
        await directory.update("p@x.th", now=LATER, aliases=("q2@x.th",))
    with pytest.raises(AccountNotFound):
        await directory.update("ghost@x.th", now=LATER, unit="x")
    # A refused update changes nothing.
    assert (await directory.get("p@x.th")).aliases == ()  # type: ignore[union-attr]
    assert (await directory.get("q@x.th")).aliases == ("q2@x.th",)  # type: ignore[union-attr]


async def test_revision_changes_on_every_write(directory: SqliteDirectory) -> None:
    boss = await add(directory, "boss@x.th")
    first = await add(directory, "role@x.th", kind=AccountKind.ROLE, responsible="boss@x.th")
    seen = {first.revision}
    writes = [
        directory.set_password_hash("role@x.th", directory.hasher.hash("new"), now=LATER),
        directory.set_status("role@x.th", AccountStatus.SUSPENDED, reason="r", now=LATER),
        directory.set_status("role@x.th", AccountStatus.ACTIVE, now=LATER),
        directory.update("role@x.th", now=LATER, unit="u"),
        directory.update("role@x.th", now=LATER, unit="u"),  # same value: still a write
        directory.update("role@x.th", now=LATER, aliases=("r2@x.th",)),
        directory.update("role@x.th", now=LATER, delegates=("boss@x.th",)),
        directory.update("role@x.th", now=LATER, send_as=("s@x.th",)),
        directory.update("role@x.th", now=LATER, smtp_enabled=False),
        directory.update("role@x.th", now=LATER, display_name="R"),
        directory.update("role@x.th", now=LATER),
    ]
    for write in writes:
        account = await write
        assert account.revision not in seen
        assert (await directory.get("role@x.th")).revision == account.revision  # type: ignore[union-attr]
        seen.add(account.revision)
    # Writes to one account leave the others' revisions alone.
    assert await directory.get("boss@x.th") == boss


async def test_writes_to_missing_accounts(directory: SqliteDirectory) -> None:
    with pytest.raises(AccountNotFound):
        await directory.set_password_hash("ghost@x.th", directory.hasher.hash("p"), now=NOW)
    with pytest.raises(AccountNotFound):
        await directory.set_status("ghost@x.th", AccountStatus.LOCKED, now=NOW)


# --- status -----------------------------------------------------------------


async def test_status_transitions_record_reason_actor_and_time(
    directory: SqliteDirectory,
) -> None:
    await add(directory, "p@x.th")
    locked = await directory.set_status(
        "p@x.th", AccountStatus.LOCKED, reason="phishing", actor="secops", now=LATER
    )
    assert (locked.status, locked.status_reason, locked.status_actor, locked.status_since) == (
        AccountStatus.LOCKED,
        "phishing",
        "secops",
        LATER,
    )
    again = LATER + timedelta(days=1)
    active = await directory.set_status(
        "p@x.th", AccountStatus.ACTIVE, reason="ignored", actor="admin", now=again
    )
    assert (active.status, active.status_reason, active.status_actor, active.status_since) == (
        AccountStatus.ACTIVE,
        "",
        "admin",
        again,
    )
    assert await directory.get("p@x.th") == active


async def test_departed_needs_a_separation_date(directory: SqliteDirectory) -> None:
    await add(directory, "p@x.th")
    with pytest.raises(DirectoryError, match="separation"):
        await directory.set_status("p@x.th", AccountStatus.DEPARTED, now=LATER)
    assert (await directory.get("p@x.th")).status is AccountStatus.ACTIVE  # type: ignore[union-attr]
    departed = await directory.set_status(
        "p@x.th",
        AccountStatus.DEPARTED,
        reason="retired",
        now=LATER,
        separation_date=date(2024, 4, 30),
    )
    assert departed.separation_date == date(2024, 4, 30)
    # Locking a departed account keeps the day they left; re-activation clears it.
    locked = await directory.set_status("p@x.th", AccountStatus.LOCKED, now=LATER)
    assert locked.separation_date == date(2024, 4, 30)
    active = await directory.set_status("p@x.th", AccountStatus.ACTIVE, now=LATER)
    assert active.separation_date is None


# --- authentication ---------------------------------------------------------


async def test_authenticate(directory: SqliteDirectory) -> None:
    account = await add(directory, "p@x.th", password="s3cret")
    assert await directory.authenticate("P@X.th", "s3cret") == account
    assert await directory.authenticate("p@x.th", "S3cret") is None
    assert await directory.authenticate("p@x.th", "") is None


async def test_status_is_not_judged_by_authenticate(directory: SqliteDirectory) -> None:
    await add(directory, "p@x.th", password="pw")
    await directory.set_status("p@x.th", AccountStatus.LOCKED, now=LATER)
    account = await directory.authenticate("p@x.th", "pw")
    assert account is not None and account.status is AccountStatus.LOCKED


async def test_unknown_login_and_wrong_password_cost_the_same(
    directory: SqliteDirectory, hasher: CountingHasher
) -> None:
    await add(directory, "p@x.th", password="pw")
    assert await directory.authenticate("p@x.th", "wrong") is None
    assert (hasher.verifies, hasher.dummies) == (1, 0)
    assert await directory.authenticate("nobody@x.th", "wrong") is None
    assert hasher.dummies == 1
    assert await directory.authenticate("alias-or-typo", "pw") is None
    assert hasher.dummies == 2


async def test_imported_ssha_is_upgraded_on_login(directory: SqliteDirectory) -> None:
    imported = await directory.add_account("p@x.th", password_hash=ssha("legacy"), now=NOW)
    assert await directory.authenticate("p@x.th", "wrong") is None
    assert _stored_hash(directory, "p@x.th") == ssha("legacy")  # no upgrade on failure

    account = await directory.authenticate("p@x.th", "legacy")
    assert account is not None
    assert account.revision != imported.revision
    stored = _stored_hash(directory, "p@x.th")
    assert stored.startswith("{ARGON2}$argon2id$")
    assert not directory.hasher.needs_rehash(stored)
    assert await directory.authenticate("p@x.th", "legacy") == account  # no second upgrade
    assert await directory.authenticate("p@x.th", "wrong") is None


async def test_current_argon2_is_not_rewritten(directory: SqliteDirectory) -> None:
    added = await add(directory, "p@x.th", password="pw")
    account = await directory.authenticate("p@x.th", "pw")
    assert account is not None and account.revision == added.revision


def _stored_hash(d: SqliteDirectory, login: str) -> str:
    with sqlite3.connect(d.path) as conn:
        row = conn.execute("SELECT password_hash FROM accounts WHERE login = ?", (login,))
        return row.fetchone()[0]


# --- the file: schema, sharing, failures ------------------------------------


async def test_schema_version_and_reopen(tmp_path: Path, hasher: CountingHasher) -> None:
    path = tmp_path / "dir.sqlite3"
    first = SqliteDirectory(path, hasher)
    account = await add(first, "p@x.th")
    await first.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 1
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    second = SqliteDirectory(path, hasher)
    assert second.schema_version == 1
    assert await second.get("p@x.th") == account
    await second.close()


async def test_a_new_migration_upgrades_a_version_1_file(
    tmp_path: Path, hasher: CountingHasher
) -> None:
    path = tmp_path / "dir.sqlite3"
    v1 = SqliteDirectory(path, hasher)
    account = await add(v1, "p@x.th")
    await v1.close()

    def add_quota(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE accounts ADD COLUMN quota_bytes INTEGER")

    class V2(SqliteDirectory):
        migrations = (*MIGRATIONS, add_quota)

    v2 = V2(path, hasher)
    assert await v2.get("p@x.th") == account
    await v2.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
        columns = [r[1] for r in conn.execute("PRAGMA table_info(accounts)")]
        assert "quota_bytes" in columns

    # This program cannot use a file from a newer one: fail closed.
    v1_again = SqliteDirectory(path, hasher)
    with pytest.raises(DirectoryUnavailable, match="newer"):
        await v1_again.open()
    await v1_again.close()


async def test_two_instances_share_one_file(tmp_path: Path, hasher: CountingHasher) -> None:
    path = tmp_path / "dir.sqlite3"
    server, admin = SqliteDirectory(path, hasher), SqliteDirectory(path, hasher)
    try:
        await add(admin, "p@x.th", password="pw")
        seen = await server.authenticate("p@x.th", "pw")
        assert seen is not None
        locked = await admin.set_status("p@x.th", AccountStatus.LOCKED, now=LATER)
        assert await server.get("p@x.th") == locked

        async def adds(d: SqliteDirectory, prefix: str) -> None:
            for i in range(15):
                await add(d, f"{prefix}{i}@x.th")

        await asyncio.gather(adds(server, "s"), adds(admin, "a"))
        assert len(await server.list_accounts()) == 31
        assert await admin.list_accounts() == await server.list_accounts()
    finally:
        await server.close()
        await admin.close()


async def test_corrupt_file_is_unavailable(tmp_path: Path, hasher: CountingHasher) -> None:
    path = tmp_path / "dir.sqlite3"
    path.write_bytes(b"this is not a database, it is a ransom note\n" * 200)
    d = SqliteDirectory(path, hasher)
    with pytest.raises(DirectoryUnavailable):
        await d.open()
    with pytest.raises(DirectoryUnavailable):
        await d.authenticate("p@x.th", "pw")
    with pytest.raises(DirectoryUnavailable):
        await d.get("p@x.th")
    await d.close()


async def test_unopenable_path_is_unavailable(tmp_path: Path, hasher: CountingHasher) -> None:
    (tmp_path / "a-directory").mkdir()
    d = SqliteDirectory(tmp_path / "a-directory", hasher)
    with pytest.raises(DirectoryUnavailable):
        await d.find_by_address("p@x.th")
    await d.close()


async def test_broken_schema_after_open_is_unavailable(directory: SqliteDirectory) -> None:
    await add(directory, "p@x.th")
    with sqlite3.connect(directory.path) as conn:
        conn.execute("DROP TABLE send_as")
    with pytest.raises(DirectoryUnavailable):
        await directory.get("p@x.th")
    with pytest.raises(DirectoryUnavailable):
        await directory.list_accounts()


async def test_unreadable_row_is_unavailable(directory: SqliteDirectory) -> None:
    await add(directory, "p@x.th")
    with sqlite3.connect(directory.path) as conn:
        conn.execute("UPDATE accounts SET status = 'on-holiday'")
    with pytest.raises(DirectoryUnavailable, match=r"p@x\.th"):
        await directory.get("p@x.th")


async def test_closed_directory_is_unavailable(tmp_path: Path, hasher: CountingHasher) -> None:
    d = SqliteDirectory(tmp_path / "dir.sqlite3", hasher)
    await d.open()
    await d.close()
    await d.close()  # idempotent
    with pytest.raises(DirectoryUnavailable):
        await d.get("p@x.th")


async def test_changed_since_reports_written_accounts_with_their_revision(
    directory: SqliteDirectory,
) -> None:
    before = NOW - timedelta(seconds=1)
    alice = await add(directory, "alice@x.th")
    await add(directory, "bob@x.th")
    changes = await directory.changed_since(before)
    assert {c.login for c in changes} == {"alice@x.th", "bob@x.th"}
    later = NOW + timedelta(minutes=5)
    locked = await directory.set_status(
        "alice@x.th", AccountStatus.LOCKED, reason="phishing", now=later
    )
    (change,) = await directory.changed_since(later)
    assert change.login == "alice@x.th"
    assert change.revision == locked.revision != alice.revision
    assert change.modified == later
