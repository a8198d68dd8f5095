"""POP3 without I/O: line framing, command parsing, the state table, response bytes.

RFC 1939 (POP3) with RFC 2449 (CAPA, response codes), RFC 2595 §4 (STLS),
RFC 3206 (SYS/AUTH response codes) and RFC 5034 (AUTH). The session feeds
received bytes to `LineReader`, turns each line into a `Command` with
`parse_command`, checks it against `ALLOWED` for its state, and sends what
`ok`, `err`, `multiline` and `continuation` return. A client's mistake raises
`Pop3ProtocolError` (answered with `-ERR`, after which the session carries
on); anything else escaping this module is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Final

# RFC 2449 §4: command lines are at most 255 octets (CRLF included); we accept twice that,
# as Dovecot does, and answer -ERR beyond it.
MAX_LINE: Final = 512
# RFC 5034 §4: a SASL client response line may be longer than a command line.
MAX_SASL_LINE: Final = 8192
# RFC 1939 §3: message numbers are decimal; ten digits is far beyond any maildrop.
MAX_NUMBER_DIGITS: Final = 10


class NeedData:
    """Sentinel: the reader needs more bytes before it can return a line."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


class Pop3ProtocolError(Exception):
    """A client's mistake: answer `-ERR [code] text` and carry on (RFC 1939 §3).

    `code` is an RFC 2449 §8 response code such as "AUTH" or "SYS/PERM", or None.
    """

    def __init__(self, text: str, *, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


class State(Enum):
    """RFC 1939 §3: the three states of a POP3 session."""

    AUTHORIZATION = "authorization"
    TRANSACTION = "transaction"
    UPDATE = "update"


# The state table: which commands each state accepts (RFC 1939 §4-6, RFC 2449 §5,
# RFC 2595 §4, RFC 5034 §4). UPDATE accepts nothing: the session ends there.
ALLOWED: Final[dict[State, frozenset[str]]] = {
    State.AUTHORIZATION: frozenset({"CAPA", "STLS", "USER", "PASS", "AUTH", "APOP", "QUIT"}),
    State.TRANSACTION: frozenset(
        {"CAPA", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "TOP", "UIDL", "QUIT"}
    ),
    State.UPDATE: frozenset(),
}
KNOWN_COMMANDS: Final = frozenset().union(*ALLOWED.values())

# Arguments each command takes: (least, most). PASS takes the rest of the line as one
# argument (RFC 1939 §7: a password may contain spaces), so it is split at most once;
# USER's name is taken whole as well, for the login normaliser (mailserver.logins).
ARITY: Final[dict[str, tuple[int, int]]] = {
    "CAPA": (0, 0),
    "STLS": (0, 0),
    "USER": (1, 1),
    "PASS": (1, 1),
    "AUTH": (0, 2),
    "APOP": (0, 2),
    "QUIT": (0, 0),
    "STAT": (0, 0),
    "LIST": (0, 1),
    "RETR": (1, 1),
    "DELE": (1, 1),
    "NOOP": (0, 0),
    "RSET": (0, 0),
    "TOP": (2, 2),
    "UIDL": (0, 1),
}


@dataclass(frozen=True, slots=True)
class Command:
    """One client command: the upper-cased keyword and its arguments."""

    name: str
    args: tuple[str, ...] = ()


class LineReader:
    """Frames the byte stream into lines of bounded length.

    A line longer than the limit raises `Pop3ProtocolError` once, as soon as it
    is seen; the rest of it, up to the next LF, is then dropped silently, so the
    client gets exactly one `-ERR` per over-long line and the session stays in step.
    """

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        self._buffer = bytearray()
        self._discarding = False

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the connection."""
        self._buffer += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet returned as a line (STLS refuses to start with any)."""
        return len(self._buffer)

    def next_line(self, max_line: int | None = None) -> bytes | NeedData:
        """The next line without its CRLF (or LF), or NEED_DATA."""
        limit = max_line if max_line is not None else self.max_line
        if self._discarding:
            end = self._buffer.find(b"\n")
            if end < 0:
                self._buffer.clear()
                return NEED_DATA
            del self._buffer[: end + 1]
            self._discarding = False
        end = self._buffer.find(b"\n")
        if end < 0:
            if len(self._buffer) > limit:
                self._buffer.clear()
                self._discarding = True
                raise Pop3ProtocolError("Line too long")
            return NEED_DATA
        line = bytes(self._buffer[: end + 1])
        del self._buffer[: end + 1]
        if len(line) > limit:
            raise Pop3ProtocolError("Line too long")
        return line.rstrip(b"\r\n")


_KEYWORD = re.compile(r"[A-Za-z]{3,4}")


def parse_command(line: bytes) -> Command:
    """Parse one command line (RFC 1939 §3: keyword, then arguments separated by spaces).

    Keywords are case-insensitive. Arguments are UTF-8 text (user names may be
    internationalised); control characters are refused.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise Pop3ProtocolError("Command is not valid UTF-8") from None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise Pop3ProtocolError("Control characters are not allowed")
    keyword, _, rest = text.partition(" ")
    if not _KEYWORD.fullmatch(keyword):
        raise Pop3ProtocolError("Unknown command" if keyword else "Empty command")
    name = keyword.upper()
    if name not in KNOWN_COMMANDS:
        raise Pop3ProtocolError(f"Unknown command {name}")
    if name in ("PASS", "USER"):
        # The login too is taken as sent: access.login normalises (and refuses spaces)
        # as every protocol does, so a stray space is refused here as on IMAP and SMTP.
        args: tuple[str, ...] = (rest,) if rest else ()
    else:
        args = tuple(rest.split())
    least, most = ARITY[name]
    if not least <= len(args) <= most:
        raise Pop3ProtocolError(f"Wrong number of arguments to {name}")
    return Command(name, args)


def check_state(state: State, command: Command) -> None:
    """Raise unless `command` is valid in `state` (the table `ALLOWED`)."""
    if command.name not in ALLOWED[state]:
        raise Pop3ProtocolError(f"{command.name} is not valid in the {state.value} state")


def parse_number(value: str, what: str = "message number") -> int:
    """A decimal number argument: digits only, no sign (RFC 1939 §3)."""
    if not value.isascii() or not value.isdigit() or len(value) > MAX_NUMBER_DIGITS:
        raise Pop3ProtocolError(f"Invalid {what}: {value[:20]}")
    return int(value)


# --- responses (RFC 1939 §3) ---------------------------------------------------------


def _status_text(text: str) -> bytes:
    """Response text on one line: CR, LF and other controls become spaces."""
    cleaned = "".join(" " if ord(c) < 0x20 or ord(c) == 0x7F else c for c in text)
    return cleaned.encode("utf-8")


def ok(text: str = "") -> bytes:
    """A positive status line: `+OK text`."""
    return b"+OK " + _status_text(text) + b"\r\n" if text else b"+OK\r\n"


def err(text: str, code: str | None = None) -> bytes:
    """A negative status line with an optional RFC 2449 §8 response code."""
    prefix = f"[{code}] " if code else ""
    return b"-ERR " + _status_text(prefix + text) + b"\r\n"


def continuation(challenge: str = "") -> bytes:
    """RFC 5034 §4: a server challenge, `+ base64`, or `+ ` for an empty one."""
    return b"+ " + challenge.encode("ascii") + b"\r\n"


_BARE_LF = re.compile(rb"(?<!\r)\n")


def dot_stuff(data: bytes) -> bytes:
    """RFC 1939 §3: byte-stuff a multi-line body and add the terminating `.` line.

    Every line that starts with "." gets another "." in front. Line ends become
    CRLF (the store already gives CRLF; a stray bare LF is repaired), and a last
    line without one is ended before the terminator.
    """
    body = _BARE_LF.sub(b"\r\n", data)
    if body and not body.endswith(b"\r\n"):
        body += b"\r\n"
    if body.startswith(b"."):
        body = b"." + body
    body = body.replace(b"\r\n.", b"\r\n..")
    return body + b".\r\n"


def multiline(status: str, lines: Iterable[str | bytes]) -> bytes:
    """`+OK status`, then each line (byte-stuffed), then `.`: a whole multi-line response."""
    encoded = [x if isinstance(x, bytes) else x.encode("utf-8") for x in lines]
    body = b"".join(x + b"\r\n" for x in encoded)
    return ok(status) + dot_stuff(body)


def top(message: bytes, lines: int) -> bytes:
    """RFC 1939 §7 TOP: the header, the blank line, and the first `lines` lines of the body."""
    end = message.find(b"\r\n\r\n")
    if end < 0:  # no body: the whole message is header
        return message
    header, body = message[: end + 4], message[end + 4 :]
    if lines <= 0 or not body:
        return header
    kept = body.split(b"\r\n")[:lines]
    tail = b"\r\n".join(kept)
    if len(kept) == lines and body.count(b"\r\n") >= lines:
        tail += b"\r\n"
    return header + tail
