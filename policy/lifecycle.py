"""What the lifecycle sweep should do today (memo 4.1 and 4.3), decided without any I/O.

`plan_sweep(accounts, today, settings, rules, state)` looks at every account and at
what earlier sweeps already did (`SweepState`) and returns a `SweepPlan`: the
actions to carry out, in order, and the bookkeeping the next sweep needs. The
executor (`mailserver.lifecycle.sweep`) applies it; running the same plan twice is
harmless because a plan only proposes what the state says has not been done yet.

- Memo 4.1: a departed account whose grace window has ended (today is on or after
  `departure_window(separation, settings)`, the first day the policy refuses it) is
  suspended. Before that, the user is warned `rules.warn_days` days before the end,
  each warning once per end date; a sweep that missed a day sends only the nearest
  warning that is due, never a burst of stale ones.
- Memo 4.3: an active role mailbox whose responsible person is gone, not active, or
  in another unit (`orphaned_since`) is reported to the administrators whenever the
  set of orphans changes, and suspended without notice once orphaned for
  `rules.suspend_orphans_after_days` days (0 = never). When the directory does not
  say since when, the days count from the first sweep that saw the orphan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from policy.model import Account, AccountKind, AccountStatus
from policy.rules import (
    REASON_DEPARTED_EXPIRED,
    REASON_ROLE_ORPHANED,
    departure_window,
    last_day_of_access,
    orphaned_since,
)
from policy.settings import PolicySettings

REASON_DEPARTURE_WARNING = "departure_warning"
REASON_NO_SEPARATION_DATE = "departed_without_date"

# Why a role mailbox is orphaned (stable codes, for the log and the report).
WHY_NO_RESPONSIBLE = "no_responsible"
WHY_RESPONSIBLE_UNKNOWN = "responsible_unknown"
WHY_RESPONSIBLE_MOVED = "responsible_moved_unit"
WHY_STATUS = "responsible_{status}"  # responsible_departed, _locked, _suspended, ...


@dataclass(frozen=True, slots=True)
class LifecycleRules:
    """The sweep's own knobs (the rest comes from `PolicySettings`)."""

    # Days before the end of the grace window at which departing users are warned.
    warn_days: tuple[int, ...] = (30, 7, 1)
    # Suspend a role mailbox orphaned for this many days (0: never, only report).
    suspend_orphans_after_days: int = 0


@dataclass(frozen=True, slots=True)
class WarningSent:
    """The last warning sent to one departing user: for which end date, at which stage."""

    access_ends: date
    days: int  # the smallest warn-day sent for that end date


@dataclass(frozen=True, slots=True)
class SweepState:
    """What earlier sweeps did, as far as the next one needs to know."""

    warnings: Mapping[str, WarningSent] = field(default_factory=dict)
    # Role login -> the first day a sweep saw it orphaned.
    orphans_seen: Mapping[str, date] = field(default_factory=dict)
    # The orphans of the last report sent: role login -> responsible login ("" if none).
    reported: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Orphan:
    """A role mailbox without a usable responsible person, and why."""

    login: str
    address: str
    unit: str
    responsible: str  # "" when none is named
    why: tuple[str, ...]
    since: date | None  # when the directory says it became orphaned
    first_seen: date  # when a sweep first saw it
    days: int  # days orphaned, counted from `since`, else from `first_seen`

    @property
    def counted_from(self) -> date:
        return self.since or self.first_seen


@dataclass(frozen=True, slots=True)
class SuspendDeparted:
    login: str
    separation_date: date
    access_ends: date
    reason: str
    code: str = REASON_DEPARTED_EXPIRED


@dataclass(frozen=True, slots=True)
class WarnDeparting:
    login: str
    address: str
    display_name: str
    separation_date: date
    access_ends: date
    days_left: int
    stage: int  # the warn-day this warning stands for (30, 7, 1 ...)
    code: str = REASON_DEPARTURE_WARNING

    @property
    def last_day(self) -> date:
        """The last day of access; `access_ends` is the first day of the suspension."""
        return last_day_of_access(self.access_ends)


@dataclass(frozen=True, slots=True)
class SuspendOrphan:
    orphan: Orphan
    reason: str
    code: str = REASON_ROLE_ORPHANED

    @property
    def login(self) -> str:
        return self.orphan.login


@dataclass(frozen=True, slots=True)
class ReportOrphans:
    """Tell the administrators: the orphans left, those suspended now, those resolved."""

    orphans: tuple[Orphan, ...]
    suspended: tuple[Orphan, ...]
    resolved: tuple[str, ...]
    reported: Mapping[str, str]  # the new `SweepState.reported` once sent
    code: str = REASON_ROLE_ORPHANED


@dataclass(frozen=True, slots=True)
class Attention:
    """Something the sweep cannot decide and an operator should fix (not a change)."""

    login: str
    problem: str
    code: str = REASON_NO_SEPARATION_DATE


SweepAction = SuspendDeparted | WarnDeparting | SuspendOrphan | ReportOrphans | Attention


@dataclass(frozen=True, slots=True)
class SweepPlan:
    actions: tuple[SweepAction, ...]
    orphans: tuple[Orphan, ...]  # every orphan seen today, suspended or not
    # Bookkeeping for the next sweep, before this plan's actions are recorded.
    orphans_seen: Mapping[str, date]
    warnings: Mapping[str, WarningSent]

    @property
    def changes(self) -> tuple[SweepAction, ...]:
        """The actions that change something (everything but `Attention`)."""
        return tuple(a for a in self.actions if not isinstance(a, Attention))


