"""LdapDirectory against a real slapd loaded with deploy/ldap/sample.ldif."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mailserver.directory import AccountNotFound, DirectoryError, DirectoryUnavailable
from mailserver.directory.ldap import LdapDirectory
from policy.model import AccountKind, AccountStatus
from tests.integration.conftest import free_port
from tests.integration.slapd import Slapd, slapd  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
SOMCHAI = ("somchai.k@bangkok.go.th", "sample-password-1")
MALEE = ("malee.s@bangkok.go.th", "sample-password-2")


def _directory(server: Slapd, *urls: str, **options: object) -> LdapDirectory:
    return LdapDirectory(
        urls or (server.url,),
        server.base,
        bind_dn=server.admin_dn,
        bind_password=server.admin_password,
        connect_timeout=2.0,
        receive_timeout=5.0,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def directory(slapd: Slapd) -> AsyncIterator[LdapDirectory]:  # noqa: F811
    slapd.add_ldif(SAMPLE.read_text())
    ldap = _directory(slapd)
    yield ldap
    await ldap.close()


async def test_bind_right_password(directory: LdapDirectory) -> None:
    account = await directory.authenticate(*SOMCHAI)
    assert account is not None
    assert account.login == "somchai.k@bangkok.go.th"
    assert account.status is AccountStatus.ACTIVE
    assert account.display_name == "Somchai Kittisak"
    # Case-insensitive login.
    again = await directory.authenticate("Somchai.K@Bangkok.GO.TH", SOMCHAI[1])
    assert again is not None and again.login == account.login


async def test_wrong_password_and_unknown_login_are_the_same_none(
    directory: LdapDirectory,
) -> None:
    assert await directory.authenticate(SOMCHAI[0], "wrong") is None
    assert await directory.authenticate("nobody@bangkok.go.th", "wrong") is None
    assert await directory.authenticate("nobody@bangkok.go.th", SOMCHAI[1]) is None
    # Another account's password does not open this one.
    assert await directory.authenticate(SOMCHAI[0], MALEE[1]) is None


async def test_empty_password_is_never_an_unauthenticated_bind(
    directory: LdapDirectory,
) -> None:
    assert await directory.authenticate(SOMCHAI[0], "") is None


@pytest.mark.parametrize(
    "login",
    [
        "*",
        "*)(mail=*",
        "*)(|(mail=*",
        "somchai.k@bangkok.go.th)(mail=*",
        "somchai*",
        "\x00",
        "somchai.k@bangkok.go.th\x00",
        "\\2a",
        "สมชาย@bangkok.go.th",  # not IA5: no match, not an error
        "(",
        "\udcff\udcfe",  # bytes that were not UTF-8, decoded with surrogateescape
        "somchai.k@bangkok.go.th\udcc3",
        "",
    ],
)
async def test_injection_never_authenticates_nor_errors(
    directory: LdapDirectory, login: str
) -> None:
    for password in (SOMCHAI[1], "*", "wrong", "\x00", "\udcff"):
        assert await directory.authenticate(login, password) is None
    assert await directory.get(login) is None
    assert await directory.find_by_address(login) is None


async def test_suspended_entry_maps_status_reason_actor_time(directory: LdapDirectory) -> None:
    # The right password still gives the account: judging the status is the policy's job.
    account = await directory.authenticate(*MALEE)
    assert account is not None
    assert account.status is AccountStatus.SUSPENDED
    assert account.status_reason == "pending disciplinary review"
    assert account.status_actor == "admin.niran"
    assert account.status_since == datetime(2026, 1, 10, 9, 30, tzinfo=UTC)
    assert account.unit == "Finance Department"
    assert account.revision  # entryCSN
    assert account.smtp_enabled and account.imap_enabled  # no mailEnabledService: all


async def test_departed_entry_has_its_separation_date(directory: LdapDirectory) -> None:
    account = await directory.get("prasert.w@bangkok.go.th")
    assert account is not None
    assert account.status is AccountStatus.DEPARTED
    assert account.separation_date == date(2026, 1, 15)


async def test_aliases_and_find_by_address(directory: LdapDirectory) -> None:
    account = await directory.get("SOMCHAI.K@bangkok.go.th")
    assert account is not None
    assert account.address == "somchai.k@bangkok.go.th"
    assert set(account.aliases) == {"s.kittisak@bangkok.go.th", "somchai@bma.go.th"}
    assert account.unit == "Traffic and Transport Department"
    assert account.unit_since == datetime(2024, 6, 1, tzinfo=UTC)
    for address in ("somchai.k@bangkok.go.th", "S.Kittisak@Bangkok.go.th", "somchai@bma.go.th"):
        found = await directory.find_by_address(address)
        assert found is not None and found.login == account.login
    assert await directory.find_by_address("nobody@bangkok.go.th") is None
    assert await directory.find_by_address("*@bangkok.go.th") is None


async def test_local_domains(directory: LdapDirectory) -> None:
    assert await directory.local_domains() == frozenset({"bangkok.go.th", "bma.go.th"})


async def test_role_mailbox_maps_responsible_and_delegates_to_logins(
    directory: LdapDirectory,
) -> None:
    role = await directory.find_by_address("traffic.office@bangkok.go.th")
    assert role is not None
    assert role.login == "traffic@bangkok.go.th"
    assert role.kind is AccountKind.ROLE
    assert role.responsible == "somchai.k@bangkok.go.th"
    assert role.delegates == ("malee.s@bangkok.go.th",)
    assert role.send_as == ("traffic-news@bangkok.go.th",)
    assert role.smtp_enabled and not role.imap_enabled
    somchai = await directory.get(SOMCHAI[0])
    assert somchai is not None and somchai.may_act_for(role)


async def test_list_accounts(directory: LdapDirectory) -> None:
    accounts = await directory.list_accounts()
    assert [a.login for a in accounts] == [
        "malee.s@bangkok.go.th",
        "prasert.w@bangkok.go.th",
        "somchai.k@bangkok.go.th",
        "traffic@bangkok.go.th",
    ]
    role = accounts[-1]
    assert role.responsible == "somchai.k@bangkok.go.th"
    suspended = await directory.list_accounts(AccountStatus.SUSPENDED)
    assert [a.login for a in suspended] == ["malee.s@bangkok.go.th"]


async def test_anonymous_reads_without_a_service_account(slapd: Slapd) -> None:  # noqa: F811
    slapd.add_ldif(SAMPLE.read_text())
    ldap = LdapDirectory([slapd.url], slapd.base, connect_timeout=2.0)
    try:
        assert (await ldap.get(SOMCHAI[0])) is not None
        assert (await ldap.authenticate(*SOMCHAI)) is not None
        assert await ldap.authenticate(SOMCHAI[0], "wrong") is None
    finally:
        await ldap.close()


async def test_unknown_status_value_fails_closed(
    slapd: Slapd,  # noqa: F811
    directory: LdapDirectory,
) -> None:
    slapd.modify_ldif(
        "dn: uid=somchai.k,ou=people,dc=bangkok,dc=go,dc=th\n"
        "changetype: modify\nreplace: mailAccountStatus\nmailAccountStatus: on-holiday\n"
    )
    account = await directory.get(SOMCHAI[0])
    assert account is not None and account.status is AccountStatus.LOCKED


async def test_revision_changes_on_every_write(
    slapd: Slapd,  # noqa: F811
    directory: LdapDirectory,
) -> None:
    before = await directory.get(SOMCHAI[0])
    slapd.modify_ldif(
        "dn: uid=somchai.k,ou=people,dc=bangkok,dc=go,dc=th\n"
        "changetype: modify\nreplace: mailUnit\nmailUnit: Finance Department\n"
    )
    after = await directory.get(SOMCHAI[0])
    assert before is not None and after is not None
    assert after.unit == "Finance Department"
    assert after.revision and after.revision != before.revision


async def test_set_status_writes_our_schema(directory: LdapDirectory) -> None:
    now = datetime(2026, 2, 1, 8, 0, tzinfo=UTC)
    locked = await directory.set_status(
        SOMCHAI[0], AccountStatus.LOCKED, reason="phishing", actor="soc", now=now
    )
    assert locked.status is AccountStatus.LOCKED
    assert (locked.status_reason, locked.status_actor, locked.status_since) == (
        "phishing",
        "soc",
        now,
    )
    active = await directory.set_status(SOMCHAI[0], AccountStatus.ACTIVE, actor="soc", now=now)
    assert active.status is AccountStatus.ACTIVE and active.status_reason == ""
    with pytest.raises(DirectoryError):
        await directory.set_status(SOMCHAI[0], AccountStatus.DEPARTED, now=now)
    departed = await directory.set_status(
        SOMCHAI[0], AccountStatus.DEPARTED, now=now, separation_date=date(2026, 1, 31)
    )
    assert departed.separation_date == date(2026, 1, 31)
    with pytest.raises(AccountNotFound):
        await directory.set_status("nobody@bangkok.go.th", AccountStatus.LOCKED, now=now)
    with pytest.raises(DirectoryError):
        await directory.update(SOMCHAI[0], now=now, colour="x")  # not an updatable field


async def test_pool_fails_over_from_a_dead_server(slapd: Slapd) -> None:  # noqa: F811
    slapd.add_ldif(SAMPLE.read_text())
    dead = f"ldap://127.0.0.1:{free_port()}/"
    for strategy in ("first", "round_robin"):
        ldap = _directory(slapd, dead, slapd.url, pool_strategy=strategy)
        try:
            for _ in range(3):
                assert (await ldap.authenticate(*SOMCHAI)) is not None
                assert await ldap.authenticate(SOMCHAI[0], "wrong") is None
                assert await ldap.local_domains()
        finally:
            await ldap.close()


async def test_outage_raises_unavailable_then_recovers(slapd: Slapd) -> None:  # noqa: F811
    slapd.add_ldif(SAMPLE.read_text())
    ldap = _directory(slapd, retry_after=60.0)
    try:
        assert (await ldap.authenticate(*SOMCHAI)) is not None
        slapd.stop()
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable):
            await ldap.authenticate(*SOMCHAI)
        with pytest.raises(DirectoryUnavailable):
            await ldap.authenticate(SOMCHAI[0], "wrong")
        with pytest.raises(DirectoryUnavailable):
            await ldap.get(SOMCHAI[0])
        with pytest.raises(DirectoryUnavailable):
            await ldap.find_by_address(SOMCHAI[0])
        with pytest.raises(DirectoryUnavailable):
            await ldap.local_domains()
        with pytest.raises(DirectoryUnavailable):
            await ldap.list_accounts()
        assert time.monotonic() - started < 10  # fails fast, never hangs
        slapd.start()
        # Even though the only server is marked down, it is tried again at once.
        account = await ldap.authenticate(*SOMCHAI)
        assert account is not None and account.login == SOMCHAI[0]
    finally:
        await ldap.close()


async def test_every_server_dead_is_unavailable(slapd: Slapd) -> None:  # noqa: F811
    urls = [f"ldap://127.0.0.1:{free_port()}/", f"ldap://127.0.0.1:{free_port()}/"]
    ldap = _directory(slapd, *urls)
    try:
        with pytest.raises(DirectoryUnavailable):
            await ldap.authenticate(*SOMCHAI)
    finally:
        await ldap.close()


async def test_wrong_service_password_is_unavailable_not_none(slapd: Slapd) -> None:  # noqa: F811
    slapd.add_ldif(SAMPLE.read_text())
    ldap = LdapDirectory(
        [slapd.url], slapd.base, bind_dn=slapd.admin_dn, bind_password="not-it", connect_timeout=2
    )
    try:
        with pytest.raises(DirectoryUnavailable):
            await ldap.authenticate(*SOMCHAI)
        with pytest.raises(DirectoryUnavailable):
            await ldap.get(SOMCHAI[0])
    finally:
        await ldap.close()


async def test_closed_directory_is_unavailable(directory: LdapDirectory) -> None:
    await directory.close()
    with pytest.raises(DirectoryUnavailable):
        await directory.get(SOMCHAI[0])
