"""One message in mboxrd form, streamed from its Maildir file.

    From <envelope sender> <INTERNALDATE, asctime, UTC>
    <header fields, with Status / X-Status / X-Keywords for the flags>
    <blank line and body; every line matching ^>*From  gets one more '>'>
    <blank line>

The envelope sender is the address of the first Return-Path field ("<>" and a missing
or unusable one give MAILER-DAEMON, as in mutt and Dovecot). Flags are written the way
Dovecot's and mutt's mbox code reads them: `Status: R` (\\Seen) plus `O` (not \\Recent:
the message was in cur/), `X-Status:` A (\\Answered) F (\\Flagged) T (\\Draft) D
(\\Deleted), and `X-Keywords:` with the keywords ($Forwarded, $Junk, ...) separated by
spaces. Those three fields, if the message already had them, are dropped (they would
contradict the flags). A message that does not end with a newline gets one. Nothing
else is changed: mboxrd quoting is reversible, so a reader that removes one '>' from
each ^>+From  line gets the stored bytes back.

Only the header is held in memory (at most `MAX_HEADER` bytes; a longer one is copied
through unparsed, without flag fields); the body is copied in chunks.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from datetime import datetime
from typing import BinaryIO

MAX_HEADER = 1 << 20
_CHUNK = 1 << 16
_FROM = re.compile(rb">*From ")
_FLAG_FIELDS = frozenset({b"status", b"x-status", b"x-keywords"})
_X_STATUS = (("\\Answered", "A"), ("\\Flagged", "F"), ("\\Draft", "T"), ("\\Deleted", "D"))
_SYSTEM = frozenset({"\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted", "\\Recent"})
_ANGLE = re.compile(rb"<([^<>]*)>")


def from_line(sender: str, internaldate: datetime) -> bytes:
    """The From_ line: sender (no spaces) and the date in asctime form, UTC."""
    stamp = time.asctime(time.gmtime(internaldate.timestamp()))
    return f"From {sender} {stamp}\n".encode("utf-8", "surrogateescape")


def envelope_sender(fields: Iterable[bytes]) -> str:
    """The address in the first Return-Path field, or MAILER-DAEMON."""
    for field in fields:
        name, colon, value = field.partition(b":")
        if not colon or name.strip().lower() != b"return-path":
            continue
        value = b" ".join(value.split())  # unfold
        match = _ANGLE.search(value)
        address = (match.group(1) if match else value).strip()
        if not address or any(c <= 0x20 or c == 0x7F for c in address):
            return "MAILER-DAEMON"
        return address.decode("utf-8", "surrogateescape")
    return "MAILER-DAEMON"


def flag_fields(flags: Iterable[str], recent: bool, eol: bytes = b"\n") -> bytes:
    """Status / X-Status / X-Keywords lines for `flags` (empty fields are left out)."""
    flags = set(flags)
    status = ("R" if "\\Seen" in flags else "") + ("" if recent else "O")
    x_status = "".join(letter for flag, letter in _X_STATUS if flag in flags)
    keywords = " ".join(sorted(f for f in flags if f not in _SYSTEM))
    lines = []
    for name, value in (("Status", status), ("X-Status", x_status), ("X-Keywords", keywords)):
        if value:
            lines.append(f"{name}: {value}".encode() + eol)
    return b"".join(lines)


def _read_header(source: BinaryIO) -> tuple[list[bytes], bytes, bool]:
    """(header lines, the line that ended it: blank, b"" at EOF, or the first over-long
    one, whether it was parsed). Lines keep their line ends."""
    lines: list[bytes] = []
    total = 0
    while True:
        line = source.readline(MAX_HEADER + 1)
        if line in (b"", b"\n", b"\r\n"):
            return lines, line, True
        total += len(line)
        if total > MAX_HEADER:
            return lines, line, False  # not a header we can rewrite: copy it through
        if not line.endswith(b"\n"):
            # The message ends inside its header: its last field gets the line end that
            # every message without a final newline gets in the mbox.
            eol = b"\r\n" if lines and lines[0].endswith(b"\r\n") else b"\n"
            return [*lines, line + eol], b"", True
        lines.append(line)


def _fields(lines: list[bytes]) -> list[list[bytes]]:
    """Header lines grouped into fields (a field and its continuation lines)."""
    fields: list[list[bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    return fields


class _Quoter:
    """Writes lines to `out`, adding '>' to every line that starts with >*From ."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.at_line_start = True
        self.written = 0
        self.last = b"\n"

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        if self.at_line_start and _FROM.match(chunk):
            self.out.write(b">")
            self.written += 1
        self.out.write(chunk)
        self.written += len(chunk)
        self.at_line_start = chunk.endswith(b"\n")
        self.last = chunk[-1:]


def write_message(
    out: BinaryIO,
    source: BinaryIO,
    *,
    internaldate: datetime,
    flags: Iterable[str],
    recent: bool,
    with_flags: bool = True,
) -> int:
    """Append one message read from `source` to `out` in mboxrd form; return bytes written."""
    lines, stop, parsed = _read_header(source)
    fields = _fields(lines)
    sender = envelope_sender(b"".join(f) for f in fields)
    head = from_line(sender, internaldate)
    out.write(head)
    quoter = _Quoter(out)
    eol = b"\r\n" if lines and lines[0].endswith(b"\r\n") else b"\n"
    for field in fields:
        name = field[0].partition(b":")[0].strip().lower()
        if with_flags and parsed and name in _FLAG_FIELDS:
            continue
        for line in field:
            quoter.write(line)
    if with_flags and parsed:
        quoter.write(flag_fields(flags, recent, eol))
    quoter.write(stop)
    while True:
        chunk = source.readline(_CHUNK)
        if not chunk:
            break
        quoter.write(chunk)
    if quoter.last != b"\n":
        quoter.write(b"\n")
    out.write(b"\n")
    return len(head) + quoter.written + 1
