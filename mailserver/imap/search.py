"""IMAP SEARCH (RFC 3501 §6.4.4): parse the search criteria and evaluate them per message.

Usage by the server::

    try:
        program = parse_search(args)          # args: list of ImapValue after "SEARCH"
    except BadCharset as exc:
        # tagged NO [BADCHARSET (US-ASCII UTF-8)]
        respond_no(code=exc.response_code)
    except SearchSyntaxError as exc:
        respond_bad(str(exc))
    program = program.resolve(max_seq=len(mailbox), max_uid=highest_uid_in_mailbox)
    for msg in mailbox:                       # each a SearchMessage
        if program.matches(msg):
            ...

``program.needs_content`` says whether any key looks at headers or body (so a
flag-only search need not open message files); ``program.needs_body`` narrows
that to keys that also read the body (BODY, TEXT).

Sequence sets containing ``*`` need the mailbox's largest sequence number and
largest UID in use: bind them with :meth:`SearchProgram.resolve` before calling
:meth:`SearchProgram.matches` (``program.uses_star`` says whether it matters;
matching an unresolved program that uses ``*`` raises ``RuntimeError``).

String matching follows RFC 3501 §6.4.4 ("case-insensitive ... substring"),
made Unicode-aware: both sides are NFC-normalised and case-folded.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from email import message_from_bytes
from email.message import Message
from email.policy import compat32
from email.utils import parsedate_tz
from typing import Protocol, runtime_checkable

from mailserver.imap.protocol.values import ImapValue

__all__ = [
    "SUPPORTED_CHARSETS",
    "AllKey",
    "AndKey",
    "BadCharset",
    "DateKey",
    "FlagKey",
    "HeaderKey",
    "KeywordKey",
    "NotKey",
    "OrKey",
    "ParsedSearchMessage",
    "RecentKey",
    "SearchKey",
    "SearchMessage",
    "SearchProgram",
    "SearchSyntaxError",
    "SequenceSet",
    "SequenceSetKey",
    "SizeKey",
    "TextKey",
    "decode_charset",
    "decode_rfc2047",
    "parse_search",
]

#: Charsets accepted after CHARSET, in the order advertised in [BADCHARSET (...)].
SUPPORTED_CHARSETS: tuple[str, ...] = ("US-ASCII", "UTF-8")

# Names (upper-cased) accepted for the two supported charsets.
_CHARSET_NAMES = {"US-ASCII": "US-ASCII", "ASCII": "US-ASCII", "UTF-8": "UTF-8", "UTF8": "UTF-8"}

# Nesting limit for NOT/OR chains and parenthesised groups (keeps recursion bounded).
_MAX_DEPTH = 100

_MAX_NUMBER = 0xFFFFFFFF  # RFC 3501 §9: number is an unsigned 32-bit integer


# --------------------------------------------------------------------------- errors


class SearchSyntaxError(ValueError):
    """The search criteria do not follow RFC 3501 §6.4.4 / §9 grammar: answer BAD."""


class BadCharset(Exception):
    """CHARSET names a charset this server cannot search in (RFC 3501 §6.4.4).

    The server answers ``NO [BADCHARSET (US-ASCII UTF-8)]``; :attr:`response_code`
    holds the text between the brackets.
    """

    def __init__(self, charset: str) -> None:
        super().__init__(f"unsupported charset {charset!r}")
        self.charset = charset
        self.supported = SUPPORTED_CHARSETS

    @property
    def response_code(self) -> str:
        """The response code text, e.g. ``BADCHARSET (US-ASCII UTF-8)``."""
        return f"BADCHARSET ({' '.join(self.supported)})"


# ------------------------------------------------------------------ message protocol


@runtime_checkable
class SearchMessage(Protocol):
    """What a search key may ask of a message (see :class:`ParsedSearchMessage`)."""

    seq: int
    uid: int
    flags: frozenset[str]
    recent: bool
    internaldate: datetime
    size: int

    def header_values(self, name: str) -> list[str]:
        """Decoded (RFC 2047) text of every occurrence of header ``name``, in order."""
        ...

    def sent_date(self) -> date | None:
        """The Date: header's calendar date in its own timezone, or None if absent/invalid."""
        ...

    def header_text(self) -> str:
        """All header fields, decoded, as ``Name: value`` lines."""
        ...

    def body_text(self) -> str:
        """Decoded text of the text/* parts (transfer encoding and charset undone)."""
        ...


