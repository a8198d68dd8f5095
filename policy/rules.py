"""The rules of the memo, one small pure function each.

Every rule has the signature ``(account, request, now, settings) -> Decision | None``:
``None`` means "no objection"; a `Decision` with verdict DENY refuses the request; a
`Decision` with verdict ALLOW is a *note* (the request goes ahead, but the engine
reports the rule and reason, e.g. a departed account inside its grace window or an
orphaned role mailbox in report mode). Rules never do I/O and never read a clock:
`now` is handed in, and dates are compared as UTC calendar dates.

Rule ids and reason codes are stable strings: operators grep the policy log for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta

from policy.calendar import add_months, utc_date
from policy.model import (
    Account,
    AccountKind,
    AccountStatus,
    Action,
    Decision,
    Request,
    Service,
    Verdict,
)
from policy.settings import InboundAction, OrphanAction, PolicySettings

Rule = Callable[[Account, Request, datetime, PolicySettings], "Decision | None"]

# --- rule ids ---------------------------------------------------------------------------
RULE_PENDING = "memo-3.1-pending"
RULE_DEPARTED = "memo-4.1-departed"
RULE_LOCKED = "memo-4.2-locked"
RULE_SUSPENDED = "memo-4-suspended"
RULE_CLOSED = "memo-4-closed"
RULE_ROLE_ORPHANED = "memo-4.3-role-orphaned"
RULE_SERVICE = "service-enabled"
RULE_NULL_SENDER = "sender-null"
RULE_SENDER = "sender-owned"
RULE_HEADER_FROM = "header-from-owned"
RULE_ALLOW = "allow"
RULE_AUTH = "auth"
RULE_FAIL_CLOSED = "fail-closed"
RULE_MAIL_HOST = "mail-host"  # the mailbox lives on the server the directory names
RULE_RECIPIENT = "recipient"  # checks on RCPT TO made by the SMTP side (address, limits)
RULE_SENDER_SYNTAX = "sender-syntax"  # MAIL FROM at the MX: a bounce needs a domain to go to
RULE_HELO = "helo"  # the HELO/EHLO name a peer server gives the MX (policy/helo.py)
RULE_STORAGE = "storage"  # free space where mail is stored (policy/storage.py)
RULE_CONNECTIONS = "connections"  # open connections per client address (policy/connections.py)

# --- reason codes -----------------------------------------------------------------------
REASON_OK = "ok"
REASON_PENDING = "account_pending"
REASON_DEPARTED_GRACE = "departed_grace"
REASON_DEPARTED_EXPIRED = "departed_expired"
REASON_LOCKED = "account_locked"
REASON_SUSPENDED = "account_suspended"
REASON_CLOSED = "account_closed"
REASON_ROLE_ORPHANED = "role_orphaned"
REASON_ROLE_DISABLED = "role_disabled"
REASON_SENDER_NOT_OWNED = "sender_not_owned"
REASON_NULL_SENDER = "null_sender"
REASON_HEADER_FROM_NOT_OWNED = "header_from_not_owned"
REASON_SERVICE_DISABLED = "service_disabled"
REASON_BAD_CREDENTIALS = "bad_credentials"
REASON_DIRECTORY_UNAVAILABLE = "directory_unavailable"
# The mailbox is held by another server (the directory's mailHost): read it there.
REASON_MAILBOX_ELSEWHERE = "mailbox_elsewhere"
REASON_UNKNOWN_RECIPIENT = "unknown_recipient"
REASON_RECIPIENT_SYNTAX = "recipient_syntax"
REASON_REMOTE_NOT_ENABLED = "remote_not_enabled"
REASON_TOO_MANY_RECIPIENTS = "too_many_recipients"
REASON_DEPARTED_READ_ONLY = "departed_read_only"  # storing mail while departed (memo 4.1)
REASON_RELAY = "relay"  # a remote recipient of an authenticated user: the queue relays it
REASON_RELAY_DENIED = "relay_denied"  # the MX is not a relay (RFC 5321 §3.6)
REASON_SENDER_SYNTAX = "sender_syntax"
REASON_HELO_INVALID = "helo_invalid"  # neither a domain name nor an address literal
REASON_HELO_NOT_FQDN = "helo_not_fqdn"  # one label ("foo", "localhost")
REASON_HELO_OWN_NAME = "helo_own_name"  # claims to be this server or one of its domains
REASON_STORAGE_LOW = "storage_low"  # free space below queue.min_free_bytes: refused early
REASON_STORAGE_FULL = "storage_full"  # a write failed: the disk is full (ENOSPC, EDQUOT)
# limits.max_connections_per_ip connections from the client's address are open already.
REASON_CONNECTIONS_PER_ADDRESS = "too_many_connections_from_address"
REASON_CONNECTIONS_IN_ALL = "too_many_connections"  # limits.max_connections are open

# --- reply codes (SMTP code, RFC 3463 / RFC 5248 enhanced code) --------------------------
ALLOW_CODES: dict[Action, tuple[int, str]] = {
    Action.LOGIN: (235, "2.7.0"),  # RFC 4954 authentication succeeded
    Action.SEND: (250, "2.1.0"),  # sender ok
    Action.RECEIVE: (250, "2.1.5"),  # destination address valid
}
# "User Account Disabled" (RFC 5248): the account exists but its state refuses the action.
LOGIN_DISABLED = (525, "5.7.13")
SEND_DISABLED = (550, "5.7.13")
SENDER_NOT_OWNED = (553, "5.7.1")  # Postfix reject_sender_login_mismatch
NULL_SENDER = (550, "5.7.1")
HEADER_FROM_NOT_OWNED = (550, "5.7.1")
MAILBOX_UNKNOWN = (550, "5.1.1")
MAILBOX_DISABLED = (550, "5.2.1")
BAD_CREDENTIALS = (535, "5.7.8")
LOGIN_TEMPFAIL = (454, "4.7.0")
MAIL_TEMPFAIL = (451, "4.3.0")
RELAY_DENIED = (550, "5.7.1")
RECIPIENT_SYNTAX = (553, "5.1.3")  # RFC 5321 §4.2.2: 553 "mailbox syntax incorrect"
TOO_MANY_RECIPIENTS = (452, "4.5.3")  # RFC 5321 §4.5.3.1.10: the client sends the rest later
SENDER_SYNTAX = (553, "5.1.7")
# Postfix's reject_invalid_helo_hostname and reject_non_fqdn_helo_hostname.
HELO_INVALID = (501, "5.5.2")
HELO_NOT_FQDN = (504, "5.5.2")
HELO_OWN_NAME = (550, "5.7.1")
# RFC 5321 §4.2.3 452 "insufficient system storage", RFC 3463 X.3.1 "Mail system full".
STORAGE_FULL = (452, "4.3.1")
# RFC 5321 §3.1 421 at the greeting, RFC 3463 X.7.0: what Postfix answers over its
# smtpd_client_connection_count_limit.
TOO_MANY_CONNECTIONS = (421, "4.7.0")


# --- helpers ----------------------------------------------------------------------------
def allow(
    action: Action,
    rule_id: str = RULE_ALLOW,
    reason: str = REASON_OK,
    params: dict[str, str] | None = None,
    access_ends: date | None = None,
) -> Decision:
    """An ALLOW decision with the success code of `action` (a note when `reason` != "ok")."""
    code, enhanced = ALLOW_CODES[action]
    return Decision(Verdict.ALLOW, rule_id, reason, code, enhanced, params or {}, access_ends)


def deny(
    codes: tuple[int, str],
    rule_id: str,
    reason: str,
    params: dict[str, str] | None = None,
    access_ends: date | None = None,
) -> Decision:
    """A DENY decision with the given (SMTP code, enhanced code) pair."""
    code, enhanced = codes
    return Decision(Verdict.DENY, rule_id, reason, code, enhanced, params or {}, access_ends)


def _disabled_codes(action: Action) -> tuple[int, str]:
    return LOGIN_DISABLED if action is Action.LOGIN else SEND_DISABLED


def _status_params(account: Account) -> dict[str, str]:
    params = {"login": account.login, "address": account.address}
    if account.status_reason:
        params["reason"] = account.status_reason
    if account.status_since is not None:
        params["since"] = utc_date(account.status_since).isoformat()
    return params


def _inbound(
    inbound: InboundAction, rule_id: str, reason: str, params: dict[str, str]
) -> Decision | None:
    """Apply the configured treatment of mail addressed to a disabled account."""
    if inbound is InboundAction.REJECT_DISABLED:
        return deny(MAILBOX_DISABLED, rule_id, reason, params)
    if inbound is InboundAction.REJECT_UNKNOWN:
        return deny(MAILBOX_UNKNOWN, rule_id, reason, params)
    return None


def departure_window(separation: date, settings: PolicySettings) -> date:
    """The first day a departed account is refused (the first day of its suspension):
    separation + N calendar months."""
    return add_months(separation, settings.departed_grace_months)


def last_day_of_access(access_ends: date) -> date:
    """The last day a departed account may still log in: the day before `access_ends`,
    the first day `departure_window` refuses it. Every text that names the end of the
    window names both days, so no reader wonders whether "ends on" is inclusive."""
    return access_ends - timedelta(days=1)


# --- memo 1 / 3.1: approval ------------------------------------------------------------
def rule_pending(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Memo 1 and 3.1: "As soon as an account is approved the user can use e-mail."

    Until it is approved there is no login and no sending, and mail addressed to it is
    bounced as if the address did not exist (550 5.1.1).
    """
    if account.status is not AccountStatus.PENDING:
        return None
    params = _status_params(account)
    if request.action is Action.RECEIVE:
        return deny(MAILBOX_UNKNOWN, RULE_PENDING, REASON_PENDING, params)
    return deny(_disabled_codes(request.action), RULE_PENDING, REASON_PENDING, params)


