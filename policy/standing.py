"""An account's standing today as the policy applies it, for people reading a listing.

The directory records `departed` with a separation date as soon as HR or an
administrator knows it, often weeks ahead. Until that day the person is still staff
and memo 4.1 has no objection (`rules.rule_departed` returns None): the account has
full access, and a listing that said "departed" would send the administrator looking
for a problem that is not there. From the separation date the grace window runs until
`rules.departure_window` (the first day refused); after it the account is refused
until the sweep suspends it. `standing` asks the rule itself, so the listing can never
disagree with what a login gets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from policy.model import Account, AccountStatus, Action, Request, Service
from policy.rules import departure_window, rule_departed
from policy.settings import PolicySettings

# Any login request will do: the departure rule judges the date, not the protocol.
_LOGIN = Request(Action.LOGIN, Service.IMAP)


@dataclass(frozen=True, slots=True)
class Standing:
    """What a listing shows of an account's life cycle (memo 4.1)."""

    status: AccountStatus  # as recorded in the directory
    separation_date: date | None
    grace_ends: date | None  # first day a departed account is refused; None if not departing
    still_staff: bool  # recorded departed, separation date still ahead: full access
    grace_over: bool  # recorded departed and refused today (grace ended, or no date)

    @property
    def label(self) -> str:
        """`active (leaves 2026-11-01)` for someone still on the staff, else the status."""
        if self.still_staff and self.separation_date is not None:
            return f"{AccountStatus.ACTIVE.value} (leaves {self.separation_date.isoformat()})"
        return self.status.value


def standing(account: Account, now: datetime, settings: PolicySettings) -> Standing:
    """The account's standing at `now`, judged by the departure rule of the policy."""
    separation = account.separation_date
    if account.status is not AccountStatus.DEPARTED:
        return Standing(account.status, separation, None, still_staff=False, grace_over=False)
    ends = departure_window(separation, settings) if separation is not None else None
    decision = rule_departed(account, _LOGIN, now, settings)
    return Standing(
        account.status,
        separation,
        ends,
        still_staff=decision is None,
        grace_over=decision is not None and not decision.allowed,
    )
