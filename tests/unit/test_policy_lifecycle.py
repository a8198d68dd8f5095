"""The lifecycle planner (policy/lifecycle.py): accounts + today + state in, actions out."""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from policy.lifecycle import (
    WHY_RESPONSIBLE_MOVED,
    WHY_RESPONSIBLE_UNKNOWN,
    Attention,
    LifecycleRules,
    ReportOrphans,
    SuspendDeparted,
    SuspendOrphan,
    SweepAction,
    SweepPlan,
    SweepState,
    WarnDeparting,
    WarningSent,
    describe_why,
    plan_sweep,
)
from policy.model import Account, AccountKind, AccountStatus
from policy.settings import PolicySettings

SETTINGS = PolicySettings()  # 3 months of grace
RULES = LifecycleRules()  # warn 30, 7 and 1 days before; never suspend orphans
SEPARATED = date(2026, 1, 15)
ENDS = date(2026, 4, 15)  # the first day refused


def person(login: str = "somchai", **fields: object) -> Account:
    values: dict[str, object] = {
        "login": f"{login}@bangkok.go.th",
        "address": f"{login}@bangkok.go.th",
        "unit": "Finance",
    }
    values.update(fields)
    return Account(**values)  # type: ignore[arg-type]


def departed(login: str = "somchai", separation: date | None = SEPARATED) -> Account:
    return person(login, status=AccountStatus.DEPARTED, separation_date=separation)


def role(login: str = "finance", responsible: str | None = "somchai", **fields: object) -> Account:
    who = f"{responsible}@bangkok.go.th" if responsible else None
    return person(login, kind=AccountKind.ROLE, responsible=who, **fields)


def plan(
    accounts: list[Account],
    today: date,
    state: SweepState | None = None,
    rules: LifecycleRules = RULES,
) -> SweepPlan:
    return plan_sweep(accounts, today, SETTINGS, rules, state or SweepState())


def of(kind: type, result: SweepPlan) -> list[SweepAction]:
    return [a for a in result.actions if isinstance(a, kind)]


# --- memo 4.1: suspension when the grace window ends -------------------------------------


@pytest.mark.parametrize(
    ("today", "suspended"),
    [
        (date(2026, 1, 10), False),  # separation still ahead
        (date(2026, 4, 14), False),  # the last day of the window
        (ENDS, True),  # the first day the policy refuses
        (date(2026, 11, 26), True),  # long after (a sweep that never ran)
    ],
)
def test_departed_is_suspended_from_the_first_refused_day(today: date, suspended: bool) -> None:
    actions = of(SuspendDeparted, plan([departed()], today))
    assert bool(actions) is suspended
    if suspended:
        (action,) = actions
        assert isinstance(action, SuspendDeparted)
        assert action.login == "somchai@bangkok.go.th"
        assert action.access_ends == ENDS
        assert "2026-04-15" in action.reason and "2026-01-15" in action.reason
        assert action.code == "departed_expired"


@pytest.mark.parametrize(
    "status",
    [
        AccountStatus.ACTIVE,
        AccountStatus.PENDING,
        AccountStatus.LOCKED,
        AccountStatus.SUSPENDED,
        AccountStatus.CLOSED,
    ],
)
def test_other_states_are_left_alone(status: AccountStatus) -> None:
    account = person(status=status, separation_date=SEPARATED)
    assert plan([account], date(2026, 11, 26)).actions == ()


def test_month_end_clamps_like_the_policy() -> None:
    # Separated 30 November: the window ends on the last day of February (28th in 2027).
    account = departed(separation=date(2026, 11, 30))
    assert not of(SuspendDeparted, plan([account], date(2027, 2, 27)))
    assert of(SuspendDeparted, plan([account], date(2027, 2, 28)))


def test_departed_without_a_date_needs_attention_not_a_guess() -> None:
    result = plan([departed(separation=None)], date(2026, 11, 26))
    (action,) = result.actions
    assert isinstance(action, Attention)
    assert result.changes == ()


# --- memo 4.1: warnings before the end -------------------------------------------------

