"""Each LDAP preset against a real slapd: OpenLDAP with ppolicy, Active Directory (emulated
with /etc/ldap/schema/msuser.ldif) and iRedMail (tests/integration/schemas/)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailserver.directory import DirectoryError
from mailserver.directory.ldap import LdapDirectory
from mailserver.directory.ldap_presets import preset_mapping
from mailserver.passwords import PasswordHasher
from policy.model import AccountStatus
from tests.integration.slapd import SCHEMA_DIR, Slapd, make_slapd

pytestmark = pytest.mark.integration

BASE = "dc=bangkok,dc=go,dc=th"
PEOPLE = f"ou=people,{BASE}"
NOW = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
IREDMAIL_SCHEMA = Path(__file__).resolve().parent / "schemas" / "iredmail-compat.ldif"
PEOPLE_OU = f"dn: {PEOPLE}\nobjectClass: organizationalUnit\nou: people\n"
# A FILETIME in 2020 and one in 2100 (100 ns ticks since 1601-01-01).
FILETIME_2020 = 132223104000000000
FILETIME_2100 = 157766400000000000


def directory(server: Slapd, preset: str, **overrides: str) -> LdapDirectory:
    return LdapDirectory(
        [server.url],
        server.base,
        bind_dn=server.admin_dn,
        bind_password=server.admin_password,
        user_base=PEOPLE,
        mapping=preset_mapping(preset, overrides),
        connect_timeout=2.0,
    )


@pytest.fixture
def make(tmp_path: Path) -> Iterator[object]:
    servers: list[Slapd] = []

    def factory(**options: object) -> Slapd:
        server = make_slapd(tmp_path / f"slapd{len(servers)}", **options)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        server.add_ldif(PEOPLE_OU)
        return server

    yield factory
    for server in servers:
        server.stop()


# --- openldap-ppolicy -----------------------------------------------------------------


PERSON = f"""\
dn: uid=niran,{PEOPLE}
objectClass: inetOrgPerson
uid: niran
cn: Niran Chai
sn: Chai
mail: niran@bangkok.go.th
userPassword: niran-password-1
"""


async def test_ppolicy_preset_reads_plain_person_entries_and_locks_them(make: object) -> None:
    server = make(ppolicy=True)  # type: ignore[operator]
    server.add_ldif(PERSON)
    ldap = directory(server, "openldap-ppolicy")
    dn = f"uid=niran,{PEOPLE}"
    try:
        account = await ldap.authenticate("niran@bangkok.go.th", "niran-password-1")
        assert account is not None and account.status is AccountStatus.ACTIVE
        assert account.display_name == "Niran Chai"  # cn when there is no displayName
        assert account.smtp_enabled and account.imap_enabled

        # The lock adds our auxiliary class to record who and why, and sets ppolicy's.
        locked = await ldap.set_status(
            "niran@bangkok.go.th", AccountStatus.LOCKED, reason="phishing", actor="soc", now=NOW
        )
        assert (locked.status, locked.status_reason, locked.status_actor) == (
            AccountStatus.LOCKED,
            "phishing",
            "soc",
        )
        assert not server.can_bind(dn, "niran-password-1")
        refused = await ldap.authenticate("niran@bangkok.go.th", "niran-password-1")
        assert refused is not None and refused.status is AccountStatus.LOCKED
        active = await ldap.set_status("niran@bangkok.go.th", AccountStatus.ACTIVE, now=NOW)
        assert active.status is AccountStatus.ACTIVE
        assert server.can_bind(dn, "niran-password-1")

        # A lockout by the password policy: 5 wrong binds (pwdMaxFailure in the fixture).
        for _ in range(5):
            assert not server.can_bind(dn, "wrong")
        assert not server.can_bind(dn, "niran-password-1")  # slapd refuses it now
        out = await ldap.get("niran@bangkok.go.th")
        assert out is not None and out.status is AccountStatus.LOCKED
        assert "failed logins" in out.status_reason
        # Both: our status already refuses, so it is kept (the more precise one).
        suspended = await ldap.set_status(
            "niran@bangkok.go.th", AccountStatus.SUSPENDED, reason="review", now=NOW
        )
        assert (suspended.status, suspended.status_reason) == (AccountStatus.SUSPENDED, "review")
    finally:
        await ldap.close()


# --- active-directory (emulated) ------------------------------------------------------


def ad_schema(tmp_path: Path) -> Path:
    """msuser.ldif as shipped, plus what AD has and the file lacks: equality rules for
    the names we search on, and securityPrincipal (which allows sAMAccountName)."""
    text = (SCHEMA_DIR / "msuser.ldif").read_text()
    for name in ("sAMAccountName", "userPrincipalName", "proxyAddresses"):
        text, count = re.subn(
            rf"(NAME '{name}'\n)(\s+SYNTAX)", r"\1  EQUALITY caseIgnoreMatch\n\2", text
        )
        assert count == 1, name
    text = text.rstrip() + (
        "\nolcObjectClasses: ( 1.2.840.113556.1.5.6 NAME 'securityPrincipal'\n"
        "  SUP top AUXILIARY MAY ( sAMAccountName ) )\n"
    )
    path = tmp_path / "msuser-test.ldif"
    path.write_text(text)
    return path


def ad_user(name: str, *, control: int = 512, expires: int = 0, extra: str = "") -> str:
    return f"""\
