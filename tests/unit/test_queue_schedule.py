"""Retry back-off, delay warnings and expiry."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from mailserver.config import QueueSettings
from mailserver.queue import schedule
from mailserver.queue.model import QueuedMessage, Recipient

NOW = dt.datetime(2026, 11, 25, 10, 0, tzinfo=dt.UTC)
SETTINGS = QueueSettings()


def message(**changes: object) -> QueuedMessage:
    base = QueuedMessage("ID", "alice@b.th", (Recipient("x@example.com"),), NOW, 10, NOW)
    return replace(base, **changes)


def test_back_off_doubles_and_is_capped() -> None:
    delays = [schedule.retry_delay(n, SETTINGS).total_seconds() for n in range(1, 7)]
    assert delays == [300, 600, 1200, 2400, 3600, 3600]


def test_expiry_after_max_age() -> None:
    five_days = NOW + dt.timedelta(days=5)
    assert not schedule.expired(message(), SETTINGS, five_days - dt.timedelta(seconds=1))
    assert schedule.expired(message(), SETTINGS, five_days)


def test_next_attempt_never_later_than_expiry() -> None:
    late = NOW + dt.timedelta(days=5) - dt.timedelta(minutes=10)
    assert schedule.next_attempt(message(attempts=9), SETTINGS, late) == NOW + dt.timedelta(days=5)


def test_delay_warning_once_after_four_hours_and_never_for_bounces() -> None:
    before, after = NOW + dt.timedelta(hours=3, minutes=59), NOW + dt.timedelta(hours=4)
    assert not schedule.delay_warning_due(message(), SETTINGS, before)
    assert schedule.delay_warning_due(message(), SETTINGS, after)
    assert not schedule.delay_warning_due(message(delay_notified=True), SETTINGS, after)
    assert not schedule.delay_warning_due(message(sender=""), SETTINGS, after)
    off = QueueSettings(delay_warning_seconds=0)
    assert not schedule.delay_warning_due(message(), off, after + dt.timedelta(days=1))
