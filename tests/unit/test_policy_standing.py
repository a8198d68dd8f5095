"""What `account list` and `account show` say of a leaver (policy/standing.py, memo 4.1)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from policy import decide
from policy.model import Account, AccountStatus, Action, Request, Service
from policy.settings import PolicySettings
from policy.standing import standing

SETTINGS = PolicySettings()  # 3 months of grace
SEPARATED = date(2026, 11, 1)
ENDS = date(2027, 2, 1)  # the first day refused


def leaver(separation: date | None = SEPARATED) -> Account:
    return Account(
        "somchai@bangkok.go.th",
        "somchai@bangkok.go.th",
        status=AccountStatus.DEPARTED,
        separation_date=separation,
    )


def at(day: date) -> datetime:
    return datetime.combine(day, time(9), tzinfo=UTC)


def test_a_separation_date_ahead_is_still_staff() -> None:
    shown = standing(leaver(), at(date(2026, 10, 20)), SETTINGS)
    assert shown.still_staff and not shown.grace_over
    assert shown.label == "active (leaves 2026-11-01)"
    assert (shown.separation_date, shown.grace_ends) == (SEPARATED, ENDS)


def test_from_the_separation_date_it_is_departed_until_the_grace_ends() -> None:
    on_the_day = standing(leaver(), at(SEPARATED), SETTINGS)
    assert on_the_day.label == "departed" and not on_the_day.still_staff
    assert not on_the_day.grace_over
    last_day = standing(leaver(), at(ENDS - timedelta(days=1)), SETTINGS)
    assert not last_day.grace_over
    after = standing(leaver(), at(ENDS), SETTINGS)
    assert after.label == "departed" and after.grace_over and after.grace_ends == ENDS


def test_departed_without_a_date_is_refused_and_has_no_grace_end() -> None:
    shown = standing(leaver(None), at(SEPARATED), SETTINGS)
    assert shown.label == "departed" and shown.grace_over and shown.grace_ends is None


@pytest.mark.parametrize("status", [s for s in AccountStatus if s is not AccountStatus.DEPARTED])
def test_other_statuses_are_shown_as_recorded(status: AccountStatus) -> None:
    account = Account("a@bangkok.go.th", "a@bangkok.go.th", status=status)
    shown = standing(account, at(SEPARATED), SETTINGS)
    assert shown.label == status.value and shown.grace_ends is None
    assert not shown.still_staff and not shown.grace_over


def test_the_listing_agrees_with_what_a_login_gets_every_day() -> None:
    """Day by day around the separation and the end of the grace: "still staff" exactly
    when the login is a plain allow, "over" exactly when it is refused."""
    day = SEPARATED - timedelta(days=3)
    while day <= ENDS + timedelta(days=3):
        shown = standing(leaver(), at(day), SETTINGS)
        login = decide(leaver(), Request(Action.LOGIN, Service.IMAP), at(day), SETTINGS)
        assert shown.still_staff == (login.allowed and login.reason == "ok"), day
        assert shown.grace_over == (not login.allowed), day
        day += timedelta(days=1)