# days before ENDS -> the warning stage due with nothing sent yet (None: no warning)
WARNING_TABLE = [
    (45, None),
    (31, None),
    (30, 30),
    (20, 30),
    (8, 30),
    (7, 7),
    (3, 7),  # the 30- and 7-day ones were missed: only the 7-day one goes
    (2, 7),
    (1, 1),  # the last day
]


@pytest.mark.parametrize(("days_left", "stage"), WARNING_TABLE)
def test_nearest_due_warning_is_planned(days_left: int, stage: int | None) -> None:
    today = date.fromordinal(ENDS.toordinal() - days_left)
    warnings = of(WarnDeparting, plan([departed()], today))
    if stage is None:
        assert warnings == []
        return
    (warning,) = warnings
    assert isinstance(warning, WarnDeparting)
    assert (warning.stage, warning.days_left) == (stage, days_left)
    assert warning.access_ends == ENDS
    assert warning.last_day == date(2026, 4, 14)
    assert warning.address == "somchai@bangkok.go.th"


@pytest.mark.parametrize(
    ("sent_stage", "days_left", "expected"),
    [
        (30, 20, None),  # already warned at this stage
        (30, 7, 7),  # the next stage is due
        (30, 3, 7),  # caught up: one warning, the nearest
        (7, 3, None),
        (7, 1, 1),
        (1, 1, None),
    ],
)
def test_each_warning_once(sent_stage: int, days_left: int, expected: int | None) -> None:
    today = date.fromordinal(ENDS.toordinal() - days_left)
    state = SweepState(warnings={"somchai@bangkok.go.th": WarningSent(ENDS, sent_stage)})
    stages = [a.stage for a in of(WarnDeparting, plan([departed()], today, state))]  # type: ignore[attr-defined]
    assert stages == ([] if expected is None else [expected])


def test_a_new_separation_date_starts_the_warnings_again() -> None:
    state = SweepState(warnings={"somchai@bangkok.go.th": WarningSent(date(2026, 3, 1), 1)})
    result = plan([departed()], date(2026, 4, 10), state)
    assert [a.stage for a in of(WarnDeparting, result)] == [7]  # type: ignore[attr-defined]
    assert result.warnings == {}  # the stale record is dropped


def test_warning_record_is_kept_while_the_end_date_holds() -> None:
    sent = WarningSent(ENDS, 30)
    state = SweepState(warnings={"somchai@bangkok.go.th": sent, "gone@bangkok.go.th": sent})
    result = plan([departed()], date(2026, 4, 1), state)
    assert result.warnings == {"somchai@bangkok.go.th": sent}


def test_no_warning_on_the_day_of_suspension() -> None:
    result = plan([departed()], ENDS)
    assert of(WarnDeparting, result) == []


def test_configured_warn_days() -> None:
    rules = LifecycleRules(warn_days=(14,))
    today = date.fromordinal(ENDS.toordinal() - 10)
    assert [a.stage for a in of(WarnDeparting, plan([departed()], today, rules=rules))] == [14]  # type: ignore[attr-defined]
    assert plan([departed()], today, rules=LifecycleRules(warn_days=())).actions == ()


# --- memo 4.3: orphaned role mailboxes --------------------------------------------------

TODAY = date(2026, 11, 26)


def test_role_of_an_active_colleague_is_not_orphaned() -> None:
    result = plan([person(), role()], TODAY)
    assert result.orphans == () and result.actions == ()


@pytest.mark.parametrize(
    ("responsible", "why", "since"),
    [
        (departed(separation=date(2026, 10, 1)), ("responsible_departed",), date(2026, 10, 1)),
        (
            person(status=AccountStatus.LOCKED, status_since=datetime(2026, 11, 2, tzinfo=UTC)),
            ("responsible_locked",),
            date(2026, 11, 2),
        ),
        (
            person(status=AccountStatus.CLOSED, status_since=datetime(2026, 9, 9, tzinfo=UTC)),
            ("responsible_closed",),
            date(2026, 9, 9),
        ),
        (
            person(unit="Traffic", unit_since=datetime(2026, 11, 20, 8, tzinfo=UTC)),
            (WHY_RESPONSIBLE_MOVED,),
            date(2026, 11, 20),
        ),
        (None, (WHY_RESPONSIBLE_UNKNOWN,), None),
    ],
)
def test_orphans_say_why_and_since_when(
    responsible: Account | None, why: tuple[str, ...], since: date | None
) -> None:
    accounts = [role()] + ([responsible] if responsible else [])
    result = plan(accounts, TODAY)
    (orphan,) = result.orphans
    assert orphan.login == "finance@bangkok.go.th"
    assert orphan.unit == "Finance"
    assert orphan.responsible == "somchai@bangkok.go.th"
    assert orphan.why == why
    assert orphan.since == since
    assert orphan.days == (TODAY - (since or TODAY)).days
    assert describe_why(orphan).startswith("responsible person")


