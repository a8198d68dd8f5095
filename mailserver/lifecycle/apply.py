"""Apply a planned HR feed to the directory, one audited change per line.

A separation sets the account DEPARTED with the feed's date (the grace window of
memo 4.1 starts there); a transfer sets the new unit (the directory records
when, which may orphan role mailboxes: the sweep reports them). Each change is
an `admin` line in the policy log (`hr-depart`, `hr-transfer`) naming the file
and line, and live sessions of the account are re-judged at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from mailserver.directory import Directory, DirectoryError
from mailserver.lifecycle.hrfeed import FeedChange, FeedError, FeedPlan, Kind
from mailserver.log import PolicyLog
from policy.model import Account, AccountStatus


@dataclass
class FeedContext:
    directory: Directory
    log: PolicyLog
    on_changed: Callable[[str], int | None]
    actor: str
    source: str  # the file's name, for the audit trail


@dataclass
class FeedOutcome:
    applied: list[FeedChange] = field(default_factory=list)
    errors: list[FeedError] = field(default_factory=list)


async def apply_plan(
    ctx: FeedContext, plan: FeedPlan, *, now: dt.datetime, stop_at_error: bool = False
) -> FeedOutcome:
    """Make the plan's changes in file order; a refused change is an error of its line."""
    outcome = FeedOutcome()
    for change in plan.changes:
        try:
            account = await _change(ctx, change, now)
        except DirectoryError as exc:
            outcome.errors.append(FeedError(change.line, f"{change.login}: {exc}"))
            if stop_at_error:
                break
            continue
        told = ctx.on_changed(account.login)
        ctx.log.write(
            "admin",
            actor=ctx.actor,
            action="hr-depart" if change.kind is Kind.SEPARATION else "hr-transfer",
            account=account.login,
            result="allow",
            status=account.status.value,
            detail=f"{ctx.source} line {change.line} ({change.word}): "
            f"{change.before} -> {change.after}",
            sessions_notified=told,
        )
        outcome.applied.append(change)
    return outcome


async def _change(ctx: FeedContext, change: FeedChange, now: dt.datetime) -> Account:
    if change.kind is Kind.SEPARATION:
        assert change.separation_date is not None
        return await ctx.directory.set_status(
            change.login,
            AccountStatus.DEPARTED,
            reason=f"HR feed: {change.word}",
            actor=ctx.actor,
            now=now,
            separation_date=change.separation_date,
        )
    return await ctx.directory.update(change.login, now=now, unit=change.unit or "")