# ----------------------------------------------------------------- text utilities


def _fold(text: str) -> str:
    """Normalise text for case-insensitive substring matching (NFC + casefold)."""
    if text.isascii():
        return text.lower()
    # casefold() can un-compose some characters, so normalise again afterwards.
    return unicodedata.normalize("NFC", unicodedata.normalize("NFC", text).casefold())


# Charset labels that Python does not know, or that are better served by a superset
# (as browsers do, per the WHATWG Encoding Standard: TIS-620 and ISO-8859-11 are
# decoded as windows-874, which only adds characters in 0x80-0x9F).
_CHARSET_ALIASES = {
    "tis-620": "cp874",
    "tis620": "cp874",
    "tis_620": "cp874",
    "iso-8859-11": "cp874",
    "iso8859-11": "cp874",
    "windows-874": "cp874",
    "x-windows-874": "cp874",
    "ms874": "cp874",
    "dos-874": "cp874",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "utf-8",  # lenient: mislabelled 8-bit text is usually UTF-8
    "ascii": "utf-8",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
}


def _codec_for(charset: str | None) -> str:
    """The Python codec to decode ``charset`` with (UTF-8 for unknown or missing labels)."""
    if not charset:
        return "utf-8"
    label = charset.strip().strip("\"'").lower()
    label = _CHARSET_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except (LookupError, ValueError):
        return "utf-8"


def decode_charset(data: bytes, charset: str | None) -> str:
    """Decode bytes labelled ``charset``; never raises (bad bytes become U+FFFD).

    Unknown or missing labels decode as UTF-8; Thai labels (TIS-620, ISO-8859-11,
    windows-874) decode as cp874.
    """
    codec = _codec_for(charset)
    try:
        return data.decode(codec)
    except (UnicodeError, LookupError, ValueError):
        pass
    try:
        return data.decode(codec, "replace")
    except (UnicodeError, LookupError, ValueError):
        # Non-text codecs (e.g. "base64", "zlib") are refused by bytes.decode.
        return data.decode("utf-8", "replace")


# RFC 2047 encoded word: =?charset[*lang]?B|Q?text?=
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")


def _decode_word_payload(encoding: str, text: str) -> bytes | None:
    """Bytes of an encoded word's text, or None if it cannot be decoded."""
    raw = text.encode("ascii", "replace")
    if encoding in "Bb":
        raw = raw.rstrip(b"=")
        if len(raw) % 4 == 1:  # a dangling sextet carries no whole byte
            raw = raw[:-1]
        try:
            return base64.b64decode(raw + b"=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
    raw = raw.replace(b"_", b" ")
    return _Q_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), raw)


def decode_rfc2047(value: str) -> str:
    """Decode RFC 2047 encoded words in a header value; never raises.

    Leniencies: whitespace between adjacent encoded words is dropped (as RFC 2047
    §6.2 says); adjacent words in the same charset are joined before decoding, so a
    multibyte character split across words survives; encoded words inside quoted
    strings or touching other text are decoded too; undecodable words stay as is.
    """
    if "=?" not in value:
        return value
    out: list[str] = []
    pending = bytearray()
    pending_charset: str | None = None

    def flush() -> None:
        nonlocal pending_charset
        if pending_charset is not None:
            out.append(decode_charset(bytes(pending), pending_charset))
            pending.clear()
            pending_charset = None

    pos = 0
    previous_was_word = False
    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        if previous_was_word and not gap.strip(" \t\r\n"):
            gap = ""
        if gap:
            flush()
            out.append(gap)
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 §5: charset*language
        data = _decode_word_payload(match.group(2), match.group(3))
        pos = match.end()
        if data is None:
            flush()
            out.append(match.group(0))
            previous_was_word = False
            continue
        if pending_charset is not None and pending_charset.lower() != charset.lower():
            flush()
        pending_charset = charset
        pending.extend(data)
        previous_was_word = True
    flush()
    out.append(value[pos:])
    return "".join(out)


# --------------------------------------------------------------------- sequence sets

