"""`mailserver logs tail`: the operator's view of the policy log.

Prints the last N matching records of policy.log (reading back into the most
recent rotated days when today has fewer), then, with `follow`, keeps printing
new matching lines, across rotations, until interrupted. A line that is not a
JSON object is printed raw (and only when no filter is given): the viewer
never crashes on a damaged log.
"""

from __future__ import annotations

import gzip
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, TextIO

from mailserver.log import LOG_NAME, rotated_day

__all__ = ["format_record", "tail"]

POLL_SECONDS = 0.25
# How many rotated days the initial read looks back through when today has too few lines.
READ_BACK_DAYS = 7
_BLOCK = 64 * 1024

# Fields shown in their own column or in the mail part; everything else is key=value.
_SHOWN = frozenset(
    {"ts", "node", "event", "protocol", "result", "login", "account", "client_ip", "client_port"}
    | {"rule", "reason", "sender", "recipients", "size", "status", "message_id"}
)


class _Filter:
    """--user / --result / --event, all case-insensitive."""

    def __init__(self, user: str | None, result: str | None, event: str | None) -> None:
        self.user = user.casefold() if user else None
        self.result = result.casefold() if result else None
        self.event = event.casefold() if event else None

    @property
    def empty(self) -> bool:
        return self.user is None and self.result is None and self.event is None

    def matches(self, record: dict[str, Any] | None) -> bool:
        if record is None:  # malformed: we cannot tell, so show it only when unfiltered
            return self.empty
        if self.result is not None and str(record.get("result", "")).casefold() != self.result:
            return False
        if self.event is not None and str(record.get("event", "")).casefold() != self.event:
            return False
        if self.user is not None:
            names = [str(record[k]).casefold() for k in ("login", "account") if record.get(k)]
            # "alice" also matches alice@bangkok.go.th.
            if "@" not in self.user:
                names += [name.split("@", 1)[0] for name in names]
            if self.user not in names:
                return False
        return True


