"""Admin writes on a real slapd: add, passwords in every scheme we write, update, and the
directory-wide lock (ppolicy) that makes a plain `ldapwhoami` bind fail too (memo 4.2);
the `mailserver account ...` CLI against LDAP; the least-privilege service account of
deploy/ldap/service-acl.ldif."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from passlib.hash import sha256_crypt, sha512_crypt

from mailserver.directory import AccountExists, AccountNotFound, DirectoryError
from mailserver.directory.ldap import LdapDirectory
from mailserver.directory.ldap_presets import preset_mapping
from mailserver.passwords import PasswordHasher
from policy.model import AccountKind, AccountStatus
from tests.integration.conftest import require_tool
from tests.integration.slapd import Slapd, make_slapd

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "deploy" / "ldap" / "sample.ldif"
SERVICE_ACL = ROOT / "deploy" / "ldap" / "service-acl.ldif"
BASE = "dc=bangkok,dc=go,dc=th"
PEOPLE = f"ou=people,{BASE}"
SERVICE_DN = f"cn=mailserver,ou=services,{BASE}"
SERVICE_PASSWORD = "service-account-secret"
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
HASHER = PasswordHasher(memory_kib=1024, time_cost=1)


def service_acl() -> tuple[str, ...]:
    """The olcAccess rules of deploy/ldap/service-acl.ldif, unfolded, without their {n}."""
    text = re.sub(r"\n ", "", SERVICE_ACL.read_text())  # LDIF continuation lines
    rules = [
        line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("olcAccess:")
    ]
    return tuple(re.sub(r"^\{\d+\}", "", rule) for rule in rules)


def service_entry() -> str:
    hashed = subprocess.run(
        [_slappasswd(), "-s", SERVICE_PASSWORD], capture_output=True, check=True, text=True
    ).stdout.strip()
    return (
        f"dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n\n"
        f"dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: mailserver\nuserPassword: {hashed}\n"
    )


def _slappasswd() -> str:
    for candidate in ("/usr/sbin/slappasswd", "/sbin/slappasswd"):
        if Path(candidate).exists():
            return candidate
    return require_tool("slappasswd")


def start(root: Path, **options: object) -> Slapd:
    server = make_slapd(root, **options)  # type: ignore[arg-type]
    server.start()
    return server


@pytest.fixture
def ppolicy_slapd(tmp_path: Path) -> Iterator[Slapd]:
    """slapd with the ppolicy overlay and the argon2 module, the sample entries and a
    service account restricted by deploy/ldap/service-acl.ldif."""
    server = start(tmp_path / "slapd", modules=("argon2",), ppolicy=True, access=service_acl())
    try:
        server.add_ldif(SAMPLE.read_text())
        server.add_ldif(service_entry())
        yield server
    finally:
        server.stop()


def directory_for(server: Slapd, **mapping: object) -> LdapDirectory:
    preset = str(mapping.pop("preset", "mailserver"))
    lock = bool(mapping.pop("directory_lock", True))
    return LdapDirectory(
        [server.url],
        server.base,
        bind_dn=SERVICE_DN,
        bind_password=SERVICE_PASSWORD,
        user_base=PEOPLE,
        mapping=preset_mapping(preset, mapping, directory_lock=lock),  # type: ignore[arg-type]
        connect_timeout=2.0,
        receive_timeout=5.0,
    )


@pytest.fixture
async def ldap(ppolicy_slapd: Slapd) -> AsyncIterator[LdapDirectory]:
    directory = directory_for(ppolicy_slapd)
    yield directory
    await directory.close()


# --- add_account and passwords --------------------------------------------------


async def test_add_account_creates_an_entry_that_binds_with_its_argon2_password(
    ppolicy_slapd: Slapd, ldap: LdapDirectory
) -> None:
    account = await ldap.add_account(
        "Alice@Bangkok.go.th",
        password_hash=HASHER.hash("alice-password-1"),
        aliases=("a.wong@bangkok.go.th",),
        unit="Finance Department",
        display_name="Alice Wong",
        actor="admin.niran",
        now=NOW,
    )
    assert account.login == "alice@bangkok.go.th"
    assert account.aliases == ("a.wong@bangkok.go.th",)
    assert (account.unit, account.unit_since) == ("Finance Department", NOW)
    assert (account.status, account.status_actor, account.display_name) == (
        AccountStatus.ACTIVE,
        "admin.niran",
        "Alice Wong",
    )
    dn = f"uid=alice,{PEOPLE}"
    stored = ppolicy_slapd.read_attribute(dn, "userPassword")
    assert len(stored) == 1 and stored[0].startswith("{ARGON2}$argon2id$")
    assert ppolicy_slapd.can_bind(dn, "alice-password-1")  # slapd's argon2 module verifies it
    assert not ppolicy_slapd.can_bind(dn, "wrong-password")
    assert (await ldap.authenticate("alice@bangkok.go.th", "alice-password-1")) is not None
    assert await ldap.find_by_address("a.wong@bangkok.go.th") is not None

    with pytest.raises(AccountExists, match="taken"):
        await ldap.add_account("alice@bangkok.go.th", password_hash=None, now=NOW)
    with pytest.raises(AccountExists, match="belongs to somchai"):
        await ldap.add_account(
            "other@bangkok.go.th", password_hash=None, aliases=("somchai@bma.go.th",), now=NOW
        )
    with pytest.raises(AccountExists, match="already exists"):  # same uid, other domain
        await ldap.add_account("alice@bma.go.th", password_hash=None, now=NOW)
    with pytest.raises(DirectoryError, match="not a hash"):
        await ldap.add_account("bob@bangkok.go.th", password_hash="plaintext!", now=NOW)
    with pytest.raises(DirectoryError, match="responsible"):
        await ldap.add_account(
            "office@bangkok.go.th", password_hash=None, kind=AccountKind.ROLE, now=NOW
        )
    with pytest.raises(DirectoryError, match="departed"):
        await ldap.add_account(
            "carol@bangkok.go.th", password_hash=None, status=AccountStatus.DEPARTED, now=NOW
        )


async def test_add_role_mailbox_names_its_responsible_by_dn(
    ppolicy_slapd: Slapd, ldap: LdapDirectory
) -> None:
    role = await ldap.add_account(
        "finance@bangkok.go.th",
        password_hash=None,
        kind=AccountKind.ROLE,
        responsible="malee.s@bangkok.go.th",
        now=NOW,
    )
    assert role.kind is AccountKind.ROLE and role.responsible == "malee.s@bangkok.go.th"
    assert ppolicy_slapd.read_attribute(f"uid=finance,{PEOPLE}", "mailResponsible") == [
        f"uid=malee.s,{PEOPLE}"
    ]
    with pytest.raises(AccountNotFound):
        await ldap.add_account(
            "hr@bangkok.go.th",
            password_hash=None,
            kind=AccountKind.ROLE,
            responsible="nobody@bangkok.go.th",
            now=NOW,
        )


@pytest.mark.parametrize(
    "make_hash",
    [
        pytest.param(lambda pw: HASHER.hash(pw), id="argon2-tagged"),
        pytest.param(lambda pw: HASHER.hash(pw).removeprefix("{ARGON2}"), id="argon2-bare"),
        pytest.param(
            lambda pw: "{CRYPT}" + sha512_crypt.using(rounds=5000).hash(pw), id="crypt-sha512"
        ),
        pytest.param(lambda pw: sha256_crypt.using(rounds=5000).hash(pw), id="bare-sha256-crypt"),
        pytest.param(None, id="ssha"),
    ],
)
async def test_set_password_hash_in_every_scheme_binds(
    ppolicy_slapd: Slapd, ldap: LdapDirectory, make_hash: object
) -> None:
    password = "new-password-for-somchai"
    if make_hash is None:
        hashed = subprocess.run(
            [_slappasswd(), "-s", password], capture_output=True, check=True, text=True
        ).stdout.strip()
    else:
        hashed = make_hash(password)  # type: ignore[operator]
    before = await ldap.get("somchai.k@bangkok.go.th")
    account = await ldap.set_password_hash("somchai.k@bangkok.go.th", hashed, now=NOW)
    assert before is not None and account.revision != before.revision
    dn = f"uid=somchai.k,{PEOPLE}"
    assert ppolicy_slapd.can_bind(dn, password)
    assert not ppolicy_slapd.can_bind(dn, "sample-password-1")
    assert (await ldap.authenticate("somchai.k@bangkok.go.th", password)) is not None


async def test_set_password_hash_refuses_what_is_not_a_hash(ldap: LdapDirectory) -> None:
    with pytest.raises(DirectoryError, match="not a hash"):
        await ldap.set_password_hash("somchai.k@bangkok.go.th", "sample-password-1", now=NOW)
    with pytest.raises(AccountNotFound):
        await ldap.set_password_hash("nobody@bangkok.go.th", HASHER.hash("x" * 10), now=NOW)


# --- update ---------------------------------------------------------------------


async def test_update_has_the_sqlite_semantics(ppolicy_slapd: Slapd, ldap: LdapDirectory) -> None:
    role = "traffic@bangkok.go.th"
    later = datetime(2026, 3, 1, tzinfo=UTC)
    moved = await ldap.update("somchai.k@bangkok.go.th", now=later, unit="Finance Department")
    assert (moved.unit, moved.unit_since) == ("Finance Department", later)
    same = await ldap.update("somchai.k@bangkok.go.th", now=NOW, unit="Finance Department")
    assert same.unit_since == later  # unchanged unit: unit_since stays

    changed = await ldap.update(
        role,
        now=NOW,
        responsible="malee.s@bangkok.go.th",
        delegates=["somchai.k@bangkok.go.th"],
        aliases=("traffic.desk@bangkok.go.th", "traffic@bangkok.go.th"),
        send_as=("news@bangkok.go.th",),
        smtp_enabled=False,
        imap_enabled=True,
        display_name="Traffic Desk",
    )
    assert changed.responsible == "malee.s@bangkok.go.th"
    assert changed.delegates == ("somchai.k@bangkok.go.th",)
    assert changed.aliases == ("traffic.desk@bangkok.go.th",)  # the primary is not an alias
    assert changed.send_as == ("news@bangkok.go.th",)
    assert (changed.smtp_enabled, changed.imap_enabled) == (False, True)
    assert changed.display_name == "Traffic Desk"
    dn = f"uid=traffic,{PEOPLE}"
    assert ppolicy_slapd.read_attribute(dn, "mailDelegate") == [f"uid=somchai.k,{PEOPLE}"]
    assert ppolicy_slapd.read_attribute(dn, "mailEnabledService") == ["imap"]
    assert (await ldap.find_by_address("traffic.office@bangkok.go.th")) is None
    off = await ldap.update(role, now=NOW, smtp_enabled=False, imap_enabled=False)
    assert not off.smtp_enabled and not off.imap_enabled
    assert ppolicy_slapd.read_attribute(dn, "mailEnabledService") == ["none"]

    with pytest.raises(DirectoryError, match="cannot update"):
        await ldap.update(role, now=NOW, status="active")
    with pytest.raises(DirectoryError, match="only role mailboxes"):
        await ldap.update("somchai.k@bangkok.go.th", now=NOW, responsible="malee.s@bangkok.go.th")
    with pytest.raises(DirectoryError, match="needs a responsible"):
        await ldap.update(role, now=NOW, responsible=None)
    with pytest.raises(DirectoryError, match="own responsible"):
        await ldap.update(role, now=NOW, responsible=role)
    with pytest.raises(AccountNotFound):
        await ldap.update(role, now=NOW, delegates=["nobody@bangkok.go.th"])
    with pytest.raises(AccountExists, match="belongs to somchai"):
        await ldap.update(role, now=NOW, aliases=["somchai@bma.go.th"])
    with pytest.raises(DirectoryError, match="true or false"):
        await ldap.update(role, now=NOW, smtp_enabled="yes")
    with pytest.raises(AccountNotFound):
        await ldap.update("nobody@bangkok.go.th", now=NOW, unit="x")


# --- the directory-wide lock ------------------------------------------------------


async def test_lock_sets_pwdaccountlockedtime_so_every_system_refuses_the_bind(
    ppolicy_slapd: Slapd, ldap: LdapDirectory
) -> None:
    login, password = "somchai.k@bangkok.go.th", "sample-password-1"
    dn = f"uid=somchai.k,{PEOPLE}"
    assert ppolicy_slapd.can_bind(dn, password)
    for status in (AccountStatus.LOCKED, AccountStatus.SUSPENDED):
        changed = await ldap.set_status(login, status, reason="phishing", actor="soc", now=NOW)
        assert changed.status is status  # our own status wins over the lock's meaning
        assert ppolicy_slapd.read_attribute(dn, "pwdAccountLockedTime") == ["000001010000Z"]
        assert not ppolicy_slapd.can_bind(dn, password)  # Wi-Fi, portal, ...: refused too
        # Our login tells the user why, not "wrong password", and it is never cached.
        refused = await ldap.authenticate(login, password)
        assert refused is not None and refused.status is status
        assert refused.status_reason == "phishing"
        assert refused.revision.startswith("unverified-")

        active = await ldap.set_status(login, AccountStatus.ACTIVE, actor="soc", now=NOW)
        assert active.status is AccountStatus.ACTIVE
        assert ppolicy_slapd.read_attribute(dn, "pwdAccountLockedTime") == []
        assert ppolicy_slapd.can_bind(dn, password)
        assert (await ldap.authenticate(login, password)) is not None

    # A departure after a suspension keeps the lock; only ACTIVE lifts it.
    await ldap.set_status(login, AccountStatus.SUSPENDED, reason="x", now=NOW)
    departed = await ldap.set_status(
        login, AccountStatus.DEPARTED, now=NOW, separation_date=date(2026, 1, 31)
    )
    # The lock written by us reads as "locked by an administrator".
    assert departed.status is AccountStatus.LOCKED
    assert not ppolicy_slapd.can_bind(dn, password)
    # A wrong password for an unlocked account is still just None.
    await ldap.set_status(login, AccountStatus.ACTIVE, now=NOW)
    assert await ldap.authenticate(login, "wrong") is None


async def test_lock_set_by_another_tool_is_read(ppolicy_slapd: Slapd, ldap: LdapDirectory) -> None:
    dn = f"uid=somchai.k,{PEOPLE}"
    ppolicy_slapd.modify_ldif(
        f"dn: {dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\n"
        "pwdAccountLockedTime: 000001010000Z\n"
    )
    account = await ldap.get("somchai.k@bangkok.go.th")
    assert account is not None and account.status is AccountStatus.LOCKED
    assert "administrator" in account.status_reason
    # A lockout by the password policy (any other time) is locked too.
    ppolicy_slapd.modify_ldif(
        f"dn: {dn}\nchangetype: modify\nreplace: pwdAccountLockedTime\n"
        "pwdAccountLockedTime: 20260201080000Z\n"
    )
    account = await ldap.get("somchai.k@bangkok.go.th")
    assert account is not None and account.status is AccountStatus.LOCKED
    assert "failed logins" in account.status_reason


async def test_directory_lock_off_writes_only_our_status(ppolicy_slapd: Slapd) -> None:
    ldap = directory_for(ppolicy_slapd, directory_lock=False)
    try:
        await ldap.set_status("somchai.k@bangkok.go.th", AccountStatus.LOCKED, now=NOW)
        dn = f"uid=somchai.k,{PEOPLE}"
        assert ppolicy_slapd.read_attribute(dn, "pwdAccountLockedTime") == []
        assert ppolicy_slapd.can_bind(dn, "sample-password-1")
    finally:
        await ldap.close()


async def test_without_ppolicy_our_preset_still_writes_the_status(tmp_path: Path) -> None:
    server = start(tmp_path / "plain")  # no ppolicy overlay: no pwdAccountLockedTime
    try:
        server.add_ldif(SAMPLE.read_text())
        ldap = LdapDirectory(
            [server.url], server.base, bind_dn=server.admin_dn, bind_password=server.admin_password
        )
        locked = await ldap.set_status("somchai.k@bangkok.go.th", AccountStatus.LOCKED, now=NOW)
        assert locked.status is AccountStatus.LOCKED
        ppolicy = LdapDirectory(
            [server.url],
            server.base,
            bind_dn=server.admin_dn,
            bind_password=server.admin_password,
            mapping=preset_mapping("openldap-ppolicy"),
        )
        # The ppolicy preset needs its lock: the refusal is one line naming the problem.
        with pytest.raises(DirectoryError) as refused:
            await ppolicy.set_status("malee.s@bangkok.go.th", AccountStatus.LOCKED, now=NOW)
        assert "\n" not in str(refused.value) and "pwdAccountLockedTime" in str(refused.value)
        await ldap.close()
        await ppolicy.close()
    finally:
        server.stop()


async def test_a_service_account_without_write_rights_gets_a_one_line_refusal(
    tmp_path: Path,
) -> None:
    server = start(tmp_path / "readonly", ppolicy=True)  # default rules: read only
    try:
        server.add_ldif(SAMPLE.read_text())
        server.add_ldif(service_entry())
        ldap = directory_for(server)
        with pytest.raises(DirectoryError) as refused:
            await ldap.set_status("somchai.k@bangkok.go.th", AccountStatus.LOCKED, now=NOW)
        message = str(refused.value)
        assert "\n" not in message and "insufficientAccessRights" in message
        with pytest.raises(DirectoryError, match="insufficientAccessRights"):
            await ldap.add_account("zed@bangkok.go.th", password_hash=None, now=NOW)
        await ldap.close()
    finally:
        server.stop()


async def test_least_privilege_service_account_cannot_touch_other_attributes(
    ppolicy_slapd: Slapd,
) -> None:
    """The rules of service-acl.ldif: our writes work (the tests above), others do not."""
    import ldap3

    conn = ldap3.Connection(
        ldap3.Server("127.0.0.1", port=ppolicy_slapd.port),
        SERVICE_DN,
        SERVICE_PASSWORD,
        auto_bind=True,
    )
    try:
        dn = f"uid=somchai.k,{PEOPLE}"
        assert not conn.modify(dn, {"cn": [(ldap3.MODIFY_REPLACE, ["Someone Else"])]})
        assert conn.result["description"] == "insufficientAccessRights"
        assert not conn.delete(dn)
        assert not conn.modify(
            f"ou=people,{BASE}", {"description": [(ldap3.MODIFY_REPLACE, ["x"])]}
        )
        conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=["userPassword"])
        assert not conn.response[0]["raw_attributes"].get("userPassword")  # never read
    finally:
        conn.unbind()


def test_anonymous_and_other_users_read_nothing_a_user_reads_their_own_entry(
    ppolicy_slapd: Slapd,
) -> None:
    """service-acl.ldif's last rules: anonymous may only bind (auth on userPassword), a user
    reads their own entry and no one else's; the service account still reads them all."""
    import ldap3

    server = ldap3.Server("127.0.0.1", port=ppolicy_slapd.port)
    somchai, malee = f"uid=somchai.k,{PEOPLE}", f"uid=malee.s,{PEOPLE}"

    def found(conn: ldap3.Connection, base: str, scope: str = ldap3.SUBTREE) -> dict[str, list]:
        conn.search(base, "(objectClass=*)", scope, attributes=[ldap3.ALL_ATTRIBUTES])
        return {
            e["dn"]: sorted(e["raw_attributes"])
            for e in conn.response
            if e["type"] == "searchResEntry"
        }

    anonymous = ldap3.Connection(server, auto_bind=True)
    try:
        assert found(anonymous, BASE) == {}
        assert found(anonymous, malee, ldap3.BASE) == {}
        assert not anonymous.compare(malee, "mailAccountStatus", "suspended")
    finally:
        anonymous.unbind()

    user = ldap3.Connection(server, somchai, "sample-password-1", auto_bind=True)  # may bind
    try:
        own = found(user, somchai, ldap3.BASE)[somchai]
        assert "mailAccountStatus" in own and "userPassword" not in own  # not even their own
        assert found(user, malee, ldap3.BASE) == {}  # nor anyone else's
        assert set(found(user, PEOPLE)) <= {somchai}
        assert user.extend.standard.modify_password(
            somchai, "sample-password-1", "sample-password-9"
        )  # RFC 3062: a user still changes their own password
    finally:
        user.unbind()
    assert ppolicy_slapd.can_bind(somchai, "sample-password-9")

    service = ldap3.Connection(server, SERVICE_DN, SERVICE_PASSWORD, auto_bind=True)
    try:
        everyone = found(service, PEOPLE)
        assert "mailAccountStatus" in everyone[malee] and "userPassword" not in everyone[malee]
    finally:
        service.unbind()