_SEQ_NUMBER = r"(?:[0-9]+|\*)"
_SEQ_SET_RE = re.compile(rf"{_SEQ_NUMBER}(?::{_SEQ_NUMBER})?(?:,{_SEQ_NUMBER}(?::{_SEQ_NUMBER})?)*")


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """An RFC 3501 §9 sequence-set; ``None`` in a range stands for ``*``."""

    ranges: tuple[tuple[int | None, int | None], ...]

    @classmethod
    def parse(cls, text: str) -> SequenceSet:
        """Parse e.g. ``1:3,5,7:*``; raises SearchSyntaxError if malformed."""
        if not _SEQ_SET_RE.fullmatch(text):
            raise SearchSyntaxError(f"invalid sequence set {text!r}")
        ranges: list[tuple[int | None, int | None]] = []
        for part in text.split(","):
            low, _, high = part.partition(":")
            first = _seq_number(low)
            ranges.append((first, _seq_number(high) if high else first))
        return cls(tuple(ranges))

    @property
    def uses_star(self) -> bool:
        """True if any range mentions ``*`` (so the largest number in use matters)."""
        return any(low is None or high is None for low, high in self.ranges)

    def contains(self, number: int, largest: int | None) -> bool:
        """Whether ``number`` is in the set; ``largest`` is the value of ``*``.

        RFC 3501 §9: a range ``a:b`` covers the numbers between a and b whichever
        is larger, so ``5:*`` includes the largest message even when 5 > largest.
        """
        for low, high in self.ranges:
            if low is None or high is None:
                if largest is None:
                    raise RuntimeError("sequence set uses '*': call SearchProgram.resolve()")
                low = largest if low is None else low
                high = largest if high is None else high
            if low > high:
                low, high = high, low
            if low <= number <= high:
                return True
        return False


def _seq_number(text: str) -> int | None:
    if text == "*":
        return None
    number = int(text)
    if not 0 < number <= _MAX_NUMBER:
        raise SearchSyntaxError(f"sequence number out of range: {text}")
    return number


# ----------------------------------------------------------------------- search keys


class _Evaluation:
    """One message being matched: caches the folded texts the keys compare against."""

    __slots__ = ("_body", "_flags", "_header_text", "_headers", "max_seq", "max_uid", "msg")

    def __init__(self, msg: SearchMessage, max_seq: int | None, max_uid: int | None) -> None:
        self.msg = msg
        self.max_seq = max_seq
        self.max_uid = max_uid
        self._flags: frozenset[str] | None = None
        self._headers: dict[str, list[str]] = {}
        self._header_text: str | None = None
        self._body: str | None = None

    def flags(self) -> frozenset[str]:
        """The message's flags, lower-cased (flags compare case-insensitively)."""
        if self._flags is None:
            self._flags = frozenset(flag.lower() for flag in self.msg.flags)
        return self._flags

    def header(self, name: str) -> list[str]:
        """Folded values of every occurrence of header ``name``."""
        key = name.lower()
        values = self._headers.get(key)
        if values is None:
            values = [_fold(value) for value in self.msg.header_values(name)]
            self._headers[key] = values
        return values

    def header_text(self) -> str:
        """Folded text of all headers."""
        if self._header_text is None:
            self._header_text = _fold(self.msg.header_text())
        return self._header_text

    def body_text(self) -> str:
        """Folded text of the body's text parts."""
        if self._body is None:
            self._body = _fold(self.msg.body_text())
        return self._body


class SearchKey:
    """A node of a parsed search program."""

    __slots__ = ()

    @property
    def needs_content(self) -> bool:
        """True if evaluating needs the message's headers or body."""
        return False

    @property
    def needs_body(self) -> bool:
        """True if evaluating needs the message's body (BODY, TEXT)."""
        return False

    @property
    def uses_star(self) -> bool:
        """True if a sequence set in this key mentions ``*``."""
        return False

    def evaluate(self, ev: _Evaluation) -> bool:
        """Whether the message in ``ev`` satisfies this key."""
        raise NotImplementedError


@dataclass(frozen=True, slots=True)
class AllKey(SearchKey):
    """ALL: every message."""

    def evaluate(self, ev: _Evaluation) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class FlagKey(SearchKey):
    """ANSWERED/DELETED/DRAFT/FLAGGED/SEEN (``present``) and their UN- forms."""

    flag: str  # e.g. "\\Seen"
    present: bool = True

    def evaluate(self, ev: _Evaluation) -> bool:
        return (self.flag.lower() in ev.flags()) == self.present


