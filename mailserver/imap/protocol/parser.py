"""Sans-IO IMAP4rev1 command parser, server side (RFC 3501 §2.2, §4, §9), in the style of h11.

Usage::

    parser = CommandParser(max_line=..., max_literal=...)
    parser.receive_data(chunk)
    while True:
        event = parser.next_event()          # may raise ImapProtocolError
        if event is NEED_DATA: break         # read more from the socket
        if isinstance(event, ContinuationNeeded):
            send continuation("Ready for literal data"), or refuse_literal() and answer NO/BAD
        elif isinstance(event, Command): dispatch
        elif isinstance(event, RawLine): AUTHENTICATE response / IDLE's DONE

The parser does no I/O and keeps no more than one command's text (`max_line`)
plus its literals (`max_literal_total`, never more than `max_literal` each)
beyond what the caller has fed and not yet asked for: call `next_event()` until
NEED_DATA before feeding the next chunk. After an `ImapProtocolError` the
parser skips the rest of the bad command (a non-synchronising literal's bytes
included, so they are never read as commands) and carries on with the next one,
except that a non-synchronising literal over the size limit is fatal: the session
closes rather than read bytes it will discard (RFC 7888 §4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto
from typing import Final

from .errors import CommandSyntaxError, ImapProtocolError, LineTooLong, LiteralTooLarge
from .values import Atom, ImapValue

__all__ = [
    "NEED_DATA",
    "Command",
    "CommandParser",
    "ContinuationNeeded",
    "Event",
    "RawLine",
]

DEFAULT_MAX_LINE: Final = 64 * 1024
DEFAULT_MAX_LITERAL: Final = 64 * 1024 * 1024
DEFAULT_MAX_LITERALS: Final = 100
MAX_NESTING: Final = 32

# ---------------------------------------------------------------------------------------------
# Events


@dataclass(frozen=True, slots=True)
class Command:
    """One complete command: `tag`, upper-case `name` ("FETCH" for UID FETCH, with uid=True)."""

    tag: str
    name: str
    uid: bool
    args: list[ImapValue]


@dataclass(frozen=True, slots=True)
class ContinuationNeeded:
    """A synchronising literal {size} is within the limits: send "+ ..." (RFC 3501 §7.5) now,
    or call `refuse_literal()` and answer the command instead (the client waits for "+")."""

    tag: str
    size: int
    name: str  # the command's name, so the caller can judge the literal (APPEND vs quota)


@dataclass(frozen=True, slots=True)
class RawLine:
    """A line read after `expect_line()` (AUTHENTICATE response, IDLE's DONE), without CRLF."""

    data: bytes


class _NeedData(Enum):
    # A one-member enum rather than a bare object, so that `event is NEED_DATA`
    # narrows `Event` for the type checker.
    NEED_DATA = auto()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData.NEED_DATA
"""Sentinel: the parser needs more bytes before it can produce the next event."""

Event = Command | ContinuationNeeded | RawLine | _NeedData

# ---------------------------------------------------------------------------------------------
# Grammar (RFC 3501 §9), as byte regexes

# tag = 1*<any ASTRING-CHAR except "+">; ASTRING-CHAR = ATOM-CHAR / "]"; ATOM-CHAR excludes
# "(" ")" "{" SP CTL "%" "*" DQUOTE "\".
_TAG_RE = re.compile(rb"[\x21\x23\x24\x26\x27\x2c-\x5b\x5d-\x7a\x7c-\x7e]+")
# command names are atoms; in practice letters, digits and "-" (X-commands).
_NAME_RE = re.compile(rb"[A-Za-z][A-Za-z0-9_.-]*")
# Arguments are lenient atoms: any printable ASCII except "(" ")" "{" DQUOTE, so flags
# (\Seen, \*), LIST wildcards (% *) and "]" (astring) pass. A "[" opens a section that
# runs to the next "]" and may hold SP and parentheses: BODY.PEEK[HEADER.FIELDS (A B)]<0.9>.
# A "[" with no "]" (a mailbox "a[b") is an ordinary character.
_ATOM_RE = re.compile(
    rb"(?:[\x21\x23-\x27\x2a-\x5a\x5c-\x7a\x7c-\x7e]+|\[[\x20-\x5a\x5c\x5e-\x7e]*\]|\[)+"
)
# quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR = any TEXT-CHAR except " and \, or \" \\.
# 8-bit bytes are accepted (UTF8=ACCEPT, SEARCH CHARSET UTF-8); CR, LF and NUL are not.
_QUOTED_RE = re.compile(rb'"([^"\\\r\n\x00]*(?:\\["\\][^"\\\r\n\x00]*)*)"')
_UNESCAPE_RE = re.compile(rb'\\(["\\])')
# literal = "{" number ["+"] "}" CRLF *CHAR8 (RFC 3501, RFC 7888); literal8 = "~{" ... (RFC 3516)
_MARKER_RE = re.compile(rb"\{([0-9]+)(\+?)\}")
_MAX_DIGITS: Final = 20  # more digits than this: an absurd size, refused (never int() it)
_TAIL: Final = 48  # bytes of a skipped line kept to find its literal marker


@dataclass(frozen=True, slots=True)
class _Marker:
    start: int  # offset of "{" (or "~") in the line
    size: int
    sync: bool


def _literal_marker(line: bytes | bytearray) -> _Marker | None:
    """The literal announced at the end of a command line, if any (RFC 3501 §4.3)."""
    if not line.endswith(b"}"):
        return None
    start = line.rfind(b"{")
    if start < 0:
        return None
    m = _MARKER_RE.fullmatch(line, start)
    if m is None:
        return None
    digits = m.group(1)
    size = int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS
    if start > 0 and line[start - 1] == 0x7E:  # "~" literal8
        start -= 1
    return _Marker(start, size, sync=not m.group(2))


# ---------------------------------------------------------------------------------------------
# One command being assembled from its lines and literals


class _Builder:
    """Tokenises a command line by line, so errors show before a continuation is sent."""

    __slots__ = ("after_value", "args", "literal_count", "literal_total", "name", "sep", "stack",
                 "tag", "text_used", "uid")  # fmt: skip

    def __init__(self) -> None:
        self.tag: str | None = None
        self.name = ""
        self.uid = False
        self.args: list[ImapValue] = []
        self.stack: list[list[ImapValue]] = [self.args]
        self.after_value = True  # after the command name, an argument needs an SP first
        self.sep = False
        self.text_used = 0
        self.literal_count = 0
        self.literal_total = 0

    def error(self, text: str) -> CommandSyntaxError:
        return CommandSyntaxError(text, tag=self.tag)

    def feed(self, body: bytes) -> None:
        """Tokenise one line's text (without its literal marker)."""
        pos = 0
        if self.tag is None:
            pos = self._header(body)
        self._arguments(body, pos)

    def _header(self, body: bytes) -> int:
        # RFC 3501 §9: command = tag SP (command-any / command-auth / ...) CRLF
        m = _TAG_RE.match(body)
        if m is None or body[m.end() : m.end() + 1] != b" ":
            raise CommandSyntaxError("Missing or invalid tag")
        self.tag = m.group().decode("ascii")
        name, pos = self._name(body, m.end() + 1)
        if name == "UID":
            # RFC 3501 §6.4.8: uid = "UID" SP (copy / fetch / search / store)
            if body[pos : pos + 1] != b" ":
                raise self.error("UID needs a command")
            name, pos = self._name(body, pos + 1)
            self.uid = True
        self.name = name
        return pos

    def _name(self, body: bytes, pos: int) -> tuple[str, int]:
        m = _NAME_RE.match(body, pos)
        if m is None or body[m.end() : m.end() + 1] not in (b"", b" "):
            raise self.error("Missing or invalid command name")
        return m.group().decode("ascii").upper(), m.end()

    def _arguments(self, body: bytes, pos: int) -> None:
        stack = self.stack
        end = len(body)
        while pos < end:
            c = body[pos]
            if c == 0x20:  # SP; a run of spaces is tolerated
                self.sep = True
                pos += 1
                continue
            if c == 0x29:  # ")"
                if len(stack) == 1:
                    raise self.error("Unbalanced ')'")
                done = stack.pop()
                stack[-1].append(done)
                self.after_value, self.sep = True, False
                pos += 1
                continue
            if self.after_value and not self.sep:
                raise self.error("Missing space between arguments")
            value: ImapValue
            if c == 0x28:  # "("
                if len(stack) > MAX_NESTING:
                    raise self.error("Lists nested too deeply")
                stack.append([])
                self.after_value, self.sep = False, False
                pos += 1
                continue
            if c == 0x22:  # DQUOTE
                m = _QUOTED_RE.match(body, pos)
                if m is None:
                    raise self.error("Invalid quoted string")
                raw = m.group(1)
                value = _UNESCAPE_RE.sub(rb"\1", raw) if b"\\" in raw else raw
            elif c == 0x7B:  # "{"
                raise self.error("A literal must end its line")
            else:
                m = _ATOM_RE.match(body, pos)
                if m is None:
                    raise self.error(f"Invalid character 0x{c:02x} in command")
                text = m.group().decode("ascii")
                value = None if text.upper() == "NIL" else Atom(text)
            stack[-1].append(value)
            self.after_value, self.sep = True, False
            pos = m.end()

    def check_literal_position(self) -> None:
        if self.after_value and not self.sep:
            raise self.error("Missing space before literal")

    def add_literal(self, data: bytes) -> None:
        self.stack[-1].append(data)
        self.after_value, self.sep = True, False

    def finish(self) -> Command:
        if len(self.stack) > 1:
            raise self.error("Unclosed '('")
        assert self.tag is not None
        return Command(self.tag, self.name, self.uid, self.args)


# ---------------------------------------------------------------------------------------------
# The parser


class _Mode(Enum):
    LINE = auto()  # reading command text up to LF
    LITERAL = auto()  # reading an accepted literal's bytes
    SKIP_LITERAL = auto()  # discarding a refused non-synchronising literal
    SKIP_LINE = auto()  # discarding the rest of a refused command's line
    DEAD = auto()  # cannot resynchronise: one fatal error, then all input is dropped


class CommandParser:
    """Turns the bytes a client sends into `Command`/`ContinuationNeeded`/`RawLine` events.

    Limits: `max_line` bounds a command's text without its literals; `max_literal`
    bounds each literal (APPEND's message); `max_literals` and `max_literal_total`
    (default: `max_literal`) bound a command's literals together. A
    non-synchronising literal over those limits is fatal (the client is already
    sending it); one announced by a command refused for another reason is skipped
    when it is at most `max_discard` (default: `max_literal`), fatal beyond.
    """

    def __init__(
        self,
        *,
        max_line: int = DEFAULT_MAX_LINE,
        max_literal: int = DEFAULT_MAX_LITERAL,
        max_literals: int = DEFAULT_MAX_LITERALS,
        max_literal_total: int | None = None,
        max_discard: int | None = None,
    ) -> None:
        if max_line < 16:
            raise ValueError("max_line too small")
        self.max_line = max_line
        self.max_literal = max_literal
        self.max_literals = max_literals
        self.max_literal_total = max_literal if max_literal_total is None else max_literal_total
        # A refused command's non-synchronising literal is skipped up to this size; beyond it
        # the session closes (RFC 7888 §4) rather than read what it will throw away.
        self.max_discard = max_literal if max_discard is None else max_discard
        self._buf = bytearray()
        self._scan = 0  # where to resume looking for LF in _buf
        self._mode = _Mode.LINE
        self._builder: _Builder | None = None
        self._literal_size = 0
        self._skip = 0  # bytes of a refused literal still to discard
        self._tail = b""  # end of the line being skipped
        self._skip_markers = True  # False while skipping a raw line (it announces no literal)
        self._raw = False
        self._dead_reported = False
        self._continuation_pending = False  # the last event was ContinuationNeeded

    # -- feeding ----------------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes read from the client (b"" at EOF is accepted and ignored)."""
        if self._mode is _Mode.DEAD:
            return
        self._buf += data

    def expect_line(self) -> None:
        """Make the next line a `RawLine` (RFC 3501 §6.2.2 AUTHENTICATE, RFC 2177 IDLE DONE).

        Call it between commands, after the `Command` that needs the line.
        """
        if self._builder is not None:
            raise RuntimeError("expect_line() in the middle of a command")
        self._raw = True

    def set_literal_limit(self, max_literal: int) -> None:
        """Change the largest literal accepted from the next command on (before and after
        login, RFC 7888 §4 lets the server choose). Call it between commands."""
        if self._builder is not None:
            raise RuntimeError("set_literal_limit() in the middle of a command")
        self.max_literal = self.max_literal_total = self.max_discard = max_literal

    def refuse_literal(self) -> None:
        """Drop the command whose `ContinuationNeeded` was just returned.

        The caller answers it (tagged NO or BAD) instead of sending "+"; a client
        never sends a synchronising literal without the continuation, so the next
        line is a new command (RFC 3501 §7.5).
        """
        if not self._continuation_pending:
            raise RuntimeError("refuse_literal() without a ContinuationNeeded")
        self._continuation_pending = False
        self._builder = None
        self._mode = _Mode.LINE

    @property
    def buffered(self) -> int:
        """Bytes held: unconsumed input plus the current command's text and literals."""
        held = len(self._buf)
        if self._builder is not None:
            held += self._builder.text_used + self._builder.literal_total
            if self._mode is _Mode.LITERAL:
                held -= self._literal_size  # counted in literal_total, arriving in _buf
        return held

    @property
    def in_command(self) -> bool:
        """True between the first line of a command and its end (e.g. waiting for a literal)."""
        return self._builder is not None or self._mode is not _Mode.LINE

    # -- events -----------------------------------------------------------------------------

    def next_event(self) -> Event:
        """The next event, NEED_DATA, or raise `ImapProtocolError` for the client's mistake."""
        self._continuation_pending = False
        while True:
            mode = self._mode
            if mode is _Mode.LINE:
                line = self._take_line()
                if line is None:
                    return NEED_DATA
                if self._raw:
                    self._raw = False
                    return RawLine(line)
                event = self._command_line(line)
                if event is not None:
                    return event
            elif mode is _Mode.LITERAL:
                size = self._literal_size
                if len(self._buf) < size:
                    return NEED_DATA
                data = bytes(self._buf[:size])
                del self._buf[:size]
                assert self._builder is not None
                self._builder.add_literal(data)
                self._mode = _Mode.LINE
            elif mode is _Mode.SKIP_LITERAL:
                n = min(self._skip, len(self._buf))
                del self._buf[:n]
                self._skip -= n
                if self._skip:
                    return NEED_DATA
                self._mode = _Mode.SKIP_LINE
                self._tail = b""
            elif mode is _Mode.SKIP_LINE:
                if not self._skip_line():
                    return NEED_DATA
            else:  # DEAD: a refused literal too large even to skip; reported once, then silence
                self._buf.clear()
                if not self._dead_reported:
                    self._dead_reported = True
                    raise LiteralTooLarge("Literal too large; closing", status="BAD", fatal=True)
                return NEED_DATA

    # -- internals --------------------------------------------------------------------------

    def _take_line(self) -> bytes | None:
        """The next line's text without CR LF, or None; raises LineTooLong (RFC 3501 §4)."""
        builder = self._builder
        allowance = self.max_line - (builder.text_used if builder else 0)
        buf = self._buf
        lf = buf.find(b"\n", self._scan)
        if lf < 0:
            # Content is certainly longer than allowed once allowance+2 bytes hold no LF.
            if len(buf) <= allowance + 1:
                self._scan = len(buf)
                return None
            tag = self._tag_for_error(allowance)
            self._tail = bytes(buf[-_TAIL:])
            buf.clear()
            self._scan = 0
            self._abandon(skip_rest=True)
            raise LineTooLong("Command line too long", tag=tag)
        end = lf - 1 if lf > 0 and buf[lf - 1] == 0x0D else lf  # tolerate a bare LF
        if end > allowance:
            tag = self._tag_for_error(allowance)
            tail = bytes(buf[max(0, end - _TAIL) : end])
            del buf[: lf + 1]
            self._scan = 0
            raw = self._raw
            self._abandon(skip_rest=False)
            if not raw:
                # As when the line arrives in pieces: a literal too large even to skip is
                # reported by its own (fatal) error at the next event.
                self._after_bad_line(_literal_marker(tail))
            raise LineTooLong("Command line too long", tag=tag)
        line = bytes(buf[:end])
        del buf[: lf + 1]
        self._scan = 0
        return line

    def _tag_for_error(self, allowance: int) -> str | None:
        """The tag of the command a too-long line belongs to, read the same way however fed."""
        if self._raw:
            return None
        if self._builder is not None:
            return self._builder.tag
        head = bytes(self._buf[: min(allowance + 1, 256)])
        m = _TAG_RE.match(head)
        if m is None or head[m.end() : m.end() + 1] != b" ":
            return None
        return m.group().decode("ascii")

    def _abandon(self, *, skip_rest: bool) -> None:
        """Forget the current command; skip_rest: its line's end has not arrived yet."""
        self._builder = None
        if skip_rest:
            self._mode = _Mode.SKIP_LINE
            self._skip_markers = not self._raw
        else:
            self._mode = _Mode.LINE
        self._raw = False

    def _after_bad_line(self, marker: _Marker | None) -> None:
        """A refused line that announced a non-synchronising literal: skip it and the rest.

        A synchronising literal is never sent by the client without our continuation, so the
        next line is a new command (RFC 7888 §4). Skipping non-synchronising bytes keeps them
        from being read as commands (command injection).
        """
        if marker is None or marker.sync:
            self._mode = _Mode.LINE
            return
        if marker.size > self.max_discard:
            # Skipping that much is a denial of service; the session should close (fatal).
            self._mode = _Mode.DEAD
            self._buf.clear()
            return
        self._skip = marker.size
        self._mode = _Mode.SKIP_LITERAL

    def _skip_line(self) -> bool:
        """Discard up to the next LF; True once the line (and its command) is done with."""
        buf = self._buf
        lf = buf.find(b"\n")
        if lf < 0:
            self._tail = (self._tail + bytes(buf[-_TAIL:]))[-_TAIL:]
            buf.clear()
            return False
        tail = (self._tail + bytes(buf[max(0, lf - _TAIL) : lf]))[-_TAIL:]
        del buf[: lf + 1]
        self._tail = b""
        if tail.endswith(b"\r"):
            tail = tail[:-1]
        marker = _literal_marker(tail) if self._skip_markers else None
        self._skip_markers = True
        self._after_bad_line(marker)
        return True

    def _command_line(self, line: bytes) -> Event | None:
        """Tokenise one line of a command; the event it completes, if any."""
        builder = self._builder
        if builder is None:
            if not line:
                return None  # empty lines between commands are ignored
            builder = self._builder = _Builder()
        builder.text_used += len(line)
        marker = _literal_marker(line)
        try:
            if marker is None:
                builder.feed(line)
                self._builder = None
                return builder.finish()
            builder.feed(line[: marker.start])
            builder.check_literal_position()
            self._check_literal(builder, marker)
        except ImapProtocolError as err:
            self._builder = None
            if err.tag is None:
                err.tag = builder.tag
            if isinstance(err, LiteralTooLarge) and marker is not None and not marker.sync:
                # RFC 7888 §4: the client is already sending a literal we refuse; reading it
                # only to throw it away is the denial of service, so the session closes.
                self._mode = _Mode.DEAD
                self._buf.clear()
            else:
                self._after_bad_line(marker)
            if self._mode is _Mode.DEAD:
                err.fatal = self._dead_reported = True
            raise
        builder.literal_count += 1
        builder.literal_total += marker.size
        self._literal_size = marker.size
        self._mode = _Mode.LITERAL
        if marker.sync:
            assert builder.tag is not None
            self._continuation_pending = True
            return ContinuationNeeded(builder.tag, marker.size, builder.name)
        return None

    def _check_literal(self, builder: _Builder, marker: _Marker) -> None:
        # RFC 7888 §4: refuse with [TOOBIG]; NO for a synchronising literal (no data follows),
        # BAD for a non-synchronising one (its data is already on the way: the session closes).
        status = "NO" if marker.sync else "BAD"
        if marker.size > self.max_literal:
            raise LiteralTooLarge("Literal too large", tag=builder.tag, status=status)
        if builder.literal_total + marker.size > self.max_literal_total:
            raise LiteralTooLarge("Literals too large in total", tag=builder.tag, status=status)
        if builder.literal_count + 1 > self.max_literals:
            raise CommandSyntaxError("Too many literals in one command", tag=builder.tag)
