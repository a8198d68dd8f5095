"""A bounded cache of verified credentials in front of `Directory.authenticate`.

Why: a password hash costs more than everything else in a login (DESIGN.md,
"Known traps, measured": one verify takes argon2 ~110 ms, bcrypt ~260 ms,
sha512_crypt ~650 ms), so two cores verify fewer than 20 logins a second,
while thousands of phones reconnect at once after a network blip and a phone
logs in again for every message it sends. Dovecot's auth cache answers the
same problem; this one follows it, with these safety rules:

- Only *verified* credentials are cached; a failed login is never cached, so
  the cache cannot be used to confirm or pin a wrong password.
- The key is HMAC-SHA256, under a random secret made at start-up and kept
  only in this process's memory, of ``normal_login(login) NUL password``. Neither the
  password nor an unkeyed hash of it is ever stored: a memory dump or a core
  file gives an attacker nothing to crack offline without the secret, and a
  fast unkeyed hash (sha256 of the password) would be exactly the cheap
  password hash the slow one exists to avoid.
- The value is only the account's `revision` and an expiry. A hit still reads
  a fresh account snapshot from the directory and is honoured only when its
  revision is unchanged, so any write to the account (new password, status,
  anything) drops the entry. A hit skips the slow hash, never the policy: the
  caller judges the fresh snapshot as usual.
- Entries live at most `ttl_seconds` from their verification (a hit does not
  extend them), and at most `size` of them are kept (least recently used goes
  first); `size` 0 disables the cache.
- Simultaneous logins with the same credentials share one verification.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from mailserver.directory import Directory
from mailserver.logins import normal_login
from policy.model import Account


@dataclass(frozen=True, slots=True)
class _Entry:
    login: str  # normal form; lets `forget` find the entries of one login
    revision: str
    expires: float


class CachingAuthenticator:
    """`authenticate` through a cache of verified credentials; see the module docstring."""

    def __init__(
        self,
        directory: Directory,
        *,
        size: int,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = directory
        self.size = max(0, size)
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._inflight: dict[bytes, asyncio.Task[Account | None]] = {}
        # Counters for metrics.
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        """False when the settings turn the cache off."""
        return self.size > 0 and self.ttl_seconds > 0

    def __len__(self) -> int:
        return len(self._entries)

    async def authenticate(self, login: str, password: str) -> Account | None:
        """The fresh account when the credentials are right, else None (as the directory).

        DirectoryUnavailable from the directory propagates: the caller fails closed.
        """
        if not self.enabled:
            return await self.directory.authenticate(login, password)
        key = self._key(login, password)
        entry = self._entries.get(key)
        if entry is not None:
            if self._clock() < entry.expires:
                account = await self.directory.get(login)
                if account is not None and account.revision == entry.revision:
                    if key in self._entries:
                        self._entries.move_to_end(key)
                    self.hits += 1
                    return account
            if self._entries.get(key) is entry:
                del self._entries[key]
        self.misses += 1
        return await self._verify(key, login, password)

    def forget(self, login: str) -> None:
        """Drop every cached credential of `login` (e.g. after an admin change)."""
        login = _normal(login)
        for key in [k for k, e in self._entries.items() if e.login == login]:
            del self._entries[key]

    def clear(self) -> None:
        """Drop every cached credential."""
        self._entries.clear()

    async def _verify(self, key: bytes, login: str, password: str) -> Account | None:
        """Ask the directory, sharing one verification among identical concurrent logins."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self.directory.authenticate(login, password))
            self._inflight[key] = task
            task.add_done_callback(lambda t: self._settle(key, login, t))
        # shield: one caller giving up (a dropped connection) must not cancel the others'.
        return await asyncio.shield(task)

    def _settle(self, key: bytes, login: str, task: asyncio.Task[Account | None]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if task.cancelled() or task.exception() is not None:
            return
        account = task.result()
        if account is None:
            return  # failed authentications are never cached
        self._entries[key] = _Entry(
            _normal(login), account.revision, self._clock() + self.ttl_seconds
        )
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def _key(self, login: str, password: str) -> bytes:
        # surrogatepass: a password decoded from odd bytes must hash, not raise.
        encode = functools.partial(str.encode, encoding="utf-8", errors="surrogatepass")
        message = encode(_normal(login)) + b"\0" + encode(password)
        return hmac.new(self._secret, message, hashlib.sha256).digest()


def _normal(login: str) -> str:
    """The login's normal form; one that is not a login keys as typed (it never verifies)."""
    return normal_login(login) or login
