"""LdapDirectory's connection pool against a real slapd, through a counting TCP relay."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from mailserver.directory import DirectoryUnavailable
from mailserver.directory.ldap import LdapDirectory
from tests.integration.slapd import Slapd, make_slapd, slapd  # noqa: F401 (fixture)
from tests.integration.tcprelay import Relay
from tests.waiting import ManualClock, wait_until_async

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
SOMCHAI = ("somchai.k@bangkok.go.th", "sample-password-1")
MALEE = ("malee.s@bangkok.go.th", "sample-password-2")


def _directory(server: Slapd, *urls: str, **options: object) -> LdapDirectory:
    options = {"connect_timeout": 2.0, "receive_timeout": 2.0, **options}
    return LdapDirectory(
        urls,
        server.base,
        bind_dn=server.admin_dn,
        bind_password=server.admin_password,
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
def loaded(slapd: Slapd) -> Slapd:  # noqa: F811
    slapd.add_ldif(SAMPLE.read_text())
    return slapd


@pytest.fixture
def relay(loaded: Slapd) -> Iterator[Relay]:
    front = Relay(loaded.port)
    yield front
    front.close()


@pytest.fixture
async def directory(loaded: Slapd, relay: Relay) -> AsyncIterator[LdapDirectory]:
    ldap = _directory(loaded, relay.url())
    yield ldap
    await ldap.close()


async def _login_works(ldap: LdapDirectory) -> None:
    account = await ldap.authenticate(*SOMCHAI)
    assert account is not None and account.login == SOMCHAI[0]


async def test_connections_are_reused(directory: LdapDirectory, relay: Relay) -> None:
    for _ in range(20):
        await _login_works(directory)
        assert await directory.authenticate(SOMCHAI[0], "wrong") is None
        assert await directory.authenticate("nobody@bangkok.go.th", "wrong") is None
        assert await directory.get(MALEE[0]) is not None
    # One connection bound as the service account, one for the users' binds.
    assert relay.accepted == 2
    assert relay.open == 2


async def test_a_bind_connection_never_serves_a_search(tmp_path: Path) -> None:
    # Only the service account (the root DN here) may read entries; users and anonymous
    # may only bind. After a good user bind (the connection is that user) and a failed
    # one (anonymous), every read still works: searches never run on the bind pool.
    closed = make_slapd(
        tmp_path / "closed",
        access=(
            "to attrs=userPassword by anonymous auth by * none",
            "to * by anonymous auth by * none",
        ),
    )
    closed.start()
    try:
        closed.add_ldif(SAMPLE.read_text())
        ldap = _directory(closed, closed.url, pool_size=1)
        try:
            for _ in range(3):
                await _login_works(ldap)
                assert await ldap.get(MALEE[0]) is not None
                assert await ldap.authenticate(SOMCHAI[0], "wrong") is None
                assert len(await ldap.list_accounts()) == 4
                assert await ldap.local_domains()
        finally:
            await ldap.close()
    finally:
        closed.stop()


async def test_concurrency_stays_within_the_pool_bound(loaded: Slapd, relay: Relay) -> None:
    ldap = _directory(loaded, relay.url(), pool_size=4)
    try:
        results = await asyncio.gather(
            *(ldap.authenticate(*SOMCHAI) for _ in range(50)),
            *(ldap.authenticate(SOMCHAI[0], "wrong") for _ in range(50)),
        )
        assert all(a is not None for a in results[:50])
        assert all(a is None for a in results[50:])
        assert relay.peak <= 4 + 4  # service pool + bind pool
        assert relay.accepted <= 8
    finally:
        await ldap.close()
    await wait_until_async(lambda: relay.open == 0)


async def test_close_closes_every_connection(loaded: Slapd, relay: Relay) -> None:
    ldap = _directory(loaded, relay.url())
    await asyncio.gather(*(ldap.authenticate(*SOMCHAI) for _ in range(10)))
    assert relay.open >= 2
    await ldap.close()
    await wait_until_async(lambda: relay.open == 0)
    with pytest.raises(DirectoryUnavailable):
        await ldap.get(SOMCHAI[0])


async def test_a_slapd_restart_is_survived(loaded: Slapd) -> None:
    ldap = _directory(loaded, loaded.url)
    try:
        await _login_works(ldap)
        loaded.stop()
        loaded.start()
        # The pooled connections died with the old process: replaced without an error.
        await _login_works(ldap)
        assert await ldap.get(MALEE[0]) is not None
        assert await ldap.authenticate(SOMCHAI[0], "wrong") is None
    finally:
        await ldap.close()


async def test_connections_closed_while_idle_are_replaced(
    directory: LdapDirectory, relay: Relay
) -> None:
    await _login_works(directory)
    relay.cut()  # as a server's idle timeout or a firewall would
    await _login_works(directory)
    assert relay.accepted == 4


async def test_a_connection_that_fails_in_use_is_retried_once(
    directory: LdapDirectory, relay: Relay
) -> None:
    await _login_works(directory)
    assert await directory.get(MALEE[0]) is not None
    # The pooled connections look open but die at the next request (the server went
    # away without a word): the search and the bind are each retried on a fresh one.
    relay.poison()
    await _login_works(directory)
    assert relay.accepted == 4
    relay.poison()
    assert await directory.authenticate(SOMCHAI[0], "wrong") is None
    relay.poison()
    assert await directory.get(MALEE[0]) is not None


async def test_a_hung_server_times_out_and_fails_closed(loaded: Slapd, relay: Relay) -> None:
    ldap = _directory(loaded, relay.url(), receive_timeout=1.0)
    try:
        await _login_works(ldap)
        relay.stall = True
        started = time.monotonic()
        with pytest.raises(DirectoryUnavailable):
            await ldap.authenticate(*SOMCHAI)
        # One timeout on the pooled connection, one on the fresh one; never a hang.
        assert time.monotonic() - started < 5
        relay.stall = False
        await _login_works(ldap)
    finally:
        await ldap.close()


async def test_outage_fails_fast_and_recovers_within_seconds(loaded: Slapd) -> None:
    ldap = _directory(loaded, loaded.url, retry_after=60.0)
    try:
        await _login_works(ldap)
        loaded.stop()
        started = time.monotonic()
        for _ in range(5):
            with pytest.raises(DirectoryUnavailable):
                await ldap.authenticate(*SOMCHAI)
            with pytest.raises(DirectoryUnavailable):
                await ldap.get(SOMCHAI[0])
        assert time.monotonic() - started < 3
        loaded.start()
        started = time.monotonic()
        await _login_works(ldap)  # the only server is tried even though marked down
        assert time.monotonic() - started < 3
    finally:
        await ldap.close()


async def test_idle_connections_are_closed_after_max_idle(loaded: Slapd, relay: Relay) -> None:
    clock = ManualClock()
    ldap = _directory(loaded, relay.url(), pool_max_idle=60.0, clock=clock)
    try:
        await _login_works(ldap)
        assert relay.accepted == 2
        clock.advance(59.0)
        await _login_works(ldap)
        assert relay.accepted == 2  # not idle for long enough: reused
        clock.advance(60.5)
        await _login_works(ldap)
        assert relay.accepted == 4
        await wait_until_async(lambda: relay.open == 2)  # the two old ones were closed
    finally:
        await ldap.close()


async def test_first_strategy_returns_to_the_preferred_server(
    loaded: Slapd, tmp_path: Path
) -> None:
    preferred = make_slapd(tmp_path / "preferred")
    preferred.start()
    relays: list[Relay] = []
    try:
        preferred.add_ldif(SAMPLE.read_text())
        preferred.stop()
        first, second = Relay(preferred.port), Relay(loaded.port)
        relays += [first, second]
        # Through the relay the dead server even accepts TCP, then closes: the bind fails.
        clock = ManualClock()
        ldap = _directory(loaded, first.url(), second.url(), retry_after=30.0, clock=clock)
        try:
            await _login_works(ldap)
            assert await ldap.get(MALEE[0]) is not None
            assert second.open == 2 and first.open == 0
            preferred.start()
            clock.advance(29.0)
            await _login_works(ldap)  # within retry_after: stays on the second server
            assert second.open == 2 and first.open == 0
            clock.advance(1.5)
            await _login_works(ldap)
            await wait_until_async(lambda: second.open == 0)
            assert first.open == 2
        finally:
            await ldap.close()
    finally:
        for front in relays:
            front.close()
        preferred.stop()


async def test_round_robin_keeps_connections_to_every_server(loaded: Slapd, tmp_path: Path) -> None:
    other = make_slapd(tmp_path / "other")
    other.start()
    try:
        other.add_ldif(SAMPLE.read_text())
        ldap = _directory(loaded, loaded.url, other.url, pool_strategy="round_robin")
        try:
            await asyncio.gather(*(ldap.authenticate(*SOMCHAI) for _ in range(20)))
            other.stop()
            # Connections to the stopped server are noticed dead and replaced.
            for _ in range(10):
                await _login_works(ldap)
        finally:
            await ldap.close()
    finally:
        other.stop()


def test_pool_size_must_be_positive(loaded: Slapd) -> None:
    with pytest.raises(ValueError):
        LdapDirectory([loaded.url], loaded.base, pool_size=0)