@dataclass(frozen=True, slots=True)
class KeywordKey(SearchKey):
    """KEYWORD / UNKEYWORD flag (case-insensitive, like all IMAP flags)."""

    keyword: str
    present: bool = True

    def evaluate(self, ev: _Evaluation) -> bool:
        return (self.keyword.lower() in ev.flags()) == self.present


@dataclass(frozen=True, slots=True)
class RecentKey(SearchKey):
    """RECENT (``present``) or OLD (not recent); NEW is RECENT UNSEEN."""

    present: bool = True

    def evaluate(self, ev: _Evaluation) -> bool:
        return bool(ev.msg.recent) == self.present


@dataclass(frozen=True, slots=True)
class SizeKey(SearchKey):
    """LARGER n (size > n) or SMALLER n (size < n), RFC 822 size in octets."""

    larger: bool
    octets: int

    def evaluate(self, ev: _Evaluation) -> bool:
        size = ev.msg.size
        return size > self.octets if self.larger else size < self.octets


@dataclass(frozen=True, slots=True)
class DateKey(SearchKey):
    """BEFORE/ON/SINCE (internal date) and SENTBEFORE/SENTON/SENTSINCE (Date: header).

    RFC 3501 §6.4.4 compares dates "disregarding time and timezone": the internal
    date's calendar date in its own timezone, and the Date: header's calendar date
    as written (its own offset). A message whose Date: header is missing or
    unparsable matches no SENT* key.
    """

    sent: bool  # True: Date: header; False: internal date
    op: str  # "before" | "on" | "since"
    day: date

    @property
    def needs_content(self) -> bool:
        return self.sent

    def evaluate(self, ev: _Evaluation) -> bool:
        found = ev.msg.sent_date() if self.sent else ev.msg.internaldate.date()
        if found is None:
            return False
        if self.op == "before":
            return found < self.day
        if self.op == "on":
            return found == self.day
        return found >= self.day  # SINCE: "within or later than the specified date"


@dataclass(frozen=True, slots=True)
class HeaderKey(SearchKey):
    """HEADER field string, and BCC/CC/FROM/SUBJECT/TO.

    Matches when any occurrence of the field contains ``needle`` (already folded).
    An empty needle matches every message that has the field (RFC 3501 §6.4.4).
    """

    field: str
    needle: str

    @property
    def needs_content(self) -> bool:
        return True

    def evaluate(self, ev: _Evaluation) -> bool:
        values = ev.header(self.field)
        if not self.needle:
            return bool(values)
        return any(self.needle in value for value in values)


@dataclass(frozen=True, slots=True)
class TextKey(SearchKey):
    """BODY string (body only) or TEXT string (headers or body)."""

    needle: str  # already folded
    headers: bool  # True for TEXT

    @property
    def needs_content(self) -> bool:
        return True

    @property
    def needs_body(self) -> bool:
        return True

    def evaluate(self, ev: _Evaluation) -> bool:
        if self.headers and self.needle in ev.header_text():
            return True
        return self.needle in ev.body_text()


@dataclass(frozen=True, slots=True)
class SequenceSetKey(SearchKey):
    """A bare sequence set (message sequence numbers) or UID sequence set."""

    numbers: SequenceSet
    uid: bool = False

    @property
    def uses_star(self) -> bool:
        return self.numbers.uses_star

    def evaluate(self, ev: _Evaluation) -> bool:
        if self.uid:
            return self.numbers.contains(ev.msg.uid, ev.max_uid)
        return self.numbers.contains(ev.msg.seq, ev.max_seq)


@dataclass(frozen=True, slots=True)
class NotKey(SearchKey):
    """NOT key."""

    key: SearchKey

    @property
    def needs_content(self) -> bool:
        return self.key.needs_content

    @property
    def needs_body(self) -> bool:
        return self.key.needs_body

    @property
    def uses_star(self) -> bool:
        return self.key.uses_star

    def evaluate(self, ev: _Evaluation) -> bool:
        return not self.key.evaluate(ev)


