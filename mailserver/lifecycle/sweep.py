"""Carry out a lifecycle sweep: read the directory, plan (pure), apply, record.

`sweep()` is what `mailserver lifecycle sweep` runs and what `serve` runs every
`lifecycle.sweep_interval_seconds` (`sweep_periodically`). Every change is one
`admin` line in the policy log (actor, action, account, reason code, the text in
`detail`), and the account's live sessions are told at once (`on_changed`: the
control socket from the CLI, the server's own AccountWatch inside `serve`).
Before each suspension the account is read again, so a change made by an
operator since the plan was made is never overwritten.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mailserver.config import Settings
from mailserver.directory import Directory, DirectoryError
from mailserver.lifecycle import mail, state
from mailserver.log import PolicyLog
from mailserver.queue.model import QueuedMessage, Recipient
from mailserver.queue.spool import Spool, SpoolError
from policy.calendar import utc_date
from policy.lifecycle import (
    Attention,
    LifecycleRules,
    Orphan,
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
from policy.model import AccountStatus

log = logging.getLogger(__name__)

DEFAULT_ACTOR = "lifecycle"


@dataclass
class SweepContext:
    """What a sweep works with; the CLI and the server each build one."""

    settings: Settings
    directory: Directory
    log: PolicyLog
    spool: Spool
    # A message is in the spool: deliver it (the runner's `enqueued`, or a queue notify).
    on_enqueued: Callable[[QueuedMessage], None]
    # An account changed: re-judge its live sessions; returns how many were told.
    on_changed: Callable[[str], int | None]
    actor: str = DEFAULT_ACTOR


@dataclass
class SweepReport:
    """What a sweep did (or would do): one line per action, for the operator."""

    plan: SweepPlan
    lines: list[str] = field(default_factory=list)
    done: int = 0
    failed: int = 0

    @property
    def attention(self) -> list[Attention]:
        return [a for a in self.plan.actions if isinstance(a, Attention)]


def rules_of(settings: Settings) -> LifecycleRules:
    lifecycle = settings.lifecycle
    return LifecycleRules(
        warn_days=lifecycle.warn_days,
        suspend_orphans_after_days=lifecycle.suspend_orphans_after_days,
    )


def state_path(settings: Settings) -> Path:
    return settings.data_dir / state.STATE_NAME


async def sweep(ctx: SweepContext, *, now: dt.datetime, dry_run: bool = False) -> SweepReport:
    """One sweep at `now`. A dry run plans and describes, and changes nothing."""
    if dry_run:
        plan, _ = await _plan(ctx, now)
        report = SweepReport(plan)
        report.lines = [*_orphan_lines(plan), *(_describe(a, ctx, "would ") for a in plan.actions)]
        return report
    with state.exclusive(ctx.settings.data_dir):
        plan, recorded = await _plan(ctx, now)
        return await _execute(ctx, plan, recorded, now)


async def sweep_periodically(
    ctx: SweepContext, clock: Callable[[], dt.datetime], interval: float
) -> None:
    """`serve`'s sweep: one just after start, then every `interval` seconds; never raises."""
    if interval <= 0:
        return
    while True:
        try:
            report = await sweep(ctx, now=clock())
            for item in report.attention:
                log.warning("lifecycle: %s: %s", item.login, item.problem)
        except state.SweepBusy:
            log.info("lifecycle: another sweep is running; trying again later")
        except (DirectoryError, state.StateError, SpoolError, OSError) as exc:
            log.warning("lifecycle sweep failed, trying again later: %s", exc)
        except Exception:  # a bug must not end the sweeps for the life of the server
            log.exception("lifecycle sweep failed, trying again later")
        await asyncio.sleep(interval)


# --- planning ----------------------------------------------------------------------


async def _plan(ctx: SweepContext, now: dt.datetime) -> tuple[SweepPlan, SweepState]:
    recorded = await asyncio.to_thread(state.load, state_path(ctx.settings))
    accounts = await ctx.directory.list_accounts()
    rules = rules_of(ctx.settings)
    plan = plan_sweep(accounts, utc_date(now), ctx.settings.policy, rules, recorded)
    return plan, recorded


