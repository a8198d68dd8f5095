"""Argument grammar the command handlers need (RFC 3501 §9), as pure functions.

Every function raises `CommandSyntaxError` (tag unknown: the session adds it) for
malformed input and nothing else.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Final, Literal, cast

from mailserver import mutf7

from .errors import CommandSyntaxError
from .values import Atom, ImapValue

__all__ = [
    "FetchItem",
    "Section",
    "SequenceSet",
    "StoreArgs",
    "encode_mailbox_name",
    "format_datetime",
    "in_sequence_set",
    "mailbox_name",
    "parse_date",
    "parse_datetime",
    "parse_fetch_items",
    "parse_flag",
    "parse_flag_list",
    "parse_sequence_set",
    "parse_store_args",
]

MAX_NUMBER: Final = 2**32 - 1  # nz-number / number are 32-bit (RFC 3501 §9)

# ---------------------------------------------------------------------------------------------
# Sequence sets (RFC 3501 §9 sequence-set, §6.4.8 for UIDs)

_SEQ_NUMBER = re.compile(r"\*|[1-9][0-9]{0,9}")


def _seq_number(text: str, max_value: int) -> int:
    if not _SEQ_NUMBER.fullmatch(text):
        raise CommandSyntaxError(f"Invalid sequence number {text!r}")
    if text == "*":
        return max_value
    n = int(text)
    if n > MAX_NUMBER:
        raise CommandSyntaxError(f"Sequence number out of range: {text}")
    return n


def parse_sequence_set(atom: str, *, max_value: int) -> list[tuple[int, int]]:
    """Sorted, merged, inclusive ranges of a sequence set: "4,1:*" -> [(1, max_value)].

    "*" is the largest number in use (`max_value`: message count or highest UID;
    0 for an empty mailbox). "a:b" equals "b:a" (RFC 3501 §9, seq-range).
    """
    if not isinstance(atom, str) or not atom:
        raise CommandSyntaxError("Missing sequence set")
    ranges: list[tuple[int, int]] = []
    for item in atom.split(","):
        first, sep, last = item.partition(":")
        lo = _seq_number(first, max_value)
        hi = _seq_number(last, max_value) if sep else lo
        if lo > hi:
            lo, hi = hi, lo
        ranges.append((lo, hi))
    ranges.sort()
    merged = [ranges[0]]
    for lo, hi in ranges[1:]:
        last_lo, last_hi = merged[-1]
        if lo <= last_hi + 1:
            merged[-1] = (last_lo, max(last_hi, hi))
        else:
            merged.append((lo, hi))
    return merged


def in_sequence_set(ranges: Sequence[tuple[int, int]], n: int) -> bool:
    """Whether n lies in the sorted, merged ranges (as from parse_sequence_set): O(log n)."""
    i = bisect.bisect_right(ranges, (n, MAX_NUMBER + 1)) - 1
    return i >= 0 and ranges[i][0] <= n <= ranges[i][1]


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A parsed sequence set with fast membership: `n in SequenceSet.parse("1:*", max_value=9)`."""

    ranges: tuple[tuple[int, int], ...]

    @classmethod
    def parse(cls, atom: str, *, max_value: int) -> SequenceSet:
        """Parse like parse_sequence_set."""
        return cls(tuple(parse_sequence_set(atom, max_value=max_value)))

    def __contains__(self, n: object) -> bool:
        return isinstance(n, int) and in_sequence_set(self.ranges, n)

    def __iter__(self) -> Iterator[int]:
        for lo, hi in self.ranges:
            yield from range(lo, hi + 1)


# ---------------------------------------------------------------------------------------------
# FETCH items (RFC 3501 §6.4.5, §9 fetch-att; RFC 3516 BINARY; RFC 7162 MODSEQ)

SectionText = Literal["HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME"]


@dataclass(frozen=True, slots=True)
class Section:
    """section-spec: part numbers (1.2 -> (1, 2)), then an optional text part and fields."""

    part: tuple[int, ...] = ()
    text: SectionText | None = None
    fields: tuple[str, ...] = ()

    def spec(self) -> str:
        """The section as written between brackets, canonical (upper-case field names)."""
        out = ".".join(str(p) for p in self.part)
        if self.text:
            out = f"{out}.{self.text}" if out else self.text
        if self.fields:
            out += " (" + " ".join(self.fields) + ")"
        return out


