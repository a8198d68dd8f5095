"""The LDAP directory: accounts are entries in the organisation's shared directory.

Reads only in this first slice (authenticate, get, find_by_address,
local_domains, list_accounts); `set_status` writes our schema's status
attributes; the other admin writes raise DirectoryError for now.

Every operation opens a fresh ldap3 SYNC connection on a small bounded thread
pool (no connection is shared between threads), binds as the service account
(or anonymously), does its searches and unbinds. Authentication searches the
user's entry with a filter whose value is escaped (RFC 4515), then binds as
that DN with the password on another fresh connection, so the directory's own
password policy (ppolicy lockout, expiry) applies.

Failing closed: any connection, timeout or unexpected result raises
DirectoryUnavailable; only a definite "no such entry" or "invalid
credentials" gives None.

Several URLs: the servers are tried in order ("first": always from the first
one; "round_robin": starting after the last one used). A server that fails to
answer is put last for `retry_after` seconds; when every server is down each
is still tried once, so recovery is noticed at once. (ldap3's `ServerPool`
is not used: with `active=True` it loops forever when every server is down
instead of failing, sleeps POOLING_LOOP_TIMEOUT between rounds, and keeps a
state per connection that grows with one connection per operation.)

Values are read raw and decoded as UTF-8 here, so no schema download is needed.
Logins and addresses are compared lower-case. `revision` is the entry's
entryCSN (changes on every write, replicated), else its modifyTimestamp.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import re
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from mailserver.directory import (
    AccountNotFound,
    DirectoryError,
    DirectoryUnavailable,
    EntryChange,
)
from policy.model import Account, AccountKind, AccountStatus

log = logging.getLogger(__name__)

T = TypeVar("T")

# LDAP result codes (RFC 4511) that are definite answers, not outages.
_SUCCESS = 0
_NO_SUCH_OBJECT = 32
_INAPPROPRIATE_AUTH = 48
_INVALID_CREDENTIALS = 49
_PAGE_SIZE = 500
_SERVICES = ("smtp", "imap")
_GENERALIZED_TIME = re.compile(
    r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2}(?:\d{2})?)?\Z"
)


@dataclass(frozen=True, slots=True)
class LdapMapping:
    """Which LDAP attribute holds which Account field. The default is our schema."""

    object_class: str = "mailAccount"
    login: str = "mail"
    address: str = "mail"
    aliases: str = "mailAlternateAddress"
    kind: str = "mailAccountKind"
    status: str = "mailAccountStatus"
    status_reason: str = "mailStatusReason"
    status_actor: str = "mailStatusActor"
    status_since: str = "mailStatusTime"
    separation_date: str = "mailSeparationDate"
    unit: str = "mailUnit"
    unit_since: str = "mailUnitSince"
    responsible: str = "mailResponsible"  # a DN
    delegates: str = "mailDelegate"  # DNs
    send_as: str = "mailSendAs"
    services: str = "mailEnabledService"  # absent: every service; "none": none
    display_name: str = "displayName"
    display_name_fallback: str = "cn"
    revision: tuple[str, ...] = ("entryCSN", "modifyTimestamp")

    def attributes(self) -> list[str]:
        names = [
            self.login,
            self.address,
            self.aliases,
            self.kind,
            self.status,
            self.status_reason,
            self.status_actor,
            self.status_since,
            self.separation_date,
            self.unit,
            self.unit_since,
            self.responsible,
            self.delegates,
            self.send_as,
            self.services,
            self.display_name,
            self.display_name_fallback,
            *self.revision,
        ]
        return list(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class _Entry:
    dn: str
    values: dict[str, list[str]]  # attribute name lower-case -> decoded values

    def all(self, name: str) -> list[str]:
        return self.values.get(name.lower(), [])

    def one(self, name: str) -> str:
        found = self.all(name)
        return found[0] if found else ""


class _Unavailable(Exception):
    """Raised on the worker threads; turned into DirectoryUnavailable."""


class LdapDirectory:
    """`Directory` over LDAP; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        base: str,
        *,
        bind_dn: str | None = None,
        bind_password: str | None = None,
        user_base: str | None = None,
        mapping: LdapMapping | None = None,
        pool_strategy: str = "first",
        connect_timeout: float = 5.0,
        receive_timeout: float = 10.0,
        retry_after: float = 30.0,
        start_tls: bool = False,
        ca_file: str | None = None,
        workers: int = 8,
    ) -> None:
        if not urls:
            raise ValueError("at least one LDAP URL is needed")
        if pool_strategy not in ("first", "round_robin"):
            raise ValueError('pool_strategy must be "first" or "round_robin"')
        self.base = base
        self.user_base = user_base or base
        self.bind_dn = bind_dn
        self.bind_password = bind_password
        self.mapping = mapping or LdapMapping()
        self.pool_strategy = pool_strategy
        # ldap3 sets SO_RCVTIMEO with whole seconds (a float breaks its struct.pack).
        self.receive_timeout = max(1, math.ceil(receive_timeout))
        self.retry_after = retry_after
        self.start_tls = start_tls
        tls = None
        if start_tls or ca_file or any(u.lower().startswith("ldaps:") for u in urls):
            tls = ldap3.Tls(
                validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file, version=ssl.PROTOCOL_TLS_CLIENT
            )
        self.connect_timeout = connect_timeout
        self._tls = tls
        # A fresh ldap3.Server per attempt: a Server remembers failed addresses (for
        # minutes) and is not meant to be shared between threads.
        self._urls = [_server_url(url) for url in urls]
        self._down_until = [0.0] * len(self._urls)
        self._next = 0
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ldap")
        self._closed = False

    # --- life cycle ---------------------------------------------------------

    async def open(self) -> None:
        """Check that a server answers and the service bind works; DirectoryUnavailable if not."""
        await self._run(lambda conn: None)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=False)

    # --- reads --------------------------------------------------------------

    async def authenticate(self, login: str, password: str) -> Account | None:
        """The account when `password` binds as its entry; None for an unknown login or a
        wrong password (a dummy bind keeps both the same shape); DirectoryUnavailable when
        the directory cannot answer."""
        if not _clean(login) or not _clean(password) or not password:
            # An empty password would be an unauthenticated bind (RFC 4513 5.1.2): never.
            return None
        return await self._run(self._authenticate, login.lower(), password)

    async def get(self, login: str) -> Account | None:
        if not _clean(login):
            return None
        return await self._run(self._load, self.mapping.login, login.lower())

    async def find_by_address(self, address: str) -> Account | None:
        if not _clean(address):
            return None
        m = self.mapping
        value = escape_filter_chars(address.lower())
        attrs = dict.fromkeys((m.address, m.aliases))
        return await self._run(
            self._load_filter, "(|" + "".join(f"({a}={value})" for a in attrs) + ")"
        )

    async def local_domains(self) -> frozenset[str]:
        m = self.mapping

        def domains(conn: ldap3.Connection) -> frozenset[str]:
            entries = self._search(conn, self._filter(None), [m.address, m.aliases])
            found: set[str] = set()
            for entry in entries:
                for value in (*entry.all(m.address), *entry.all(m.aliases)):
                    local, at, domain = value.rpartition("@")
                    if at and local and domain:
                        found.add(domain.lower())
            return frozenset(found)

        return await self._run(domains)

    async def list_accounts(self, status: AccountStatus | None = None) -> list[Account]:
        m = self.mapping
        wanted = None if status is None else AccountStatus(status)

        def all_accounts(conn: ldap3.Connection) -> list[Account]:
            entries = self._search(conn, self._filter(None), m.attributes())
            logins = {_dn_key(e.dn): e.one(m.login).lower() for e in entries}
            accounts = [self._account(e, logins.get) for e in entries if e.one(m.login)]
            if wanted is not None:
                accounts = [a for a in accounts if a.status is wanted]
            return sorted(accounts, key=lambda a: a.login)

        return await self._run(all_accounts)

    async def changed_since(self, since: datetime) -> list[EntryChange]:
        """Entries whose modifyTimestamp is at or after `since` (written by any tool).

        modifyTimestamp has whole seconds, so `since` is rounded down; the change feed
        tells repeated entries apart by their revision (entryCSN where there is one).
        """
        m = self.mapping
        condition = f"(modifyTimestamp>={_gtime(since)})"

        def changed(conn: ldap3.Connection) -> list[EntryChange]:
            attributes = list(dict.fromkeys([m.login, "modifyTimestamp", *m.revision]))
            found: list[EntryChange] = []
            for entry in self._search(conn, self._filter(condition), attributes):
                login = entry.one(m.login).lower()
                modified = _parse_time(entry.one("modifyTimestamp"))
                if not login or modified is None:
                    continue
                revision = next((v for a in m.revision if (v := entry.one(a))), "")
                found.append(EntryChange(login, revision, modified))
            return found

        return await self._run(changed)

    # --- writes -------------------------------------------------------------

    async def add_account(
        self,
        login: str,
        *,
        password_hash: str | None,
        address: str | None = None,
        aliases: tuple[str, ...] = (),
        kind: AccountKind = AccountKind.PERSON,
        status: AccountStatus = AccountStatus.ACTIVE,
        unit: str = "",
        responsible: str | None = None,
        display_name: str = "",
        actor: str = "",
        now: datetime,
    ) -> Account:
        raise DirectoryError("adding accounts is not supported on LDAP yet")

    async def set_password_hash(self, login: str, password_hash: str, *, now: datetime) -> Account:
        raise DirectoryError("setting passwords is not supported on LDAP yet")

    async def set_status(
        self,
        login: str,
        status: AccountStatus,
        *,
        reason: str = "",
        actor: str = "",
        now: datetime,
        separation_date: date | None = None,
    ) -> Account:
        """Move the account to `status` (same rules as the SQLite directory)."""
        status = AccountStatus(status)
        m = self.mapping
        if status is AccountStatus.DEPARTED and separation_date is None:
            raise DirectoryError("a departed account needs its separation date")
        if separation_date is not None and (
            not isinstance(separation_date, date) or isinstance(separation_date, datetime)
        ):
            raise DirectoryError("separation_date must be a date")
        changes: dict[str, list[str]] = {
            m.status: [status.value],
            m.status_reason: [reason] if reason and status is not AccountStatus.ACTIVE else [],
            m.status_actor: [actor] if actor else [],
            m.status_since: [_gtime(now)],
        }
        if separation_date is not None:
            changes[m.separation_date] = [separation_date.strftime("%Y%m%d000000Z")]
        if status is AccountStatus.ACTIVE:
            changes[m.separation_date] = []
        if not _clean(login):
            raise DirectoryError(f"no account {login!r}")

        def modify(conn: ldap3.Connection) -> Account | None:
            found = self._find_one(conn, m.login, login.lower())
            if found is None:
                return None
            conn.modify(found.dn, {k: [(ldap3.MODIFY_REPLACE, v)] for k, v in changes.items()})
            if conn.result["result"] != _SUCCESS:
                raise DirectoryError(
                    f"directory refused the change: {conn.result.get('description')}"
                    f" {conn.result.get('message', '')}".strip()
                )
            return self._load(conn, m.login, login.lower())

        account = await self._run(modify)
        if account is None:
            raise AccountNotFound(f"no account {login}")
        return account

    async def update(self, login: str, *, now: datetime, **changes: object) -> Account:
        raise DirectoryError("updating accounts is not supported on LDAP yet")

    # --- worker-thread helpers ----------------------------------------------

    def _filter(self, condition: str | None) -> str:
        base = f"(objectClass={escape_filter_chars(self.mapping.object_class)})"
        return f"(&{base}{condition})" if condition else base

    def _search(
        self,
        conn: ldap3.Connection,
        search_filter: str,
        attributes: list[str],
        *,
        base: str | None = None,
        scope: str = ldap3.SUBTREE,
    ) -> list[_Entry]:
        """Every matching entry (paged); _Unavailable on anything but success."""
        entries: list[_Entry] = []
        cookie: Any = None
        while True:
            conn.search(
                base or self.user_base,
                search_filter,
                search_scope=scope,
                attributes=attributes,
                paged_size=_PAGE_SIZE if scope != ldap3.BASE else None,
                paged_cookie=cookie,
            )
            code = conn.result["result"]
            if code == _NO_SUCH_OBJECT and scope == ldap3.BASE:
                return []
            if code != _SUCCESS:
                raise _Unavailable(
                    f"search failed: {conn.result.get('description')} {conn.result.get('message')}"
                )
            for item in conn.response or ():
                if item.get("type") == "searchResEntry":
                    entries.append(_decode(item))
            controls = conn.result.get("controls") or {}
            cookie = controls.get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
            if not cookie:
                return entries

    def _authenticate(self, conn: ldap3.Connection, login: str, password: str) -> Account | None:
        """Search the entry with the service connection, bind as it on a fresh one."""
        found = self._find_one(conn, self.mapping.login, login)
        # An unknown login still costs a (failing) bind, like a wrong password does.
        dummy = f"cn=no-such-user-{secrets.token_hex(8)},{self.base}"
        if not self._bind_as(found.dn if found is not None else dummy, password):
            return None
        if found is None:
            return None
        # The entry as searched just before the bind, with its DNs resolved to logins.
        return self._account_for(conn, found)

    def _find_one(self, conn: ldap3.Connection, attribute: str, value: str) -> _Entry | None:
        """The one entry whose `attribute` is `value`; None if none or ambiguous."""
        condition = f"({attribute}={escape_filter_chars(value)})"
        entries = self._search(conn, self._filter(condition), self.mapping.attributes())
        if len(entries) > 1:
            log.warning("ldap: %d entries have %s=%r; refusing all", len(entries), attribute, value)
            return None
        return entries[0] if entries else None

    def _load(self, conn: ldap3.Connection, attribute: str, value: str) -> Account | None:
        found = self._find_one(conn, attribute, value)
        return None if found is None else self._account_for(conn, found)

    def _load_filter(self, conn: ldap3.Connection, condition: str) -> Account | None:
        entries = self._search(conn, self._filter(condition), self.mapping.attributes())
        if len(entries) != 1:
            if entries:
                log.warning("ldap: %d entries match %s; refusing all", len(entries), condition)
            return None
        return self._account_for(conn, entries[0])

    def _account_for(self, conn: ldap3.Connection, entry: _Entry) -> Account:
        """The Account of `entry`, reading the logins of its responsible and delegates."""
        m = self.mapping
        names: dict[str, str | None] = {}
        for dn in (*entry.all(m.responsible), *entry.all(m.delegates)):
            found = self._search(conn, self._filter(None), [m.login], base=dn, scope=ldap3.BASE)
            names[_dn_key(dn)] = found[0].one(m.login).lower() if found else None
        return self._account(entry, names.get)

    def _account(self, entry: _Entry, login_of: Callable[[str], str | None]) -> Account:
        m = self.mapping
        login = entry.one(m.login).lower()
        address = (entry.one(m.address) or login).lower()
        raw_status = entry.one(m.status).lower()
        reason = entry.one(m.status_reason)
        try:
            status = AccountStatus(raw_status)
        except ValueError:
            # Fail closed: an entry whose state we cannot read may not be used.
            log.warning("ldap: %s has %s=%r; treated as locked", entry.dn, m.status, raw_status)
            status = AccountStatus.LOCKED
            reason = reason or f"unknown status {raw_status!r} in the directory"
        try:
            kind = AccountKind(entry.one(m.kind).lower() or "person")
        except ValueError:
            log.warning("ldap: %s has an unknown %s; treated as person", entry.dn, m.kind)
            kind = AccountKind.PERSON
        responsible_dn = entry.one(m.responsible)
        responsible = login_of(_dn_key(responsible_dn)) if responsible_dn else None
        delegates = tuple(
            dict.fromkeys(d for dn in entry.all(m.delegates) if (d := login_of(_dn_key(dn))))
        )
        services = {s.lower() for s in entry.all(m.services)}
        separation = _parse_time(entry.one(m.separation_date))
        revision = next((v for a in m.revision if (v := entry.one(a))), "")
        aliases = tuple(dict.fromkeys(a.lower() for a in entry.all(m.aliases)))
        return Account(
            login=login,
            address=address,
            aliases=tuple(a for a in aliases if a != address),
            kind=kind,
            status=status,
            status_reason=reason,
            status_actor=entry.one(m.status_actor),
            status_since=_parse_time(entry.one(m.status_since)),
            separation_date=separation.date() if separation else None,
            unit=entry.one(m.unit),
            unit_since=_parse_time(entry.one(m.unit_since)),
            responsible=responsible,
            delegates=delegates,
            send_as=tuple(dict.fromkeys(a.lower() for a in entry.all(m.send_as))),
            smtp_enabled=not services or "smtp" in services,
            imap_enabled=not services or "imap" in services,
            revision=revision,
            display_name=entry.one(m.display_name) or entry.one(m.display_name_fallback),
        )

    # --- connections ----------------------------------------------------------

    def _order(self) -> list[int]:
        """Server indexes to try: per the strategy, servers marked down last."""
        with self._lock:
            n = len(self._urls)
            start = self._next if self.pool_strategy == "round_robin" else 0
            order = [(start + i) % n for i in range(n)]
            now = time.monotonic()
            return [i for i in order if self._down_until[i] <= now] + [
                i for i in order if self._down_until[i] > now
            ]

    def _mark(self, index: int, up: bool) -> None:
        with self._lock:
            if up:
                self._down_until[index] = 0.0
                self._next = (index + 1) % len(self._urls)
            else:
                self._down_until[index] = time.monotonic() + self.retry_after

    def _connect(self, user: str | None, password: str | None) -> ldap3.Connection:
        """An open connection (StartTLS done, not bound) to the first server that answers."""
        errors: list[str] = []
        for index in self._order():
            server = ldap3.Server(
                self._urls[index],
                connect_timeout=self.connect_timeout,
                get_info=ldap3.NONE,
                tls=self._tls,
            )
            conn = ldap3.Connection(
                server,
                user=user,
                password=password,
                authentication=ldap3.SIMPLE if user else ldap3.ANONYMOUS,
                client_strategy=ldap3.SYNC,
                receive_timeout=self.receive_timeout,
                raise_exceptions=False,
                auto_referrals=False,
                read_only=False,
            )
            try:
                conn.open()
                if self.start_tls and not conn.start_tls():
                    raise _Unavailable(f"StartTLS refused by {server.host}")
            except (LDAPException, OSError, _Unavailable) as exc:
                _unbind(conn)
                self._mark(index, up=False)
                errors.append(f"{server.host}:{server.port}: {exc}")
                continue
            self._mark(index, up=True)
            return conn
        raise _Unavailable("no LDAP server answers (" + "; ".join(errors) + ")")

    def _with_service(self, fn: Callable[..., T], *args: Any) -> T:
        conn = self._connect(self.bind_dn, self.bind_password)
        try:
            if self.bind_dn and not conn.bind():
                raise _Unavailable(
                    f"service bind as {self.bind_dn} failed: {conn.result.get('description')}"
                )
            return fn(conn, *args)
        except LDAPException as exc:
            raise _Unavailable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            _unbind(conn)

    def _bind_as(self, dn: str, password: str) -> bool:
        """True when `password` binds as `dn`; False when the directory says no."""
        conn = self._connect(dn, password)
        try:
            if conn.bind():
                return True
            code = conn.result.get("result")
            if code in (_INVALID_CREDENTIALS, _INAPPROPRIATE_AUTH, _NO_SUCH_OBJECT):
                return False
            raise _Unavailable(f"bind failed: {conn.result.get('description')}")
        except LDAPException as exc:
            raise _Unavailable(f"{type(exc).__name__}: {exc}") from exc
        finally:
            _unbind(conn)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` with a service connection on the pool."""
        return await self._call(self._with_service, fn, *args)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise DirectoryUnavailable("the directory is closed")
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._pool, functools.partial(fn, *args))
        except RuntimeError as exc:  # the pool was shut down meanwhile
            raise DirectoryUnavailable(str(exc)) from exc
        try:
            return await future
        except (_Unavailable, LDAPException, OSError) as exc:
            log.warning("ldap: directory unavailable: %s", exc)
            raise DirectoryUnavailable(f"LDAP directory unavailable: {exc}") from exc


# --- values -------------------------------------------------------------------


def _server_url(url: str) -> str:
    """scheme://host:port of an LDAP URL (ldap3 rejects the "/" and DN of RFC 4516 URLs)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.netloc:
        raise ValueError(f"not an ldap:// or ldaps:// URL: {url!r}")
    return f"{parts.scheme.lower()}://{parts.netloc}"


def _clean(text: str) -> bool:
    """A string that can go on the wire: valid UTF-8 (no lone surrogates) and no NUL."""
    if not isinstance(text, str) or "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _decode(item: dict[str, Any]) -> _Entry:
    values: dict[str, list[str]] = {}
    for name, raw in (item.get("raw_attributes") or {}).items():
        decoded = values.setdefault(name.lower(), [])
        for value in raw if isinstance(raw, list | tuple) else [raw]:
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            decoded.append(str(value))
    return _Entry(dn=item["dn"], values=values)


def _dn_key(dn: str) -> str:
    """A DN normalised for comparison: attribute types and values lower-case, no spaces."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPException:
        return dn.strip().lower()
    return ",".join(f"{a.lower()}={v.lower()}" for a, v, _ in parts)


def _parse_time(value: str) -> datetime | None:
    """A GeneralizedTime (RFC 4517 3.3.13) as an aware datetime; None if absent or bad."""
    match = _GENERALIZED_TIME.match(value.strip()) if value else None
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0)
        )
    except ValueError:
        return None
    if fraction:
        moment += timedelta(seconds=float("0." + fraction))
    if zone in (None, "Z"):
        tz: timezone = UTC
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0)))
    return moment.replace(tzinfo=tz).astimezone(UTC)


def _gtime(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def _unbind(conn: ldap3.Connection) -> None:
    with contextlib.suppress(Exception):  # best effort on a broken connection
        conn.unbind()


__all__ = ["LdapDirectory", "LdapMapping"]