@dataclass(frozen=True, slots=True)
class OrKey(SearchKey):
    """OR key1 key2."""

    left: SearchKey
    right: SearchKey

    @property
    def needs_content(self) -> bool:
        return self.left.needs_content or self.right.needs_content

    @property
    def needs_body(self) -> bool:
        return self.left.needs_body or self.right.needs_body

    @property
    def uses_star(self) -> bool:
        return self.left.uses_star or self.right.uses_star

    def evaluate(self, ev: _Evaluation) -> bool:
        return self.left.evaluate(ev) or self.right.evaluate(ev)


@dataclass(frozen=True, slots=True)
class AndKey(SearchKey):
    """Keys side by side (or in parentheses): all must match."""

    keys: tuple[SearchKey, ...]

    def __post_init__(self) -> None:
        # Evaluate cheap keys first, so flag/size/sequence tests can spare reading the
        # content (the order of AND operands does not change the result).
        ordered = sorted(self.keys, key=lambda key: (key.needs_body, key.needs_content))
        object.__setattr__(self, "keys", tuple(ordered))

    @property
    def needs_content(self) -> bool:
        return any(key.needs_content for key in self.keys)

    @property
    def needs_body(self) -> bool:
        return any(key.needs_body for key in self.keys)

    @property
    def uses_star(self) -> bool:
        return any(key.uses_star for key in self.keys)

    def evaluate(self, ev: _Evaluation) -> bool:
        return all(key.evaluate(ev) for key in self.keys)


@dataclass(frozen=True, slots=True)
class SearchProgram:
    """Parsed SEARCH criteria (all top-level keys ANDed) plus the mailbox context.

    ``max_seq``/``max_uid`` are the values of ``*`` (the mailbox's message count and
    largest UID in use); set them with :meth:`resolve`.
    """

    root: SearchKey
    charset: str = "US-ASCII"
    max_seq: int | None = None
    max_uid: int | None = None

    @property
    def needs_content(self) -> bool:
        """True if some key reads headers or body (else flags/size/dates suffice)."""
        return self.root.needs_content

    @property
    def needs_body(self) -> bool:
        """True if some key reads the body (BODY, TEXT)."""
        return self.root.needs_body

    @property
    def uses_star(self) -> bool:
        """True if a sequence set uses ``*``, so :meth:`resolve` is required."""
        return self.root.uses_star

    def resolve(self, max_seq: int, max_uid: int) -> SearchProgram:
        """A copy bound to the mailbox's largest sequence number and largest UID."""
        return replace(self, max_seq=max_seq, max_uid=max_uid)

    def matches(self, msg: SearchMessage) -> bool:
        """Whether ``msg`` satisfies the criteria (RFC 3501 §6.4.4)."""
        return self.root.evaluate(_Evaluation(msg, self.max_seq, self.max_uid))


# -------------------------------------------------------------------------- parsing

# RFC 3501 §6.4.4 keys that take no argument.
_FLAG_KEYS: dict[str, SearchKey] = {
    "ALL": AllKey(),
    "ANSWERED": FlagKey("\\Answered"),
    "DELETED": FlagKey("\\Deleted"),
    "DRAFT": FlagKey("\\Draft"),
    "FLAGGED": FlagKey("\\Flagged"),
    "SEEN": FlagKey("\\Seen"),
    "UNANSWERED": FlagKey("\\Answered", present=False),
    "UNDELETED": FlagKey("\\Deleted", present=False),
    "UNDRAFT": FlagKey("\\Draft", present=False),
    "UNFLAGGED": FlagKey("\\Flagged", present=False),
    "UNSEEN": FlagKey("\\Seen", present=False),
    "RECENT": RecentKey(),
    "OLD": RecentKey(present=False),
    # NEW: "Messages that have the \Recent flag set but not the \Seen flag."
    "NEW": AndKey((RecentKey(), FlagKey("\\Seen", present=False))),
}

# Keys taking a string, matched against a header field.
_ADDRESS_KEYS = {"BCC": "Bcc", "CC": "Cc", "FROM": "From", "SUBJECT": "Subject", "TO": "To"}

# Keys taking a date: (uses the Date: header, comparison).
_DATE_KEYS = {
    "BEFORE": (False, "before"),
    "ON": (False, "on"),
    "SINCE": (False, "since"),
    "SENTBEFORE": (True, "before"),
    "SENTON": (True, "on"),
    "SENTSINCE": (True, "since"),
}

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
        start=1,
    )
}
_DATE_RE = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")