# --- execution ---------------------------------------------------------------------


class _Recorder:
    """The state as the actions succeed, saved after each one that sends mail."""

    def __init__(self, ctx: SweepContext, plan: SweepPlan, before: SweepState) -> None:
        self.path = state_path(ctx.settings)
        self.warnings = dict(plan.warnings)
        self.orphans_seen = dict(plan.orphans_seen)
        self.reported = dict(before.reported)

    async def save(self) -> None:
        current = SweepState(self.warnings, self.orphans_seen, self.reported)
        await asyncio.to_thread(state.save, self.path, current)


async def _execute(
    ctx: SweepContext, plan: SweepPlan, before: SweepState, now: dt.datetime
) -> SweepReport:
    report = SweepReport(plan, lines=_orphan_lines(plan))
    recorder = _Recorder(ctx, plan, before)
    await recorder.save()
    failed_orphans: list[Orphan] = []
    for action in plan.actions:
        if isinstance(action, ReportOrphans) and failed_orphans:
            action = _without_failed(action, failed_orphans)
        try:
            done = await _apply(ctx, action, now, recorder)
        except (DirectoryError, SpoolError, OSError) as exc:
            report.failed += 1
            report.lines.append(f"failed: {_describe(action, ctx, '')}: {exc}")
            _log(ctx, action, result="tempfail", detail=f"{type(exc).__name__}: {exc}")
            if isinstance(action, SuspendOrphan):
                failed_orphans.append(action.orphan)
            continue
        line = done or _describe(action, ctx, "")
        report.lines.append(line)
        if not isinstance(action, Attention) and not line.startswith("skipped"):
            report.done += 1
    return report


async def _apply(
    ctx: SweepContext, action: SweepAction, now: dt.datetime, recorder: _Recorder
) -> str | None:
    """Carry out one action; a line saying what was done (None: `_describe` says it)."""
    if isinstance(action, SuspendDeparted):
        fresh = await ctx.directory.get(action.login)
        if (
            fresh is None
            or fresh.status is not AccountStatus.DEPARTED
            or fresh.separation_date != action.separation_date
        ):
            return f"skipped {action.login}: changed since the sweep read it"
        return await _suspend(ctx, action, action.reason, now, "lifecycle-suspend")
    if isinstance(action, SuspendOrphan):
        fresh = await ctx.directory.get(action.login)
        if fresh is None or fresh.status is not AccountStatus.ACTIVE:
            return f"skipped {action.login}: changed since the sweep read it"
        if (fresh.responsible or "").lower() != action.orphan.responsible:
            return f"skipped {action.login}: its responsible person changed meanwhile"
        return await _suspend(ctx, action, action.reason, now, "lifecycle-suspend-orphan")
    if isinstance(action, WarnDeparting):
        content = mail.warning_mail(
            action,
            sender=_sender(ctx.settings),
            languages=ctx.settings.messages.languages,
            contact={
                "en": ctx.settings.messages.contact_en,
                "th": ctx.settings.messages.contact_th,
            },
            imap_host=ctx.settings.server.hostname,
            imap_port=ctx.settings.imap.tls_port,
            now=now,
        )
        queued = await _enqueue(ctx, action.address, content, now)
        recorder.warnings[action.login] = WarningSent(action.access_ends, action.stage)
        await recorder.save()
        _log(ctx, action, queue_id=queued.id, recipients=[action.address])
        return None
    if isinstance(action, ReportOrphans):
        to = ctx.settings.lifecycle.admin_address
        queue_id = None
        if to:
            content = mail.orphan_report_mail(
                action,
                sender=_sender(ctx.settings),
                to=to,
                node=ctx.settings.server.node,
                today=utc_date(now),
                now=now,
            )
            queue_id = (await _enqueue(ctx, to, content, now)).id
        recorder.reported = dict(action.reported)
        await recorder.save()
        _log(ctx, action, queue_id=queue_id, recipients=[to] if to else None)
        return None
    return None  # Attention: nothing to change


