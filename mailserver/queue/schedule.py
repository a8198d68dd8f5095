"""When to try again, when to warn, when to give up (pure functions of time and settings)."""

from __future__ import annotations

import datetime as dt

from mailserver.config import QueueSettings
from mailserver.queue.model import QueuedMessage


def retry_delay(attempts: int, settings: QueueSettings) -> dt.timedelta:
    """Exponential back-off: initial, doubling per attempt, capped (RFC 5321 §4.5.4.1)."""
    seconds = settings.retry_initial_seconds * (2 ** max(attempts - 1, 0))
    return dt.timedelta(seconds=min(seconds, settings.retry_max_seconds))


def expires_at(message: QueuedMessage, settings: QueueSettings) -> dt.datetime:
    return message.received_at + dt.timedelta(seconds=settings.max_age_seconds)


def expired(message: QueuedMessage, settings: QueueSettings, now: dt.datetime) -> bool:
    """Recipients still pending after the maximum age are given up (and bounced)."""
    return now >= expires_at(message, settings)


def delay_warning_due(message: QueuedMessage, settings: QueueSettings, now: dt.datetime) -> bool:
    """RFC 3464 delay notice: once, after `delay_warning_seconds`, unless turned off."""
    if settings.delay_warning_seconds <= 0 or message.delay_notified or not message.sender:
        return False
    return now - message.received_at >= dt.timedelta(seconds=settings.delay_warning_seconds)


def next_attempt(message: QueuedMessage, settings: QueueSettings, now: dt.datetime) -> dt.datetime:
    """The next try, never later than the expiry (so the bounce is not late)."""
    return min(now + retry_delay(message.attempts, settings), expires_at(message, settings))
