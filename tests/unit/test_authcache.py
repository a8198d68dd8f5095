"""CachingAuthenticator in front of a real SqliteDirectory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailserver.authcache import CachingAuthenticator
from mailserver.directory import DirectoryUnavailable
from mailserver.directory.local import SqliteDirectory
from mailserver.passwords import PasswordHasher
from policy.model import Account, AccountStatus

NOW = datetime(2024, 5, 1, 9, 30, tzinfo=UTC)


class Counting:
    """Wraps a real directory and counts the (slow) authenticate calls."""

    def __init__(self, inner: SqliteDirectory) -> None:
        self.inner = inner
        self.authentications = 0
        self.gets = 0

    async def authenticate(self, login: str, password: str) -> Account | None:
        self.authentications += 1
        return await self.inner.authenticate(login, password)

    async def get(self, login: str) -> Account | None:
        self.gets += 1
        return await self.inner.get(login)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def directory(tmp_path: Path) -> AsyncIterator[SqliteDirectory]:
    hasher = PasswordHasher(memory_kib=1024, time_cost=1, parallelism=1)
    d = SqliteDirectory(tmp_path / "dir.sqlite3", hasher)
    for login in ("a@x.th", "b@x.th", "c@x.th"):
        await d.add_account(login, password_hash=hasher.hash("pw-" + login), now=NOW)
    yield d
    await d.close()


@pytest.fixture
def counting(directory: SqliteDirectory) -> Counting:
    return Counting(directory)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def cache(
    counting: Counting, clock: Clock, size: int = 10, ttl: float = 60
) -> CachingAuthenticator:
    return CachingAuthenticator(counting, size=size, ttl_seconds=ttl, clock=clock)  # type: ignore[arg-type]


async def test_hit_skips_the_slow_verify(counting: Counting, clock: Clock) -> None:
    auth = cache(counting, clock)
    first = await auth.authenticate("a@x.th", "pw-a@x.th")
    assert first is not None
    assert counting.authentications == 1
    for login in ("a@x.th", "A@X.TH"):
        again = await auth.authenticate(login, "pw-a@x.th")
        assert again == first
    assert counting.authentications == 1
    assert counting.gets == 2  # every hit reads a fresh snapshot
    assert (auth.hits, auth.misses) == (2, 1)


async def test_hit_returns_the_fresh_snapshot(
    counting: Counting, clock: Clock, directory: SqliteDirectory
) -> None:
    auth = cache(counting, clock)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    locked = await directory.set_status("a@x.th", AccountStatus.LOCKED, now=NOW)
    # The revision changed, so the entry is dropped and the password verified again;
    # the caller sees the locked account and the policy refuses it.
    assert await auth.authenticate("a@x.th", "pw-a@x.th") == locked
    assert counting.authentications == 2


async def test_wrong_password_is_never_cached(counting: Counting, clock: Clock) -> None:
    auth = cache(counting, clock)
    assert await auth.authenticate("a@x.th", "wrong") is None
    assert await auth.authenticate("a@x.th", "wrong") is None
    assert await auth.authenticate("nobody@x.th", "wrong") is None
    assert counting.authentications == 3
    assert len(auth) == 0


async def test_cached_password_does_not_let_another_in(counting: Counting, clock: Clock) -> None:
    auth = cache(counting, clock)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    assert await auth.authenticate("a@x.th", "pw-a@x.th ") is None
    assert await auth.authenticate("b@x.th", "pw-a@x.th") is None


async def test_password_change_drops_the_entry(
    counting: Counting, clock: Clock, directory: SqliteDirectory
) -> None:
    auth = cache(counting, clock)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    await directory.set_password_hash("a@x.th", directory.hasher.hash("new"), now=NOW)
    assert await auth.authenticate("a@x.th", "pw-a@x.th") is None
    assert len(auth) == 0
    assert await auth.authenticate("a@x.th", "new") is not None


async def test_any_change_drops_the_entry(
    counting: Counting, clock: Clock, directory: SqliteDirectory
) -> None:
    auth = cache(counting, clock)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    await directory.update("a@x.th", now=NOW, display_name="A")
    await auth.authenticate("a@x.th", "pw-a@x.th")
    assert counting.authentications == 2
    await auth.authenticate("a@x.th", "pw-a@x.th")
    assert counting.authentications == 2  # cached again at the new revision


async def test_ttl_expiry(counting: Counting, clock: Clock) -> None:
    auth = cache(counting, clock, ttl=30)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    clock.now += 29
    await auth.authenticate("a@x.th", "pw-a@x.th")
    assert counting.authentications == 1
    clock.now += 1  # 30 s after the verification: a hit does not extend the entry
    await auth.authenticate("a@x.th", "pw-a@x.th")
    assert counting.authentications == 2


async def test_lru_bound(counting: Counting, clock: Clock) -> None:
    auth = cache(counting, clock, size=2)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    await auth.authenticate("b@x.th", "pw-b@x.th")
    await auth.authenticate("a@x.th", "pw-a@x.th")  # a is now the most recent
    await auth.authenticate("c@x.th", "pw-c@x.th")  # evicts b
    assert len(auth) == 2
    assert counting.authentications == 3
    await auth.authenticate("a@x.th", "pw-a@x.th")
    assert counting.authentications == 3
    await auth.authenticate("b@x.th", "pw-b@x.th")
    assert counting.authentications == 4


async def test_size_zero_disables(counting: Counting, clock: Clock) -> None:
    auth = cache(counting, clock, size=0)
    for _ in range(3):
        assert await auth.authenticate("a@x.th", "pw-a@x.th") is not None
    assert counting.authentications == 3
    assert len(auth) == 0


async def test_forget(counting: Counting, clock: Clock) -> None:
    auth = cache(counting, clock)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    await auth.authenticate("b@x.th", "pw-b@x.th")
    auth.forget("A@x.th")
    await auth.authenticate("a@x.th", "pw-a@x.th")
    await auth.authenticate("b@x.th", "pw-b@x.th")
    assert counting.authentications == 3


async def test_no_plaintext_in_the_cache(counting: Counting, clock: Clock) -> None:
    auth = cache(counting, clock)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    dumped = repr(auth._entries) + repr(vars(auth))
    assert "pw-a@x.th" not in dumped
    assert b"pw-a@x.th" not in b"".join(auth._entries)


async def test_concurrent_identical_logins_share_one_verify(
    counting: Counting, clock: Clock
) -> None:
    auth = cache(counting, clock)
    results = await asyncio.gather(*(auth.authenticate("a@x.th", "pw-a@x.th") for _ in range(5)))
    assert len({r.revision for r in results if r is not None}) == 1
    assert all(r is not None for r in results)
    assert counting.authentications == 1


async def test_directory_down_on_a_hit_fails_closed(
    counting: Counting, clock: Clock, directory: SqliteDirectory
) -> None:
    auth = cache(counting, clock)
    await auth.authenticate("a@x.th", "pw-a@x.th")
    await directory.close()
    with pytest.raises(DirectoryUnavailable):
        await auth.authenticate("a@x.th", "pw-a@x.th")
