"""Calendar months with month-end clamping (memo 4.1: "within 3 months")."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from policy.calendar import add_months, days_in_month, utc_date


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (date(2026, 6, 15), 3, date(2026, 9, 15)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2027, 11, 30), 3, date(2028, 2, 29)),  # leap year
        (date(2026, 8, 31), 6, date(2027, 2, 28)),
        (date(2027, 8, 31), 6, date(2028, 2, 29)),
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 10, 15), 3, date(2027, 1, 15)),  # crosses the year
        (date(2026, 12, 31), 12, date(2027, 12, 31)),
        (date(2026, 5, 31), 0, date(2026, 5, 31)),
        (date(2026, 3, 31), -1, date(2026, 2, 28)),
        (date(2026, 1, 15), -2, date(2025, 11, 15)),
        (date(2100, 11, 30), 3, date(2101, 2, 28)),  # 2100 is not a leap year
        (date(2099, 11, 30), 3, date(2100, 2, 28)),
        (date(1999, 11, 30), 3, date(2000, 2, 29)),  # 2000 is
    ],
)
def test_add_months(start: date, months: int, expected: date) -> None:
    assert add_months(start, months) == expected


@pytest.mark.parametrize(
    ("year", "month", "days"),
    [(2026, 1, 31), (2026, 2, 28), (2028, 2, 29), (2026, 4, 30), (2026, 12, 31)],
)
def test_days_in_month(year: int, month: int, days: int) -> None:
    assert days_in_month(year, month) == days


def test_utc_date_converts_aware_times_and_takes_naive_as_utc() -> None:
    bangkok = timezone(timedelta(hours=7))
    assert utc_date(datetime(2026, 9, 15, 5, 0, tzinfo=bangkok)) == date(2026, 9, 14)
    assert utc_date(datetime(2026, 9, 15, 7, 0, tzinfo=bangkok)) == date(2026, 9, 15)
    assert utc_date(datetime(2026, 9, 15, 23, 59, tzinfo=UTC)) == date(2026, 9, 15)
    assert utc_date(datetime(2026, 9, 15, 0, 0)) == date(2026, 9, 15)