# --- the CLI against LDAP -----------------------------------------------------------


def _cli_config(tmp_path: Path, server: Slapd) -> Path:
    secret = tmp_path / "service-password"
    secret.write_text(SERVICE_PASSWORD + "\n")
    settings = {
        "server": {"data_dir": str(tmp_path / "var")},
        "auth": {"argon2_memory_kib": 1024, "argon2_time_cost": 1},
        "directory": {
            "backend": "ldap",
            "ldap_urls": [server.url],
            "ldap_allow_cleartext": True,  # slapd on loopback
            "ldap_base": server.base,
            "ldap_user_base": PEOPLE,
            "ldap_bind_dn": SERVICE_DN,
            "ldap_bind_password_file": str(secret),
            "ldap_connect_timeout": 2,
            "ldap_preset": "mailserver",
            "ldap_directory_lock": True,
        },
    }
    lines = []
    for section, values in settings.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in values.items())
    path = tmp_path / "mailserver.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_account_cli_works_against_ldap(ppolicy_slapd: Slapd, tmp_path: Path) -> None:
    config = _cli_config(tmp_path, ppolicy_slapd)

    def cli(*args: str, stdin: str | None = None, ok: bool = True) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "mailserver.cli", "--config", str(config), *args],
            input=stdin,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert (result.returncode == 0) == ok, result.stderr + result.stdout
        return result.stdout + result.stderr

    alice, dn = "alice@bangkok.go.th", f"uid=alice,{PEOPLE}"
    cli("account", "add", alice, "--password-stdin", "--name", "Alice Wong", "--unit",
        "Finance Department", stdin="alice-password-1\n")  # fmt: skip
    assert ppolicy_slapd.can_bind(dn, "alice-password-1")
    cli("account", "passwd", alice, "--password-stdin", stdin="alice-password-2\n")
    assert ppolicy_slapd.can_bind(dn, "alice-password-2")
    assert not ppolicy_slapd.can_bind(dn, "alice-password-1")

    assert "locked" in cli("account", "lock", alice, "--reason", "phishing")
    assert not ppolicy_slapd.can_bind(dn, "alice-password-2")
    shown = cli("account", "show", alice)
    assert re.search(r"status:\s+locked", shown) and "phishing" in shown
    cli("account", "unsuspend", alice)
    assert ppolicy_slapd.can_bind(dn, "alice-password-2")
    cli("account", "suspend", alice, "--reason", "review")
    assert not ppolicy_slapd.can_bind(dn, "alice-password-2")
    cli("account", "unsuspend", alice)
    assert "departed" in cli("account", "depart", alice, "--date", "2026-01-31")
    assert ppolicy_slapd.can_bind(dn, "alice-password-2")  # in the grace window: no lock
    assert "separation date:  2026-01-31" in cli("account", "show", alice)

    cli("account", "add", "office@bangkok.go.th", "--role", "--responsible",
        "somchai.k@bangkok.go.th", "--no-password")  # fmt: skip
    cli("account", "set-responsible", "office@bangkok.go.th", "malee.s@bangkok.go.th",
        "--delegate", "somchai.k@bangkok.go.th")  # fmt: skip
    cli("account", "set-unit", "office@bangkok.go.th", "Traffic and Transport Department")
    shown = cli("account", "show", "office@bangkok.go.th")
    assert re.search(r"responsible:\s+malee.s@bangkok.go.th", shown)
    assert re.search(r"delegates:\s+somchai.k@bangkok.go.th", shown)
    assert re.search(r"unit:\s+Traffic and Transport Department", shown)
    listing = cli("account", "list")
    assert "office@bangkok.go.th" in listing and "alice@bangkok.go.th" in listing
    assert "taken" in cli("account", "add", alice, "--no-password", ok=False)


async def test_a_refusal_for_a_locked_account_is_never_cached_as_a_password(
    ldap: LdapDirectory,
) -> None:
    """A locked account's answer to a wrong password must not open it once unlocked."""
    from mailserver.authcache import CachingAuthenticator

    cache = CachingAuthenticator(ldap, size=100, ttl_seconds=300)
    login = "somchai.k@bangkok.go.th"
    await ldap.set_status(login, AccountStatus.LOCKED, reason="phishing", now=NOW)
    refused = await cache.authenticate(login, "a-guess")
    assert refused is not None and refused.status is AccountStatus.LOCKED
    await ldap.set_status(login, AccountStatus.ACTIVE, now=NOW)
    assert await cache.authenticate(login, "a-guess") is None
    assert await cache.authenticate(login, "sample-password-1") is not None
