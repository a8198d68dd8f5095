"""The policy log: one JSON object per line for every decision and every delivery.

Why these fields: the Thai Computer Crime Act (B.E. 2550, amended B.E. 2560,
section 26) and the ministerial notification on retaining computer traffic
data require a mail service provider to keep, for at least 90 days,
the traffic data of every message and mailbox access: the message id, the
sender and recipients, the delivery status, the client's IP address (and
port), the time, the user id of the account, and the IMAP/POP access records.
`PolicyLog.write` puts exactly those fields first, in a fixed order, so that
an auditor can read the log without our code; `retention_days` cannot be set
below 90, and pruning never removes anything younger than that.

Passwords never reach the log: a field whose name contains "pass" or "secret"
is refused with ValueError (the aiosmtpd "no password leak" discipline).

Files, all in one directory:

    policy.log                  today's lines (UTC), appended and flushed per line
    policy.log-YYYYMMDD.gz      one earlier UTC day, gzipped (may hold several
                                gzip members if a day was rotated twice)

Rotation happens at the first write of a new UTC day (or on `rotate_if_due`)
and at startup if policy.log holds a previous day's lines. Losing a line is
worse than repeating one: the plain rotated file is removed only after its
gzip copy is complete, fsynced and renamed into place, and a plain rotated
file left by a crash is compressed at the next start.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import secrets
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from mailserver import private
from mailserver.durable import fsync_dir

__all__ = [
    "CANONICAL_FIELDS",
    "LOG_NAME",
    "MIN_RETENTION_DAYS",
    "PolicyLog",
    "format_ts",
    "rotated_day",
]

LOG_NAME = "policy.log"
MIN_RETENTION_DAYS = 90

# The traffic-data fields, in the order they appear in every line (after ts, node, event).
CANONICAL_FIELDS: tuple[str, ...] = (
    "session",
    "protocol",
    "client_ip",
    "client_port",
    "tls",
    "login",
    "account",
    "rule",
    "reason",
    "result",
    "message_id",
    "sender",
    "recipients",
    "size",
    "status",
)
_RESERVED = frozenset({"ts", "node", "event"})
_FORBIDDEN = ("pass", "secret")
# policy.log-YYYYMMDD or policy.log-YYYYMMDD.gz; nothing else is ever rotated or pruned.
ROTATED_RE = re.compile(r"^policy\.log-(\d{8})(\.gz)?$")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime from an injected clock is taken to be UTC already.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def format_ts(moment: datetime) -> str:
    """Return `moment` as UTC ISO-8601 with milliseconds and a 'Z': 2026-11-25T21:40:03.123Z."""
    return _as_utc(moment).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def rotated_day(path: Path) -> date | None:
    """Return the day a rotated log file belongs to, or None if `path` is not one."""
    match = ROTATED_RE.match(path.name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None


def new_id() -> str:
    """A short random identifier for sessions and messages, to correlate log lines."""
    return secrets.token_hex(6).upper()


class PolicyLog:
    """Append-only JSON-lines log of policy decisions and deliveries, rotated daily (UTC).

    Thread-safe; each write is one small append plus a flush, cheap enough to
    call from the event loop.
    """

    def __init__(
        self,
        directory: Path,
        *,
        node: str,
        retention_days: int = MIN_RETENTION_DAYS,
        clock: Callable[[], datetime] = _utcnow,
        compress_in_background: bool = False,
    ) -> None:
        """Open (creating if needed) `directory`/policy.log, rotating a stale one first.

        With `compress_in_background`, a rotation triggered by a write only renames the
        file (fast) and a thread gzips it, so the event loop never waits for a day's gzip.
        """
        if retention_days < MIN_RETENTION_DAYS:
            raise ValueError(
                f"retention_days must be at least {MIN_RETENTION_DAYS} (Computer Crime Act)"
            )
        self.directory = Path(directory)
        self.path = self.directory / LOG_NAME
        self.node = node
        self.retention_days = retention_days
        self._clock = clock
        self._lock = threading.Lock()
        self._file: TextIO | None = None
        self._background = compress_in_background
        self._compress_lock = threading.RLock()
        self._compressors: list[threading.Thread] = []
        private.make_dirs(self.directory)
        with self._lock:
            self._compress_leftovers()
            today = self._today()
            self._day = self._file_day() or today
            if self._day < today:
                self._rotate_and_prune(today)
            else:
                self.prune()
            self._open()

    # -- public -------------------------------------------------------------

    def write(self, event: str, **fields: Any) -> dict[str, Any]:
        """Append one record and return it.

        The record is ts, node, event, then the canonical traffic-data fields
        present, then any other fields in the order given; None values are
        dropped. Raises ValueError for a field named like a password or secret.
        """
        for name in fields:
            lowered = name.lower()
            if any(word in lowered for word in _FORBIDDEN):
                raise ValueError(f"refusing to log field {name!r}: passwords never reach the log")
            if name in _RESERVED:
                raise ValueError(f"field {name!r} is set by the log itself")
        now = _as_utc(self._clock())
        record: dict[str, Any] = {"ts": format_ts(now), "node": self.node, "event": event}
        for name in CANONICAL_FIELDS:
            if fields.get(name) is not None:
                value = fields[name]
                if name == "recipients":
                    value = [value] if isinstance(value, str) else list(value)
                record[name] = value
        for name, value in fields.items():
            if name not in record and value is not None:
                record[name] = value
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        with self._lock:
            if now.date() > self._day:
                self._rotate_and_prune(now.date())
            if self._file is None:
                self._open()
            assert self._file is not None
            self._file.write(line + "\n")
            self._file.flush()
        return record

    def rotate_if_due(self) -> bool:
        """Rotate now if policy.log belongs to an earlier UTC day; return whether it did."""
        with self._lock:
            today = self._today()
            if today <= self._day:
                return False
            self._rotate_and_prune(today)
            return True

    def prune(self) -> list[Path]:
        """Delete rotated files older than retention_days; return the paths deleted.

        A file's age is its day's distance from today (by the injected clock);
        a file exactly retention_days old is kept. Only names matching
        policy.log-YYYYMMDD[.gz] are ever considered.
        """
        oldest_kept = self._today() - timedelta(days=self.retention_days)
        deleted: list[Path] = []
        for path in sorted(self.directory.iterdir()):
            day = rotated_day(path)
            if day is not None and day < oldest_kept and path.is_file():
                path.unlink(missing_ok=True)
                deleted.append(path)
        return deleted

    def close(self) -> None:
        """Flush and close policy.log (after any background gzip); a later write reopens it."""
        for thread in self._compressors:
            thread.join()
        self._compressors.clear()
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> PolicyLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- rotation (callers hold the lock) -----------------------------------

    def _today(self) -> date:
        return _as_utc(self._clock()).date()

    def _open(self) -> None:
        fd = private.open_fd(self.path, os.O_WRONLY | os.O_APPEND)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def _file_day(self) -> date | None:
        """The UTC day policy.log's lines belong to: its first line's ts, else its mtime."""
        try:
            with open(self.path, "rb") as f:
                first = f.readline()
            mtime = os.stat(self.path).st_mtime
        except FileNotFoundError:
            return None
        if not first.strip():
            return None
        try:
            ts = json.loads(first)["ts"]
            return datetime.strptime(ts[:10], "%Y-%m-%d").date()
        except (ValueError, KeyError, TypeError):
            return datetime.fromtimestamp(mtime, UTC).date()

    def _rotate_and_prune(self, today: date) -> None:
        """Close policy.log, move it to policy.log-<its day>, gzip that, prune; reopen lazily."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self.path.exists() and self.path.stat().st_size > 0:
            plain = self.directory / f"{LOG_NAME}-{self._day:%Y%m%d}"
            if plain.exists():  # a crash left it: compress it before reusing the name
                self._compress(plain)
            os.replace(self.path, plain)
            fsync_dir(self.directory)
            if self._background:
                self._day = today
                thread = threading.Thread(
                    target=self._compress_and_prune, args=(plain,), name="policy-log-gzip"
                )
                self._compressors = [t for t in self._compressors if t.is_alive()] + [thread]
                thread.start()
                return
            self._compress(plain)
        self._day = today
        self.prune()

    def _compress_and_prune(self, plain: Path) -> None:
        with self._compress_lock:
            self._compress(plain)
            self.prune()

    def _compress_leftovers(self) -> None:
        for path in sorted(self.directory.iterdir()):
            if rotated_day(path) is not None and path.suffix != ".gz" and path.is_file():
                self._compress(path)

    def _compress(self, plain: Path) -> None:
        """gzip `plain` into `plain`.gz (appending a member if that exists), then remove it."""
        with self._compress_lock:
            self._compress_locked(plain)

    def _compress_locked(self, plain: Path) -> None:
        if not plain.exists():  # another thread got there first
            return
        target = plain.with_name(plain.name + ".gz")
        tmp = plain.with_name(plain.name + ".gz.tmp")
        # Not durable.write_file_durably: a day of log is streamed through gzip rather than
        # held in memory, so this file object is fsynced here (under _compress_lock, one
        # writer, hence the fixed temporary name that the next rotation overwrites).
        with os.fdopen(private.open_fd(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as raw:
            if target.exists():
                with open(target, "rb") as old:
                    shutil.copyfileobj(old, raw)
            with open(plain, "rb") as src, gzip.GzipFile(fileobj=raw, mode="wb") as gz:
                shutil.copyfileobj(src, gz)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, target)
        fsync_dir(self.directory)
        plain.unlink()