@dataclass(frozen=True, slots=True)
class FetchItem:
    """One fetch attribute: BODY.PEEK[1.HEADER]<0.100> -> name BODY, section, partial, peek."""

    name: str
    section: Section | None = None
    partial: tuple[int, int] | None = None
    peek: bool = False

    def response_name(self) -> str:
        """The name echoed in the FETCH response (RFC 3501 §7.4.2): no .PEEK, only <origin>."""
        if self.section is None:
            return self.name
        out = f"{self.name}[{self.section.spec()}]"
        if self.partial is not None:
            out += f"<{self.partial[0]}>"
        return out

    @property
    def sets_seen(self) -> bool:
        """Whether fetching sets \\Seen (RFC 3501 §6.4.5: BODY[...], RFC822, RFC822.TEXT)."""
        if self.peek:
            return False
        if self.name in ("RFC822", "RFC822.TEXT"):
            return True
        return self.name in ("BODY", "BINARY") and self.section is not None


_MACROS: Final = {
    "ALL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"),
    "FAST": ("FLAGS", "INTERNALDATE", "RFC822.SIZE"),
    "FULL": ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"),
}
_SIMPLE: Final = frozenset(
    {
        "FLAGS",
        "INTERNALDATE",
        "RFC822",
        "RFC822.HEADER",
        "RFC822.TEXT",
        "RFC822.SIZE",
        "ENVELOPE",
        "BODY",
        "BODYSTRUCTURE",
        "UID",
        "MODSEQ",
    }
)
_SECTIONED = re.compile(
    r"(?P<name>BODY|BODY\.PEEK|BINARY|BINARY\.PEEK|BINARY\.SIZE)"
    r"\[(?P<section>[^\]]*)\]"
    r"(?:<(?P<start>[0-9]{1,10})\.(?P<length>[0-9]{1,10})>)?",
    re.IGNORECASE,
)
_SECTION = re.compile(
    r"(?P<part>[1-9][0-9]{0,9}(?:\.[1-9][0-9]{0,9})*)?"
    r"(?:(?(part)\.)(?P<text>HEADER\.FIELDS\.NOT|HEADER\.FIELDS|HEADER|TEXT|MIME))?"
    r"(?: \((?P<fields>[^()]*)\))?",
    re.IGNORECASE,
)
# header-fld-name = astring; quoted names are accepted and unquoted here
_FIELD = re.compile(r'"((?:[^"\\]|\\["\\])*)"|([\x21\x23-\x27\x2a-\x5a\x5c\x5e-\x7e]+)')


def _section(spec: str, *, binary: bool) -> Section:
    m = _SECTION.fullmatch(spec)
    if m is None:
        raise CommandSyntaxError(f"Invalid section [{spec}]")
    part = tuple(int(p) for p in m["part"].split(".")) if m["part"] else ()
    if any(p > MAX_NUMBER for p in part):
        raise CommandSyntaxError(f"Invalid section [{spec}]")
    text = m["text"].upper() if m["text"] else None
    if binary and text:
        # section-binary = "[" [section-part] "]" (RFC 3516 §5)
        raise CommandSyntaxError("BINARY takes only part numbers")
    if text == "MIME" and not part:
        raise CommandSyntaxError("MIME needs a part number")  # RFC 3501 §6.4.5
    fields: tuple[str, ...] = ()
    if text in ("HEADER.FIELDS", "HEADER.FIELDS.NOT"):
        if m["fields"] is None:
            raise CommandSyntaxError(f"{text} needs a list of header names")
        fields = _fields(m["fields"])
    elif m["fields"] is not None:
        raise CommandSyntaxError(f"Invalid section [{spec}]")
    # _SECTION admits only the SectionText spellings, upper-cased above
    return Section(part, cast("SectionText | None", text), fields)


def _fields(text: str) -> tuple[str, ...]:
    # header-list = "(" header-fld-name *(SP header-fld-name) ")"
    names: list[str] = []
    pos = 0
    while pos < len(text):
        m = _FIELD.match(text, pos)
        if m is None:
            raise CommandSyntaxError("Invalid header field list")
        name = m[2] if m[2] is not None else re.sub(r'\\(["\\])', r"\1", m[1])
        if not name or not all("\x21" <= c <= "\x7e" and c != ":" for c in name):
            raise CommandSyntaxError("Invalid header field name")
        names.append(name.upper())
        pos = m.end()
        if pos < len(text):
            if text[pos] != " ":
                raise CommandSyntaxError("Invalid header field list")
            pos += 1
            if pos == len(text):
                raise CommandSyntaxError("Invalid header field list")
    if not names:
        raise CommandSyntaxError("Empty header field list")
    return tuple(names)


def _fetch_att(value: ImapValue) -> FetchItem:
    if not isinstance(value, Atom):
        raise CommandSyntaxError("Invalid fetch attribute")
    upper = value.upper()
    if upper in _SIMPLE:
        return FetchItem(upper)
    m = _SECTIONED.fullmatch(value)
    if m is None:
        raise CommandSyntaxError(f"Unknown fetch attribute {value}")
    name = m["name"].upper()
    peek = name.endswith(".PEEK")
    if peek:
        name = name[: -len(".PEEK")]
    section = _section(m["section"], binary=name.startswith("BINARY"))
    partial = None
    if m["start"] is not None:
        if name == "BINARY.SIZE":
            raise CommandSyntaxError("BINARY.SIZE takes no partial")
        start, length = int(m["start"]), int(m["length"])
        # partial = "<" number "." nz-number ">"
        if length == 0 or start > MAX_NUMBER or length > MAX_NUMBER:
            raise CommandSyntaxError("Invalid partial range")
        partial = (start, length)
    return FetchItem(name, section, partial, peek)