# --- memo 4.1: departed staff ------------------------------------------------------------
def rule_departed(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Memo 4.1: a user no longer BMA staff is suspended "within 3 months of the day the
    user stopped being staff"; before that, the user can back up their mail.

    From the separation date until ``add_months(separation, departed_grace_months)``
    (exclusive: that end date is the first day refused) the user may log in to read and
    back up mail; sending is refused unless ``departed_can_send``. From the end date on,
    the account is treated as suspended (``departed_expired``). A separation date still
    in the future means the person is still staff: no objection. A departed account
    without a separation date is refused (fail closed).
    """
    if account.status is not AccountStatus.DEPARTED:
        return None
    today = utc_date(now)
    separation = account.separation_date
    if separation is not None and today < separation:
        return None
    params = _status_params(account)
    ends = None
    if separation is not None:
        ends = departure_window(separation, settings)
        params["separation_date"] = separation.isoformat()
        params["access_ends"] = ends.isoformat()
        params["last_day"] = last_day_of_access(ends).isoformat()
    if ends is None or today >= ends:
        if request.action is Action.RECEIVE:
            return _inbound(
                settings.inbound_suspended, RULE_DEPARTED, REASON_DEPARTED_EXPIRED, params
            )
        return deny(_disabled_codes(request.action), RULE_DEPARTED, REASON_DEPARTED_EXPIRED, params)
    if request.action is Action.SEND and not settings.departed_can_send:
        return deny(SEND_DISABLED, RULE_DEPARTED, REASON_DEPARTED_GRACE, params, ends)
    return allow(request.action, RULE_DEPARTED, REASON_DEPARTED_GRACE, params, ends)


# Mailboxes a departed user's client may still APPEND to (RFC 6154 special-use): a client
# that saves a copy of what it sends, or a draft, must not break during the backup window.
DEPARTED_APPEND_ALLOWED = frozenset({"\\Sent", "\\Drafts"})


def departed_store_objection(account: Account, special_use: str | None) -> Decision | None:
    """Memo 4.1: a departed user may read and back up mail, not store new mail.

    IMAP APPEND into a mailbox whose special-use is not in `DEPARTED_APPEND_ALLOWED` is
    refused for a departed account (550 5.7.13 for the log); None otherwise.
    """
    if account.status is not AccountStatus.DEPARTED or special_use in DEPARTED_APPEND_ALLOWED:
        return None
    params = _status_params(account)
    return deny(SEND_DISABLED, RULE_DEPARTED, REASON_DEPARTED_READ_ONLY, params)


# --- memo 4.2: security lock -----------------------------------------------------------
def rule_locked(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Memo 4.2: use that harms the service or causes a security problem suspends the
    account, and "the suspension applies to every system the account could reach".

    No login and no sending on any service, at once. Mail addressed to the account is
    still accepted, so nothing is lost while the matter is investigated.
    """
    if account.status is not AccountStatus.LOCKED or request.action is Action.RECEIVE:
        return None
    params = _status_params(account)
    return deny(_disabled_codes(request.action), RULE_LOCKED, REASON_LOCKED, params)


# --- memo 4: administrative suspension and closure -----------------------------------
def rule_suspended(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Memo 4: "The provider may suspend an account."

    No login and no sending; inbound mail as ``settings.inbound_suspended`` says.
    """
    if account.status is not AccountStatus.SUSPENDED:
        return None
    params = _status_params(account)
    if request.action is Action.RECEIVE:
        return _inbound(settings.inbound_suspended, RULE_SUSPENDED, REASON_SUSPENDED, params)
    return deny(_disabled_codes(request.action), RULE_SUSPENDED, REASON_SUSPENDED, params)


def rule_closed(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Memo 4: an account removed from service.

    No login and no sending; inbound mail as ``settings.inbound_closed`` says.
    """
    if account.status is not AccountStatus.CLOSED:
        return None
    params = _status_params(account)
    if request.action is Action.RECEIVE:
        return _inbound(settings.inbound_closed, RULE_CLOSED, REASON_CLOSED, params)
    return deny(_disabled_codes(request.action), RULE_CLOSED, REASON_CLOSED, params)


STATE_RULES: tuple[Rule, ...] = (
    rule_pending,
    rule_locked,
    rule_suspended,
    rule_closed,
    rule_departed,
)


def state_objection(
    account: Account, action: Action, now: datetime, settings: PolicySettings
) -> Decision | None:
    """The first denial the account's life-cycle state raises against `action`, if any."""
    request = Request(action=action, service=Service.SMTP)
    for rule in STATE_RULES:
        decision = rule(account, request, now, settings)
        if decision is not None and decision.verdict is not Verdict.ALLOW:
            return decision
    return None


# --- per-service switches --------------------------------------------------------------
def rule_service_enabled(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Memo 2 and 3: one account, several ways in; the directory may switch one off.

    ``smtp_enabled`` governs login and sending on SMTP; ``imap_enabled`` governs IMAP and
    POP3. Delivery to the mailbox (RECEIVE) is not governed by either.
    """
    if request.action is Action.RECEIVE:
        return None
    enabled = account.smtp_enabled if request.service is Service.SMTP else account.imap_enabled
    if enabled:
        return None
    params = {"login": account.login, "service": request.service.value.upper()}
    return deny(_disabled_codes(request.action), RULE_SERVICE, REASON_SERVICE_DISABLED, params)


# --- sender authorisation ---------------------------------------------------------------
def _role_for(account: Account, address: str, request: Request) -> Account | None:
    """The role mailbox in `request.sender_owners` owning `address` that `account` acts for."""
    wanted = address.lower()
    for owner in request.sender_owners:
        if wanted in (a.lower() for a in owner.addresses) and account.may_act_for(owner):
            return owner
    return None


def _check_address(
    account: Account,
    address: str,
    request: Request,
    now: datetime,
    settings: PolicySettings,
    rule_id: str,
    not_owned: tuple[tuple[int, str], str],
) -> Decision | None:
    """Whether `account` may use `address` as a sender: its own, or a sendable role's."""
    if address.lower() in account.sendable_addresses:
        return None
    role = _role_for(account, address, request)
    if role is None:
        codes, reason = not_owned
        return deny(codes, rule_id, reason, {"login": account.login, "address": address})
    objection = state_objection(role, Action.SEND, now, settings)
    if objection is None:
        return None
    params = {"login": account.login, "address": address, "role_reason": objection.reason}
    return deny(SEND_DISABLED, rule_id, REASON_ROLE_DISABLED, params)


def rule_null_sender(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Authenticated submission never uses the null sender (``MAIL FROM:<>``), which is
    reserved for bounces; a user sending with it would evade the sender checks."""
    if request.action is not Action.SEND or request.sender != "":
        return None
    return deny(NULL_SENDER, RULE_NULL_SENDER, REASON_NULL_SENDER, {"login": account.login})


def rule_sender_owned(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Memo 3 and 4.3: MAIL FROM must be the login's own address, an alias, a send-as
    address, or the address of a role mailbox the login is responsible for or a delegate
    of, while that role mailbox may itself send."""
    if request.action is not Action.SEND or not request.sender:
        return None
    not_owned = (SENDER_NOT_OWNED, REASON_SENDER_NOT_OWNED)
    return _check_address(account, request.sender, request, now, settings, RULE_SENDER, not_owned)


def rule_header_from_owned(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Every address of the From: header passes the same check as MAIL FROM, so a
    message cannot claim to come from a mailbox its sender may not use."""
    if request.action is not Action.SEND:
        return None
    not_owned = (HEADER_FROM_NOT_OWNED, REASON_HEADER_FROM_NOT_OWNED)
    for address in request.header_from:
        decision = _check_address(
            account, address, request, now, settings, RULE_HEADER_FROM, not_owned
        )
        if decision is not None:
            return decision
    return None


# --- memo 4.3: role mailboxes without a responsible person ------------------------------
def _effective_status(person: Account, now: datetime) -> AccountStatus:
    """A departed person whose separation date is still ahead is still staff."""
    if (
        person.status is AccountStatus.DEPARTED
        and person.separation_date is not None
        and utc_date(now) < person.separation_date
    ):
        return AccountStatus.ACTIVE
    return person.status


def orphaned_since(
    role: Account, responsible: Account | None, now: datetime
) -> tuple[bool, date | None]:
    """Whether `role` is orphaned and, when known, the UTC date it became so.

    Orphaned when no responsible person is named or known, when that person is not
    active, or when they have moved to another unit. The date is the person's
    ``status_since`` (``separation_date`` for a departed person) or ``unit_since``, the
    earliest that applies; ``None`` when orphaned and unknown since when.
    """
    name = (role.responsible or "").lower()
    if not name or responsible is None or responsible.login.lower() != name:
        return True, None
    dates: list[date | None] = []
    if _effective_status(responsible, now) is not AccountStatus.ACTIVE:
        left = responsible.separation_date
        if left is not None and left <= utc_date(now):
            # Departed, or suspended after leaving: orphaned since the person left.
            dates.append(responsible.separation_date)
        else:
            since = responsible.status_since
            dates.append(utc_date(since) if since is not None else None)
    if responsible.unit != role.unit:
        since = responsible.unit_since
        dates.append(utc_date(since) if since is not None else None)
    if not dates:
        return False, None
    if None in dates:
        return True, None
    return True, min(d for d in dates if d is not None)


def _responsible_of(role: Account, account: Account, request: Request) -> Account | None:
    """The responsible person of `role` as far as the request tells."""
    name = (role.responsible or "").lower()
    if role is not account and account.login.lower() == name:
        return account
    return request.role_responsible


def _roles_concerned(account: Account, request: Request) -> Iterable[Account]:
    """The role mailboxes this request acts as: the account itself, or roles used as sender."""
    if account.kind is AccountKind.ROLE:
        yield account
    if request.action is not Action.SEND:
        return
    for address in (request.sender or "", *request.header_from):
        if not address or address.lower() in account.sendable_addresses:
            continue
        role = _role_for(account, address, request)
        if role is not None and role is not account:
            yield role


def rule_role_orphaned(
    account: Account, request: Request, now: datetime, settings: PolicySettings
) -> Decision | None:
    """Memo 4.3: when the person responsible for a unit's mailbox moves or no longer
    holds that duty and the unit names no one new, "the administrator may suspend that
    mailbox as appropriate, without prior notice".

    Applies to login and sending as a role mailbox (directly, or by its responsible
    person or a delegate using its address). With ``OrphanAction.REPORT`` the request
    goes ahead with reason ``role_orphaned`` so the log reports it; with ``REFUSE`` it is
    refused once orphaned for ``orphan_refuse_after_days`` days or since an unknown date.
    """
    if request.action is Action.RECEIVE:
        return None
    note: Decision | None = None
    for role in _roles_concerned(account, request):
        orphaned, since = orphaned_since(role, _responsible_of(role, account, request), now)
        if not orphaned:
            continue
        params = {"login": account.login, "mailbox": role.address}
        if since is not None:
            params["orphaned_since"] = since.isoformat()
            params["days"] = str((utc_date(now) - since).days)
        if settings.orphan_action is OrphanAction.REFUSE and (
            since is None or (utc_date(now) - since).days >= settings.orphan_refuse_after_days
        ):
            codes = _disabled_codes(request.action)
            return deny(codes, RULE_ROLE_ORPHANED, REASON_ROLE_ORPHANED, params)
        if note is None:
            note = allow(request.action, RULE_ROLE_ORPHANED, REASON_ROLE_ORPHANED, params)
    return note


# --- rule order per action ---------------------------------------------------------------
RULES: dict[Action, tuple[Rule, ...]] = {
    Action.LOGIN: (*STATE_RULES, rule_service_enabled, rule_role_orphaned),
    Action.SEND: (
        *STATE_RULES,
        rule_service_enabled,
        rule_null_sender,
        rule_sender_owned,
        rule_header_from_owned,
        rule_role_orphaned,
    ),
    Action.RECEIVE: STATE_RULES,
}
