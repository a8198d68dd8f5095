"""Operator commands on the spool: list, show, retry, delete, bounce, stats (blocking, pure I/O
on the spool directory; the CLI then tells a running server to re-read it)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import replace
from pathlib import Path

from mailserver.queue.model import QueuedMessage
from mailserver.queue.spool import Spool

ADMIN_BOUNCE = "admin-bounce"  # extra flag: the runner bounces the pending recipients


def describe_age(seconds: float) -> str:
    if seconds < 120:
        return f"{int(seconds)}s"
    if seconds < 7200:
        return f"{int(seconds // 60)}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def summary_lines(spool: Spool, now: dt.datetime) -> list[str]:
    """One line per queued message, oldest first, and a total."""
    lines = []
    messages = list(spool.all())
    for m in messages:
        pending = m.pending
        last = next((r.last_text for r in pending if r.last_text), "")
        flags = " frozen" if m.frozen else ""
        lines.append(
            f"{m.id}  {describe_age((now - m.received_at).total_seconds()):>6}  {m.size:>9}  "
            f"<{m.sender}>  {len(pending)}/{len(m.recipients)} pending{flags}"
            + (f"  ({last[:70]})" if last else "")
        )
    oldest = min((m.received_at for m in messages), default=now)
    lines.append(
        f"{len(messages)} messages, "
        f"{sum(len(m.pending) for m in messages)} recipients pending, "
        f"oldest {describe_age((now - oldest).total_seconds())}"
    )
    return lines


def show_lines(message: QueuedMessage) -> list[str]:
    rows = [
        ("id", message.id),
        ("sender", f"<{message.sender}>"),
        ("received", message.received_at.isoformat(timespec="seconds")),
        ("origin", f"{message.origin} {message.login or message.client_ip}".strip()),
        ("message-id", message.message_id or "-"),
        ("size", str(message.size)),
        ("attempts", str(message.attempts)),
        ("next attempt", message.next_attempt.isoformat(timespec="seconds")),
    ]
    lines = [f"{k + ':':<14}{v}" for k, v in rows]
    for r in message.recipients:
        last = f"  {r.last_code or ''} {r.last_text}".rstrip() if r.last_text else ""
        state = f"{r.state.value} ({r.gave_up.value})" if r.gave_up else r.state.value
        lines.append(f"  {r.address:<40} {state:<10} attempts={r.attempts}{last}")
    return lines


def retry(spool: Spool, queue_id: str, now: dt.datetime) -> QueuedMessage:
    message = replace(spool.load(queue_id), next_attempt=now, frozen=False)
    spool.update(message)
    return message


def bounce(spool: Spool, queue_id: str, now: dt.datetime) -> QueuedMessage:
    """Ask the runner to give up the pending recipients now and tell the sender."""
    message = spool.load(queue_id)
    message = replace(
        message, next_attempt=now, frozen=False, extra={**message.extra, ADMIN_BOUNCE: True}
    )
    spool.update(message)
    return message


def log_stats(log_dir: Path, day: dt.date) -> Counter[str]:
    """Deliveries of `day` from the policy log, by status and by reply class (2xx/4xx/5xx)."""
    counts: Counter[str] = Counter()
    path = log_dir / "policy.log"
    if not path.exists():
        return counts
    prefix = day.isoformat()
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") != "deliver" or not record.get("ts", "").startswith(prefix):
                continue
            counts[f"status {record.get('status', '?')}"] += 1
            code = record.get("code")
            if isinstance(code, int):
                counts[f"class {code // 100}xx"] += 1
    return counts
