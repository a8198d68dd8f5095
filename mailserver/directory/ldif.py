"""Accounts as LDIF (RFC 2849) in our LDAP schema: from the embedded directory to LDAP
and back (`mailserver account export` / `mailserver account import-ldif`).

Writing: one entry per account with the mapping's object classes (our schema,
deploy/ldap/mailserver.ldif: inetOrgPerson + mailAccount) and attribute names
(`LdapMapping`), under a base DN. The RDN follows the mapping's template
(`uid=<local part>`, as `LdapDirectory.add_account` makes them); when two accounts would
share one, both get their whole address as the value. mailResponsible / mailDelegate are
the DNs of those accounts' entries. `userPassword` is the RFC 2307 form slapd verifies
(`ldap_presets.password_value`): argon2 as ``{ARGON2}$argon2id$...`` (slapd's argon2
module), ``{SSHA}...`` as it is, crypt(3) hashes as ``{CRYPT}$6$...``. Non-ASCII values
(Thai names) are base64 and long lines folded at 76 columns: the `ldif` library does both.

Reading: the entries of such a file, or of any LDIF in our schema (deploy/ldap/
sample.ldif); entries without the mapping's object class (units, the base) are skipped.
A userPassword in a scheme we can verify is kept as the account's hash; any other
(cleartext, {MD5}, {SASL}...) is dropped with a warning: the account then needs
`mailserver account passwd`. `import_accounts` adds the accounts through the
`Directory` interface (SQLite or LDAP alike), persons before the role mailboxes that
name them, delegates last.

What the directory interface does not take: mailStatusTime and mailUnitSince become the
time of the import. An entry needs a cn, so an account without a display name gets its
local part, which LDAP then reads back as the display name.
"""

from __future__ import annotations

import collections
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import BinaryIO

import ldif
from ldap3.utils.dn import escape_rdn

from mailserver.directory import Directory, DirectoryError
from mailserver.directory.ldap import LdapMapping, dn_key
from mailserver.directory.ldap_presets import new_rdn, password_value
from mailserver.passwords import PasswordHasher
from policy.model import Account, AccountKind, AccountStatus

# --- writing ------------------------------------------------------------------


def ldap_password(stored: str | None) -> str | None:
    """Our stored hash in the RFC 2307 form slapd verifies, or None if it is not a hash."""
    if not stored:
        return None
    try:
        return password_value(stored)
    except ValueError:
        return None


def entry_rdns(
    logins: Iterable[str], mapping: LdapMapping | None = None
) -> dict[str, tuple[str, str]]:
    """login -> (attribute, value) of its entry's RDN: the mapping's template
    (uid=<local part>), or the whole address for accounts that would share one."""
    m = mapping or LdapMapping()
    rdns = {login: new_rdn(m, login) for login in logins}
    count = collections.Counter(value.lower() for _, value in rdns.values())
    return {
        login: (attr, login if count[value.lower()] > 1 else value)
        for login, (attr, value) in rdns.items()
    }


def entry_dns(rdns: dict[str, tuple[str, str]], base: str) -> dict[str, str]:
    """login -> the DN of its entry below `base`."""
    return {login: f"{attr}={escape_rdn(value)},{base}" for login, (attr, value) in rdns.items()}


def _gtime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def _value(text: str) -> str | bytes:
    """A value for the writer; bytes are always base64 (RFC 2849 note 8: trailing space)."""
    return text.encode("utf-8") if text.endswith(" ") else text


