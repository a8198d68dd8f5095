"""PasswordHasher: argon2id for new hashes, imported LDAP schemes on verify."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest
from passlib.hash import argon2, bcrypt, sha256_crypt, sha512_crypt

from mailserver.passwords import PasswordHasher

PASSWORD = "correct horse ภาษาไทย"


@pytest.fixture
def hasher() -> PasswordHasher:
    return PasswordHasher(memory_kib=1024, time_cost=1, parallelism=1)


def ssha(password: str, salt: bytes, algorithm: str = "sha1", tag: str = "{SSHA}") -> str:
    digest = hashlib.new(algorithm, password.encode() + salt).digest()
    return tag + base64.b64encode(digest + salt).decode()


def test_hash_is_tagged_argon2id_at_the_configured_parameters(hasher: PasswordHasher) -> None:
    stored = hasher.hash(PASSWORD)
    assert stored.startswith("{ARGON2}$argon2id$v=19$m=1024,t=1,p=1$")
    assert hasher.verify(PASSWORD, stored)
    assert not hasher.verify(PASSWORD + "x", stored)
    assert not hasher.needs_rehash(stored)
    assert hasher.identify(stored) == "argon2"


def test_hashes_are_salted(hasher: PasswordHasher) -> None:
    assert hasher.hash(PASSWORD) != hasher.hash(PASSWORD)


def test_bare_argon2id_verifies_and_needs_no_rehash(hasher: PasswordHasher) -> None:
    bare = argon2.using(type="ID", memory_cost=1024, time_cost=1, parallelism=1).hash(PASSWORD)
    assert bare.startswith("$argon2id$")
    assert hasher.verify(PASSWORD, bare)
    assert not hasher.verify("wrong", bare)
    assert not hasher.needs_rehash(bare)


@pytest.mark.parametrize(
    "settings",
    [
        {"type": "ID", "memory_cost": 2048, "time_cost": 1, "parallelism": 1},
        {"type": "ID", "memory_cost": 1024, "time_cost": 2, "parallelism": 1},
        {"type": "ID", "memory_cost": 1024, "time_cost": 1, "parallelism": 2},
        {"type": "I", "memory_cost": 1024, "time_cost": 1, "parallelism": 1},
    ],
)
def test_argon2_at_other_parameters_verifies_but_needs_rehash(
    hasher: PasswordHasher, settings: dict[str, object]
) -> None:
    stored = "{ARGON2}" + argon2.using(**settings).hash(PASSWORD)
    assert hasher.verify(PASSWORD, stored)
    assert hasher.needs_rehash(stored)


def test_default_parameters_are_owasp() -> None:
    stored = PasswordHasher().hash(PASSWORD)
    assert "$m=19456,t=2,p=1$" in stored
    assert PasswordHasher().verify(PASSWORD, stored)


@pytest.mark.parametrize("salt", [b"", b"1234", os.urandom(8), os.urandom(32)])
def test_ssha(hasher: PasswordHasher, salt: bytes) -> None:
    stored = ssha(PASSWORD, salt)
    assert hasher.verify(PASSWORD, stored)
    assert not hasher.verify("wrong", stored)
    assert hasher.needs_rehash(stored)
    assert hasher.identify(stored) == "ssha"


def test_ssha_matches_libpass(hasher: PasswordHasher) -> None:
    from passlib.hash import ldap_salted_sha1

    stored = ldap_salted_sha1.hash(PASSWORD)
    assert hasher.verify(PASSWORD, stored)
    assert hasher.verify(PASSWORD, stored.replace("{SSHA}", "{ssha}"))


def test_known_ssha_vector(hasher: PasswordHasher) -> None:
    # slappasswd-style: base64(sha1("secret" + b"salt") + b"salt"), computed here.
    digest = hashlib.sha1(b"secretsalt").digest()
    stored = "{SSHA}" + base64.b64encode(digest + b"salt").decode()
    assert hasher.verify("secret", stored)
    assert not hasher.verify("Secret", stored)


@pytest.mark.parametrize(("algorithm", "tag"), [("sha256", "{SSHA256}"), ("sha512", "{SSHA512}")])
def test_salted_sha2(hasher: PasswordHasher, algorithm: str, tag: str) -> None:
    stored = ssha(PASSWORD, os.urandom(8), algorithm, tag)
    assert hasher.verify(PASSWORD, stored)
    assert not hasher.verify("wrong", stored)


@pytest.mark.parametrize("prefix", ["{CRYPT}", "{crypt}", ""])
def test_sha512_crypt(hasher: PasswordHasher, prefix: str) -> None:
    stored = prefix + sha512_crypt.using(rounds=1000).hash(PASSWORD)
    assert hasher.verify(PASSWORD, stored)
    assert not hasher.verify("wrong", stored)
    assert hasher.needs_rehash(stored)
    assert hasher.identify(stored) == "sha512_crypt"


def test_sha256_crypt(hasher: PasswordHasher) -> None:
    stored = "{CRYPT}" + sha256_crypt.using(rounds=1000).hash(PASSWORD)
    assert hasher.verify(PASSWORD, stored)
    assert not hasher.verify("wrong", stored)


@pytest.mark.parametrize("ident", ["2b", "2y", "2a"])
@pytest.mark.parametrize("prefix", ["{CRYPT}", ""])
def test_bcrypt(hasher: PasswordHasher, ident: str, prefix: str) -> None:
    stored = bcrypt.using(rounds=4).hash(PASSWORD).replace("$2b$", f"${ident}$", 1)
    stored = prefix + stored
    assert hasher.verify(PASSWORD, stored)
    assert not hasher.verify("wrong", stored)
    assert hasher.needs_rehash(stored)
    assert hasher.identify(stored) == "bcrypt"


def test_bcrypt_reads_only_72_bytes_like_crypt(hasher: PasswordHasher) -> None:
    # Imported bcrypt hashes were made by truncating; the password must still work.
    long_password = "ก" * 30  # 90 bytes of UTF-8
    stored = bcrypt.using(rounds=4).hash(long_password.encode()[:72])
    assert hasher.verify(long_password, stored)


def test_default_rounds_of_imported_schemes(hasher: PasswordHasher) -> None:
    assert hasher.verify(PASSWORD, "{CRYPT}" + sha512_crypt.hash(PASSWORD))
    assert hasher.verify(PASSWORD, "{CRYPT}" + bcrypt.hash(PASSWORD))


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        PASSWORD,  # a plaintext password stored by mistake must not "verify"
        "{",
        "{CLEARTEXT}" + PASSWORD,
        "{MD5}X03MO1qnZdYdgyfeuILPmQ==",
        "{SSHA}not base64!",
        "{SSHA}" + base64.b64encode(b"short").decode(),
        "$6$",
        "$6$rounds=1000$salt$",
        "$2b$04$tooshort",
        "{ARGON2}$argon2id$v=19$m=1024,t=1,p=1$garbage",
        "{ARGON2}" + sha512_crypt.using(rounds=1000).hash(PASSWORD),
        "{CRYPT}" + argon2.using(memory_cost=1024, time_cost=1).hash(PASSWORD),
        "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0",  # md5_crypt: not accepted
    ],
)
def test_unusable_stored_values_never_verify_and_never_raise(
    hasher: PasswordHasher, stored: str | None
) -> None:
    assert hasher.verify(PASSWORD, stored) is False
    assert hasher.needs_rehash(stored)
    assert hasher.identify(stored) is None


@pytest.mark.parametrize("password", ["a\0b", "x" * 5000, "\udcff"])
def test_passwords_a_scheme_cannot_take_do_not_raise(hasher: PasswordHasher, password: str) -> None:
    for stored in (
        "{CRYPT}" + sha512_crypt.using(rounds=1000).hash("ab"),
        "{CRYPT}" + bcrypt.using(rounds=4).hash("ab"),
        ssha("ab", b"salt"),
        hasher.hash("ab"),
    ):
        assert hasher.verify(password, stored) is False


def test_dummy_verify_costs_an_argon2_verify() -> None:
    calls = []

    class Counting(PasswordHasher):
        def verify(self, password: str, stored: str | None) -> bool:
            calls.append(stored)
            return super().verify(password, stored)

    counting = Counting(memory_kib=1024, time_cost=1)
    counting.dummy_verify(PASSWORD)
    counting.dummy_verify(PASSWORD)
    assert len(calls) == 2
    assert all(not counting.needs_rehash(s) for s in calls)  # argon2 at current params
    assert calls[0] == calls[1]  # the dummy hash is made once