dn: cn={name},{PEOPLE}
objectClass: user
objectClass: securityPrincipal
cn: {name}
sn: {name}
instanceType: 4
objectCategory: cn=Person,cn=Schema,cn=Configuration,{BASE}
nTSecurityDescriptor:: AAAA
sAMAccountName: {name}
userPrincipalName: {name}@bma.local
mail: {name}@bangkok.go.th
proxyAddresses: SMTP:{name}@bangkok.go.th
proxyAddresses: smtp:{name}.alias@bangkok.go.th
proxyAddresses: X500:/o=BMA/ou=Exchange/cn={name}
userAccountControl: {control}
accountExpires: {expires}
userPassword: {name}-password
{extra}"""


async def test_active_directory_preset_on_an_emulated_ad(make: object, tmp_path: Path) -> None:
    server = make(extra_schemas=(ad_schema(tmp_path),))  # type: ignore[operator]
    server.add_ldif(ad_user("somsak"))
    server.add_ldif(ad_user("disabled", control=514))
    server.add_ldif(ad_user("expired", expires=FILETIME_2020))
    server.add_ldif(ad_user("later", expires=FILETIME_2100))
    server.add_ldif(ad_user("never", expires=9223372036854775807))
    ldap = directory(server, "active-directory")
    try:
        # Login by userPrincipalName or by sAMAccountName; the login is the UPN.
        for login in ("somsak@bma.local", "SOMSAK"):
            account = await ldap.authenticate(login, "somsak-password")
            assert account is not None and account.login == "somsak@bma.local"
        account = await ldap.get("somsak@bma.local")
        assert account is not None
        assert account.address == "somsak@bangkok.go.th"
        assert account.aliases == ("somsak.alias@bangkok.go.th",)  # smtp: values only
        assert account.status is AccountStatus.ACTIVE
        found = await ldap.find_by_address("Somsak.Alias@bangkok.go.th")
        assert found is not None and found.login == "somsak@bma.local"
        assert await ldap.local_domains() == frozenset({"bangkok.go.th"})

        disabled = await ldap.get("disabled@bma.local")
        assert disabled is not None and disabled.status is AccountStatus.SUSPENDED
        assert "disabled" in disabled.status_reason
        # Writing our attributes adds our class with status "active": the AD bit still
        # decides, and re-enabling the user with AD's tools is enough.
        moved = await ldap.update("disabled@bma.local", now=NOW, unit="Finance Department")
        assert moved.status is AccountStatus.SUSPENDED and moved.unit == "Finance Department"
        server.modify_ldif(
            f"dn: cn=disabled,{PEOPLE}\nchangetype: modify\n"
            "replace: userAccountControl\nuserAccountControl: 512\n"
        )
        enabled = await ldap.get("disabled@bma.local")
        assert enabled is not None and enabled.status is AccountStatus.ACTIVE
        expired = await ldap.get("expired@bma.local")
        assert expired is not None and expired.status is AccountStatus.SUSPENDED
        assert "expired in the directory on 2020-" in expired.status_reason
        for login in ("later@bma.local", "never@bma.local"):
            fine = await ldap.get(login)
            assert fine is not None and fine.status is AccountStatus.ACTIVE

        # The lock sets ACCOUNTDISABLE (0x2) and keeps the other bits; ACTIVE clears it.
        locked = await ldap.set_status(
            "somsak@bma.local", AccountStatus.LOCKED, reason="phishing", now=NOW
        )
        assert locked.status is AccountStatus.LOCKED
        assert await _control(ldap, "somsak") == 514
        suspended = await ldap.set_status("somsak", AccountStatus.SUSPENDED, now=NOW)
        assert suspended.status is AccountStatus.SUSPENDED
        assert await _control(ldap, "somsak") == 514
        active = await ldap.set_status("somsak@bma.local", AccountStatus.ACTIVE, now=NOW)
        assert active.status is AccountStatus.ACTIVE
        assert await _control(ldap, "somsak") == 512

        # Alias writes keep the primary SMTP: and the X500: values.
        changed = await ldap.update("somsak@bma.local", now=NOW, aliases=["s2@bangkok.go.th"])
        assert changed.aliases == ("s2@bangkok.go.th",)
        values = await _values(ldap, "somsak", "proxyAddresses")
        assert sorted(values) == sorted(
            [
                "SMTP:somsak@bangkok.go.th",
                "smtp:s2@bangkok.go.th",
                "X500:/o=BMA/ou=Exchange/cn=somsak",
            ]
        )

        with pytest.raises(DirectoryError, match="own tools"):
            await ldap.add_account("new@bma.local", password_hash=None, now=NOW)
        with pytest.raises(DirectoryError, match="clear-text"):
            await ldap.set_password_hash(
                "somsak@bma.local", PasswordHasher(memory_kib=1024, time_cost=1).hash("x"), now=NOW
            )
    finally:
        await ldap.close()


async def _values(ldap: LdapDirectory, name: str, attribute: str) -> list[str]:
    return await _attr(ldap, f"cn={name},{PEOPLE}", attribute)


async def _control(ldap: LdapDirectory, name: str) -> int:
    return int((await _values(ldap, name, "userAccountControl"))[0])


# --- iredmail --------------------------------------------------------------------------


def iredmail_user(name: str, status: str, services: tuple[str, ...]) -> str:
    lines = "".join(f"enabledService: {s}\n" for s in services)
    return f"""\
