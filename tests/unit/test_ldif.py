"""Accounts <-> LDIF: the embedded (SQLite) directory written as LDIF in our schema and read
back, sample.ldif imported, and the `account export` / `account import-ldif` commands.

The SQLite directory is the real one (a file in tmp_path); the LDAP side of the round
trip, with a real slapd, is tests/integration/test_ldif_migration.py.
"""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from passlib.hash import sha512_crypt

from mailserver import cli
from mailserver.directory import DirectoryError
from mailserver.directory.ldif import (
    import_accounts,
    ldap_password,
    parse_accounts,
    read_entries,
    write_ldif,
)
from mailserver.directory.local import SqliteDirectory
from mailserver.passwords import PasswordHasher
from policy.model import Account, AccountKind, AccountStatus

NOW = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)
BASE = "ou=people,dc=bangkok,dc=go,dc=th"
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
HASHER = PasswordHasher(memory_kib=1024, time_cost=1)
THAI_NAME = "สมชาย ใจดี"
# {SSHA} of "sample-password-1" from sample.ldif (made with slappasswd).
SSHA = "{SSHA}UStRN8z1+zOMi9PW/OkTzyQL4hdwZaPe"


def _directory(path: Path) -> SqliteDirectory:
    return SqliteDirectory(path, HASHER)


async def _populate(directory: SqliteDirectory) -> None:
    add = directory.add_account
    await add(
        "somchai@bangkok.go.th",
        password_hash=HASHER.hash("argon-password-1"),
        aliases=("s.jaidee@bangkok.go.th", "somchai.j@bma.go.th"),
        unit="สำนักการจราจรและขนส่ง",
        display_name=THAI_NAME,
        actor="admin",
        now=NOW,
    )
    await add("malee@bangkok.go.th", password_hash=SSHA, unit="Finance", actor="admin", now=NOW)
    await directory.set_status(
        "malee@bangkok.go.th",
        AccountStatus.SUSPENDED,
        reason="ตรวจสอบวินัย (disciplinary review)",
        actor="admin.niran",
        now=NOW,
    )
    crypt = "{CRYPT}" + sha512_crypt.using(rounds=5000).hash("crypt-password-1")
    await add("prasert@bangkok.go.th", password_hash=crypt, unit="Finance", actor="a", now=NOW)
    await directory.set_status(
        "prasert@bangkok.go.th",
        AccountStatus.DEPARTED,
        actor="hr.sync",
        now=NOW,
        separation_date=date(2026, 1, 15),
    )
    # The same local part in another domain: both get the whole address as uid.
    await add(
        "somchai@bma.go.th", password_hash=None, status=AccountStatus.PENDING, actor="a", now=NOW
    )
    await add(
        "traffic@bangkok.go.th",
        password_hash=None,
        kind=AccountKind.ROLE,
        responsible="somchai@bangkok.go.th",
        unit="สำนักการจราจรและขนส่ง",
        display_name="Traffic Office",
        actor="admin",
        now=NOW,
    )
    await directory.update(
        "traffic@bangkok.go.th",
        now=NOW,
        delegates=("malee@bangkok.go.th",),
        send_as=("traffic-news@bangkok.go.th",),
        imap_enabled=False,
    )


def comparable(account: Account) -> tuple[object, ...]:
    """What must survive the move (times and the revision are the importer's own)."""
    return (
        account.login,
        account.address,
        account.aliases,
        account.kind,
        account.status,
        account.status_reason,
        account.status_actor,
        account.separation_date,
        account.unit,
        account.responsible,
        account.delegates,
        account.send_as,
        account.smtp_enabled,
        account.imap_enabled,
        # An entry needs a cn: the local part when there is no name (LDAP reads it back).
        account.display_name or account.login.partition("@")[0],
    )


async def _export(directory: SqliteDirectory) -> tuple[bytes, list[str]]:
    out = io.BytesIO()
    warnings = write_ldif(
        out, await directory.list_accounts(), await directory.password_hashes(), BASE, now=NOW
    )
    return out.getvalue(), warnings