def test_responsible_leaving_in_the_future_is_still_staff() -> None:
    result = plan([role(), departed(separation=date(2026, 12, 31))], TODAY)
    assert result.orphans == ()


def test_disabled_roles_are_not_reported() -> None:
    suspended_role = role(status=AccountStatus.SUSPENDED)
    assert plan([suspended_role], TODAY).orphans == ()


def test_unknown_since_counts_from_the_first_sweep_that_saw_it() -> None:
    first = plan([role(responsible="nobody")], TODAY)
    assert first.orphans_seen == {"finance@bangkok.go.th": TODAY}
    later = date(2026, 12, 30)
    state = SweepState(orphans_seen=first.orphans_seen)
    (orphan,) = plan([role(responsible="nobody")], later, state).orphans
    assert (orphan.first_seen, orphan.days) == (TODAY, 34)
    # Resolved: forgotten.
    assert plan([role(), person()], later, state).orphans_seen == {}


def test_orphan_days_keep_counting_when_the_responsible_person_is_suspended_later() -> None:
    # The sweep suspends the leaver: their status date becomes today, but the role has
    # been orphaned since the day they left (and since a sweep first saw it).
    left = date(2026, 10, 1)
    first = plan([role(), departed(separation=left)], date(2026, 10, 2))
    suspended = person(
        status=AccountStatus.SUSPENDED,
        separation_date=left,
        status_since=datetime(2026, 11, 20, 9, tzinfo=UTC),
    )
    state = SweepState(orphans_seen=first.orphans_seen)
    (orphan,) = plan([role(), suspended], TODAY, state).orphans
    assert orphan.days == (TODAY - left).days
    # Without a separation date, the first sweep that saw it still bounds the count.
    no_date = replace(suspended, separation_date=None)
    (orphan,) = plan([role(), no_date], TODAY, state).orphans
    assert orphan.days == (TODAY - date(2026, 10, 2)).days


@pytest.mark.parametrize(("after", "suspended"), [(0, False), (57, False), (56, True), (1, True)])
def test_orphans_suspended_after_the_configured_days(after: int, suspended: bool) -> None:
    # Orphaned since 2026-10-01: 56 days on TODAY.
    accounts = [role(), departed(separation=date(2026, 10, 1))]
    result = plan(accounts, TODAY, rules=LifecycleRules(suspend_orphans_after_days=after))
    actions = of(SuspendOrphan, result)
    assert bool(actions) is suspended
    if suspended:
        (action,) = actions
        assert isinstance(action, SuspendOrphan)
        assert action.login == "finance@bangkok.go.th"
        assert "2026-10-01" in action.reason and "memo 4.3" in action.reason


def test_report_once_per_change_of_the_orphan_set() -> None:
    accounts = [role(), role("hr", "malee"), departed(separation=date(2026, 10, 1))]
    first = plan(accounts, TODAY)
    (report,) = of(ReportOrphans, first)
    assert isinstance(report, ReportOrphans)
    assert [o.login for o in report.orphans] == ["finance@bangkok.go.th", "hr@bangkok.go.th"]
    assert report.resolved == () and report.suspended == ()
    state = SweepState(orphans_seen=first.orphans_seen, reported=report.reported)
    # Same set the next hour and the next day: nothing to report.
    assert of(ReportOrphans, plan(accounts, TODAY, state)) == []
    assert of(ReportOrphans, plan(accounts, date(2026, 11, 27), state)) == []
    # hr gets a responsible person: a new report lists it as resolved.
    fixed = [role(), role("hr", "malee"), departed(separation=date(2026, 10, 1)), person("malee")]
    (again,) = of(ReportOrphans, plan(fixed, date(2026, 11, 27), state))
    assert isinstance(again, ReportOrphans)
    assert [o.login for o in again.orphans] == ["finance@bangkok.go.th"]
    assert again.resolved == ("hr@bangkok.go.th",)