dn: mail={name}@bangkok.go.th,{PEOPLE}
objectClass: inetOrgPerson
objectClass: mailUser
cn: {name}
sn: {name}
mail: {name}@bangkok.go.th
shadowAddress: {name}.alias@bma.go.th
accountStatus: {status}
userPassword: {name}-password
{lines}"""


async def test_iredmail_preset(make: object) -> None:
    server = make(extra_schemas=(IREDMAIL_SCHEMA,), modules=("argon2",))  # type: ignore[operator]
    server.add_ldif(iredmail_user("kanya", "active", ("mail", "smtp", "imapsecured", "pop3")))
    server.add_ldif(iredmail_user("off", "disabled", ("mail", "smtp", "imap")))
    server.add_ldif(iredmail_user("nomail", "active", ("smtp", "imap")))
    ldap = directory(server, "iredmail", rdn="mail={login}")
    try:
        kanya = await ldap.authenticate("kanya@bangkok.go.th", "kanya-password")
        assert kanya is not None and kanya.status is AccountStatus.ACTIVE
        assert kanya.aliases == ("kanya.alias@bma.go.th",)
        assert (kanya.smtp_enabled, kanya.imap_enabled) == (True, True)
        assert (await ldap.find_by_address("kanya.alias@bma.go.th")) is not None
        off = await ldap.get("off@bangkok.go.th")
        assert off is not None and off.status is AccountStatus.SUSPENDED
        nomail = await ldap.get("nomail@bangkok.go.th")
        assert nomail is not None and not nomail.smtp_enabled and not nomail.imap_enabled

        dn = f"mail=kanya@bangkok.go.th,{PEOPLE}"
        suspended = await ldap.set_status(
            "kanya@bangkok.go.th", AccountStatus.SUSPENDED, reason="review", now=NOW
        )
        assert suspended.status is AccountStatus.SUSPENDED
        assert await _attr(ldap, dn, "accountStatus") == ["disabled"]
        active = await ldap.set_status("kanya@bangkok.go.th", AccountStatus.ACTIVE, now=NOW)
        assert active.status is AccountStatus.ACTIVE
        assert await _attr(ldap, dn, "accountStatus") == ["active"]

        no_imap = await ldap.update("kanya@bangkok.go.th", now=NOW, imap_enabled=False)
        assert no_imap.smtp_enabled and not no_imap.imap_enabled
        assert sorted(await _attr(ldap, dn, "enabledService")) == ["mail", "pop3", "smtp"]

        hasher = PasswordHasher(memory_kib=1024, time_cost=1)
        added = await ldap.add_account(
            "dao@bangkok.go.th", password_hash=hasher.hash("dao-password-1"), now=NOW
        )
        assert added.status is AccountStatus.ACTIVE and added.smtp_enabled and added.imap_enabled
        new_dn = f"mail=dao@bangkok.go.th,{PEOPLE}"
        assert await _attr(ldap, new_dn, "accountStatus") == ["active"]
        assert server.can_bind(new_dn, "dao-password-1")
    finally:
        await ldap.close()


async def _attr(ldap: LdapDirectory, dn: str, attribute: str) -> list[str]:
    def read(conn: object) -> list[str]:
        found = ldap._search(conn, "(objectClass=*)", [attribute], base=dn)  # type: ignore[arg-type]
        return found[0].all(attribute)

    return await ldap._connections.run(read)
