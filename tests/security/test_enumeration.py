"""Account enumeration: an unknown login must look and cost like a wrong password.

Attack class: telling which logins exist from the answer or its timing. The answers
are compared over the wire on every protocol; the cost is checked by structure, not by
the clock: every refused login includes exactly one password verify at the configured
scheme and cost (argon2id, `auth.argon2_*`), whatever the account's stored hash. The
timings themselves are figures (bench/login_timing.py, docs/benchmarks.md): a login
refused for a wrong password on an imported {SSHA} account used to be answered ~25 ms
sooner than an unknown one, because {SSHA} costs microseconds and the unknown login's
dummy verify costs an argon2id.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailserver.directory.local import SqliteDirectory
from mailserver.passwords import PasswordHasher
from tests.integration.conftest import PASSWORD, MailServer
from tests.security.login_clients import ATTEMPTS, WRONG_LOGIN

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "ldap" / "sample.ldif"
MEMORY_KIB, TIME_COST = 1024, 1


class RecordingHasher(PasswordHasher):
    """A real hasher that records the stored hash of every verify it does."""

    def __init__(self) -> None:
        super().__init__(memory_kib=MEMORY_KIB, time_cost=TIME_COST, parallelism=1)
        self.verified: list[str | None] = []

    def verify(self, password: str, stored: str | None) -> bool:
        self.verified.append(stored)
        return super().verify(password, stored)

    def at_configured_cost(self) -> list[str | None]:
        """The verifies done against an argon2id hash at this hasher's parameters."""
        tag = f"{{ARGON2}}$argon2id$v=19$m={MEMORY_KIB},t={TIME_COST},p=1$"
        return [s for s in self.verified if s and s.startswith(tag)]


def ssha(password: str) -> str:
    digest = hashlib.sha1(password.encode() + b"salt").digest()
    return "{SSHA}" + base64.b64encode(digest + b"salt").decode()


@pytest.fixture
def hasher() -> RecordingHasher:
    return RecordingHasher()


@pytest.fixture
async def directory(tmp_path: Path, hasher: RecordingHasher) -> AsyncIterator[SqliteDirectory]:
    d = SqliteDirectory(tmp_path / "directory.sqlite3", hasher)
    await d.open()
    await d.add_account("kanya@bangkok.go.th", password_hash=hasher.hash("right"), now=NOW)
    await d.add_account("somchai@bangkok.go.th", password_hash=ssha("right"), now=NOW)
    older = PasswordHasher(memory_kib=512, time_cost=1).hash("right")
    await d.add_account("malee@bangkok.go.th", password_hash=older, now=NOW)
    await d.add_account("traffic@bangkok.go.th", password_hash=None, now=NOW)
    hasher.verified.clear()
    yield d
    await d.close()


@pytest.mark.parametrize(
    "login",
    [
        pytest.param("nobody@bangkok.go.th", id="unknown"),
        pytest.param("\u212aanya@bangkok.go.th", id="not-a-login"),
        pytest.param("traffic@bangkok.go.th", id="no-password"),
        pytest.param("kanya@bangkok.go.th", id="wrong-password-argon2id"),
        pytest.param("somchai@bangkok.go.th", id="wrong-password-imported-ssha"),
        pytest.param("malee@bangkok.go.th", id="wrong-password-older-argon2-cost"),
    ],
)
async def test_every_refused_login_pays_one_verify_at_the_configured_cost(
    directory: SqliteDirectory, hasher: RecordingHasher, login: str
) -> None:
    assert await directory.authenticate(login, "wrong") is None
    assert len(hasher.at_configured_cost()) == 1, hasher.verified


async def test_the_unknown_login_is_verified_against_a_dummy_of_the_configured_scheme(
    directory: SqliteDirectory, hasher: RecordingHasher
) -> None:
    assert await directory.authenticate("nobody@bangkok.go.th", "wrong") is None
    (dummy,) = hasher.verified
    assert hasher.identify(dummy) == "argon2"
    assert not hasher.needs_rehash(dummy)  # argon2id at exactly the configured cost
    stored = (await directory.password_hashes())["kanya@bangkok.go.th"]
    assert dummy != stored  # a dummy, not some account's hash


async def test_a_cheap_stored_hash_is_verified_then_padded_by_the_dummy(
    directory: SqliteDirectory, hasher: RecordingHasher
) -> None:
    assert await directory.authenticate("somchai@bangkok.go.th", "wrong") is None
    assert hasher.verified[0] == ssha("right")
    assert len(hasher.verified) == 2 and hasher.verified[1] in hasher.at_configured_cost()


async def test_a_right_password_is_not_padded(
    directory: SqliteDirectory, hasher: RecordingHasher
) -> None:
    assert await directory.authenticate("kanya@bangkok.go.th", "right") is not None
    assert len(hasher.verified) == 1


@pytest.mark.integration
def test_unknown_and_wrong_password_get_the_same_answer_on_every_protocol(
    make_server,
) -> None:
    server: MailServer = make_server()
    server.add_account("kanya@bangkok.go.th")
    server.cli("account", "import-ldif", str(SAMPLE))  # {SSHA} hashes, as migrated
    for name, attempt in ATTEMPTS.items():
        answers = {
            "unknown": attempt(server, "nobody@bangkok.go.th", PASSWORD),
            "wrong": attempt(server, "kanya@bangkok.go.th", "not the password"),
            "wrong-imported": attempt(server, "somchai.k@bangkok.go.th", "not the password"),
        }
        assert answers == dict.fromkeys(answers, WRONG_LOGIN), name