def _parse(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _text(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _quoted(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    needs_quotes = not text or any(c.isspace() or c in "\"'=" for c in text)
    return json.dumps(text, ensure_ascii=False) if needs_quotes else text


def format_record(record: dict[str, Any]) -> str:
    """Render one record as a single aligned line for operators.

    ts  protocol  event  result  login  client  rule/reason  [sender -> rcpts size status id]
    then any other fields as key=value.
    """
    ts = str(record.get("ts", "-"))
    ts = ts[:10] + " " + ts[11:19] + "Z" if len(ts) >= 19 and ts[10] == "T" else ts
    ip, port = record.get("client_ip"), record.get("client_port")
    if ip:
        host = f"[{ip}]" if ":" in str(ip) else str(ip)
        client = f"{host}:{port}" if port is not None else host
    else:
        client = "-"
    rule_reason = "/".join(str(record[k]) for k in ("rule", "reason") if record.get(k))
    columns = [
        ts,
        f"{_text(record.get('protocol')):<5}",
        f"{_text(record.get('event')):<8}",
        f"{_text(record.get('result')):<6}",
        f"{_text(record.get('login') or record.get('account')):<24}",
        f"{client:<21}",
        rule_reason or "-",
    ]
    if any(record.get(k) is not None for k in ("sender", "recipients", "message_id", "size")):
        recipients = record.get("recipients") or []
        if not isinstance(recipients, list):
            recipients = [recipients]
        columns.append(f"{_text(record.get('sender'))} -> {','.join(map(str, recipients)) or '-'}")
        for key in ("size", "status", "message_id"):
            if record.get(key) is not None:
                columns.append(f"{key}={_quoted(record[key])}")
    elif record.get("status") is not None:
        columns.append(f"status={_quoted(record['status'])}")
    if record.get("login") and record.get("account") and record["login"] != record["account"]:
        columns.append(f"account={_quoted(record['account'])}")
    columns += [f"{k}={_quoted(v)}" for k, v in record.items() if k not in _SHOWN]
    return "  ".join(columns).rstrip()


def _render(line: str, as_json: bool) -> str:
    if as_json:
        return line
    record = _parse(line)
    return format_record(record) if record is not None else line


def _reverse_lines(f: IO[bytes], end: int) -> Iterator[bytes]:
    """Yield the lines of f[0:end] last first, reading backwards in blocks."""
    pos, head = end, b""
    while pos > 0:
        start = max(0, pos - _BLOCK)
        f.seek(start)
        parts = (f.read(pos - start) + head).split(b"\n")
        pos, head = start, parts[0]
        yield from reversed(parts[1:])
    yield head


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\r")


def _last_matching(f: IO[bytes], end: int, n: int, keep: _Filter) -> list[str]:
    found: list[str] = []
    if n <= 0:
        return found
    for raw in _reverse_lines(f, end):
        line = _decode(raw)
        if line.strip() and keep.matches(_parse(line)):
            found.append(line)
            if len(found) >= n:
                break
    found.reverse()
    return found


def _read_back(directory: Path, n: int, keep: _Filter) -> list[str]:
    """The last n matching lines of the most recent rotated days, oldest first."""
    rotated = sorted(
        (p for p in directory.iterdir() if rotated_day(p) is not None),
        key=lambda p: (rotated_day(p), p.suffix == ".gz"),
        reverse=True,
    )
    found: list[str] = []
    for path in rotated[:READ_BACK_DAYS]:
        if len(found) >= n:
            break
        window: deque[str] = deque(maxlen=n - len(found))
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rb") as f:
                for raw in f:
                    line = _decode(raw.rstrip(b"\n"))
                    if line.strip() and keep.matches(_parse(line)):
                        window.append(line)
        except (OSError, EOFError):
            pass  # a damaged or vanished archive: show what was read
        found = list(window) + found
    return found


class _Follower:
    """Reads new lines from policy.log, reopening it when rotation replaces it."""

    def __init__(self, path: Path, f: IO[bytes] | None) -> None:
        self.path, self.f, self.buffer = path, f, b""

    def _drain(self, final: bool) -> list[str]:
        assert self.f is not None
        self.buffer += self.f.read()
        *complete, self.buffer = self.buffer.split(b"\n")
        if final and self.buffer:
            complete.append(self.buffer)
            self.buffer = b""
        return [_decode(raw) for raw in complete]

    def poll(self) -> list[str]:
        """Return the lines that arrived since the last poll."""
        lines: list[str] = []
        if self.f is not None:
            lines += self._drain(final=False)
            try:
                current = self.path.stat()
            except FileNotFoundError:
                current = None
            mine = self._stat()
            if current is None or (current.st_ino, current.st_dev) != mine:
                lines += self._drain(final=True)  # the rest of the rotated-away file
                self.f.close()
                self.f = None
            elif current.st_size < self.f.tell():  # truncated in place
                self.f.seek(0)
                self.buffer = b""
        if self.f is None:
            try:
                self.f = open(self.path, "rb")  # noqa: SIM115 (held open across polls)
            except FileNotFoundError:
                return lines
            lines += self._drain(final=False)
        return lines

    def _stat(self) -> tuple[int, int]:
        assert self.f is not None
        st = os.fstat(self.f.fileno())
        return st.st_ino, st.st_dev

    def close(self) -> None:
        if self.f is not None:
            self.f.close()
            self.f = None


def tail(
    directory: Path,
    *,
    follow: bool,
    user: str | None,
    result: str | None,
    event: str | None,
    as_json: bool,
    lines: int = 20,
    out: TextIO,
    stop: threading.Event | None = None,
) -> int:
    """Print the last `lines` matching records of the policy log in `directory` to `out`.

    Filters: `user` matches the login or account (case-insensitive; a name
    without '@' also matches the local part), `result` and `event` match
    those fields. `as_json` prints the stored lines unchanged. With `follow`,
    keep printing new matching lines, across daily rotation, until
    KeyboardInterrupt or until `stop` is set. Returns the exit status.
    """
    directory = Path(directory)
    if not directory.is_dir() and not follow:
        print(f"mailserver logs tail: no log directory {directory}", file=sys.stderr)
        return 1
    keep = _Filter(user, result, event)
    path = directory / LOG_NAME
    try:
        f: IO[bytes] | None = open(path, "rb")  # noqa: SIM115 (handed to the follower)
    except FileNotFoundError:
        f = None
    follower = _Follower(path, f)
    try:
        shown: list[str] = []
        if f is not None:
            end = f.seek(0, 2)
            f.seek(0)
            # Only complete lines count; a line being written is picked up by the follower.
            complete_end = end - len(next(_reverse_lines(f, end)))
            shown = _last_matching(f, complete_end, lines, keep)
            if not follow and complete_end < end:
                f.seek(complete_end)
                partial = _decode(f.read())
                if keep.matches(_parse(partial)):
                    shown = [*shown, partial][-lines:] if lines > 0 else []
            f.seek(complete_end)
        if len(shown) < lines and directory.is_dir():
            shown = _read_back(directory, lines - len(shown), keep) + shown
        for line in shown:
            print(_render(line, as_json), file=out)
        out.flush()
        while follow and not (stop is not None and stop.is_set()):
            if stop is not None:
                stop.wait(POLL_SECONDS)
            else:
                time.sleep(POLL_SECONDS)
            new = [ln for ln in follower.poll() if ln.strip() and keep.matches(_parse(ln))]
            for line in new:
                print(_render(line, as_json), file=out)
            if new:
                out.flush()
    except KeyboardInterrupt:
        pass
    finally:  # `logs tail | head`: the BrokenPipeError goes up to the CLI, which exits 141
        follower.close()
    return 0