async def _suspend(
    ctx: SweepContext,
    action: SuspendDeparted | SuspendOrphan,
    reason: str,
    now: dt.datetime,
    name: str,
) -> str:
    account = await ctx.directory.set_status(
        action.login, AccountStatus.SUSPENDED, reason=reason, actor=ctx.actor, now=now
    )
    told = ctx.on_changed(account.login)
    _log(ctx, action, action_name=name, status=account.status.value, sessions_notified=told)
    return f"suspended {account.login}: {reason}"


async def _enqueue(ctx: SweepContext, to: str, content: bytes, now: dt.datetime) -> QueuedMessage:
    queued = await asyncio.to_thread(
        ctx.spool.enqueue, "", [Recipient(address=to)], content, now=now, origin="lifecycle"
    )
    ctx.on_enqueued(queued)
    return queued


def _sender(settings: Settings) -> str:
    return settings.lifecycle.admin_address or f"postmaster@{settings.server.hostname}"


def _without_failed(report: ReportOrphans, failed: list[Orphan]) -> ReportOrphans:
    """A report whose failed suspensions are listed as still orphaned instead."""
    logins = {o.login for o in failed}
    return dataclasses.replace(
        report,
        orphans=(*report.orphans, *failed),
        suspended=tuple(o for o in report.suspended if o.login not in logins),
        reported={**report.reported, **{o.login: o.responsible for o in failed}},
    )


# --- the audit trail and the operator's lines --------------------------------------

_ACTION_NAMES = {
    SuspendDeparted: "lifecycle-suspend",
    SuspendOrphan: "lifecycle-suspend-orphan",
    WarnDeparting: "lifecycle-warn",
    ReportOrphans: "lifecycle-orphan-report",
}


def _log(
    ctx: SweepContext,
    action: SweepAction,
    *,
    action_name: str | None = None,
    result: str = "allow",
    **fields: Any,
) -> None:
    """One `admin` line: who, what, to which account, the reason code and its text."""
    extra: dict[str, Any] = {}
    account = getattr(action, "login", None)
    if isinstance(action, SuspendDeparted | SuspendOrphan):
        extra["detail"] = action.reason
    elif isinstance(action, WarnDeparting):
        extra["detail"] = (
            f"{action.stage}-day warning: access ends {action.access_ends.isoformat()}"
            f" ({action.days_left} days left)"
        )
    elif isinstance(action, ReportOrphans):
        extra["orphans"] = [_orphan_record(o) for o in action.orphans]
        extra["suspended"] = [o.login for o in action.suspended]
        extra["resolved"] = list(action.resolved)
    ctx.log.write(
        "admin",
        actor=ctx.actor,
        action=action_name or _ACTION_NAMES.get(type(action), "lifecycle"),
        account=account,
        reason=action.code,
        result=result,
        **{**extra, **fields},
    )


def _orphan_record(orphan: Orphan) -> dict[str, Any]:
    return {
        "account": orphan.login,
        "unit": orphan.unit,
        "responsible": orphan.responsible,
        "why": list(orphan.why),
        "since": orphan.counted_from.isoformat(),
        "days": orphan.days,
    }


def _orphan_lines(plan: SweepPlan) -> list[str]:
    return [
        f"orphan {o.login} (unit {o.unit or '-'}): {describe_why(o)}"
        f" [{o.responsible or '-'}], since {o.counted_from.isoformat()} ({o.days} days)"
        for o in plan.orphans
    ]


def _describe(action: SweepAction, ctx: SweepContext, would: str) -> str:
    if isinstance(action, SuspendDeparted | SuspendOrphan):
        return f"{would}suspend {action.login}: {action.reason}"
    if isinstance(action, WarnDeparting):
        return (
            f"{would}warn {action.login}: access ends {action.access_ends.isoformat()}"
            f" ({action.stage}-day warning, {action.days_left} days left)"
        )
    if isinstance(action, ReportOrphans):
        to = ctx.settings.lifecycle.admin_address or "the policy log (no lifecycle.admin_address)"
        return (
            f"{would}report orphaned role mailboxes to {to}: {len(action.orphans)} orphaned,"
            f" {len(action.suspended)} suspended, {len(action.resolved)} resolved"
        )
    return f"attention {action.login}: {action.problem}"