async def test_ldif_is_rfc2849_in_our_schema(tmp_path: Path) -> None:
    directory = _directory(tmp_path / "d.sqlite3")
    try:
        await _populate(directory)
        data, warnings = await _export(directory)
    finally:
        await directory.close()
    assert warnings == []
    text = data.decode("ascii")  # everything non-ASCII is base64
    assert text.startswith("version: 1\n")
    assert all(len(line) <= 76 for line in text.splitlines()), "lines are folded at 76"
    entries = dict(read_entries(data))
    somchai = entries[f"uid=somchai@bangkok.go.th,{BASE}"]
    assert f"uid=somchai@bma.go.th,{BASE}" in entries
    assert f"uid=traffic,{BASE}" in entries
    assert somchai["objectclass"] == ["top", "inetOrgPerson", "mailAccount"]
    assert somchai["displayname"] == [THAI_NAME]
    assert "displayName:: " + base64.b64encode(THAI_NAME.encode()).decode()[:60] in text
    assert somchai["sn"] == ["ใจดี"]
    assert somchai["mailalternateaddress"] == ["s.jaidee@bangkok.go.th", "somchai.j@bma.go.th"]
    assert str(somchai["userpassword"][0]).startswith("{ARGON2}$argon2id$v=19$")
    traffic = entries[f"uid=traffic,{BASE}"]
    assert traffic["mailresponsible"] == [f"uid=somchai@bangkok.go.th,{BASE}"]
    assert traffic["maildelegate"] == [f"uid=malee,{BASE}"]
    assert traffic["mailenabledservice"] == ["smtp"]
    assert "userpassword" not in traffic
    prasert = entries[f"uid=prasert,{BASE}"]
    assert prasert["mailseparationdate"] == ["20260115000000Z"]
    assert str(prasert["userpassword"][0]).startswith("{CRYPT}$6$")
    assert entries[f"uid=malee,{BASE}"]["userpassword"] == [SSHA]
    # Persons come before the role mailboxes that name them.
    order = list(entries)
    assert order.index(f"uid=traffic,{BASE}") == len(order) - 1


async def test_round_trip_through_ldif_keeps_every_account(tmp_path: Path) -> None:
    source = _directory(tmp_path / "source.sqlite3")
    target = _directory(tmp_path / "target.sqlite3")
    try:
        await _populate(source)
        data, _ = await _export(source)
        parsed = parse_accounts(data, HASHER)
        assert (parsed.problems, parsed.warnings) == ([], [])
        reports: list[str] = []
        result = await import_accounts(
            target, parsed.accounts, actor="importer", now=NOW, report=reports.append
        )
        assert result.failed == [] and len(result.added) == 5, reports
        before = [comparable(a) for a in await source.list_accounts()]
        after = [comparable(a) for a in await target.list_accounts()]
        assert after == before
        # The hashes moved unchanged: every password still works.
        assert await target.authenticate("somchai@bangkok.go.th", "argon-password-1")
        assert await target.authenticate("malee@bangkok.go.th", "sample-password-1")
        assert await target.authenticate("prasert@bangkok.go.th", "crypt-password-1")
        # A second import skips what exists; --update rewrites it.
        reports.clear()
        again = await import_accounts(
            target, parsed.accounts, actor="importer", now=NOW, report=reports.append
        )
        assert len(again.skipped) == 5 and not again.added
        assert all("exists, skipped" in line for line in reports)
        await target.update("somchai@bangkok.go.th", now=NOW, unit="elsewhere")
        await target.set_status(
            "malee@bangkok.go.th", AccountStatus.ACTIVE, actor="someone", now=NOW
        )
        updated = await import_accounts(
            target, parsed.accounts, actor="importer", now=NOW, update=True, report=reports.append
        )
        assert len(updated.updated) == 5 and not updated.failed
        after = [comparable(a) for a in await target.list_accounts()]
        assert after == before
    finally:
        await source.close()
        await target.close()


async def test_sample_ldif_imports_into_the_embedded_directory(tmp_path: Path) -> None:
    parsed = parse_accounts(SAMPLE.read_bytes(), HASHER)
    assert parsed.problems == [] and parsed.warnings == []
    assert parsed.skipped == 4  # the ou entries
    by_login = {a.login: a for a in parsed.accounts}
    assert set(by_login) == {
        "somchai.k@bangkok.go.th",
        "malee.s@bangkok.go.th",
        "prasert.w@bangkok.go.th",
        "traffic@bangkok.go.th",
    }
    traffic = by_login["traffic@bangkok.go.th"]
    assert (traffic.responsible, traffic.delegates) == (
        "somchai.k@bangkok.go.th",
        ("malee.s@bangkok.go.th",),
    )
    assert (traffic.smtp_enabled, traffic.imap_enabled) == (True, False)
    directory = _directory(tmp_path / "d.sqlite3")
    try:
        dry: list[str] = []
        planned = await import_accounts(
            directory, parsed.accounts, actor="a", now=NOW, dry_run=True, report=dry.append
        )
        assert len(planned.planned) == 4 and await directory.list_accounts() == []
        assert dry[0] == "somchai.k@bangkok.go.th: would add (person, active)"
        result = await import_accounts(
            directory, parsed.accounts, actor="a", now=NOW, report=lambda _line: None
        )
        assert result.failed == []
        accounts = {a.login: a for a in await directory.list_accounts()}
        assert accounts["malee.s@bangkok.go.th"].status is AccountStatus.SUSPENDED
        assert accounts["malee.s@bangkok.go.th"].status_reason == "pending disciplinary review"
        assert accounts["prasert.w@bangkok.go.th"].separation_date == date(2026, 1, 15)
        assert accounts["traffic@bangkok.go.th"].delegates == ("malee.s@bangkok.go.th",)
        assert accounts["traffic@bangkok.go.th"].send_as == ("traffic-news@bangkok.go.th",)
        assert accounts["somchai.k@bangkok.go.th"].aliases == (
            "s.kittisak@bangkok.go.th",
            "somchai@bma.go.th",
        )
        assert await directory.authenticate("somchai.k@bangkok.go.th", "sample-password-1")
    finally:
        await directory.close()