def test_a_new_responsible_person_who_is_also_gone_is_a_change() -> None:
    accounts = [role(), departed(separation=date(2026, 10, 1))]
    first = plan(accounts, TODAY)
    (report,) = of(ReportOrphans, first)
    state = SweepState(reported=report.reported)  # type: ignore[attr-defined]
    renamed = [role(responsible="malee"), departed("malee", date(2026, 10, 2))]
    assert of(ReportOrphans, plan([*accounts[1:], *renamed], TODAY, state))


def test_suspensions_are_reported_even_when_nothing_else_changed() -> None:
    accounts = [role(), departed(separation=date(2026, 10, 1))]
    rules = LifecycleRules(suspend_orphans_after_days=30)
    result = plan(accounts, TODAY, rules=rules)
    (report,) = of(ReportOrphans, result)
    assert isinstance(report, ReportOrphans)
    assert report.orphans == () and [o.login for o in report.suspended] == ["finance@bangkok.go.th"]
    assert report.reported == {}


def test_no_orphans_and_none_before_sends_nothing() -> None:
    assert of(ReportOrphans, plan([person()], TODAY)) == []


# --- the whole plan --------------------------------------------------------------------


def test_order_suspend_warn_orphans_report_attention() -> None:
    accounts = [
        departed("aaa", date(2026, 1, 1)),  # expired
        departed("bbb", date(2026, 8, 28)),  # ends 2026-11-28: warning
        departed("ccc", None),  # attention
        role("zrole", "aaa"),
    ]
    rules = LifecycleRules(suspend_orphans_after_days=30)
    kinds = [type(a).__name__ for a in plan(accounts, TODAY, rules=rules).actions]
    assert kinds == [
        "SuspendDeparted",
        "WarnDeparting",
        "SuspendOrphan",
        "ReportOrphans",
        "Attention",
    ]


def _applied(accounts: list[Account], result: SweepPlan) -> tuple[list[Account], SweepState]:
    """What the executor leaves behind, simulated: suspensions made, mails recorded."""
    suspended = {a.login for a in result.actions if isinstance(a, SuspendDeparted | SuspendOrphan)}
    after = [
        dataclasses.replace(a, status=AccountStatus.SUSPENDED) if a.login in suspended else a
        for a in accounts
    ]
    warnings = dict(result.warnings)
    reported: dict[str, str] = {}
    for action in result.actions:
        if isinstance(action, WarnDeparting):
            warnings[action.login] = WarningSent(action.access_ends, action.stage)
        if isinstance(action, ReportOrphans):
            reported = dict(action.reported)
    return after, SweepState(warnings, result.orphans_seen, reported)


def test_sweeping_twice_changes_nothing_the_second_time() -> None:
    accounts = [
        departed("aaa", date(2026, 1, 1)),
        departed("bbb", date(2026, 8, 28)),
        role("finance", "aaa"),
        role("hr", "nobody"),
        person("ddd"),
    ]
    rules = LifecycleRules(suspend_orphans_after_days=30)
    first = plan(accounts, TODAY, rules=rules)
    # suspend aaa, warn bbb (7 days), suspend finance, report (hr still orphaned)
    assert len(first.changes) == 4
    after, state = _applied(accounts, first)
    assert plan(after, TODAY, state, rules).changes == ()
    # The next day only the last warning to bbb is due (1 day before the end).
    (last,) = plan(after, date(2026, 11, 27), state, rules).changes
    assert isinstance(last, WarnDeparting) and last.stage == 1


def test_plan_does_not_depend_on_input_order() -> None:
    accounts = [departed("bbb", date(2026, 8, 28)), departed("aaa", date(2026, 1, 1)), role()]
    assert plan(accounts, TODAY) == plan(list(reversed(accounts)), TODAY)