def parse_search(args: Sequence[ImapValue], *, charset_allowed: bool = True) -> SearchProgram:
    """Parse SEARCH arguments (``[CHARSET name] key...``, RFC 3501 §6.4.4).

    ``args`` are the parsed values after the command name (and after "UID SEARCH").
    ``charset_allowed=False`` rejects a CHARSET prefix as a syntax error.

    Raises :class:`BadCharset` for a CHARSET other than US-ASCII/UTF-8 and
    :class:`SearchSyntaxError` for anything malformed. Search strings are decoded
    as UTF-8 (a superset of US-ASCII; 8-bit strings are accepted under US-ASCII too).
    """
    items = list(args)
    charset = "US-ASCII"
    if items and isinstance(items[0], str) and items[0].upper() == "CHARSET":
        if not charset_allowed:
            raise SearchSyntaxError("CHARSET is not allowed here")
        if len(items) < 2 or not isinstance(items[1], (str, bytes)):
            raise SearchSyntaxError("CHARSET needs a charset name")
        name = items[1].decode("ascii", "replace") if isinstance(items[1], bytes) else items[1]
        canonical = _CHARSET_NAMES.get(name.upper())
        if canonical is None:
            raise BadCharset(name)
        charset = canonical
        items = items[2:]
    if not items:
        raise SearchSyntaxError("SEARCH needs at least one search key")
    keys = _Parser(charset).parse_keys(items, depth=0)
    return SearchProgram(keys[0] if len(keys) == 1 else AndKey(tuple(keys)), charset)


class _Parser:
    """Recursive-descent parser over the already tokenised argument values."""

    def __init__(self, charset: str) -> None:
        self.charset = charset
        self.items: list[ImapValue] = []
        self.pos = 0

    def parse_keys(self, items: list[ImapValue], depth: int) -> list[SearchKey]:
        """Parse a whole (non-empty) list of keys."""
        saved = self.items, self.pos
        self.items, self.pos = items, 0
        try:
            keys = []
            while self.pos < len(self.items):
                keys.append(self.parse_key(depth))
            return keys
        finally:
            self.items, self.pos = saved

    def take(self, what: str) -> ImapValue:
        """The next value, or a syntax error naming what was expected."""
        if self.pos >= len(self.items):
            raise SearchSyntaxError(f"missing {what}")
        item = self.items[self.pos]
        self.pos += 1
        return item

    def parse_key(self, depth: int) -> SearchKey:
        """Parse one search-key (RFC 3501 §9)."""
        if depth > _MAX_DEPTH:
            raise SearchSyntaxError("search criteria nested too deeply")
        item = self.take("search key")
        if isinstance(item, list):  # "(" search-key *(SP search-key) ")"
            if not item:
                raise SearchSyntaxError("empty parenthesised search key")
            keys = self.parse_keys(item, depth + 1)
            return keys[0] if len(keys) == 1 else AndKey(tuple(keys))
        if isinstance(item, int) and not isinstance(item, bool):
            return SequenceSetKey(_sequence_set(item))
        if not isinstance(item, str):
            raise SearchSyntaxError(f"expected a search key, got {item!r}")
        if item[:1].isdigit() or item[:1] == "*":
            return SequenceSetKey(_sequence_set(item))
        word = item.upper()
        if word in _FLAG_KEYS:
            return _FLAG_KEYS[word]
        if word in _ADDRESS_KEYS:
            return HeaderKey(_ADDRESS_KEYS[word], self.string(word))
        if word in _DATE_KEYS:
            sent, op = _DATE_KEYS[word]
            return DateKey(sent, op, _date(self.take(f"date after {word}")))
        if word == "HEADER":
            field = self.string("HEADER field name", fold=False).strip()
            if not field or any(c <= " " or c == ":" for c in field):
                raise SearchSyntaxError(f"invalid header field name {field!r}")
            return HeaderKey(field, self.string("HEADER"))
        if word in ("BODY", "TEXT"):
            return TextKey(self.string(word), headers=word == "TEXT")
        if word in ("KEYWORD", "UNKEYWORD"):
            keyword = self.take(f"flag after {word}")
            if not isinstance(keyword, str) or not keyword:
                raise SearchSyntaxError(f"{word} needs a flag keyword atom")
            return KeywordKey(str(keyword), present=word == "KEYWORD")
        if word in ("LARGER", "SMALLER"):
            return SizeKey(word == "LARGER", _number(self.take(f"number after {word}"), word))
        if word == "UID":
            value = self.take("sequence set after UID")
            return SequenceSetKey(_sequence_set(value), uid=True)
        if word == "NOT":
            return NotKey(self.parse_key(depth + 1))
        if word == "OR":
            left = self.parse_key(depth + 1)
            return OrKey(left, self.parse_key(depth + 1))
        raise SearchSyntaxError(f"unknown search key {str(item)!r}")

    def string(self, what: str, *, fold: bool = True) -> str:
        """Take an astring argument, decoded from the CHARSET (and folded for matching)."""
        item = self.take(f"string after {what}")
        if item is None:  # the atom NIL read as an astring is the string "NIL"
            text = "NIL"
        elif isinstance(item, bytes):
            try:
                # UTF-8 covers US-ASCII; 8-bit strings sent without CHARSET are
                # almost always UTF-8, so accept them rather than fail the search.
                text = item.decode("utf-8")
            except UnicodeDecodeError:
                raise SearchSyntaxError(
                    f"search string is not valid {self.charset}: {item!r}"
                ) from None
        elif isinstance(item, (int, str)):
            text = str(item)
        else:
            raise SearchSyntaxError(f"expected a string after {what}, got a list")
        return _fold(text) if fold else text