def account_entry(
    account: Account,
    rdn: tuple[str, str],
    dns: dict[str, str],
    password: str | None,
    mapping: LdapMapping | None = None,
) -> dict[str, list[str | bytes]]:
    """The LDAP attributes of one account (our schema, names from `mapping`); `dns` maps
    the logins of every exported account to their DNs (for responsible and delegates)."""
    m = mapping or LdapMapping()
    local = account.login.rpartition("@")[0] or account.login
    name = account.display_name.strip()
    attrs: dict[str, list[str]] = {
        "objectClass": ["top", *m.entry_classes],
        rdn[0]: [rdn[1]],
        "cn": [name or local],
        "sn": [name.split()[-1] if name else local],
    }
    if name:
        attrs[m.display_name] = [account.display_name]
    attrs[m.login] = [account.login]
    aliases = list(account.aliases)
    if account.address != account.login and account.address not in aliases:
        aliases.insert(0, account.address)  # our schema has one primary address
    attrs[m.aliases] = aliases
    attrs[m.kind] = [account.kind.value]
    attrs[m.status] = [account.status.value]
    attrs[m.status_reason] = [account.status_reason] if account.status_reason else []
    attrs[m.status_actor] = [account.status_actor] if account.status_actor else []
    attrs[m.status_since] = [_gtime(account.status_since)] if account.status_since else []
    if account.separation_date is not None:
        attrs[m.separation_date] = [account.separation_date.strftime("%Y%m%d000000Z")]
    attrs[m.unit] = [account.unit] if account.unit else []
    attrs[m.unit_since] = [_gtime(account.unit_since)] if account.unit_since else []
    if account.responsible and account.responsible in dns:
        attrs[m.responsible] = [dns[account.responsible]]
    attrs[m.delegates] = [dns[d] for d in account.delegates if d in dns]
    attrs[m.send_as] = list(account.send_as)
    services = [
        s for s, on in (("smtp", account.smtp_enabled), ("imap", account.imap_enabled)) if on
    ]
    if len(services) < 2:  # absent means every service
        attrs[m.services] = services or ["none"]
    if password:
        attrs[m.password] = [password]
    merged: dict[str, list[str | bytes]] = {}
    for key, values in attrs.items():  # mapping names may coincide (login = address)
        merged.setdefault(key, []).extend(_value(v) for v in values if v)
    return {k: list(dict.fromkeys(v)) for k, v in merged.items() if v}


