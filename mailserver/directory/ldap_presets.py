"""How LDAP entries map to accounts: the presets, and the pure logic behind them.

No I/O here: `LdapDirectory` (ldap.py) reads entries as ``{attribute lower-case:
[values]}`` and asks these functions what they mean, and what to write.

Presets (setting `directory.ldap_preset`), each an `LdapMapping`:

- ``mailserver`` (default): our schema (ldap_schema.py, deploy/ldap/mailserver.ldif), entries of
  class mailAccount, login = mail, aliases in mailAlternateAddress.
- ``openldap-ppolicy``: inetOrgPerson entries under the ppolicy overlay; a present
  pwdAccountLockedTime means locked.
- ``active-directory``: user entries; login = userPrincipalName (sAMAccountName
  also accepted), aliases = the ``smtp:`` values of proxyAddresses, the
  ACCOUNTDISABLE bit of userAccountControl and a past accountExpires refuse, and
  the bind's diagnostic sub-code says why AD refused a bind.
- ``iredmail``: mailUser entries; accountStatus active/disabled, enabledService
  (mail, smtp, smtpsecured, imap, imapsecured, ...), aliases in shadowAddress.

Every preset also reads our auxiliary mailAccount attributes when an entry has
them (status, reason, actor, time, separation date, unit, role mailbox fields),
and a write of any of them adds that class to the entry first. `directory.
ldap_attributes` overrides single attributes; an optional one set to "" is
neither read nor written (a write that needs it is refused).

Status: our mailAccountStatus and the preset's lock marks are combined, the
strictest wins; when our own status already refuses (suspended, locked,
closed) it is kept, being the more precise. pwdAccountLockedTime: the value
000001010000Z is an administrator's lock (permanent, memo 4.2 "locked");
any other value is a lockout by the password policy, which slapd lifts after
pwdLockoutDuration. We do not read the policy entry to work out whether it has
expired: a present value counts as locked, except right after slapd accepted
the user's password (it would have refused while the lockout held).

The directory-wide lock (memo 4.2, written by set_status when
`directory.ldap_directory_lock` is true): LOCKED, SUSPENDED and CLOSED set it
(ppolicy: pwdAccountLockedTime 000001010000Z; AD: the ACCOUNTDISABLE bit;
iRedMail: accountStatus disabled); ACTIVE clears it; DEPARTED and PENDING leave it
as it is (a departed person's Windows account disabled by HR stays disabled).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta

from mailserver.directory.ldap_schema import ATTRIBUTE_NAMES
from mailserver.passwords import PasswordHasher
from policy.model import AccountStatus

PRESETS = ("mailserver", "openldap-ppolicy", "active-directory", "iredmail")

# ppolicy (draft-behera-ldap-password-policy, OpenLDAP slapo-ppolicy).
PPOLICY_LOCKED_TIME = "pwdAccountLockedTime"
PPOLICY_ADMIN_LOCK = "000001010000Z"  # locked by an administrator, until removed
# Active Directory.
AD_CONTROL = "userAccountControl"
AD_EXPIRES = "accountExpires"
AD_ACCOUNTDISABLE = 0x2
AD_NORMAL_ACCOUNT = 0x200
AD_NEVER = (0, 0x7FFFFFFFFFFFFFFF)  # accountExpires values meaning "never"
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
# iRedMail.
IREDMAIL_STATUS = "accountStatus"
IREDMAIL_NEW_SERVICES = (
    "mail",
    "deliver",
    "lda",
    "lmtp",
    "smtp",
    "smtpsecured",
    "imap",
    "imapsecured",
    "pop3",
    "pop3secured",
)

# The attributes of our auxiliary class mailAccount (ldap_schema.py), lower-case:
# writing one to an entry without the class adds the class first.
STATE_ATTRIBUTES = ATTRIBUTE_NAMES

# Statuses that refuse logins; the directory-wide lock goes with them.
REFUSING = frozenset({AccountStatus.SUSPENDED, AccountStatus.LOCKED, AccountStatus.CLOSED})
LOCKING = REFUSING

_RANK = {
    AccountStatus.ACTIVE: 0,
    AccountStatus.DEPARTED: 1,
    AccountStatus.PENDING: 2,
    AccountStatus.SUSPENDED: 3,
    AccountStatus.LOCKED: 4,
    AccountStatus.CLOSED: 5,
}
_ATTRIBUTE = re.compile(r"[A-Za-z][A-Za-z0-9-]*\Z")
_RDN = re.compile(r"([A-Za-z][A-Za-z0-9-]*)=\{(localpart|login)\}\Z")
_AD_DATA = re.compile(r"\bdata ([0-9a-f]{3,4})\b", re.IGNORECASE)
_SMTP_PREFIX = "smtp:"

REASON_ADMIN_LOCK = "locked in the directory by an administrator"
REASON_LOCKOUT = "locked after too many failed logins"
REASON_DISABLED = "disabled in the directory"


@dataclass(frozen=True, slots=True)
class LdapMapping:
    """Which LDAP attribute holds which Account field, and the preset's rules.

    The defaults are the "mailserver" preset (our schema); `preset_mapping` builds
    the others. Optional attributes may be "" (not stored in this directory).
    """

    preset: str = "mailserver"
    object_class: str = "mailAccount"  # what makes an entry an account (search filter)
    entry_classes: tuple[str, ...] = ("inetOrgPerson", "mailAccount")  # of new entries
    state_class: str = "mailAccount"  # added to an entry before our attributes are written
    rdn: str = "uid={localpart}"  # RDN of new entries, under the user base
    login: str = "mail"
    login_also: tuple[str, ...] = ()  # other attributes a user may log in with
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
    mail_host: str = "mailHost"  # the server holding the mailbox (RFC 822 routing, misc schema)
    password: str = "userPassword"
    revision: tuple[str, ...] = ("entryCSN", "modifyTimestamp")
    # The directory-wide lock this directory has: "ppolicy", "ad", "iredmail" or "".
    lock: str = "ppolicy"
    # Write it on LOCKED / SUSPENDED / CLOSED, clear it on ACTIVE.
    directory_lock: bool = True
    # False: a directory without ppolicy (no pwdAccountLockedTime) still takes the
    # status change, without the lock (our own preset); True: the write fails.
    lock_required: bool = False

    def attributes(self) -> list[str]:
        """Every attribute to read for an Account (operational ones named explicitly)."""
        names = [
            self.login,
            *self.login_also,
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
            self.mail_host,
            *self.revision,
            *lock_attributes(self.lock),
            "objectClass",
        ]
        return [n for n in dict.fromkeys(names) if n]

    def login_attributes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.login, *self.login_also)))


# Fields `directory.ldap_attributes` may override: attribute names, or lists of them.
OVERRIDABLE = frozenset(
    f.name for f in fields(LdapMapping) if f.name not in ("preset", "lock", "directory_lock")
) - {"lock_required"}
# Fields that cannot be "" (not stored in this directory).
REQUIRED = frozenset({"object_class", "login", "address", "password", "rdn"})
_LISTS = frozenset({"login_also", "entry_classes", "revision"})

_PRESETS: dict[str, LdapMapping] = {
    "mailserver": LdapMapping(),
    "openldap-ppolicy": LdapMapping(
        preset="openldap-ppolicy", object_class="inetOrgPerson", lock_required=True
    ),
    "active-directory": LdapMapping(
        preset="active-directory",
        object_class="user",
        entry_classes=(),  # accounts are created with AD's own tools
        rdn="cn={localpart}",
        login="userPrincipalName",
        login_also=("sAMAccountName",),
        aliases="proxyAddresses",
        mail_host="",
        revision=("uSNChanged", "entryCSN", "modifyTimestamp"),
        lock="ad",
        lock_required=True,
    ),
    "iredmail": LdapMapping(
        preset="iredmail",
        object_class="mailUser",
        entry_classes=("inetOrgPerson", "mailUser", "mailAccount"),
        aliases="shadowAddress",
        services="enabledService",
        lock="iredmail",
        lock_required=True,
    ),
}


def lock_attributes(lock: str) -> tuple[str, ...]:
    """The attributes the directory-wide lock of this style lives in."""
    return {
        "ppolicy": (PPOLICY_LOCKED_TIME,),
        "ad": (AD_CONTROL, AD_EXPIRES),
        "iredmail": (IREDMAIL_STATUS,),
    }.get(lock, ())


def check_overrides(overrides: Mapping[str, object]) -> list[str]:
    """What is wrong with `directory.ldap_attributes` (one line each; empty: fine)."""
    errors: list[str] = []
    for key, value in overrides.items():
        if key not in OVERRIDABLE:
            errors.append(f"{key!r} is not a mapped field ({', '.join(sorted(OVERRIDABLE))})")
        elif key == "rdn":
            if not isinstance(value, str) or not _RDN.match(value):
                errors.append('rdn must look like "uid={localpart}" or "cn={login}"')
        elif key in _LISTS:
            names = _names(value)
            if names is None or not all(_ATTRIBUTE.match(v) for v in names):
                errors.append(f"{key} must be attribute names (a list, or separated by commas)")
            elif key == "revision" and not names:
                errors.append("revision needs at least one attribute")
        elif not isinstance(value, str):
            errors.append(f"{key} must be an attribute name")
        elif value == "" and key in REQUIRED:
            errors.append(f"{key} cannot be empty")
        elif value and not _ATTRIBUTE.match(value):
            errors.append(f"{key}: {value!r} is not an attribute name")
    return errors


def _names(value: object) -> list[str] | None:
    """A list of names from a list of strings or one string "a, b"; None if neither."""
    if isinstance(value, str):
        return [v for v in re.split(r"[\s,]+", value) if v]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def preset_mapping(
    name: str = "mailserver",
    overrides: Mapping[str, object] | None = None,
    *,
    directory_lock: bool = True,
) -> LdapMapping:
    """The preset `name` with `overrides` applied; ValueError if either is bad."""
    if name not in _PRESETS:
        raise ValueError(f"unknown LDAP preset {name!r} (one of {', '.join(PRESETS)})")
    overrides = dict(overrides or {})
    errors = check_overrides(overrides)
    if errors:
        raise ValueError("; ".join(errors))
    changes = {k: tuple(_names(v) or ()) if k in _LISTS else v for k, v in overrides.items()}
    return replace(_PRESETS[name], directory_lock=directory_lock, **changes)  # type: ignore[arg-type]


# --- reading --------------------------------------------------------------------


def _all(values: Mapping[str, list[str]], name: str) -> list[str]:
    return values.get(name.lower(), []) if name else []


def _one(values: Mapping[str, list[str]], name: str) -> str:
    found = _all(values, name)
    return found[0] if found else ""


def read_aliases(m: LdapMapping, values: Mapping[str, list[str]]) -> list[str]:
    """Alias addresses, lower-case; proxyAddresses keeps only its smtp: values."""
    raw = _all(values, m.aliases)
    if m.aliases.lower() == "proxyaddresses":
        raw = [v[len(_SMTP_PREFIX) :] for v in raw if v.lower().startswith(_SMTP_PREFIX)]
    return list(dict.fromkeys(v.strip().lower() for v in raw if v.strip()))


def alias_filter_values(m: LdapMapping, address: str) -> list[str]:
    """The values of the aliases attribute that name `address` (for a search filter)."""
    if m.aliases.lower() == "proxyaddresses":
        return [_SMTP_PREFIX + address]  # AD compares proxyAddresses case-insensitively
    return [address]


def alias_values(m: LdapMapping, current: Iterable[str], aliases: Iterable[str]) -> list[str]:
    """The aliases attribute's new values: `aliases`, keeping what is not ours in it
    (proxyAddresses: the primary SMTP: value and the X500:, SIP: ... values)."""
    wanted = list(aliases)
    if m.aliases.lower() != "proxyaddresses":
        return wanted
    kept = [v for v in current if not v.startswith(_SMTP_PREFIX)]  # "SMTP:" is primary
    return kept + [_SMTP_PREFIX + a for a in wanted if f"SMTP:{a}" not in kept]


def read_services(m: LdapMapping, values: Mapping[str, list[str]]) -> tuple[bool, bool]:
    """(smtp enabled, imap enabled)."""
    if not m.services:
        return True, True
    services = {s.lower() for s in _all(values, m.services)}
    if m.preset == "iredmail":
        # iRedMail: nothing without "mail"; an absent list enables nothing.
        mail = "mail" in services
        return (
            mail and bool(services & {"smtp", "smtpsecured"}),
            mail and bool(services & {"imap", "imapsecured"}),
        )
    return not services or "smtp" in services, not services or "imap" in services


def service_values(m: LdapMapping, current: Iterable[str], smtp: bool, imap: bool) -> list[str]:
    """The services attribute's new values for these flags: other services and the values
    of a flag that stays on are kept; a flag turned on adds its values, one turned off
    loses them."""
    groups: dict[str, tuple[str, ...]]
    if m.preset == "iredmail":
        groups = {"smtp": ("smtp", "smtpsecured"), "imap": ("imap", "imapsecured")}
    else:
        groups = {"smtp": ("smtp",), "imap": ("imap",)}
    wanted = {"smtp": smtp, "imap": imap}
    kept: list[str] = []
    for value in current:
        group = next((g for g, names in groups.items() if value.lower() in names), None)
        if value.lower() != "none" and (group is None or wanted[group]):
            kept.append(value)
    for group, names in groups.items():
        if wanted[group] and not any(v.lower() in names for v in kept):
            kept.extend(names)
    if m.preset == "iredmail" and (smtp or imap) and "mail" not in (v.lower() for v in kept):
        kept.insert(0, "mail")
    if not kept and m.preset != "iredmail":
        return ["none"]  # our schema: absent would mean every service
    return kept


def parse_filetime(value: str) -> datetime | None:
    """A Windows FILETIME (100 ns since 1601) as a UTC datetime; None for "never" or bad."""
    try:
        ticks = int(value.strip())
    except ValueError:
        return None
    if ticks in AD_NEVER or ticks < 0:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None


def lock_marks(
    m: LdapMapping, values: Mapping[str, list[str]], *, now: datetime, bound: bool = False
) -> list[tuple[AccountStatus, str]]:
    """The refusals the preset's own attributes say (status, reason); `bound`: the user's
    password was just accepted by the directory itself."""
    marks: list[tuple[AccountStatus, str]] = []
    if m.lock == "ppolicy":
        locked = _one(values, PPOLICY_LOCKED_TIME)
        if locked == PPOLICY_ADMIN_LOCK:
            marks.append((AccountStatus.LOCKED, REASON_ADMIN_LOCK))
        elif locked and not bound:  # slapd just accepted the password: the lockout expired
            marks.append((AccountStatus.LOCKED, REASON_LOCKOUT))
    elif m.lock == "ad":
        control = _one(values, AD_CONTROL)
        if control:
            try:
                disabled = int(control) & AD_ACCOUNTDISABLE
            except ValueError:
                marks.append((AccountStatus.LOCKED, f"unreadable {AD_CONTROL} {control!r}"))
            else:
                if disabled:
                    marks.append((AccountStatus.SUSPENDED, REASON_DISABLED))
        expires = parse_filetime(_one(values, AD_EXPIRES) or "0")
        if expires is not None and expires <= now:
            when = expires.date().isoformat()
            marks.append((AccountStatus.SUSPENDED, f"account expired in the directory on {when}"))
    elif m.lock == "iredmail":
        state = _one(values, IREDMAIL_STATUS).lower()
        if state != "active":
            marks.append((AccountStatus.SUSPENDED, REASON_DISABLED))
    return marks


def entry_status(
    m: LdapMapping, values: Mapping[str, list[str]], *, now: datetime, bound: bool = False
) -> tuple[AccountStatus, str]:
    """The account's status and its reason: our status attribute and the preset's lock
    marks combined (see the module docstring)."""
    raw = _one(values, m.status).lower() if m.status else ""
    reason = _one(values, m.status_reason) if m.status_reason else ""
    if raw:
        try:
            own = AccountStatus(raw)
        except ValueError:
            # Fail closed: an entry whose state we cannot read may not be used.
            own, reason = AccountStatus.LOCKED, reason or f"unknown status {raw!r} in the directory"
    elif m.status and m.object_class.lower() == m.state_class.lower() != "":
        # Our own class requires a status: an entry without one is unreadable.
        own, reason = AccountStatus.LOCKED, reason or "unknown status '' in the directory"
    else:
        own = AccountStatus.ACTIVE
    if own in REFUSING:
        return own, reason
    best, why = own, reason
    for status, mark_reason in lock_marks(m, values, now=now, bound=bound):
        if _RANK[status] > _RANK[best]:
            best, why = status, mark_reason
    return best, why


def lock_changes(
    m: LdapMapping, values: Mapping[str, list[str]], status: AccountStatus
) -> dict[str, list[str]]:
    """Attribute -> new values that set (LOCKING statuses) or clear (ACTIVE) the
    directory-wide lock; {} when there is nothing to write."""
    if not m.directory_lock or not (status in LOCKING or status is AccountStatus.ACTIVE):
        return {}
    lock = status in LOCKING
    if m.lock == "ppolicy":
        return {PPOLICY_LOCKED_TIME: [PPOLICY_ADMIN_LOCK] if lock else []}
    if m.lock == "iredmail":
        return {IREDMAIL_STATUS: ["disabled" if lock else "active"]}
    if m.lock == "ad":
        raw = _one(values, AD_CONTROL)
        try:
            control = int(raw) if raw else None
        except ValueError:
            control = None
        if control is None:
            return {AD_CONTROL: [str(AD_NORMAL_ACCOUNT | AD_ACCOUNTDISABLE)]} if lock else {}
        new = control | AD_ACCOUNTDISABLE if lock else control & ~AD_ACCOUNTDISABLE
        return {} if new == control else {AD_CONTROL: [str(new)]}
    return {}


# Active Directory bind sub-codes ("data 775" in the diagnostic message) that refuse a
# login for a reason other than the password. AD gives 530-533, 701, 532 and 773 only
# once the password is right; 775 whatever the password. 525 (no such user) and 52e
# (wrong password) stay "wrong login" (None).
_AD_REFUSALS = {
    "530": (AccountStatus.SUSPENDED, "not allowed to log in at this time (directory logon hours)"),
    "531": (AccountStatus.SUSPENDED, "not allowed to log in from here (directory workstations)"),
    "532": (AccountStatus.SUSPENDED, "the password has expired: change it, then log in again"),
    "533": (AccountStatus.SUSPENDED, REASON_DISABLED),
    "701": (AccountStatus.SUSPENDED, "account expired in the directory"),
    "773": (AccountStatus.SUSPENDED, "the password must be changed: change it, then log in"),
    "775": (AccountStatus.LOCKED, REASON_LOCKOUT),
}


def ad_bind_refusal(message: str) -> tuple[AccountStatus, str] | None:
    """What an Active Directory bind refusal means, from its diagnostic message
    (e.g. "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error,
    data 775, v4563"); None for a wrong password, an unknown user or anything else.

    Only testable as pure logic: slapd (the tests' directory) never sends these.
    """
    match = _AD_DATA.search(message or "")
    return _AD_REFUSALS.get(match.group(1).lower()) if match else None


# --- writing --------------------------------------------------------------------

_hasher = PasswordHasher()


def password_value(password_hash: str) -> str:
    """The userPassword value (RFC 2307 scheme tag) slapd verifies for `password_hash`.

    {ARGON2} needs slapd's argon2 module; {SSHA256}/{SSHA512} its pw-sha2 module;
    {CRYPT} uses the system's crypt(3) (sha512/sha256-crypt, bcrypt). ValueError for
    anything that is not a hash in a scheme we know (e.g. a plaintext password).
    """
    scheme = _hasher.identify(password_hash) if isinstance(password_hash, str) else None
    if scheme is None:
        raise ValueError("password_hash is not a hash in a known scheme")
    if password_hash.startswith("{"):
        tag, _, rest = password_hash.partition("}")
        return tag.upper() + "}" + rest
    if scheme == "argon2":
        return "{ARGON2}" + password_hash
    return "{CRYPT}" + password_hash


def new_rdn(m: LdapMapping, login: str) -> tuple[str, str]:
    """(attribute, value) of a new entry's RDN for `login`."""
    match = _RDN.match(m.rdn)
    if match is None:
        raise ValueError(f"bad rdn template {m.rdn!r}")
    attribute, part = match.groups()
    return attribute, login.partition("@")[0] if part == "localpart" else login


__all__ = [
    "PRESETS",
    "LdapMapping",
    "ad_bind_refusal",
    "alias_values",
    "check_overrides",
    "entry_status",
    "lock_changes",
    "password_value",
    "preset_mapping",
    "read_aliases",
    "read_services",
    "service_values",
]