def _number(item: ImapValue, what: str) -> int:
    """An RFC 3501 number (0 .. 2**32-1) given as int or digit atom."""
    if isinstance(item, int) and not isinstance(item, bool):
        number = item
    elif isinstance(item, str) and item.isascii() and item.isdigit():
        number = int(item)
    else:
        raise SearchSyntaxError(f"{what} needs a number, got {item!r}")
    if not 0 <= number <= _MAX_NUMBER:
        raise SearchSyntaxError(f"{what} number out of range: {number}")
    return number


def _sequence_set(item: ImapValue) -> SequenceSet:
    """A sequence set given as an atom like ``1:3,5:*`` or a bare number."""
    if isinstance(item, int) and not isinstance(item, bool):
        item = str(item)
    if not isinstance(item, str):
        raise SearchSyntaxError(f"expected a sequence set, got {item!r}")
    return SequenceSet.parse(str(item))


def _date(item: ImapValue) -> date:
    """An RFC 3501 date: ``d-Mon-yyyy``, as an atom or a quoted string."""
    if isinstance(item, bytes):
        item = item.decode("ascii", "replace")
    if not isinstance(item, str):
        raise SearchSyntaxError(f"expected a date, got {item!r}")
    match = _DATE_RE.fullmatch(item)
    month = _MONTHS.get(match.group(2).upper()) if match else None
    if match is None or month is None:
        raise SearchSyntaxError(f"invalid date {str(item)!r} (want d-Mon-yyyy)")
    try:
        return date(int(match.group(3)), month, int(match.group(1)))
    except ValueError:
        raise SearchSyntaxError(f"invalid date {str(item)!r}") from None


# ------------------------------------------------------------------ parsed messages

_MAX_MIME_DEPTH = 50
_UNFOLD = re.compile(r"\r?\n(?=[ \t])")


def _parse_bytes(raw: bytes, *, headers_only: bool) -> Message:
    """Parse with the stdlib (compat32: fast, tolerant); never raises."""
    try:
        if headers_only:
            from email.parser import BytesParser

            return BytesParser(policy=compat32).parsebytes(raw, headersonly=True)
        return message_from_bytes(raw, policy=compat32)
    except Exception:  # the parser is tolerant, but guard against RecursionError etc.
        return Message()


def _charset_hint(message: Message) -> str | None:
    """The Content-Type charset, used to decode raw 8-bit header text."""
    try:
        return message.get_content_charset()
    except Exception:
        return None


def _decode_raw_header(value: str, hint: str | None) -> str:
    """Unfold and decode a raw header value (8-bit text, then RFC 2047 words)."""
    try:
        raw = value.encode("ascii", "surrogateescape")
    except UnicodeError:
        text = value
    else:
        try:
            text = raw.decode("utf-8")  # RFC 6532 UTF-8 headers
        except UnicodeDecodeError:
            text = decode_charset(raw, hint or "cp1252")
    text = _UNFOLD.sub("", text).strip("\r\n")
    return decode_rfc2047(text).strip()