def parse_fetch_items(args: ImapValue) -> list[FetchItem]:
    """FETCH's item argument: a macro (ALL/FAST/FULL), one fetch-att, or a list of them."""
    if isinstance(args, Atom) and args.upper() in _MACROS:
        return [FetchItem(name) for name in _MACROS[args.upper()]]
    if isinstance(args, list):
        if not args:
            raise CommandSyntaxError("Empty fetch attribute list")
        return [_fetch_att(v) for v in args]
    return [_fetch_att(args)]


# ---------------------------------------------------------------------------------------------
# Flags and STORE (RFC 3501 §6.4.6, §9 flag / store-att-flags)

_SYSTEM_FLAGS: Final = {
    f.upper(): f for f in ("\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft")
}
# flag-keyword = atom: ATOM-CHAR excludes ( ) { SP CTL % * " \ ]
_KEYWORD = re.compile(r"[\x21\x23\x24\x26\x27\x2b-\x5b\x5e-\x7a\x7c-\x7e]+")


def parse_flag(value: ImapValue) -> str:
    """One storable flag: system flags in canonical case, keywords as given.

    "\\Recent" and "\\*" cannot be stored (RFC 3501 §9 flag); other "\\" flag-extensions can.
    """
    if not isinstance(value, Atom):
        raise CommandSyntaxError("A flag must be an atom")
    if value.startswith("\\"):
        canonical = _SYSTEM_FLAGS.get(value.upper())
        if canonical is not None:
            return canonical
        if value.upper() == "\\RECENT" or not _KEYWORD.fullmatch(value[1:]):
            raise CommandSyntaxError(f"Invalid flag {value}")
        return str(value)
    if not _KEYWORD.fullmatch(value):
        raise CommandSyntaxError(f"Invalid flag {value}")
    return str(value)


def parse_flag_list(value: ImapValue) -> tuple[str, ...]:
    """A flag-list "(" [flag *(SP flag)] ")" (APPEND), duplicates dropped, order kept."""
    if not isinstance(value, list):
        raise CommandSyntaxError("Expected a flag list")
    return tuple(dict.fromkeys(parse_flag(v) for v in value))


StoreMode = Literal["+", "-", ""]  # add, remove, replace: the RFC's own spelling


@dataclass(frozen=True, slots=True)
class StoreArgs:
    """STORE's item: mode "+" adds, "-" removes, "" replaces; .SILENT; the flags.

    Unpacks as `mode, silent, flags = parse_store_args(rest)`; the CONDSTORE
    modifier (RFC 7162) is the attribute `unchanged_since`.
    """

    mode: StoreMode
    silent: bool
    flags: tuple[str, ...]
    unchanged_since: int | None = field(default=None)

    def __iter__(self) -> Iterator[object]:
        return iter((self.mode, self.silent, self.flags))


_STORE_ITEM = re.compile(r"([+-]?)FLAGS(\.SILENT)?", re.IGNORECASE)


def parse_store_args(args: Sequence[ImapValue]) -> StoreArgs:
    """STORE's arguments after the sequence set: [(UNCHANGEDSINCE n)] item flags.

    store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))
    """
    args = list(args)
    unchanged_since = None
    if args and isinstance(modifiers := args[0], list):
        unchanged_since = _store_modifiers(modifiers)
        del args[0]
    if len(args) < 2 or not isinstance(args[0], Atom):
        raise CommandSyntaxError("STORE needs an item and flags")
    m = _STORE_ITEM.fullmatch(args[0])
    if m is None:
        raise CommandSyntaxError(f"Invalid STORE item {args[0]}")
    mode = cast(StoreMode, m[1])  # the regex admits only "+", "-" and ""
    rest = args[1:]
    if len(rest) == 1 and isinstance(rest[0], list):
        flags = parse_flag_list(rest[0])
    else:
        flags = tuple(dict.fromkeys(parse_flag(v) for v in rest))
    return StoreArgs(mode, m[2] is not None, flags, unchanged_since)