def test_unusable_entries_are_reported_not_guessed() -> None:
    data = b"""dn: uid=a,dc=x
objectClass: inetOrgPerson
objectClass: mailAccount
mail: a@x.th
mailAccountStatus: retired
userPassword: plain-text

dn: uid=b,dc=x
objectClass: mailAccount
mail: b@x.th
mailAccountStatus: departed

dn: uid=c,dc=x
objectClass: mailAccount
mail: c@x.th
mailAccountStatus: active
mailAccountKind: role
mailResponsible: uid=elsewhere,dc=x

dn: uid=d,dc=x
objectClass: mailAccount
mail: D@X.th
mailAccountStatus: active
userPassword: {MD5}Xr4ilOzQ4PCOq3aQ0qbuaQ==
"""
    parsed = parse_accounts(data, HASHER)
    assert [p.split(":")[0] for p in parsed.problems] == ["uid=a,dc=x", "uid=b,dc=x", "uid=c,dc=x"]
    assert [a.login for a in parsed.accounts] == ["d@x.th"]
    assert parsed.accounts[0].password_hash is None
    assert parsed.warnings == ["d@x.th: userPassword in a scheme we cannot verify, left out"]
    with pytest.raises(DirectoryError, match="not a valid LDIF"):
        parse_accounts(b"mail: no dn first\n", HASHER)


def test_ldap_password_forms() -> None:
    argon2 = HASHER.hash("x-password")
    crypt = sha512_crypt.using(rounds=5000).hash("x-password")
    assert ldap_password(argon2) == argon2  # already {ARGON2}$argon2id$...
    assert ldap_password(argon2.removeprefix("{ARGON2}")) == argon2
    assert ldap_password(crypt) == "{CRYPT}" + crypt
    assert ldap_password(SSHA) == SSHA
    assert ldap_password("plain text") is None
    assert ldap_password(None) is None


def _config(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'[server]\ndata_dir = "{tmp_path / name}"\n'
        f'[directory]\nldap_user_base = "{BASE}"\n'
        "[auth]\nargon2_memory_kib = 1024\nargon2_time_cost = 1\n",
        encoding="utf-8",
    )
    return path


def test_account_export_and_import_ldif_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, target = _config(tmp_path, "source"), _config(tmp_path, "target")
    monkeypatch.setattr("sys.stdin", io.StringIO("a-good-password\n"))
    add = ["account", "add", "somchai@bangkok.go.th", "--password-stdin", "--name", THAI_NAME]
    assert cli.main(["--config", str(source), *add]) == 0
    ldif_file = tmp_path / "accounts.ldif"
    assert cli.main(["--config", str(source), "account", "export", "-o", str(ldif_file)]) == 0
    assert f"exported 1 accounts under {BASE}" in capsys.readouterr().out
    assert ldif_file.stat().st_mode & 0o077 == 0, "it holds password hashes"
    assert cli.main(["--config", str(source), "account", "export", "-o", str(ldif_file)]) == 1
    assert "exists" in capsys.readouterr().err
    # To stdout, under another base.
    assert cli.main(["--config", str(source), "account", "export", "--base", "dc=x"]) == 0
    assert "dn: uid=somchai,dc=x" in capsys.readouterr().out

    load = ["--config", str(target), "account", "import-ldif", str(ldif_file)]
    assert cli.main([*load, "--dry-run"]) == 0
    assert "1 would be imported" in capsys.readouterr().out
    assert cli.main([*load, "--actor", "admin.niran"]) == 0
    assert "1 imported, 0 existed, 0 failed" in capsys.readouterr().out
    assert cli.main([*load]) == 0
    assert "0 imported, 1 existed" in capsys.readouterr().out
    assert cli.main(["--config", str(target), "account", "list"]) == 0
    assert "somchai@bangkok.go.th" in capsys.readouterr().out
    log = (tmp_path / "target" / "log" / "policy.log").read_text(encoding="utf-8")
    records = [json.loads(line) for line in log.splitlines()]
    imported = [r for r in records if r.get("action") == "import-ldif"]
    assert len(imported) == 1 and imported[0]["actor"] == "admin.niran"
    assert "argon2" not in log, "no password hash in the log"