def _decoded_headers(message: Message) -> list[tuple[str, str]]:
    """Every header field of ``message`` as (name, decoded value)."""
    hint = _charset_hint(message)
    headers = []
    for name, value in message.raw_items():
        if not isinstance(value, str):  # defensive: compat32 keeps raw strings
            value = str(value)
        headers.append((name, _decode_raw_header(value, hint)))
    return headers


def _part_text(part: Message) -> str:
    """Decoded text of one non-multipart text/* part."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    if not isinstance(payload, bytes):
        return ""
    return decode_charset(payload, _charset_hint(part))


def _collect_body_text(part: Message, out: list[str], depth: int) -> None:
    """Append the decoded text of ``part``'s text/* leaves (and nested messages' headers)."""
    if depth > _MAX_MIME_DEPTH:
        return
    try:
        maintype = part.get_content_maintype()
        payload = part.get_payload()
    except Exception:
        return
    if isinstance(payload, list):
        for sub in payload:
            if not isinstance(sub, Message):
                continue
            if maintype == "message":  # message/rfc822: its header is body text here
                out.extend(f"{name}: {value}" for name, value in _decoded_headers(sub))
            _collect_body_text(sub, out, depth + 1)
    elif maintype == "text":
        out.append(_part_text(part))


class ParsedSearchMessage:
    """A :class:`SearchMessage` over raw RFC 5322 bytes, parsed lazily with ``email``.

    ``raw`` may be the message bytes or a zero-argument callable returning them (called
    at most once, only if a key needs the content; its exceptions propagate). Malformed
    content never raises: unknown charsets and bad bytes decode with replacement.
    """

    __slots__ = (
        "_body_text",
        "_full",
        "_headers",
        "_raw",
        "_raw_source",
        "flags",
        "internaldate",
        "recent",
        "seq",
        "size",
        "uid",
    )

    def __init__(
        self,
        seq: int,
        uid: int,
        flags: Iterable[str],
        recent: bool,
        internaldate: datetime,
        size: int,
        raw: bytes | Callable[[], bytes],
    ) -> None:
        self.seq = seq
        self.uid = uid
        self.flags: frozenset[str] = frozenset(flags)
        self.recent = recent
        self.internaldate = internaldate
        self.size = size
        self._raw_source = raw
        self._raw: bytes | None = None
        self._full: Message | None = None
        self._headers: list[tuple[str, str]] | None = None
        self._body_text: str | None = None

    def _bytes(self) -> bytes:
        if self._raw is None:
            source = self._raw_source
            self._raw = bytes(source() if callable(source) else source)
        return self._raw

    def _message(self) -> Message:
        if self._full is None:
            self._full = _parse_bytes(self._bytes(), headers_only=False)
        return self._full

    def _all_headers(self) -> list[tuple[str, str]]:
        if self._headers is None:
            message = self._full or _parse_bytes(self._bytes(), headers_only=True)
            self._headers = _decoded_headers(message)
        return self._headers

    def header_values(self, name: str) -> list[str]:
        """Decoded text of every occurrence of header ``name`` (case-insensitive)."""
        wanted = name.lower()
        return [value for field, value in self._all_headers() if field.lower() == wanted]

    def sent_date(self) -> date | None:
        """The first Date: header's calendar date in its own timezone (None if unusable)."""
        for value in self.header_values("Date"):
            try:
                parsed = parsedate_tz(value)
                if parsed is None:
                    return None
                return date(parsed[0], parsed[1], parsed[2])
            except (ValueError, TypeError, IndexError, OverflowError):
                return None
        return None

    def header_text(self) -> str:
        """All header fields decoded, one ``Name: value`` per line."""
        return "\n".join(f"{field}: {value}" for field, value in self._all_headers())

    def body_text(self) -> str:
        """Decoded text of all text/* parts (transfer encoding and charset undone)."""
        if self._body_text is None:
            out: list[str] = []
            _collect_body_text(self._message(), out, 0)
            self._body_text = "\n".join(out)
        return self._body_text