def write_ldif(
    out: BinaryIO,
    accounts: list[Account],
    hashes: dict[str, str | None],
    base: str,
    *,
    mapping: LdapMapping | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Write every account as an LDIF entry; return warnings (one line each)."""
    warnings: list[str] = []
    m = mapping or LdapMapping()
    rdns = entry_rdns((a.login for a in accounts), m)
    dns = entry_dns(rdns, base)
    stamp = _gtime(now or datetime.now(UTC))
    out.write(
        f"version: 1\n# mailserver account export, {len(accounts)} accounts, {stamp}\n"
        "# Holds password hashes: keep it as secret as the directory itself.\n\n".encode()
    )
    writer = ldif.LDIFWriter(out, cols=76)
    # Persons first: a reader adding entries in order finds the responsible people.
    ordered = sorted(accounts, key=lambda a: (a.kind is AccountKind.ROLE, a.login))
    for account in ordered:
        password = ldap_password(hashes.get(account.login))
        if hashes.get(account.login) and password is None:
            warnings.append(f"{account.login}: password hash in an unknown form, left out")
        if account.responsible and account.responsible not in dns:
            warnings.append(f"{account.login}: responsible {account.responsible} not exported")
        if account.address != account.login:
            warnings.append(f"{account.login}: address {account.address} written as an alias")
        entry = account_entry(account, rdns[account.login], dns, password, m)
        writer.unparse(dns[account.login], entry)
    return warnings


# --- reading ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LdifAccount:
    """What one LDIF entry says about an account (responsible/delegates as logins)."""

    dn: str
    login: str
    kind: AccountKind
    status: AccountStatus
    status_reason: str = ""
    status_actor: str = ""
    separation_date: date | None = None
    unit: str = ""
    display_name: str = ""
    aliases: tuple[str, ...] = ()
    responsible: str | None = None
    delegates: tuple[str, ...] = ()
    send_as: tuple[str, ...] = ()
    smtp_enabled: bool = True
    imap_enabled: bool = True
    password_hash: str | None = None


@dataclass
class Parsed:
    accounts: list[LdifAccount] = field(default_factory=list)
    skipped: int = 0  # entries that are not mail accounts (units, the base)
    problems: list[str] = field(default_factory=list)  # entries left out, with why
    warnings: list[str] = field(default_factory=list)  # entries kept, but something not


def read_entries(data: bytes) -> list[tuple[str, dict[str, list[str | bytes]]]]:
    """(dn, attributes with lower-case names) of every record; ValueError if malformed."""
    parser = ldif.LDIFParser(io.BytesIO(data), strict=True)
    entries = []
    for dn, attrs in parser.parse():
        if dn is None:
            continue
        lowered: dict[str, list[str | bytes]] = {}
        for name, values in attrs.items():
            lowered.setdefault(name.lower(), []).extend(values)
        entries.append((dn, lowered))
    return entries


def _texts(attrs: dict[str, list[str | bytes]], name: str) -> list[str]:
    return [v for v in attrs.get(name.lower(), []) if isinstance(v, str) and v.strip()]


def _one(attrs: dict[str, list[str | bytes]], name: str) -> str:
    found = _texts(attrs, name)
    return found[0].strip() if found else ""


def _day(value: str) -> date | None:
    """The day of a GeneralizedTime ("20260115000000Z" -> 2026-01-15)."""
    try:
        return datetime.strptime(value.strip()[:8], "%Y%m%d").date()
    except ValueError:
        return None


def parse_accounts(
    data: bytes, hasher: PasswordHasher, mapping: LdapMapping | None = None
) -> Parsed:
    """The mail accounts of an LDIF file (see the module docstring)."""
    m = mapping or LdapMapping()
    result = Parsed()
    try:
        entries = read_entries(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DirectoryError(f"not a valid LDIF file: {exc}") from exc
    accounts = []
    for dn, attrs in entries:
        classes = {c.lower() for c in _texts(attrs, "objectClass")}
        if m.object_class.lower() not in classes:
            result.skipped += 1
            continue
        change = _one(attrs, "changetype").lower()
        if change and change != "add":
            result.problems.append(f"{dn}: changetype {change} records are not imported")
            continue
        accounts.append((dn, attrs))
    logins = {dn_key(dn): _one(attrs, m.login).lower() for dn, attrs in accounts}
    for dn, attrs in accounts:
        try:
            result.accounts.append(_account(dn, attrs, logins, hasher, m, result.warnings))
        except ValueError as exc:
            result.problems.append(f"{dn}: {exc}")
    return result


def _account(
    dn: str,
    attrs: dict[str, list[str | bytes]],
    logins: dict[str, str],
    hasher: PasswordHasher,
    m: LdapMapping,
    warnings: list[str],
) -> LdifAccount:
    login = _one(attrs, m.login).lower()
    if not login:
        raise ValueError(f"no {m.login} attribute")
    try:
        status = AccountStatus(_one(attrs, m.status).lower())
    except ValueError:
        raise ValueError(f"{m.status} {_one(attrs, m.status)!r} is not a known status") from None
    try:
        kind = AccountKind(_one(attrs, m.kind).lower() or AccountKind.PERSON.value)
    except ValueError:
        raise ValueError(f"{m.kind} {_one(attrs, m.kind)!r} is not person or role") from None
    separation = _day(_one(attrs, m.separation_date)) if _one(attrs, m.separation_date) else None
    if status is AccountStatus.DEPARTED and separation is None:
        raise ValueError(f"a departed account needs {m.separation_date}")
    responsible = None
    if kind is AccountKind.ROLE:
        responsible_dn = _one(attrs, m.responsible)
        responsible = logins.get(dn_key(responsible_dn)) if responsible_dn else None
        if not responsible:
            raise ValueError(f"role mailbox: {m.responsible} {responsible_dn!r} is not in the file")
    delegates = []
    for delegate_dn in _texts(attrs, m.delegates):
        found = logins.get(dn_key(delegate_dn))
        if found:
            delegates.append(found)
        else:
            warnings.append(f"{login}: delegate {delegate_dn} is not in the file, left out")
    password = None
    for value in attrs.get(m.password.lower(), []):
        if isinstance(value, str) and hasher.identify(value.strip()) is not None:
            password = value.strip()
            break
    if password is None and attrs.get(m.password.lower()):
        warnings.append(f"{login}: {m.password} in a scheme we cannot verify, left out")
    services = {s.lower() for s in _texts(attrs, m.services)}
    aliases = tuple(dict.fromkeys(a.lower() for a in _texts(attrs, m.aliases)))
    return LdifAccount(
        dn=dn,
        login=login,
        kind=kind,
        status=status,
        status_reason=_one(attrs, m.status_reason),
        status_actor=_one(attrs, m.status_actor),
        separation_date=separation,
        unit=_one(attrs, m.unit),
        display_name=_one(attrs, m.display_name) or _one(attrs, m.display_name_fallback),
        aliases=tuple(a for a in aliases if a != login),
        responsible=responsible,
        delegates=tuple(dict.fromkeys(delegates)),
        send_as=tuple(dict.fromkeys(a.lower() for a in _texts(attrs, m.send_as))),
        smtp_enabled=not services or "smtp" in services,
        imap_enabled=not services or "imap" in services,
        password_hash=password,
    )


# --- importing ----------------------------------------------------------------


@dataclass
class ImportResult:
    added: list[Account] = field(default_factory=list)
    updated: list[Account] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # logins that exist
    planned: list[str] = field(default_factory=list)  # dry run: logins that would change
    failed: list[str] = field(default_factory=list)  # one line each


def _order(accounts: list[LdifAccount]) -> list[LdifAccount]:
    """Persons first, then roles after the role (if any) that is their responsible."""
    done: set[str] = set()
    ordered = [a for a in accounts if a.kind is AccountKind.PERSON]
    done.update(a.login for a in ordered)
    pending = [a for a in accounts if a.kind is AccountKind.ROLE]
    while pending:
        ready = [
            a
            for a in pending
            if a.responsible in done or a.responsible not in {p.login for p in pending}
        ]
        if not ready:
            ready = pending  # a cycle of roles: let the directory refuse them
        ordered.extend(ready)
        done.update(a.login for a in ready)
        pending = [a for a in pending if a not in ready]
    return ordered


async def import_accounts(
    directory: Directory,
    accounts: list[LdifAccount],
    *,
    actor: str,
    now: datetime,
    dry_run: bool = False,
    update: bool = False,
    report: Callable[[str], None] = print,
) -> ImportResult:
    """Add (or with `update`, also update) the accounts; `report` gets one line each."""
    result = ImportResult()
    verb = "would " if dry_run else ""
    for item in _order(accounts):
        try:
            existing = await directory.get(item.login)
            if existing is not None and not update:
                result.skipped.append(item.login)
                report(f"{item.login}: exists, skipped (use --update to change it)")
                continue
            if dry_run:
                what = "update" if existing else "add"
                result.planned.append(item.login)
                report(f"{item.login}: {verb}{what} ({item.kind.value}, {item.status.value})")
                continue
            if existing is None:
                account = await _add(directory, item, actor, now)
                result.added.append(account)
                report(f"{item.login}: added ({item.kind.value}, {account.status.value})")
            else:
                if existing.kind is not item.kind:
                    report(f"{item.login}: is a {existing.kind.value}; kind left unchanged")
                account = await _update(directory, item, existing, actor, now)
                result.updated.append(account)
                report(f"{item.login}: updated ({account.status.value})")
        except DirectoryError as exc:
            result.failed.append(f"{item.login}: {exc}")
            report(f"{item.login}: not imported: {exc}")
    # Delegates last: they may name accounts added after the role.
    for item in accounts:
        if dry_run or not item.delegates or item.login in result.skipped:
            continue
        if any(f.startswith(f"{item.login}:") for f in result.failed):
            continue
        try:
            await directory.update(item.login, now=now, delegates=item.delegates)
        except DirectoryError as exc:
            result.failed.append(f"{item.login}: delegates: {exc}")
            report(f"{item.login}: delegates not set: {exc}")
    return result


async def _add(directory: Directory, item: LdifAccount, actor: str, now: datetime) -> Account:
    simple = item.status in (AccountStatus.ACTIVE, AccountStatus.PENDING)
    direct = simple and item.separation_date is None and not item.status_reason
    # Any other state is reached through set_status (reason, separation date), from
    # pending, so the account is never usable in between.
    account = await directory.add_account(
        item.login,
        password_hash=item.password_hash,
        aliases=item.aliases,
        kind=item.kind,
        status=item.status if direct else AccountStatus.PENDING,
        unit=item.unit,
        responsible=item.responsible,
        display_name=item.display_name,
        actor=item.status_actor or actor,
        now=now,
    )
    if not direct:
        account = await _set_status(directory, item, actor, now)
    return await _extras(directory, item, account, now)


async def _update(
    directory: Directory, item: LdifAccount, existing: Account, actor: str, now: datetime
) -> Account:
    changes: dict[str, object] = {
        "unit": item.unit,
        "display_name": item.display_name,
        "aliases": item.aliases,
    }
    if existing.kind is AccountKind.ROLE and item.responsible:
        changes["responsible"] = item.responsible
    account = await directory.update(item.login, now=now, **changes)
    if (
        existing.status is not item.status
        or existing.status_reason != item.status_reason
        or existing.separation_date != item.separation_date
    ):
        account = await _set_status(directory, item, actor, now)
    if item.password_hash:
        account = await directory.set_password_hash(item.login, item.password_hash, now=now)
    return await _extras(directory, item, account, now)


async def _set_status(
    directory: Directory, item: LdifAccount, actor: str, now: datetime
) -> Account:
    return await directory.set_status(
        item.login,
        item.status,
        reason=item.status_reason,
        actor=item.status_actor or actor,
        now=now,
        separation_date=item.separation_date,
    )


async def _extras(
    directory: Directory, item: LdifAccount, account: Account, now: datetime
) -> Account:
    changes: dict[str, object] = {}
    if account.send_as != item.send_as:
        changes["send_as"] = item.send_as
    if account.smtp_enabled != item.smtp_enabled:
        changes["smtp_enabled"] = item.smtp_enabled
    if account.imap_enabled != item.imap_enabled:
        changes["imap_enabled"] = item.imap_enabled
    if changes:
        account = await directory.update(item.login, now=now, **changes)
    return account
