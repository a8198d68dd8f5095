"""Table-driven tests of the policy rules and engine (memo clauses 1, 3.1 and 4)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from policy import bad_credentials, decide, directory_unavailable, rules
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

NOW = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
DEFAULTS = PolicySettings()
REFUSE = PolicySettings(orphan_action=OrphanAction.REFUSE, orphan_refuse_after_days=30)
ALLOW, DENY, TEMPFAIL = Verdict.ALLOW, Verdict.DENY, Verdict.TEMPFAIL
LOGIN, SEND, RECEIVE = Action.LOGIN, Action.SEND, Action.RECEIVE
SMTP, IMAP, POP3 = Service.SMTP, Service.IMAP, Service.POP3


def at(d: date, hour: int = 10) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


USER = Account(
    login="somchai",
    address="somchai@bangkok.go.th",
    aliases=("s.khamdee@bangkok.go.th",),
    send_as=("newsletter@bangkok.go.th",),
    unit="finance",
    unit_since=datetime(2020, 1, 1, tzinfo=UTC),
    status_since=datetime(2020, 1, 1, tzinfo=UTC),
)
DELEGATE = Account(login="malee", address="malee@bangkok.go.th", unit="finance")
OUTSIDER = Account(login="preecha", address="preecha@bangkok.go.th", unit="works")
ROLE = Account(
    login="finance",
    address="finance@bangkok.go.th",
    aliases=("budget@bangkok.go.th",),
    kind=AccountKind.ROLE,
    responsible="somchai",
    delegates=("malee",),
    unit="finance",
)
OTHER_ROLE = Account(
    login="works",
    address="works@bangkok.go.th",
    kind=AccountKind.ROLE,
    responsible="preecha",
    unit="works",
)


def with_status(account: Account, status: AccountStatus, **changes: object) -> Account:
    return replace(account, status=status, **changes)


def check(
    decision: Decision,
    verdict: Verdict,
    code: int,
    enhanced: str,
    rule_id: str,
    reason: str,
) -> None:
    assert (
        decision.verdict,
        decision.smtp_code,
        decision.enhanced_code,
        decision.rule_id,
        decision.reason,
    ) == (verdict, code, enhanced, rule_id, reason)


# --- every status x action x service -----------------------------------------------------
IN_GRACE = with_status(
    USER, AccountStatus.DEPARTED, separation_date=date(2026, 5, 1)
)  # ends 2026-08-01
EXPIRED = with_status(USER, AccountStatus.DEPARTED, separation_date=date(2026, 1, 1))  # 2026-04-01
FUTURE_DEPARTURE = with_status(USER, AccountStatus.DEPARTED, separation_date=date(2026, 7, 1))
STATUS_ACCOUNTS = {
    "active": USER,
    "pending": with_status(USER, AccountStatus.PENDING),
    "locked": with_status(USER, AccountStatus.LOCKED, status_reason="phishing"),
    "suspended": with_status(USER, AccountStatus.SUSPENDED, status_reason="abuse"),
    "closed": with_status(USER, AccountStatus.CLOSED),
    "departed-grace": IN_GRACE,
    "departed-expired": EXPIRED,
    "departed-future": FUTURE_DEPARTURE,
}

OK_LOGIN = (ALLOW, 235, "2.7.0", "allow", "ok")
OK_SEND = (ALLOW, 250, "2.1.0", "allow", "ok")
OK_RECEIVE = (ALLOW, 250, "2.1.5", "allow", "ok")
LOGIN_OFF = (DENY, 525, "5.7.13")
SEND_OFF = (DENY, 550, "5.7.13")

STATUS_TABLE = [
    # status, action, service, expected (verdict, code, enhanced, rule id, reason)
    *[("active", LOGIN, s, OK_LOGIN) for s in (SMTP, IMAP, POP3)],
    ("active", SEND, SMTP, OK_SEND),
    ("active", RECEIVE, SMTP, OK_RECEIVE),
    *[("pending", LOGIN, s, (*LOGIN_OFF, "memo-3.1-pending", "account_pending")) for s in Service],
    ("pending", SEND, SMTP, (*SEND_OFF, "memo-3.1-pending", "account_pending")),
    ("pending", RECEIVE, SMTP, (DENY, 550, "5.1.1", "memo-3.1-pending", "account_pending")),
    *[("locked", LOGIN, s, (*LOGIN_OFF, "memo-4.2-locked", "account_locked")) for s in Service],
    ("locked", SEND, SMTP, (*SEND_OFF, "memo-4.2-locked", "account_locked")),
    ("locked", RECEIVE, SMTP, OK_RECEIVE),
    *[
        ("suspended", LOGIN, s, (*LOGIN_OFF, "memo-4-suspended", "account_suspended"))
        for s in Service
    ],
    ("suspended", SEND, SMTP, (*SEND_OFF, "memo-4-suspended", "account_suspended")),
    ("suspended", RECEIVE, SMTP, OK_RECEIVE),  # default inbound_suspended = ACCEPT
    *[("closed", LOGIN, s, (*LOGIN_OFF, "memo-4-closed", "account_closed")) for s in Service],
    ("closed", SEND, SMTP, (*SEND_OFF, "memo-4-closed", "account_closed")),
    ("closed", RECEIVE, SMTP, (DENY, 550, "5.1.1", "memo-4-closed", "account_closed")),
    *[
        ("departed-grace", LOGIN, s, (ALLOW, 235, "2.7.0", "memo-4.1-departed", "departed_grace"))
        for s in Service
    ],
    ("departed-grace", SEND, SMTP, (*SEND_OFF, "memo-4.1-departed", "departed_grace")),
    (
        "departed-grace",
        RECEIVE,
        SMTP,
        (ALLOW, 250, "2.1.5", "memo-4.1-departed", "departed_grace"),
    ),
    *[
        ("departed-expired", LOGIN, s, (*LOGIN_OFF, "memo-4.1-departed", "departed_expired"))
        for s in Service
    ],
    ("departed-expired", SEND, SMTP, (*SEND_OFF, "memo-4.1-departed", "departed_expired")),
    ("departed-expired", RECEIVE, SMTP, OK_RECEIVE),  # like suspended: ACCEPT by default
    *[("departed-future", LOGIN, s, OK_LOGIN) for s in Service],
    ("departed-future", SEND, SMTP, OK_SEND),
    ("departed-future", RECEIVE, SMTP, OK_RECEIVE),
]


@pytest.mark.parametrize(
    ("status", "action", "service", "expected"),
    STATUS_TABLE,
    ids=[f"{s}-{a}-{v}" for s, a, v, _ in STATUS_TABLE],
)
def test_status_action_service(
    status: str, action: Action, service: Service, expected: tuple
) -> None:
    request = Request(action=action, service=service)
    decision = decide(STATUS_ACCOUNTS[status], request, NOW, DEFAULTS)
    check(decision, *expected)


def test_state_denials_carry_the_status_reason_and_date() -> None:
    account = with_status(
        USER,
        AccountStatus.SUSPENDED,
        status_reason="spam run",
        status_since=datetime(2026, 6, 1, 3, tzinfo=UTC),
    )
    decision = decide(account, Request(LOGIN, IMAP), NOW, DEFAULTS)
    assert decision.params["reason"] == "spam run"
    assert decision.params["since"] == "2026-06-01"
    assert decision.params["login"] == "somchai"


# --- inbound treatment of disabled accounts ------------------------------------------------
INBOUND_TABLE = [
    ("suspended", "inbound_suspended", InboundAction.ACCEPT, (ALLOW, 250, "2.1.5")),
    ("suspended", "inbound_suspended", InboundAction.REJECT_DISABLED, (DENY, 550, "5.2.1")),
    ("suspended", "inbound_suspended", InboundAction.REJECT_UNKNOWN, (DENY, 550, "5.1.1")),
    ("closed", "inbound_closed", InboundAction.ACCEPT, (ALLOW, 250, "2.1.5")),
    ("closed", "inbound_closed", InboundAction.REJECT_DISABLED, (DENY, 550, "5.2.1")),
    ("closed", "inbound_closed", InboundAction.REJECT_UNKNOWN, (DENY, 550, "5.1.1")),
    ("departed-expired", "inbound_suspended", InboundAction.ACCEPT, (ALLOW, 250, "2.1.5")),
    (
        "departed-expired",
        "inbound_suspended",
        InboundAction.REJECT_DISABLED,
        (DENY, 550, "5.2.1"),
    ),
    ("departed-expired", "inbound_suspended", InboundAction.REJECT_UNKNOWN, (DENY, 550, "5.1.1")),
    # settings for the other state never matter
    ("suspended", "inbound_closed", InboundAction.REJECT_UNKNOWN, (ALLOW, 250, "2.1.5")),
    ("closed", "inbound_suspended", InboundAction.REJECT_DISABLED, (DENY, 550, "5.1.1")),
    # mail to a locked or departed-in-grace account is always accepted
    ("locked", "inbound_suspended", InboundAction.REJECT_UNKNOWN, (ALLOW, 250, "2.1.5")),
    ("departed-grace", "inbound_suspended", InboundAction.REJECT_UNKNOWN, (ALLOW, 250, "2.1.5")),
]


@pytest.mark.parametrize(("status", "knob", "inbound", "expected"), INBOUND_TABLE)
def test_inbound_settings(status: str, knob: str, inbound: InboundAction, expected: tuple) -> None:
    settings = replace(DEFAULTS, **{knob: inbound})
    decision = decide(STATUS_ACCOUNTS[status], Request(RECEIVE, SMTP), NOW, settings)
    assert (decision.verdict, decision.smtp_code, decision.enhanced_code) == expected


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("suspended", "account_suspended"),
        ("closed", "account_closed"),
        ("departed-expired", "departed_expired"),
    ],
)
def test_inbound_rejection_names_the_state(status: str, reason: str) -> None:
    settings = replace(
        DEFAULTS,
        inbound_suspended=InboundAction.REJECT_DISABLED,
        inbound_closed=InboundAction.REJECT_DISABLED,
    )
    decision = decide(STATUS_ACCOUNTS[status], Request(RECEIVE, SMTP), NOW, settings)
    assert decision.reason == reason


# --- memo 4.1: the departure window, day by day ------------------------------------------
# (separation date, day checked, expected reason for LOGIN, expected access_ends)
DEPARTED_DAYS = [
    (date(2026, 6, 15), date(2026, 6, 14), "ok", None),  # day before separation: still staff
    (date(2026, 6, 15), date(2026, 6, 15), "departed_grace", date(2026, 9, 15)),
    (date(2026, 6, 15), date(2026, 6, 16), "departed_grace", date(2026, 9, 15)),
    (date(2026, 6, 15), date(2026, 9, 14), "departed_grace", date(2026, 9, 15)),  # last day
    (date(2026, 6, 15), date(2026, 9, 15), "departed_expired", None),  # end date refused
    (date(2026, 6, 15), date(2026, 9, 16), "departed_expired", None),
    (date(2026, 11, 30), date(2027, 2, 27), "departed_grace", date(2027, 2, 28)),  # clamp
    (date(2026, 11, 30), date(2027, 2, 28), "departed_expired", None),
    (date(2026, 11, 30), date(2027, 3, 1), "departed_expired", None),
    (date(2027, 11, 30), date(2028, 2, 28), "departed_grace", date(2028, 2, 29)),  # leap
    (date(2027, 11, 30), date(2028, 2, 29), "departed_expired", None),
    (date(2027, 11, 30), date(2028, 3, 1), "departed_expired", None),
]


@pytest.mark.parametrize(("separation", "day", "reason", "access_ends"), DEPARTED_DAYS)
def test_departure_window_boundaries(
    separation: date, day: date, reason: str, access_ends: date | None
) -> None:
    account = with_status(USER, AccountStatus.DEPARTED, separation_date=separation)
    login = decide(account, Request(LOGIN, IMAP), at(day), DEFAULTS)
    send = decide(account, Request(SEND, SMTP, sender=USER.address), at(day), DEFAULTS)
    assert login.reason == reason
    assert login.access_ends == access_ends
    if reason == "ok":
        check(login, *OK_LOGIN)
        check(send, *OK_SEND)
    elif reason == "departed_grace":
        check(login, ALLOW, 235, "2.7.0", "memo-4.1-departed", "departed_grace")
        check(send, *SEND_OFF, "memo-4.1-departed", "departed_grace")
        assert send.access_ends == access_ends
        assert login.params["access_ends"] == access_ends.isoformat()
        assert login.params["last_day"] == (access_ends - timedelta(days=1)).isoformat()
        assert login.params["separation_date"] == separation.isoformat()
    else:
        check(login, *LOGIN_OFF, "memo-4.1-departed", "departed_expired")
        check(send, *SEND_OFF, "memo-4.1-departed", "departed_expired")


def test_departure_window_uses_the_utc_date() -> None:
    account = with_status(USER, AccountStatus.DEPARTED, separation_date=date(2026, 6, 15))
    bangkok = timezone(timedelta(hours=7))
    # 05:00 in Bangkok on the end date is still the day before in UTC.
    early = decide(account, Request(LOGIN, IMAP), datetime(2026, 9, 15, 5, tzinfo=bangkok))
    late = decide(account, Request(LOGIN, IMAP), datetime(2026, 9, 15, 8, tzinfo=bangkok))
    assert early.reason == "departed_grace"
    assert late.reason == "departed_expired"


def test_departed_grace_months_setting_with_month_end_clamp() -> None:
    settings = replace(DEFAULTS, departed_grace_months=6)
    account = with_status(USER, AccountStatus.DEPARTED, separation_date=date(2026, 8, 31))
    inside = decide(account, Request(LOGIN, IMAP), at(date(2027, 2, 27)), settings)
    outside = decide(account, Request(LOGIN, IMAP), at(date(2027, 2, 28)), settings)
    assert (inside.reason, inside.access_ends) == ("departed_grace", date(2027, 2, 28))
    assert outside.reason == "departed_expired"


def test_departed_can_send_setting_allows_sending_in_the_window_only() -> None:
    settings = replace(DEFAULTS, departed_can_send=True)
    request = Request(SEND, SMTP, sender=USER.address)
    in_window = decide(IN_GRACE, request, NOW, settings)
    check(in_window, ALLOW, 250, "2.1.0", "memo-4.1-departed", "departed_grace")
    assert in_window.access_ends == date(2026, 8, 1)
    check(
        decide(EXPIRED, request, NOW, settings),
        *SEND_OFF,
        *("memo-4.1-departed",),
        "departed_expired",
    )


def test_departed_can_send_still_checks_the_sender() -> None:
    settings = replace(DEFAULTS, departed_can_send=True)
    request = Request(SEND, SMTP, sender="mayor@bangkok.go.th")
    check(
        decide(IN_GRACE, request, NOW, settings),
        DENY,
        553,
        "5.7.1",
        "sender-owned",
        "sender_not_owned",
    )


def test_departed_without_separation_date_fails_closed() -> None:
    account = with_status(USER, AccountStatus.DEPARTED, separation_date=None)
    check(
        decide(account, Request(LOGIN, IMAP), NOW),
        *LOGIN_OFF,
        "memo-4.1-departed",
        "departed_expired",
    )


def test_zero_grace_months_refuses_from_the_separation_date() -> None:
    settings = replace(DEFAULTS, departed_grace_months=0)
    account = with_status(USER, AccountStatus.DEPARTED, separation_date=NOW.date())
    assert decide(account, Request(LOGIN, IMAP), NOW, settings).reason == "departed_expired"


# --- per-service switches ---------------------------------------------------------------
SERVICE_TABLE = [
    # smtp_enabled, imap_enabled, action, service, expected
    (False, True, LOGIN, SMTP, (*LOGIN_OFF, "service-enabled", "service_disabled")),
    (False, True, LOGIN, IMAP, OK_LOGIN),
    (False, True, LOGIN, POP3, OK_LOGIN),
    (False, True, SEND, SMTP, (*SEND_OFF, "service-enabled", "service_disabled")),
    (False, True, RECEIVE, SMTP, OK_RECEIVE),
    (True, False, LOGIN, SMTP, OK_LOGIN),
    (True, False, LOGIN, IMAP, (*LOGIN_OFF, "service-enabled", "service_disabled")),
    (True, False, LOGIN, POP3, (*LOGIN_OFF, "service-enabled", "service_disabled")),
    (True, False, SEND, SMTP, OK_SEND),
    (True, False, RECEIVE, SMTP, OK_RECEIVE),
    (False, False, RECEIVE, SMTP, OK_RECEIVE),
]


@pytest.mark.parametrize(("smtp", "imap", "action", "service", "expected"), SERVICE_TABLE)
def test_service_flags(
    smtp: bool, imap: bool, action: Action, service: Service, expected: tuple
) -> None:
    account = replace(USER, smtp_enabled=smtp, imap_enabled=imap)
    check(decide(account, Request(action, service), NOW, DEFAULTS), *expected)


def test_service_flag_names_the_service() -> None:
    account = replace(USER, imap_enabled=False)
    assert decide(account, Request(LOGIN, POP3), NOW).params["service"] == "POP3"


def test_service_flag_denies_after_a_departed_grace_note() -> None:
    account = replace(IN_GRACE, imap_enabled=False)
    check(
        decide(account, Request(LOGIN, IMAP), NOW),
        *LOGIN_OFF,
        "service-enabled",
        "service_disabled",
    )


def test_account_state_wins_over_service_flag() -> None:
    account = replace(STATUS_ACCOUNTS["locked"], imap_enabled=False)
    assert decide(account, Request(LOGIN, IMAP), NOW).reason == "account_locked"


# --- sender authorisation ---------------------------------------------------------------
def send(
    account: Account,
    sender: str | None,
    header_from: tuple[str, ...] = (),
    owners: tuple[Account, ...] = (),
    responsible: Account | None = None,
    settings: PolicySettings = DEFAULTS,
) -> Decision:
    request = Request(
        SEND,
        SMTP,
        sender=sender,
        header_from=header_from,
        sender_owners=owners,
        role_responsible=responsible,
    )
    return decide(account, request, NOW, settings)


NOT_OWNED = (DENY, 553, "5.7.1", "sender-owned", "sender_not_owned")
FROM_NOT_OWNED = (DENY, 550, "5.7.1", "header-from-owned", "header_from_not_owned")
ROLE_OFF = (*SEND_OFF, "sender-owned", "role_disabled")

SENDER_TABLE = [
    # id, account, MAIL FROM, From: addresses, sender owners, expected
    ("own", USER, "somchai@bangkok.go.th", (), (), OK_SEND),
    ("own-upper", USER, "SomChai@Bangkok.GO.TH", (), (), OK_SEND),
    ("alias", USER, "s.khamdee@bangkok.go.th", (), (), OK_SEND),
    ("send-as", USER, "Newsletter@bangkok.go.th", (), (), OK_SEND),
    ("no-sender", USER, None, (), (), OK_SEND),
    ("stranger", USER, "mayor@bangkok.go.th", (), (), NOT_OWNED),
    ("lookalike", USER, "somchai@bangkok.go.th.evil.example", (), (), NOT_OWNED),
    ("null", USER, "", (), (), (DENY, 550, "5.7.1", "sender-null", "null_sender")),
    ("role-responsible", USER, "finance@bangkok.go.th", (), (ROLE,), OK_SEND),
    ("role-alias-upper", USER, "BUDGET@bangkok.go.th", (), (ROLE,), OK_SEND),
    ("role-delegate", DELEGATE, "finance@bangkok.go.th", (), (ROLE,), OK_SEND),
    ("role-not-allowed", OUTSIDER, "finance@bangkok.go.th", (), (ROLE,), NOT_OWNED),
    ("role-other", USER, "works@bangkok.go.th", (), (OTHER_ROLE,), NOT_OWNED),
    ("role-owner-unknown", USER, "finance@bangkok.go.th", (), (), NOT_OWNED),
    ("person-owner", USER, "preecha@bangkok.go.th", (), (OUTSIDER,), NOT_OWNED),
    (
        "role-suspended",
        USER,
        "finance@bangkok.go.th",
        (),
        (with_status(ROLE, AccountStatus.SUSPENDED),),
        ROLE_OFF,
    ),
    (
        "role-locked",
        USER,
        "finance@bangkok.go.th",
        (),
        (with_status(ROLE, AccountStatus.LOCKED),),
        ROLE_OFF,
    ),
    (
        "role-closed",
        DELEGATE,
        "finance@bangkok.go.th",
        (),
        (with_status(ROLE, AccountStatus.CLOSED),),
        ROLE_OFF,
    ),
    (
        "role-pending",
        USER,
        "finance@bangkok.go.th",
        (),
        (with_status(ROLE, AccountStatus.PENDING),),
        ROLE_OFF,
    ),
    ("from-own", USER, USER.address, ("somchai@bangkok.go.th",), (), OK_SEND),
    ("from-upper", USER, USER.address, ("S.KHAMDEE@BANGKOK.GO.TH",), (), OK_SEND),
    ("from-only", USER, None, ("somchai@bangkok.go.th",), (), OK_SEND),
    ("from-mismatch", USER, USER.address, ("mayor@bangkok.go.th",), (), FROM_NOT_OWNED),
    ("from-mismatch-no-env", USER, None, ("mayor@bangkok.go.th",), (), FROM_NOT_OWNED),
    ("from-role", USER, USER.address, ("finance@bangkok.go.th",), (ROLE,), OK_SEND),
    (
        "from-many-ok",
        USER,
        USER.address,
        ("somchai@bangkok.go.th", "finance@bangkok.go.th"),
        (ROLE,),
        OK_SEND,
    ),
    (
        "from-many-one-bad",
        USER,
        USER.address,
        ("somchai@bangkok.go.th", "mayor@bangkok.go.th"),
        (),
        FROM_NOT_OWNED,
    ),
    (
        "from-role-suspended",
        USER,
        USER.address,
        ("finance@bangkok.go.th",),
        (with_status(ROLE, AccountStatus.SUSPENDED),),
        (*SEND_OFF, "header-from-owned", "role_disabled"),
    ),
    ("from-empty-address", USER, USER.address, ("",), (), FROM_NOT_OWNED),
    ("envelope-checked-first", USER, "mayor@bangkok.go.th", ("x@example.org",), (), NOT_OWNED),
]


@pytest.mark.parametrize(
    ("account", "sender", "header_from", "owners", "expected"),
    [row[1:] for row in SENDER_TABLE],
    ids=[row[0] for row in SENDER_TABLE],
)
def test_sender_authorisation(
    account: Account,
    sender: str | None,
    header_from: tuple[str, ...],
    owners: tuple[Account, ...],
    expected: tuple,
) -> None:
    check(send(account, sender, header_from, owners, responsible=USER), *expected)


def test_sender_denial_names_the_address() -> None:
    decision = send(USER, USER.address, ("somchai@bangkok.go.th", "mayor@bangkok.go.th"))
    assert decision.params["address"] == "mayor@bangkok.go.th"
    assert send(USER, "mayor@bangkok.go.th").params["address"] == "mayor@bangkok.go.th"


def test_role_disabled_reports_the_role_state() -> None:
    role = with_status(ROLE, AccountStatus.LOCKED)
    decision = send(USER, "finance@bangkok.go.th", owners=(role,))
    assert decision.params["role_reason"] == "account_locked"


def test_role_in_departed_grace_cannot_be_used_as_sender() -> None:
    role = with_status(ROLE, AccountStatus.DEPARTED, separation_date=date(2026, 6, 1))
    check(send(USER, "finance@bangkok.go.th", owners=(role,), responsible=USER), *ROLE_OFF)


def test_sender_checks_do_not_apply_to_login_or_receive() -> None:
    for action in (LOGIN, RECEIVE):
        request = Request(action, SMTP, sender="", header_from=("mayor@bangkok.go.th",))
        assert decide(USER, request, NOW).reason == "ok"


# --- memo 4.3: role mailboxes -----------------------------------------------------------
def moved(days_ago: int) -> Account:
    return replace(USER, unit="works", unit_since=NOW - timedelta(days=days_ago))


def left(status: AccountStatus, days_ago: int | None) -> Account:
    since = None if days_ago is None else NOW - timedelta(days=days_ago)
    return with_status(USER, status, status_since=since)


ORPHAN_ROLE = (ALLOW, 235, "2.7.0", "memo-4.3-role-orphaned", "role_orphaned")
ORPHAN_ROLE_SEND = (ALLOW, 250, "2.1.0", "memo-4.3-role-orphaned", "role_orphaned")
ORPHAN_LOGIN_OFF = (*LOGIN_OFF, "memo-4.3-role-orphaned", "role_orphaned")
ORPHAN_SEND_OFF = (*SEND_OFF, "memo-4.3-role-orphaned", "role_orphaned")

ROLE_TABLE = [
    # id, role responsible person given, settings, expected LOGIN, expected SEND
    ("report-healthy", USER, DEFAULTS, OK_LOGIN, OK_SEND),
    ("report-missing", None, DEFAULTS, ORPHAN_ROLE, ORPHAN_ROLE_SEND),
    (
        "report-suspended",
        left(AccountStatus.SUSPENDED, 400),
        DEFAULTS,
        ORPHAN_ROLE,
        ORPHAN_ROLE_SEND,
    ),
    ("report-moved", moved(400), DEFAULTS, ORPHAN_ROLE, ORPHAN_ROLE_SEND),
    ("refuse-healthy", USER, REFUSE, OK_LOGIN, OK_SEND),
    ("refuse-missing", None, REFUSE, ORPHAN_LOGIN_OFF, ORPHAN_SEND_OFF),
    ("refuse-wrong-person", OUTSIDER, REFUSE, ORPHAN_LOGIN_OFF, ORPHAN_SEND_OFF),
    ("refuse-moved-29d", moved(29), REFUSE, ORPHAN_ROLE, ORPHAN_ROLE_SEND),
    ("refuse-moved-30d", moved(30), REFUSE, ORPHAN_LOGIN_OFF, ORPHAN_SEND_OFF),
    ("refuse-moved-31d", moved(31), REFUSE, ORPHAN_LOGIN_OFF, ORPHAN_SEND_OFF),
    ("refuse-moved-today", moved(0), REFUSE, ORPHAN_ROLE, ORPHAN_ROLE_SEND),
    (
        "refuse-moved-unknown-since",
        replace(USER, unit="works", unit_since=None),
        REFUSE,
        ORPHAN_LOGIN_OFF,
        ORPHAN_SEND_OFF,
    ),
    ("refuse-locked-29d", left(AccountStatus.LOCKED, 29), REFUSE, ORPHAN_ROLE, ORPHAN_ROLE_SEND),
    (
        "refuse-locked-30d",
        left(AccountStatus.LOCKED, 30),
        REFUSE,
        ORPHAN_LOGIN_OFF,
        ORPHAN_SEND_OFF,
    ),
    (
        "refuse-closed-unknown",
        left(AccountStatus.CLOSED, None),
        REFUSE,
        ORPHAN_LOGIN_OFF,
        ORPHAN_SEND_OFF,
    ),
    ("refuse-pending-2d", left(AccountStatus.PENDING, 2), REFUSE, ORPHAN_ROLE, ORPHAN_ROLE_SEND),
    (
        "refuse-departed-future",
        with_status(USER, AccountStatus.DEPARTED, separation_date=date(2026, 7, 1)),
        REFUSE,
        OK_LOGIN,
        OK_SEND,
    ),
    (
        "refuse-departed-29d",
        with_status(USER, AccountStatus.DEPARTED, separation_date=date(2026, 5, 17)),
        REFUSE,
        ORPHAN_ROLE,
        ORPHAN_ROLE_SEND,
    ),
    (
        "refuse-departed-30d",
        with_status(USER, AccountStatus.DEPARTED, separation_date=date(2026, 5, 16)),
        REFUSE,
        ORPHAN_LOGIN_OFF,
        ORPHAN_SEND_OFF,
    ),
]


@pytest.mark.parametrize(
    ("responsible", "settings", "login", "send_expected"),
    [row[1:] for row in ROLE_TABLE],
    ids=[row[0] for row in ROLE_TABLE],
)
def test_role_mailbox_orphaned(
    responsible: Account | None, settings: PolicySettings, login: tuple, send_expected: tuple
) -> None:
    login_request = Request(LOGIN, IMAP, role_responsible=responsible)
    send_request = Request(SEND, SMTP, sender=ROLE.address, role_responsible=responsible)
    check(decide(ROLE, login_request, NOW, settings), *login)
    check(decide(ROLE, send_request, NOW, settings), *send_expected)
    receive = decide(ROLE, Request(RECEIVE, SMTP, role_responsible=responsible), NOW, settings)
    check(receive, *OK_RECEIVE)


def test_orphan_threshold_setting() -> None:
    settings = replace(REFUSE, orphan_refuse_after_days=7)
    assert decide(ROLE, Request(LOGIN, IMAP, role_responsible=moved(6)), NOW, settings).allowed
    assert not decide(ROLE, Request(LOGIN, IMAP, role_responsible=moved(7)), NOW, settings).allowed


def test_orphan_params_give_mailbox_and_date() -> None:
    decision = decide(ROLE, Request(LOGIN, IMAP, role_responsible=moved(10)), NOW, REFUSE)
    assert decision.params["mailbox"] == "finance@bangkok.go.th"
    assert decision.params["orphaned_since"] == "2026-06-05"
    assert decision.params["days"] == "10"


def test_orphaned_since_is_the_earliest_cause() -> None:
    person = replace(
        moved(5), status=AccountStatus.SUSPENDED, status_since=NOW - timedelta(days=40)
    )
    assert not decide(ROLE, Request(LOGIN, IMAP, role_responsible=person), NOW, REFUSE).allowed


def test_a_leaver_suspended_by_the_sweep_orphans_from_the_day_they_left() -> None:
    left = date(2026, 2, 1)
    person = replace(
        with_status(USER, AccountStatus.SUSPENDED, separation_date=left),
        status_since=NOW - timedelta(days=1),
    )
    assert rules.orphaned_since(ROLE, person, NOW) == (True, left)
    # A departure still ahead does not count: the suspension's own date does.
    ahead = replace(person, separation_date=date(2099, 1, 1))
    assert rules.orphaned_since(ROLE, ahead, NOW) == (True, (NOW - timedelta(days=1)).date())


def test_role_without_named_responsible_is_orphaned() -> None:
    role = replace(ROLE, responsible=None)
    check(decide(role, Request(LOGIN, IMAP, role_responsible=USER), NOW, REFUSE), *ORPHAN_LOGIN_OFF)


def test_role_state_wins_over_orphan() -> None:
    role = with_status(ROLE, AccountStatus.LOCKED)
    assert decide(role, Request(LOGIN, IMAP), NOW, REFUSE).reason == "account_locked"


SEND_AS_ROLE_TABLE = [
    # id, sender account, role responsible given, settings, expected
    ("responsible-healthy", USER, None, REFUSE, OK_SEND),
    ("responsible-moved-report", moved(100), None, DEFAULTS, ORPHAN_ROLE_SEND),
    ("responsible-moved-refuse", moved(100), None, REFUSE, ORPHAN_SEND_OFF),
    ("responsible-moved-recently", moved(3), None, REFUSE, ORPHAN_ROLE_SEND),
    ("delegate-healthy", DELEGATE, USER, REFUSE, OK_SEND),
    (
        "delegate-responsible-left",
        DELEGATE,
        left(AccountStatus.CLOSED, 90),
        REFUSE,
        ORPHAN_SEND_OFF,
    ),
    ("delegate-responsible-unknown-report", DELEGATE, None, DEFAULTS, ORPHAN_ROLE_SEND),
    ("delegate-responsible-unknown-refuse", DELEGATE, None, REFUSE, ORPHAN_SEND_OFF),
]


@pytest.mark.parametrize(
    ("account", "responsible", "settings", "expected"),
    [row[1:] for row in SEND_AS_ROLE_TABLE],
    ids=[row[0] for row in SEND_AS_ROLE_TABLE],
)
def test_sending_as_an_orphaned_role(
    account: Account, responsible: Account | None, settings: PolicySettings, expected: tuple
) -> None:
    decision = send(account, ROLE.address, (ROLE.address,), (ROLE,), responsible, settings)
    check(decision, *expected)


def test_person_sending_as_self_is_never_role_orphaned() -> None:
    assert send(moved(100), USER.address, settings=REFUSE).reason == "ok"


# --- engine: ordering and fixed answers --------------------------------------------------
def test_first_note_is_kept_when_nothing_denies() -> None:
    role = with_status(ROLE, AccountStatus.DEPARTED, separation_date=date(2026, 6, 1))
    decision = decide(role, Request(LOGIN, IMAP, role_responsible=None), NOW, DEFAULTS)
    check(decision, ALLOW, 235, "2.7.0", "memo-4.1-departed", "departed_grace")
    assert decision.access_ends == date(2026, 9, 1)


def test_denial_after_a_note_wins() -> None:
    role = with_status(ROLE, AccountStatus.DEPARTED, separation_date=date(2026, 6, 1))
    decision = decide(role, Request(LOGIN, IMAP, role_responsible=None), NOW, REFUSE)
    check(decision, *ORPHAN_LOGIN_OFF)


def test_decide_defaults_settings() -> None:
    assert decide(IN_GRACE, Request(SEND, SMTP), NOW).reason == "departed_grace"
    assert not decide(IN_GRACE, Request(SEND, SMTP), NOW).allowed


def test_bad_credentials() -> None:
    check(bad_credentials(), DENY, 535, "5.7.8", "auth", "bad_credentials")


@pytest.mark.parametrize(
    ("action", "code", "enhanced"),
    [(LOGIN, 454, "4.7.0"), (SEND, 451, "4.3.0"), (RECEIVE, 451, "4.3.0")],
)
def test_directory_unavailable_fails_closed(action: Action, code: int, enhanced: str) -> None:
    check(
        directory_unavailable(action),
        TEMPFAIL,
        code,
        enhanced,
        "fail-closed",
        "directory_unavailable",
    )


def test_every_action_has_a_rule_table() -> None:
    assert set(rules.RULES) == set(Action)


@pytest.mark.parametrize(
    ("status", "special_use", "refused"),
    [
        (AccountStatus.DEPARTED, None, True),
        (AccountStatus.DEPARTED, "\\Archive", True),
        (AccountStatus.DEPARTED, "\\Sent", False),
        (AccountStatus.DEPARTED, "\\Drafts", False),
        (AccountStatus.ACTIVE, None, False),
        (AccountStatus.ACTIVE, "\\Archive", False),
    ],
)
def test_departed_store_objection(
    status: AccountStatus, special_use: str | None, refused: bool
) -> None:
    """Memo 4.1: a departed user reads and backs up; APPEND only to Sent and Drafts."""
    account = Account(login="somchai", address="somchai@bangkok.go.th", status=status)
    decision = rules.departed_store_objection(account, special_use)
    assert (decision is not None) is refused
    if decision is not None:
        assert decision.verdict is Verdict.DENY
        assert (decision.rule_id, decision.reason) == (
            rules.RULE_DEPARTED,
            rules.REASON_DEPARTED_READ_ONLY,
        )
