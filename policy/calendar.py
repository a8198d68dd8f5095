"""Calendar arithmetic the memo needs ("within 3 months of the day ...").

Deliberately free of the standard library's `calendar` module so that this
module's name never shadows it in a surprising way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def days_in_month(year: int, month: int) -> int:
    """Number of days in `month` of `year` (Gregorian, leap years included)."""
    if month == 12:
        return 31
    return (date(year, month + 1, 1) - timedelta(days=1)).day


def add_months(d: date, months: int) -> date:
    """`d` moved by `months` calendar months, clamped to the end of the target month.

    30 Nov 2026 + 3 months is 28 Feb 2027; 30 Nov 2027 + 3 is 29 Feb 2028;
    31 Aug + 6 is the last day of February. `months` may be negative or zero.
    """
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    return date(year, month, min(d.day, days_in_month(year, month)))


def utc_date(moment: datetime) -> date:
    """The UTC calendar date of `moment`; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()
