"""Moving accounts between the embedded directory and LDAP, with real servers:

- SQLite -> `mailserver account export` -> ldapadd into a real slapd (our schema, the
  argon2 module loaded) -> LdapDirectory reads the same accounts, and the passwords set
  in SQLite (argon2id, {SSHA}, {CRYPT}) bind in slapd (ldapwhoami and LdapDirectory);
- deploy/ldap/sample.ldif -> `mailserver account import-ldif` into a running server's
  SQLite directory -> `account list` shows them and their passwords log in over IMAP.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import imapclient
import pytest
from passlib.hash import sha512_crypt

from mailserver.directory.ldap import LdapDirectory
from mailserver.directory.local import SqliteDirectory
from mailserver.passwords import PasswordHasher
from policy.model import Account, AccountStatus
from tests.integration.conftest import MailServer, checkout_env, client_tls_context
from tests.integration.slapd import BASE, Slapd, make_slapd
from tests.unit.test_ldif import comparable

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
PEOPLE = f"ou=people,{BASE}"
THAI_NAME = "สมชาย ใจดี"
PASSWORDS = {
    "somchai@bangkok.go.th": "argon-password-1",
    "malee@bangkok.go.th": "sample-password-1",  # {SSHA} from sample.ldif
    "prasert@bangkok.go.th": "crypt-password-1",
}


@pytest.fixture
def slapd_argon2(tmp_path: Path) -> Iterator[Slapd]:
    """slapd with our schema and the argon2 password module (verifies {ARGON2} hashes)."""
    server = make_slapd(tmp_path / "slapd", modules=("argon2",))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_embedded_directory_to_slapd(
    make_server: object, slapd_argon2: Slapd, tmp_path: Path
) -> None:
    server: MailServer = make_server()  # type: ignore[operator]
    server.add_account(
        "somchai@bangkok.go.th",
        "--name",
        THAI_NAME,
        "--alias",
        "s.jaidee@bangkok.go.th",
        "--unit",
        "สำนักการจราจรและขนส่ง",
        password=PASSWORDS["somchai@bangkok.go.th"],
    )
    server.add_account("malee@bangkok.go.th", "--unit", "Finance")
    server.add_account("prasert@bangkok.go.th", "--unit", "Finance")
    server.cli("account", "suspend", "malee@bangkok.go.th", "--reason", "ตรวจสอบวินัย")
    server.cli("account", "depart", "prasert@bangkok.go.th", "--date", "2026-01-15")
    server.cli(
        "account", "add", "traffic@bangkok.go.th", "--role", "--no-password",
        "--responsible", "somchai@bangkok.go.th", "--name", "Traffic Office",
    )  # fmt: skip
    server.cli(
        "account", "set-responsible", "traffic@bangkok.go.th", "somchai@bangkok.go.th",
        "--delegate", "malee@bangkok.go.th",
    )  # fmt: skip
    # Imported hashes stay as they are until their next login: {SSHA} and {CRYPT}$6$.
    hasher = PasswordHasher(memory_kib=1024, time_cost=1)
    crypt = "{CRYPT}" + sha512_crypt.using(rounds=5000).hash(PASSWORDS["prasert@bangkok.go.th"])

    async def old_hashes() -> list[Account]:
        directory = SqliteDirectory(server.data_dir / "directory.sqlite3", hasher)
        try:
            now = datetime.now(UTC)
            ssha = "{SSHA}UStRN8z1+zOMi9PW/OkTzyQL4hdwZaPe"
            await directory.set_password_hash("malee@bangkok.go.th", ssha, now=now)
            await directory.set_password_hash("prasert@bangkok.go.th", crypt, now=now)
            return await directory.list_accounts()
        finally:
            await directory.close()

    embedded = asyncio.run(old_hashes())

    ldif_file = tmp_path / "accounts.ldif"
    out = server.cli("account", "export", "-o", str(ldif_file), "--base", PEOPLE)
    assert f"exported 4 accounts under {PEOPLE}" in out.stdout
    slapd_argon2.add_ldif(f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n")
    slapd_argon2.add_ldif(ldif_file.read_text(encoding="ascii"))  # ldapadd, as an operator would

    async def from_ldap() -> tuple[list[Account], list[Account | None]]:
        ldap = LdapDirectory(
            [slapd_argon2.url],
            BASE,
            user_base=PEOPLE,
            bind_dn=slapd_argon2.admin_dn,
            bind_password=slapd_argon2.admin_password,
        )
        try:
            logins = [await ldap.authenticate(login, pw) for login, pw in PASSWORDS.items()]
            logins.append(await ldap.authenticate("somchai@bangkok.go.th", "wrong-password"))
            return await ldap.list_accounts(), logins
        finally:
            await ldap.close()

    in_ldap, logins = asyncio.run(from_ldap())
    assert [comparable(a) for a in in_ldap] == [comparable(a) for a in embedded]
    by_login = {a.login: a for a in in_ldap}
    assert by_login["somchai@bangkok.go.th"].display_name == THAI_NAME
    assert by_login["malee@bangkok.go.th"].status is AccountStatus.SUSPENDED
    assert by_login["prasert@bangkok.go.th"].status is AccountStatus.DEPARTED
    assert by_login["traffic@bangkok.go.th"].responsible == "somchai@bangkok.go.th"
    assert by_login["traffic@bangkok.go.th"].delegates == ("malee@bangkok.go.th",)
    # Every password set in SQLite binds in slapd: argon2id, {SSHA}, {CRYPT}$6$.
    assert [a.login if a else None for a in logins] == [*PASSWORDS, None]
    assert slapd_argon2.can_bind(f"uid=somchai,{PEOPLE}", PASSWORDS["somchai@bangkok.go.th"])
    assert not slapd_argon2.can_bind(f"uid=somchai,{PEOPLE}", "wrong-password")
    assert slapd_argon2.can_bind(f"uid=prasert,{PEOPLE}", PASSWORDS["prasert@bangkok.go.th"])


def _imap_login(server: MailServer, login: str, password: str) -> bool:
    client = imapclient.IMAPClient(
        "127.0.0.1", port=server.imaps_port, ssl=True, ssl_context=client_tls_context(), timeout=10
    )
    try:
        client.login(login, password)
    except imapclient.exceptions.LoginError:
        return False
    finally:
        # A refused login may already have closed the connection.
        with contextlib.suppress(Exception):
            client.logout()
    return True


def test_sample_ldif_into_the_embedded_directory(make_server: object) -> None:
    server: MailServer = make_server()  # type: ignore[operator]
    dry = server.cli("account", "import-ldif", str(SAMPLE), "--dry-run")
    assert "somchai.k@bangkok.go.th: would add (person, active)" in dry.stdout
    assert "4 accounts in sample.ldif: 4 would be imported" in dry.stdout
    assert server.cli("account", "list").stdout == ""
    done = server.cli("account", "import-ldif", str(SAMPLE), "--actor", "admin.niran")
    assert "4 imported, 0 existed, 0 failed" in done.stdout
    listing = server.cli("account", "list").stdout.splitlines()
    assert [line.split()[:3] for line in listing] == [
        ["malee.s@bangkok.go.th", "person", "suspended"],
        ["prasert.w@bangkok.go.th", "person", "departed"],
        ["somchai.k@bangkok.go.th", "person", "active"],
        ["traffic@bangkok.go.th", "role", "active"],
    ]
    role = server.cli("account", "show", "traffic@bangkok.go.th").stdout
    assert "somchai.k@bangkok.go.th" in role and "malee.s@bangkok.go.th" in role
    # The {SSHA} hashes came along: the people log in with their directory passwords.
    assert _imap_login(server, "somchai.k@bangkok.go.th", "sample-password-1")
    assert not _imap_login(server, "malee.s@bangkok.go.th", "sample-password-2")  # suspended
    again = server.cli("account", "import-ldif", str(SAMPLE))
    assert "0 imported, 4 existed" in again.stdout
    records = [r for r in server.log_records() if r.get("action") == "import-ldif"]
    assert len(records) == 4 and {r["actor"] for r in records} == {"admin.niran"}


def test_import_ldif_into_ldap_through_the_directory_interface(
    slapd_argon2: Slapd, tmp_path: Path
) -> None:
    """The same command writes into a directory configured as LDAP (service account)."""
    slapd_argon2.add_ldif(f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n")
    secret = tmp_path / "bind-password"
    secret.write_text(slapd_argon2.admin_password)
    config = tmp_path / "ldap.toml"
    config.write_text(
        f'[server]\ndata_dir = "{tmp_path / "var"}"\n'
        f'[directory]\nbackend = "ldap"\nldap_urls = ["{slapd_argon2.url}"]\n'
        "ldap_allow_cleartext = true\n"  # slapd on loopback
        f'ldap_base = "{BASE}"\nldap_user_base = "{PEOPLE}"\n'
        f'ldap_bind_dn = "{slapd_argon2.admin_dn}"\nldap_bind_password_file = "{secret}"\n',
        encoding="utf-8",
    )

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "mailserver.cli", "--config", str(config), *args],
            capture_output=True,
            text=True,
            env=checkout_env(),
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert "4 imported, 0 existed, 0 failed" in cli("account", "import-ldif", str(SAMPLE))
    listing = [line.split()[:3] for line in cli("account", "list").splitlines()]
    assert listing == [
        ["malee.s@bangkok.go.th", "person", "suspended"],
        ["prasert.w@bangkok.go.th", "person", "departed"],
        ["somchai.k@bangkok.go.th", "person", "active"],
        ["traffic@bangkok.go.th", "role", "active"],
    ]
    # The entries are where LdapDirectory puts new ones, with the {SSHA} hash binding.
    assert slapd_argon2.can_bind(f"uid=somchai.k,{PEOPLE}", "sample-password-1")
    role = cli("account", "show", "traffic@bangkok.go.th")
    assert "somchai.k@bangkok.go.th" in role and "malee.s@bangkok.go.th" in role