def plan_sweep(
    accounts: Iterable[Account],
    today: date,
    settings: PolicySettings,
    rules: LifecycleRules,
    state: SweepState,
) -> SweepPlan:
    """The sweep's actions for `today`: suspensions, warnings, the orphan report.

    Order: departed suspensions, warnings, orphan suspensions, then the report (which
    lists the suspensions it follows), then things needing attention. Accounts are
    taken in login order so the plan is the same for the same input.
    """
    people = sorted(accounts, key=lambda a: a.login)
    by_login = {a.login.lower(): a for a in people}
    suspensions: list[SweepAction] = []
    warnings: list[SweepAction] = []
    attention: list[SweepAction] = []
    kept: dict[str, WarningSent] = {}
    for account in people:
        if account.status is not AccountStatus.DEPARTED:
            continue
        if account.separation_date is None:
            attention.append(
                Attention(account.login, "departed without a separation date: set one")
            )
            continue
        ends = departure_window(account.separation_date, settings)
        sent = state.warnings.get(account.login)
        if sent is not None and sent.access_ends == ends:
            kept[account.login] = sent
        else:
            sent = None
        if today >= ends:
            suspensions.append(
                SuspendDeparted(
                    account.login,
                    account.separation_date,
                    ends,
                    f"departure grace ended on {ends.isoformat()}"
                    f" (separated {account.separation_date.isoformat()}, memo 4.1)",
                )
            )
            continue
        warning = _warning(account, ends, today, rules.warn_days, sent)
        if warning is not None:
            warnings.append(warning)

    orphans, seen = _orphans(people, by_login, today, state.orphans_seen)
    after = rules.suspend_orphans_after_days
    suspended = tuple(o for o in orphans if after > 0 and o.days >= after)
    orphan_suspensions: list[SweepAction] = [
        SuspendOrphan(o, _orphan_reason(o, after)) for o in suspended
    ]
    remaining = tuple(o for o in orphans if o not in suspended)
    report: list[SweepAction] = []
    reported = {o.login: o.responsible for o in remaining}
    if reported != dict(state.reported) or suspended:
        resolved = tuple(
            sorted(
                login
                for login in state.reported
                if login not in reported and login not in {o.login for o in suspended}
            )
        )
        report.append(ReportOrphans(remaining, suspended, resolved, reported))
    actions = (*suspensions, *warnings, *orphan_suspensions, *report, *attention)
    return SweepPlan(tuple(actions), orphans, seen, kept)


def _warning(
    account: Account,
    ends: date,
    today: date,
    warn_days: tuple[int, ...],
    sent: WarningSent | None,
) -> WarnDeparting | None:
    """The nearest warning due and not yet sent for this end date, if any."""
    days_left = (ends - today).days
    due = [d for d in warn_days if d >= days_left]
    if not due:
        return None
    stage = min(due)
    if sent is not None and sent.days <= stage:
        return None
    assert account.separation_date is not None
    return WarnDeparting(
        account.login,
        account.address,
        account.display_name,
        account.separation_date,
        ends,
        days_left,
        stage,
    )


def _orphans(
    people: list[Account],
    by_login: Mapping[str, Account],
    today: date,
    seen_before: Mapping[str, date],
) -> tuple[tuple[Orphan, ...], dict[str, date]]:
    """Every active role mailbox that is orphaned today, and the updated first-seen dates."""
    now = datetime.combine(today, time(12), tzinfo=UTC)
    orphans: list[Orphan] = []
    seen: dict[str, date] = {}
    for role in people:
        if role.kind is not AccountKind.ROLE or role.status is not AccountStatus.ACTIVE:
            continue
        responsible = by_login.get((role.responsible or "").lower())
        orphaned, since = orphaned_since(role, responsible, now)
        if not orphaned:
            continue
        first_seen = seen_before.get(role.login, today)
        seen[role.login] = first_seen
        # A sweep saw it orphaned on `first_seen`, so it has been orphaned at least since.
        counted_from = min(since, first_seen) if since else first_seen
        orphans.append(
            Orphan(
                login=role.login,
                address=role.address,
                unit=role.unit,
                responsible=(role.responsible or "").lower(),
                why=_why(role, responsible, today),
                since=since,
                first_seen=first_seen,
                days=max((today - counted_from).days, 0),
            )
        )
    return tuple(orphans), seen


def _why(role: Account, responsible: Account | None, today: date) -> tuple[str, ...]:
    """The reasons `orphaned_since` found, as stable codes."""
    if not role.responsible:
        return (WHY_NO_RESPONSIBLE,)
    if responsible is None:
        return (WHY_RESPONSIBLE_UNKNOWN,)
    why: list[str] = []
    still_staff = (
        responsible.status is AccountStatus.DEPARTED
        and responsible.separation_date is not None
        and today < responsible.separation_date
    )
    if responsible.status is not AccountStatus.ACTIVE and not still_staff:
        why.append(WHY_STATUS.format(status=responsible.status.value))
    if responsible.unit != role.unit:
        why.append(WHY_RESPONSIBLE_MOVED)
    return tuple(why)


def describe_why(orphan: Orphan) -> str:
    """The reasons in plain English: "responsible person departed, moved to another unit"."""
    words = {
        WHY_NO_RESPONSIBLE: "no responsible person named",
        WHY_RESPONSIBLE_UNKNOWN: "responsible person not in the directory",
        WHY_RESPONSIBLE_MOVED: "responsible person moved to another unit",
    }
    parts = [
        words.get(code, "responsible person " + code.removeprefix("responsible_"))
        for code in orphan.why
    ]
    return ", ".join(parts) or "orphaned"


def _orphan_reason(orphan: Orphan, after: int) -> str:
    since = orphan.counted_from.isoformat()
    return f"orphaned role mailbox since {since} ({describe_why(orphan)}; memo 4.3, {after} days)"
