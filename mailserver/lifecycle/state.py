"""What earlier sweeps did, kept in `<data_dir>/lifecycle-state.json`.

The file is small (one entry per departing user and per orphaned role mailbox)
and replaced atomically (tmp file, fsync, rename, fsync of the directory), so a
crash leaves the old or the new state. A warning is recorded after its mail is
in the queue: a crash in between sends it again rather than never.

Only one sweep runs at a time on a data directory: `exclusive()` takes a
non-blocking `flock` on `<data_dir>/lifecycle.lock`, so a sweep from the CLI and
the server's own never both send the same warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

from mailserver import private
from mailserver.durable import write_file_durably
from policy.lifecycle import SweepState, WarningSent

STATE_NAME = "lifecycle-state.json"
LOCK_NAME = "lifecycle.lock"
VERSION = 1


class StateError(Exception):
    """The state file cannot be read or written (the message says which and why)."""


class SweepBusy(StateError):
    """Another sweep holds the lock on this data directory."""


def load(path: Path) -> SweepState:
    """The recorded state; empty when the file does not exist yet."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return SweepState()
    except (OSError, ValueError) as exc:
        raise StateError(f"{path}: unreadable ({exc}); fix or remove it") from None
    try:
        return _decode(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise StateError(f"{path}: unexpected content ({exc}); fix or remove it") from None


def save(path: Path, state: SweepState) -> None:
    """Replace the file with `state`, durably."""
    data = json.dumps(_encode(state), indent=1, sort_keys=True).encode() + b"\n"
    try:
        write_file_durably(path, data)
    except OSError as exc:
        raise StateError(f"{path}: cannot write: {exc.strerror}") from None


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Hold the sweep lock of `data_dir`; SweepBusy at once if another sweep has it."""
    private.make_dirs(data_dir)
    fd = private.open_fd(data_dir / LOCK_NAME, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SweepBusy("another lifecycle sweep is running on this data directory") from None
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _encode(state: SweepState) -> dict[str, Any]:
    return {
        "version": VERSION,
        "warnings": {
            login: {"access_ends": sent.access_ends.isoformat(), "days": sent.days}
            for login, sent in sorted(state.warnings.items())
        },
        "orphans_seen": {
            login: day.isoformat() for login, day in sorted(state.orphans_seen.items())
        },
        "reported": dict(sorted(state.reported.items())),
    }


def _decode(raw: dict[str, Any]) -> SweepState:
    if raw.get("version") != VERSION:
        raise ValueError(f"version {raw.get('version')!r}, expected {VERSION}")
    warnings = {
        str(login): WarningSent(date.fromisoformat(entry["access_ends"]), int(entry["days"]))
        for login, entry in raw.get("warnings", {}).items()
    }
    seen = {str(k): date.fromisoformat(v) for k, v in raw.get("orphans_seen", {}).items()}
    reported = {str(k): str(v) for k, v in raw.get("reported", {}).items()}
    return SweepState(warnings=warnings, orphans_seen=seen, reported=reported)
