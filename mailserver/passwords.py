"""Password hashes: argon2id for new ones, verification of imported LDAP ones.

The canonical stored form is the LDAP `userPassword` form of OpenLDAP's argon2
module: ``{ARGON2}$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>``, so a value
written by the embedded directory can be loaded into OpenLDAP unchanged.

`verify` also accepts what an imported directory holds (scheme tags are
case-insensitive, as in OpenLDAP):

- ``{ARGON2}$argon2id$...`` and bare ``$argon2id$...`` (also argon2i / argon2d);
- ``{SSHA}`` (base64 of sha1(password + salt) + salt), ``{SSHA256}``, ``{SSHA512}``;
- ``{CRYPT}$6$...`` / ``$6$...`` (sha512_crypt), ``{CRYPT}$5$...`` / ``$5$...``
  (sha256_crypt);
- ``{CRYPT}$2b$/$2y$/$2a$...`` and bare ``$2b$/$2y$/$2a$...`` (bcrypt).

Anything else verifies as False; bad stored data never raises. Every hash that
is not argon2id at the current parameters `needs_rehash`, so the directory can
upgrade it on the next successful login.

Hashing and verifying are slow on purpose (DESIGN.md, "Known traps": argon2
~110 ms, bcrypt ~260 ms, sha512_crypt ~650 ms per verify). Call them off the
event loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from typing import Final

from passlib.context import CryptContext

# LDAP scheme tag used for new hashes (OpenLDAP contrib module "argon2").
ARGON2_TAG: Final = "{ARGON2}"

# Salted SHA schemes: tag -> (hashlib name, digest size in bytes).
_SALTED_SHA: Final = {
    "{ssha}": ("sha1", 20),
    "{ssha256}": ("sha256", 32),
    "{ssha512}": ("sha512", 64),
}

# bcrypt only reads the first 72 bytes of a password; the library we use
# raises instead of truncating, but imported hashes were made by truncating.
_BCRYPT_MAX_BYTES: Final = 72


class PasswordHasher:
    """Hashes new passwords with argon2id and verifies stored hashes of known schemes.

    Build it from `AuthSettings` values: ``PasswordHasher(memory_kib=...,
    time_cost=..., parallelism=...)``. Instances are thread-safe.
    """

    def __init__(self, *, memory_kib: int = 19_456, time_cost: int = 2, parallelism: int = 1):
        self.memory_kib = memory_kib
        self.time_cost = time_cost
        self.parallelism = parallelism
        # Unprefixed crypt-style hashes go through one CryptContext: argon2id at
        # the current parameters is the default; every other scheme is deprecated,
        # so `needs_update` is the rehash rule.
        self._context = CryptContext(
            schemes=["argon2", "bcrypt", "sha512_crypt", "sha256_crypt"],
            default="argon2",
            deprecated=["auto"],
            argon2__type="ID",
            argon2__memory_cost=memory_kib,
            argon2__rounds=time_cost,
            argon2__parallelism=parallelism,
        )
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        """A new argon2id hash of `password` in the canonical ``{ARGON2}$argon2id$...`` form."""
        return ARGON2_TAG + self._context.hash(password)

    def verify(self, password: str, stored: str | None) -> bool:
        """True when `password` matches `stored`; False for a mismatch or unusable data."""
        if not stored or not isinstance(stored, str):
            return False
        try:
            scheme, bare = _split(stored)
            if scheme in _SALTED_SHA:
                return _verify_salted_sha(password, bare, *_SALTED_SHA[scheme])
            if scheme not in ("", "{crypt}", "{argon2}"):
                return False
            name = self._context.identify(bare, required=False)
            if name is None or not _tag_fits(scheme, name):
                return False
            secret: str | bytes = password
            if name == "bcrypt":
                secret = password.encode("utf-8")[:_BCRYPT_MAX_BYTES]
            return bool(self._context.verify(secret, bare))
        except (ValueError, TypeError):
            # Malformed stored hashes, or a password the scheme cannot take
            # (NUL bytes, more than passlib's 4 KiB limit).
            return False

    def needs_rehash(self, stored: str | None) -> bool:
        """True unless `stored` is argon2id at the current parameters (tagged or bare)."""
        if not stored:
            return True
        try:
            scheme, bare = _split(stored)
            if scheme not in ("", "{argon2}"):
                return True
            if self._context.identify(bare, required=False) != "argon2":
                return True
            return bool(self._context.needs_update(bare))
        except (ValueError, TypeError):
            return True

    def identify(self, stored: str | None) -> str | None:
        """The scheme name of `stored` ("argon2", "ssha", "bcrypt", ...) or None if unknown.

        Lets writers refuse to store something that is not a hash (a plaintext
        password passed by mistake).
        """
        if not stored:
            return None
        try:
            scheme, bare = _split(stored)
            if scheme in _SALTED_SHA:
                _, size = _SALTED_SHA[scheme]
                return scheme.strip("{}") if len(_b64decode(bare)) >= size else None
            if scheme not in ("", "{crypt}", "{argon2}"):
                return None
            name = self._context.identify(bare, required=False)
            if name is None or not _tag_fits(scheme, name):
                return None
            # Parse it fully: identify() only looks at the prefix, and a bare
            # "$6$salt" (a configuration string, no digest) is not a hash.
            parsed = self._context.handler(name).from_string(bare)
            return name if parsed.checksum else None
        except (ValueError, TypeError):
            return None

    def verify_login(self, password: str, stored: str | None) -> bool:
        """`verify` for a login: a failure costs at least one verify at the configured
        scheme and cost, as an unknown login's `dummy_verify` does.

        A hash in an imported scheme ({SSHA}: microseconds) or at an older, cheaper cost
        would otherwise answer a wrong password faster than an unknown login is answered,
        telling an attacker which logins exist (docs/security.md, "Logins"). A right
        password in such a scheme is re-hashed by the caller, which costs as much.
        """
        verified = self.verify(password, stored)
        if not verified and self.needs_rehash(stored):
            self.dummy_verify(password)
        return verified

    def dummy_verify(self, password: str) -> None:
        """Spend the time of a real argon2 verify at the configured cost, for a login that
        does not exist (or after a stored hash cheaper than that, `verify_login`).

        An unknown login must cost what a known one does, or response times tell
        an attacker which logins exist.
        """
        if self._dummy_hash is None:
            # A race here only computes two equivalent hashes.
            self._dummy_hash = self.hash(secrets.token_urlsafe(16))
        self.verify(password, self._dummy_hash)


def _split(stored: str) -> tuple[str, str]:
    """(lower-case "{scheme}" tag or "", the rest)."""
    if stored.startswith("{"):
        end = stored.find("}")
        if end < 0:
            raise ValueError("unterminated scheme tag")
        return stored[: end + 1].lower(), stored[end + 1 :]
    return "", stored


def _tag_fits(tag: str, name: str) -> bool:
    """{ARGON2} holds only argon2; {CRYPT} only crypt(3) formats; bare may be any."""
    if tag == "{argon2}":
        return name == "argon2"
    if tag == "{crypt}":
        return name in ("bcrypt", "sha512_crypt", "sha256_crypt")
    return True


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except binascii.Error as exc:
        raise ValueError("not base64") from exc


def _verify_salted_sha(password: str, encoded: str, hash_name: str, size: int) -> bool:
    raw = _b64decode(encoded)
    if len(raw) < size:
        return False
    digest, salt = raw[:size], raw[size:]
    candidate = hashlib.new(hash_name, password.encode("utf-8") + salt).digest()
    return hmac.compare_digest(candidate, digest)