def _store_modifiers(mods: list[ImapValue]) -> int:
    # RFC 7162 §3.1.3: STORE (UNCHANGEDSINCE mod-sequence-valzer)
    if (
        len(mods) != 2
        or not isinstance(mods[0], Atom)
        or mods[0].upper() != "UNCHANGEDSINCE"
        or not isinstance(mods[1], Atom)
        or not re.fullmatch(r"[0-9]{1,20}", mods[1])
    ):
        raise CommandSyntaxError("Invalid STORE modifier")
    value = int(mods[1])
    if value >= 2**63:
        raise CommandSyntaxError("Invalid STORE modifier")
    return value


# ---------------------------------------------------------------------------------------------
# Dates (RFC 3501 §9 date, date-time)

_MONTHS: Final = (
    *("Jan", "Feb", "Mar", "Apr", "May", "Jun"),
    *("Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
)
_MONTH_NUMBER: Final = {m.upper(): i for i, m in enumerate(_MONTHS, 1)}
_DATE = re.compile(r"([0-9]{1,2})-([A-Za-z]{3})-([0-9]{4})")
_DATETIME = re.compile(
    r"([ 0-9][0-9])-([A-Za-z]{3})-([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) ([+-])([0-9]{2})([0-9]{2})"
)


def _text(value: ImapValue, what: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("ascii")
        except UnicodeDecodeError:
            raise CommandSyntaxError(f"Invalid {what}") from None
    if isinstance(value, str):
        return value
    raise CommandSyntaxError(f"Invalid {what}")


def parse_date(value: ImapValue) -> date:
    """A SEARCH date: date-day "-" date-month "-" date-year, e.g. 1-Feb-1994 (atom or quoted)."""
    m = _DATE.fullmatch(_text(value, "date"))
    month = _MONTH_NUMBER.get(m[2].upper()) if m else None
    if m is None or month is None:
        raise CommandSyntaxError("Invalid date (expected d-Mon-yyyy)")
    try:
        return date(int(m[3]), month, int(m[1]))
    except ValueError:
        raise CommandSyntaxError("Invalid date") from None


def parse_datetime(value: ImapValue) -> datetime:
    """APPEND's date-time "dd-Mon-yyyy hh:mm:ss +zzzz" (quoted: parsed as bytes), aware."""
    text = _text(value, "date-time")
    if len(text) == 25 and text[1] == "-":  # a day of one digit without its space: lenient
        text = " " + text
    m = _DATETIME.fullmatch(text)
    month = _MONTH_NUMBER.get(m[2].upper()) if m else None
    if m is None or month is None:
        raise CommandSyntaxError("Invalid date-time (expected dd-Mon-yyyy hh:mm:ss +zzzz)")
    offset = timedelta(hours=int(m[8]), minutes=int(m[9]))
    if offset >= timedelta(hours=24) or int(m[9]) > 59:
        raise CommandSyntaxError("Invalid time zone")
    try:
        return datetime(
            int(m[3]),
            month,
            int(m[1]),
            int(m[4]),
            int(m[5]),
            int(m[6]),
            tzinfo=timezone(-offset if m[7] == "-" else offset),
        )
    except ValueError:
        raise CommandSyntaxError("Invalid date-time") from None


def format_datetime(moment: datetime) -> str:
    """INTERNALDATE text "dd-Mon-yyyy hh:mm:ss +zzzz" (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return (
        f"{moment.day:02d}-{_MONTHS[moment.month - 1]}-{moment.year:04d} "
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d} "
        f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
    )


# ---------------------------------------------------------------------------------------------
# Mailbox names (RFC 3501 §5.1, §5.1.3; RFC 6855 §3 for UTF8=ACCEPT)


def mailbox_name(value: ImapValue, *, utf8: bool = False) -> str:
    """A mailbox argument (astring) as Unicode; "INBOX" in any case is "INBOX".

    Without UTF8=ACCEPT the name is modified UTF-7 (decoded here); with it
    (`utf8=True`) the name is UTF-8 as sent. NIL as an atom names "NIL".
    """
    if value is None:
        text = "NIL"
    elif isinstance(value, bytes):
        try:
            text = value.decode("utf-8" if utf8 else "ascii")
        except UnicodeDecodeError:
            raise CommandSyntaxError("Invalid characters in mailbox name") from None
    elif isinstance(value, str) and not isinstance(value, list):
        text = str(value)
    else:
        raise CommandSyntaxError("Invalid mailbox name")
    if any(c < "\x20" or c == "\x7f" for c in text):
        raise CommandSyntaxError("Control characters in mailbox name")
    if not utf8:
        try:
            text = mutf7.decode(text)
        except mutf7.MUtf7Error as exc:
            raise CommandSyntaxError(f"Invalid mailbox name: {exc}") from None
    if text.upper() == "INBOX":
        return "INBOX"
    return text


def encode_mailbox_name(name: str, *, utf8: bool = False) -> str:
    """A mailbox name for a response: modified UTF-7 unless UTF8=ACCEPT is enabled."""
    return name if utf8 else mutf7.encode(name)
