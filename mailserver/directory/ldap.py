"""The LDAP directory: accounts are entries in the organisation's shared directory.

Which attribute holds what, how an entry's status is read and which
directory-wide lock goes with a suspension is the preset's business
(`LdapMapping` and the pure functions of ldap_presets.py); this module does
the I/O. Admin writes (add_account, set_password_hash, set_status, update)
follow SqliteDirectory's rules and run on the service connection; a write the
directory refuses raises DirectoryError with one line (entry and answer; for a
class or attribute the server's schema lacks, also which one and what to load or
configure: ldap_schema_advice.py), one the server cannot do just now (busy,
unavailable) DirectoryUnavailable.

Authentication searches the user's entry with a filter whose value is escaped
(RFC 4515), then binds as that DN with the password, so the directory's own
password policy (ppolicy lockout, expiry) applies.

The connections (the ordered servers and their failover, the pools of service
and bind connections, the retry on a fresh connection, TLS, the worker threads)
are ldap_connections.py's: each operation here is a function of a service
connection that `LdapConnections.run` runs on a worker thread.

Failing closed: any connection, timeout or unexpected result raises
DirectoryUnavailable; only a definite "no such entry" or "invalid
credentials" gives None.

Values are read raw and decoded as UTF-8 here, so no schema download is needed.
Logins are looked up in the form `mailserver.logins.normal_login` gives; addresses are
compared lower-case. `revision` is the entry's
entryCSN (changes on every write, replicated), else its modifyTimestamp.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, Literal

import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn, parse_dn

from mailserver.directory import (
    AccountExists,
    AccountNotFound,
    DirectoryError,
    EntryChange,
)
from mailserver.directory.ldap_connections import LdapConnections, Unavailable
from mailserver.directory.ldap_presets import (
    IREDMAIL_NEW_SERVICES,
    IREDMAIL_STATUS,
    LOCKING,
    REFUSING,
    STATE_ATTRIBUTES,
    LdapMapping,
    ad_bind_refusal,
    alias_filter_values,
    alias_values,
    entry_status,
    lock_changes,
    new_rdn,
    password_value,
    read_aliases,
    read_services,
    service_values,
)
from mailserver.directory.ldap_schema_advice import schema_advice
from mailserver.directory.values import (
    check_role_links,
    clean_update,
    text,
    valid_address,
    valid_addresses,
    valid_login,
)
from mailserver.logins import normal_login
from policy.model import Account, AccountKind, AccountStatus

log = logging.getLogger(__name__)

# LDAP result codes (RFC 4511) that are definite answers, not outages.
_SUCCESS = 0
_NO_SUCH_OBJECT = 32
_UNDEFINED_TYPE = 17
_ENTRY_EXISTS = 68
_TRANSIENT = (51, 52)  # busy, unavailable: the server cannot do it just now
_PAGE_SIZE = 500
_GENERALIZED_TIME = re.compile(
    r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d+))?(Z|[+-]\d{2}(?:\d{2})?)?\Z"
)


@dataclass(frozen=True, slots=True)
class _Entry:
    dn: str
    values: dict[str, list[str]]  # attribute name lower-case -> decoded values

    def all(self, name: str) -> list[str]:
        return self.values.get(name.lower(), [])

    def one(self, name: str) -> str:
        found = self.all(name)
        return found[0] if found else ""


class _Changes(dict[str, list[str]]):
    """Attribute -> values for an add or a modify: one key per attribute whatever the
    case of its name (values merged); an unmapped ("") attribute is dropped."""

    def put(self, attribute: str, values: list[str]) -> None:
        if not attribute:
            return
        key = next((k for k in self if k.lower() == attribute.lower()), attribute)
        self[key] = list(dict.fromkeys([*self.get(key, []), *values]))

    def merge(self, other: dict[str, list[str]]) -> None:
        for attribute, values in other.items():
            self.put(attribute, values)

    def value(self, attribute: str) -> list[str]:
        return next((v for k, v in self.items() if k.lower() == attribute.lower()), [])


def _password_value(password_hash: str) -> str:
    try:
        return password_value(password_hash)
    except ValueError as exc:
        # Most likely a plaintext password passed by mistake: never store it.
        raise DirectoryError(str(exc)) from None


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
        pool_size: int = 8,
        pool_max_idle: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.user_base = user_base or base
        self.mapping = mapping or LdapMapping()
        self._connections = LdapConnections(
            urls,
            bind_dn=bind_dn,
            bind_password=bind_password,
            pool_strategy=pool_strategy,
            connect_timeout=connect_timeout,
            receive_timeout=receive_timeout,
            retry_after=retry_after,
            start_tls=start_tls,
            ca_file=ca_file,
            pool_size=pool_size,
            pool_max_idle=pool_max_idle,
            clock=clock,
        )

    # --- life cycle ---------------------------------------------------------

    async def open(self) -> None:
        """Check that a server answers and the service bind works; DirectoryUnavailable if not."""
        await self._connections.run(lambda conn: None)

    async def close(self) -> None:
        await self._connections.close()

    # --- reads --------------------------------------------------------------

    async def authenticate(self, login: str, password: str) -> Account | None:
        """The account when `password` binds as its entry; None for an unknown login or a
        wrong password (a dummy bind keeps both the same shape); DirectoryUnavailable when
        the directory cannot answer."""
        normal = normal_login(login)
        if normal is None or not _clean(password) or not password:
            # An empty password would be an unauthenticated bind (RFC 4513 5.1.2): never.
            return None
        return await self._connections.run(self._authenticate, normal, password)

    async def get(self, login: str) -> Account | None:
        normal = normal_login(login)
        if normal is None:
            return None
        return await self._connections.run(self._load_login, normal)

    async def find_by_address(self, address: str) -> Account | None:
        if not _clean(address):
            return None
        m = self.mapping
        address = address.lower()
        pairs = [(m.address, address)]
        if m.aliases:
            pairs += [(m.aliases, v) for v in alias_filter_values(m, address)]
        terms = dict.fromkeys(f"({a}={escape_filter_chars(v)})" for a, v in pairs)
        return await self._connections.run(self._load_filter, "(|" + "".join(terms) + ")")

    async def local_domains(self) -> frozenset[str]:
        m = self.mapping

        def domains(conn: ldap3.Connection) -> frozenset[str]:
            attributes = [a for a in dict.fromkeys((m.address, m.aliases)) if a]
            entries = self._search(conn, self._filter(None), attributes)
            found: set[str] = set()
            for entry in entries:
                for value in (*entry.all(m.address), *read_aliases(m, entry.values)):
                    local, at, domain = value.rpartition("@")
                    if at and local and domain:
                        found.add(domain.lower())
            return frozenset(found)

        return await self._connections.run(domains)

    async def list_accounts(self, status: AccountStatus | None = None) -> list[Account]:
        m = self.mapping
        wanted = None if status is None else AccountStatus(status)

        def all_accounts(conn: ldap3.Connection) -> list[Account]:
            entries = self._search(conn, self._filter(None), m.attributes())
            logins = {dn_key(e.dn): e.one(m.login).lower() for e in entries}
            accounts = [self._account(e, logins.get) for e in entries if e.one(m.login)]
            if wanted is not None:
                accounts = [a for a in accounts if a.status is wanted]
            return sorted(accounts, key=lambda a: a.login)

        return await self._connections.run(all_accounts)

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

        return await self._connections.run(changed)

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
        """Create an entry `<rdn>,<user base>` (mapping.rdn, default uid=<local part>)
        with the preset's object classes; same rules as the SQLite directory."""
        m = self.mapping
        if not m.entry_classes:
            raise DirectoryError(
                f"accounts of this directory ({m.preset}) are created with its own tools"
            )
        login = valid_login(login)
        primary = valid_address(address if address is not None else login)
        kind, status = AccountKind(kind), AccountStatus(status)
        if status is AccountStatus.DEPARTED:
            raise DirectoryError(
                "a departed account needs its separation date: add it, then use set_status"
            )
        if m.login.lower() == m.address.lower() and primary != login:
            raise DirectoryError(f"login and address are both {m.login} here: they must match")
        password = None if password_hash is None else _password_value(password_hash)
        unit, display_name = text("unit", unit), text("display_name", display_name)
        responsible = valid_login(responsible) if responsible is not None else None
        if kind is AccountKind.ROLE and responsible is None:
            raise DirectoryError(f"role mailbox {login} needs a responsible person")
        if kind is AccountKind.PERSON and responsible is not None:
            raise DirectoryError("only role mailboxes have a responsible person")
        if responsible == login:
            raise DirectoryError(f"{login} cannot be its own responsible")
        extra = tuple(a for a in valid_addresses(aliases) if a != primary)
        rdn_attribute, rdn_value = new_rdn(m, login)
        dn = f"{rdn_attribute}={escape_rdn(rdn_value)},{self.user_base}"
        local = login.partition("@")[0]
        attributes = _Changes()
        attributes.put("objectClass", list(m.entry_classes))
        attributes.put(rdn_attribute, [rdn_value])
        if any(c.lower() == "inetorgperson" for c in m.entry_classes):
            attributes.put("cn", [display_name or local])
            attributes.put("sn", [display_name.split()[-1] if display_name.strip() else local])
        attributes.put(m.login, [login])
        attributes.put(m.address, [primary])
        if extra:
            attributes.put(self._mapped("aliases"), alias_values(m, [], extra))
        attributes.put(m.kind, [kind.value])
        attributes.put(m.status, [status.value])
        attributes.put(m.status_actor, [actor] if actor else [])
        attributes.put(m.status_since, [_gtime(now)])
        if unit:
            attributes.put(self._mapped("unit"), [unit])
            attributes.put(m.unit_since, [_gtime(now)])
        if display_name:
            attributes.put(m.display_name, [display_name])
        if password is not None:
            attributes.put(m.password, [password])
        if m.preset == "iredmail":
            attributes.put(m.services, list(IREDMAIL_NEW_SERVICES))
        attributes.merge(lock_changes(m, {}, status) if m.lock == "iredmail" else {})
        if m.lock == "iredmail" and not attributes.value(IREDMAIL_STATUS):
            attributes.put(IREDMAIL_STATUS, ["active"])

        def add(conn: ldap3.Connection) -> Account:
            if self._search(conn, self._filter(self._login_condition(login)), [m.login]):
                raise AccountExists(f"login {login} is taken")
            self._check_free(conn, login, (primary, *extra))
            if responsible is not None:
                attributes.put(self._mapped("responsible"), [self._dn_of(conn, responsible)])
            conn.add(dn, attributes={k: v for k, v in attributes.items() if v})
            code = conn.result.get("result")
            if code == _ENTRY_EXISTS:
                raise AccountExists(f"an entry {dn} already exists")
            self._check(conn, f"add {dn}", sent=attributes)
            found = self._entry_at(conn, dn)
            if found is None:
                raise DirectoryError(f"the new entry {dn} is not an account ({m.object_class})")
            lock = lock_changes(m, found.values, status) if m.lock != "iredmail" else {}
            if lock:
                self._modify(conn, found, {}, lock)
            log.info("account %s added as %s", login, dn)
            return self._reload(conn, dn)

        return await self._connections.run(add)

    async def set_password_hash(self, login: str, password_hash: str, *, now: datetime) -> Account:
        """Replace userPassword with the hash in the RFC 2307 form slapd verifies
        ({ARGON2} needs slapd's argon2 module: see docs/operations.md)."""
        m = self.mapping
        if m.lock == "ad":
            raise DirectoryError(
                "Active Directory takes only clear-text passwords (unicodePwd): use its tools"
            )
        value = _password_value(password_hash)
        return await self._connections.run(self._change, login, lambda entry: {m.password: [value]})

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
        """Move the account to `status` (same rules as the SQLite directory), and set or
        clear the directory-wide lock (see ldap_presets) so that every other system
        binding against the directory refuses the user too (memo 4.2)."""
        status = AccountStatus(status)
        m = self.mapping
        if status is AccountStatus.DEPARTED and separation_date is None:
            raise DirectoryError("a departed account needs its separation date")
        if separation_date is not None and (
            not isinstance(separation_date, date) or isinstance(separation_date, datetime)
        ):
            raise DirectoryError("separation_date must be a date")
        reason, actor = text("reason", reason), text("actor", actor)
        has_lock = m.directory_lock and m.lock != ""
        if not m.status and not (has_lock and (status in LOCKING or status.value == "active")):
            raise DirectoryError(
                f"this directory keeps no account status ({m.preset}): only lock, suspend"
                " and unsuspend can be written, with directory.ldap_directory_lock on"
            )
        changes: dict[str, list[str]] = {
            m.status: [status.value],
            m.status_reason: [reason] if reason and status is not AccountStatus.ACTIVE else [],
            m.status_actor: [actor] if actor else [],
            m.status_since: [_gtime(now)],
        }
        if separation_date is not None:
            changes[self._mapped("separation_date")] = [separation_date.strftime("%Y%m%d000000Z")]
        if status is AccountStatus.ACTIVE:
            changes[m.separation_date] = []
        changes.pop("", None)

        def modify(conn: ldap3.Connection) -> Account:
            found = self._find_typed_login(conn, login)
            if found is None:
                raise AccountNotFound(f"no account {login}")
            self._modify(conn, found, changes, lock_changes(m, found.values, status))
            return self._reload(conn, found.dn)

        return await self._connections.run(modify)

    async def update(self, login: str, *, now: datetime, **changes: object) -> Account:
        """Change other fields, with the keywords and rules of SqliteDirectory.update:
        unit (records unit_since when it changes), responsible, delegates (logins, written
        as DNs), aliases, send_as (lists replace the whole list), smtp_enabled,
        imap_enabled, display_name. Unknown keys raise DirectoryError."""
        clean = clean_update(changes)
        for key in clean:
            self._mapped({"smtp_enabled": "services", "imap_enabled": "services"}.get(key, key))

        def apply(conn: ldap3.Connection) -> Account:
            found = self._find_typed_login(conn, login)
            if found is None:
                raise AccountNotFound(f"no account {login}")
            self._modify(conn, found, self._update_changes(conn, found, clean, now), {})
            return self._reload(conn, found.dn)

        return await self._connections.run(apply)

    def _update_changes(
        self, conn: ldap3.Connection, entry: _Entry, clean: dict[str, Any], now: datetime
    ) -> dict[str, list[str]]:
        """The attribute values that carry out `clean` (validated update keywords)."""
        m = self.mapping
        current = self._account_for(conn, entry)
        login, role = current.login, current.kind is AccountKind.ROLE
        out: dict[str, list[str]] = {}
        if "display_name" in clean:
            out[m.display_name] = [clean["display_name"]] if clean["display_name"] else []
        if "smtp_enabled" in clean or "imap_enabled" in clean:
            smtp = clean.get("smtp_enabled", current.smtp_enabled)
            imap = clean.get("imap_enabled", current.imap_enabled)
            out[m.services] = service_values(m, entry.all(m.services), smtp, imap)
        if "unit" in clean and clean["unit"] != current.unit:
            out[m.unit] = [clean["unit"]] if clean["unit"] else []
            if m.unit_since:
                out[m.unit_since] = [_gtime(now)]
        check_role_links(login, role, clean)
        if "responsible" in clean:
            responsible = clean["responsible"]
            out[m.responsible] = [] if responsible is None else [self._dn_of(conn, responsible)]
        if "delegates" in clean:
            out[m.delegates] = [self._dn_of(conn, d, "delegate") for d in clean["delegates"]]
        if "send_as" in clean:
            out[m.send_as] = list(clean["send_as"])
        if "aliases" in clean:
            aliases = tuple(a for a in clean["aliases"] if a != current.address)
            self._check_free(conn, login, aliases)
            out[m.aliases] = alias_values(m, entry.all(m.aliases), aliases)
        return out

    # --- write helpers (worker threads) -------------------------------------

    def _mapped(self, field_name: str) -> str:
        """The attribute of `field_name`; DirectoryError when this directory has none."""
        attribute = getattr(self.mapping, field_name)
        if not attribute:
            raise DirectoryError(
                f"this directory keeps no {field_name} (directory.ldap_attributes.{field_name}"
                ' is "")'
            )
        return str(attribute)

    def _change(
        self,
        conn: ldap3.Connection,
        login: str,
        make: Callable[[_Entry], dict[str, list[str]]],
    ) -> Account:
        found = self._find_typed_login(conn, login)
        if found is None:
            raise AccountNotFound(f"no account {login}")
        self._modify(conn, found, make(found), {})
        return self._reload(conn, found.dn)

    def _login_condition(self, login: str) -> str:
        value = escape_filter_chars(login)
        terms = [f"({a}={value})" for a in self.mapping.login_attributes()]
        return terms[0] if len(terms) == 1 else "(|" + "".join(terms) + ")"

    def _dn_of(self, conn: ldap3.Connection, login: str, what: str = "responsible") -> str:
        found = self._find_login(conn, login)
        if found is None:
            raise AccountNotFound(f"{what} {login} is not an account")
        return found.dn

    def _check_free(self, conn: ldap3.Connection, login: str, addresses: Sequence[str]) -> None:
        """AccountExists when another entry already has one of `addresses`."""
        m = self.mapping
        for address in addresses:
            pairs = [(m.address, address)]
            if m.aliases:
                pairs += [(m.aliases, v) for v in alias_filter_values(m, address)]
            terms = "".join(f"({a}={escape_filter_chars(v)})" for a, v in dict.fromkeys(pairs))
            for entry in self._search(conn, self._filter(f"(|{terms})"), [m.login]):
                owner = entry.one(m.login).lower()
                if owner != login:
                    raise AccountExists(f"address {address} belongs to {owner or entry.dn}")

    def _entry_at(self, conn: ldap3.Connection, dn: str) -> _Entry | None:
        found = self._search(
            conn, self._filter(None), self.mapping.attributes(), base=dn, scope=ldap3.BASE
        )
        return found[0] if found else None

    def _reload(self, conn: ldap3.Connection, dn: str) -> Account:
        found = self._entry_at(conn, dn)
        if found is None:
            raise AccountNotFound(f"the entry {dn} is gone")
        return self._account_for(conn, found)

    def _modify(
        self,
        conn: ldap3.Connection,
        entry: _Entry,
        changes: dict[str, list[str]],
        lock: dict[str, list[str]],
    ) -> None:
        """Replace `changes` and the directory-wide `lock` in one modify (adding our
        auxiliary class first when the entry lacks it). Without ppolicy in the server
        (no pwdAccountLockedTime) a lock that is not required is left out, with a warning."""
        m = self.mapping
        merged = _Changes()
        merged.merge(changes)
        ours = [a for a in merged if a.lower() in STATE_ATTRIBUTES]
        classes = {c.lower() for c in entry.all("objectClass")}
        add_class: dict[str, list[tuple[str, list[str]]]] = {}
        classes_added: dict[str, list[str]] = {}
        if ours and m.state_class and m.state_class.lower() not in classes:
            classes_added = {"objectClass": [m.state_class]}
            add_class = {"objectClass": [(ldap3.MODIFY_ADD, [m.state_class])]}
            if m.status and not merged.value(m.status):
                # The class requires a status. "active" leaves the preset's own marks
                # (a disabled bit, a ppolicy lock) to say more while they are there;
                # copying them here would outlive their removal by another tool.
                merged.put(m.status, [AccountStatus.ACTIVE.value])
        with_lock = _Changes()
        with_lock.merge(merged)
        with_lock.merge(lock)
        for attempt in (with_lock, merged):
            if not attempt:
                return
            operations = {k: [(ldap3.MODIFY_REPLACE, v)] for k, v in attempt.items()}
            conn.modify(entry.dn, {**add_class, **operations})
            code = conn.result.get("result")
            message = str(conn.result.get("message") or "").lower()
            lock_unknown = code == _UNDEFINED_TYPE and any(a.lower() in message for a in lock)
            if lock_unknown and attempt is with_lock and not m.lock_required:
                log.warning(
                    "ldap: %s: no directory-wide lock written (%s is not in this directory's"
                    " schema: load the ppolicy overlay, or set directory.ldap_directory_lock"
                    " = false)",
                    entry.dn,
                    ", ".join(lock),
                )
                continue
            self._check(conn, f"change {entry.dn}", sent={**attempt, **classes_added})
            return

    def _check(self, conn: ldap3.Connection, what: str, *, sent: dict[str, list[str]]) -> None:
        """DirectoryError (one line) unless the last operation, which wrote `sent`,
        succeeded; Unavailable when the server could not do it just now (busy,
        unavailable). A refusal for a class or attribute the server's schema lacks
        says which, and what to load or configure (ldap_schema_advice.py)."""
        result = conn.result or {}
        code = result.get("result")
        if code == _SUCCESS:
            return
        message = str(result.get("message") or "")
        answer = " ".join(f"{result.get('description', '')} {message}".split())
        if code in _TRANSIENT:
            raise Unavailable(f"{what}: {answer}")
        advice = schema_advice(self.mapping, code, message, sent)
        raise DirectoryError(
            f"the directory refused to {what}: {answer}" + (f". {advice}" if advice else "")
        )

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
        scope: Literal["BASE", "LEVEL", "SUBTREE"] = ldap3.SUBTREE,
    ) -> list[_Entry]:
        """Every matching entry (paged); Unavailable on anything but success."""
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
                raise Unavailable(
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
        """Search the entry with the service connection, bind as it on another one.

        A refused bind is None (wrong password), except when the entry carries the
        directory-wide lock or AD's diagnostic says why it refused (disabled, locked
        out, expired): then the account comes back with that refusing status, so the
        user is told the account is locked rather than that the password is wrong (as
        ppolicy's response control and AD's sub-codes tell any client). Such an account
        has a revision that matches no entry, so no credential cache keeps it.
        """
        found = self._find_login(conn, login)
        # An unknown login still costs a (failing) bind, like a wrong password does.
        dummy = f"cn=no-such-user-{secrets.token_hex(8)},{self.base}"
        why: list[str] = []
        if not self._connections.bind_as(found.dn if found is not None else dummy, password, why):
            return None if found is None else self._refused(conn, found, why[0] if why else "")
        if found is None:
            return None
        # The entry as searched just before the bind, with its DNs resolved to logins.
        return self._account_for(conn, found, bound=True)

    def _refused(self, conn: ldap3.Connection, entry: _Entry, message: str) -> Account | None:
        """The account with the status that explains a refused bind, or None (wrong password)."""
        account = self._account_for(conn, entry)
        refusal = ad_bind_refusal(message) if self.mapping.lock == "ad" else None
        if refusal is not None and account.status not in REFUSING:
            account = replace(account, status=refusal[0], status_reason=refusal[1])
        if account.status not in REFUSING:
            return None
        return replace(account, revision=f"unverified-{secrets.token_hex(8)}")

    def _find_typed_login(self, conn: ldap3.Connection, login: str) -> _Entry | None:
        """`_find_login` of the normal form of `login` (None for one that is not a login)."""
        normal = normal_login(login)
        return None if normal is None else self._find_login(conn, normal)

    def _find_login(self, conn: ldap3.Connection, login: str) -> _Entry | None:
        """The one entry whose login (or another login attribute) is `login`."""
        value = escape_filter_chars(login)
        attributes = self.mapping.login_attributes()
        terms = "".join(f"({a}={value})" for a in attributes)
        return self._find_filter(conn, terms if len(attributes) == 1 else f"(|{terms})")

    def _find_filter(self, conn: ldap3.Connection, condition: str) -> _Entry | None:
        """The one account entry matching `condition`; None if none or ambiguous."""
        entries = self._search(conn, self._filter(condition), self.mapping.attributes())
        if len(entries) > 1:
            log.warning("ldap: %d entries match %s; refusing all", len(entries), condition)
            return None
        return entries[0] if entries else None

    def _load_login(self, conn: ldap3.Connection, login: str) -> Account | None:
        found = self._find_login(conn, login)
        return None if found is None else self._account_for(conn, found)

    def _load_filter(self, conn: ldap3.Connection, condition: str) -> Account | None:
        entries = self._search(conn, self._filter(condition), self.mapping.attributes())
        if len(entries) != 1:
            if entries:
                log.warning("ldap: %d entries match %s; refusing all", len(entries), condition)
            return None
        return self._account_for(conn, entries[0])

    def _account_for(
        self, conn: ldap3.Connection, entry: _Entry, *, bound: bool = False
    ) -> Account:
        """The Account of `entry`, reading the logins of its responsible and delegates."""
        m = self.mapping
        names: dict[str, str | None] = {}
        for dn in (*entry.all(m.responsible), *entry.all(m.delegates)):
            found = self._search(conn, self._filter(None), [m.login], base=dn, scope=ldap3.BASE)
            names[dn_key(dn)] = found[0].one(m.login).lower() if found else None
        return self._account(entry, names.get, bound=bound)

    def _account(
        self, entry: _Entry, login_of: Callable[[str], str | None], *, bound: bool = False
    ) -> Account:
        """`bound`: the directory has just accepted the user's password (so a lockout by
        the password policy is over)."""
        m = self.mapping
        login = entry.one(m.login).lower()
        address = (entry.one(m.address) or login).lower()
        status, reason = entry_status(m, entry.values, now=datetime.now(UTC), bound=bound)
        if reason.startswith("unknown status") or reason.startswith("unreadable"):
            log.warning("ldap: %s: %s; treated as locked", entry.dn, reason)
        try:
            kind = AccountKind(entry.one(m.kind).lower() or "person")
        except ValueError:
            log.warning("ldap: %s has an unknown %s; treated as person", entry.dn, m.kind)
            kind = AccountKind.PERSON
        responsible_dn = entry.one(m.responsible)
        responsible = login_of(dn_key(responsible_dn)) if responsible_dn else None
        delegates = tuple(
            dict.fromkeys(d for dn in entry.all(m.delegates) if (d := login_of(dn_key(dn))))
        )
        smtp_enabled, imap_enabled = read_services(m, entry.values)
        separation = _parse_time(entry.one(m.separation_date))
        revision = next((v for a in m.revision if (v := entry.one(a))), "")
        aliases = tuple(read_aliases(m, entry.values))
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
            smtp_enabled=smtp_enabled,
            imap_enabled=imap_enabled,
            revision=revision,
            display_name=entry.one(m.display_name) or entry.one(m.display_name_fallback),
            mail_host=entry.one(m.mail_host).strip().lower().rstrip(".") if m.mail_host else "",
        )


# --- values -------------------------------------------------------------------


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


def dn_key(dn: str) -> str:
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


__all__ = ["LdapDirectory", "LdapMapping"]
