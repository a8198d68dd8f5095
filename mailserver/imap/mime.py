"""MIME structure of stored messages for IMAP FETCH and SEARCH (pure functions over raw bytes).

Everything here works on the message exactly as stored (CRLF line ends; bare LF is tolerated)
and keeps byte offsets, because IMAP sizes, line counts and BODY[section] contents must match
the raw octets (RFC 3501 §6.4.5, §7.4.2).  The standard ``email`` package loses those offsets,
so the boundary-level splitting is done here; ``email`` is not used.

Return values use the shared IMAP value vocabulary (:mod:`mailserver.imap.protocol.values`):
``None`` is NIL, ``int`` a number, ``str``/``bytes`` strings, ``list`` parenthesised lists.
Raw header text is returned as ``bytes`` (it may hold 8-bit octets, RFC 6532); the serialiser
picks quoted or literal form.

Nothing in this module raises on malformed input: broken headers, missing boundaries, bad
encodings and unknown charsets all degrade to the nearest sensible answer.

Public API: :func:`envelope`, :func:`bodystructure`, :func:`section`, :func:`binary_section`,
:func:`header_lines`, :func:`decoded_text` and :class:`ParsedMessage` (parse once, answer many
FETCH items on one message).
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ParsedMessage",
    "binary_section",
    "bodystructure",
    "decoded_text",
    "envelope",
    "header_lines",
    "section",
]

# Nesting limit for multipart / message/rfc822 recursion (defence against hostile messages).
_MAX_DEPTH = 50

_WSP = b" \t"

# Dovecot's placeholder for a multipart with no parts (RFC 3501 §7.4.2 needs at least one).
_EMPTY_PART_BODY: list[Any] = ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 0, 0]


# ---------------------------------------------------------------------------
# Header fields
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Field:
    """One header field: name, raw value (after the colon, folding kept), raw line span."""

    name: str
    lname: str
    raw_value: bytes
    start: int
    end: int

    def unfolded(self) -> bytes:
        """The value unfolded (RFC 5322 §2.2.3: CRLF before WSP removed), outer WSP stripped."""
        return _unfold(self.raw_value)


def _unfold(raw: bytes) -> bytes:
    """Unfold a raw value (RFC 5322 §2.2.3): drop the line breaks, keep the WSP after them.

    Leading WSP after the colon is dropped; trailing WSP is kept (as Dovecot does).
    """
    return raw.lstrip(b" \t").replace(b"\r", b"").replace(b"\n", b"")


def _collapse_ws(raw: bytes) -> bytes:
    """Collapse runs of WSP/CR/LF to one space and trim (Dovecot's ENVELOPE subject)."""
    return b" ".join(raw.split())


def _parse_fields(data: bytes, start: int, end: int) -> list[_Field]:
    """Split the header block ``data[start:end]`` into fields (RFC 5322 §2.2).

    Continuation lines (starting with WSP) join the previous field.  Lines that are not
    fields (no colon, a bad name, a continuation with no field before, an mbox "From " line)
    are kept with the empty name "" so HEADER.FIELDS.NOT and BINARY can reproduce them.
    """
    fields: list[_Field] = []
    pos = start
    cur: list[int] | None = None  # [start, end, colon]
    spans: list[tuple[int, int, int]] = []
    while pos < end:
        nl = data.find(b"\n", pos, end)
        line_end = end if nl < 0 else nl + 1
        first = data[pos : pos + 1]
        if first in (b" ", b"\t") and cur is not None:
            cur[1] = line_end
        else:
            if cur is not None:
                spans.append((cur[0], cur[1], cur[2]))
            cur = [pos, line_end, data.find(b":", pos, line_end)]
        pos = line_end
    if cur is not None:
        spans.append((cur[0], cur[1], cur[2]))
    for s, e, colon in spans:
        raw_name = data[s:colon].rstrip(_WSP) if colon > s else b""
        # RFC 5322 §3.6.8: field-name is printable US-ASCII except colon; no WSP inside.
        if not raw_name or any(c <= 32 or c > 126 for c in raw_name):
            fields.append(_Field("", "", b"", s, e))
            continue
        name = raw_name.decode("ascii")
        fields.append(_Field(name, name.lower(), data[colon + 1 : e], s, e))
    return fields


# ---------------------------------------------------------------------------
# Structured header values: Content-Type style parameters (RFC 2045 §5.1, RFC 2231)
# ---------------------------------------------------------------------------

_TSPECIALS = b'()<>@,;:\\"/[]?='


def _skip_cfws(v: bytes, i: int) -> int:
    """Skip whitespace and (nested) comments starting at ``i`` (RFC 5322 §3.2.2)."""
    n = len(v)
    while i < n:
        c = v[i : i + 1]
        if c in (b" ", b"\t", b"\r", b"\n"):
            i += 1
        elif c == b"(":
            depth = 0
            while i < n:
                c = v[i : i + 1]
                if c == b"\\":
                    i += 2
                    continue
                if c == b"(":
                    depth += 1
                elif c == b")":
                    depth -= 1
                    if depth == 0:
                        i += 1
                        break
                i += 1
        else:
            break
    return i


def _read_quoted(v: bytes, i: int) -> tuple[bytes, int]:
    """Read a quoted-string starting at the opening quote; return (unescaped content, next)."""
    out = bytearray()
    i += 1
    n = len(v)
    while i < n:
        c = v[i]
        if c == 0x5C and i + 1 < n:  # backslash: quoted-pair
            out.append(v[i + 1])
            i += 2
            continue
        if c == 0x22:
            return bytes(out), i + 1
        if c not in (0x0D, 0x0A):
            out.append(c)
        i += 1
    return bytes(out), i  # unterminated: take the rest


def _read_token(v: bytes, i: int, stop: bytes = _TSPECIALS) -> tuple[bytes, int]:
    """Read an RFC 2045 token (no spaces, controls or tspecials in ``stop``)."""
    j = i
    n = len(v)
    while j < n and v[j] > 32 and v[j] != 127 and v[j : j + 1] not in stop:
        j += 1
    return v[i:j], j


def _parse_params(v: bytes, i: int) -> list[tuple[str, str]]:
    """Parse ``*(";" attribute "=" value)`` from ``v[i:]`` leniently.

    RFC 2231 continuations (``name*0``, ``name*1*``) are joined; a parameter with an extended
    (charset-encoded) segment is returned under ``name*`` with its value left encoded, which is
    what Dovecot does.  Parameter names keep their case; values are unquoted.
    """
    raw: list[tuple[str, bytes, bool]] = []  # (name, value, was_quoted)
    n = len(v)
    while i < n:
        i = _skip_cfws(v, i)
        if i >= n:
            break
        if v[i : i + 1] == b";":
            i += 1
            continue
        name, j = _read_token(v, i)
        if not name:
            # Junk: skip to the next ';'.
            k = v.find(b";", i + 1)
            if k < 0:
                break
            i = k
            continue
        j = _skip_cfws(v, j)
        if v[j : j + 1] != b"=":
            k = v.find(b";", j)
            if k < 0:
                break
            i = k
            continue
        j = _skip_cfws(v, j + 1)
        if v[j : j + 1] == b'"':
            value, j = _read_quoted(v, j)
            quoted = True
        elif v[j : j + 1] == b"=":
            # Broken senders write name==?utf-8?B?...?= unquoted; take it up to WSP or ';'
            # (Dovecot has the same workaround).
            k = j
            while k < n and v[k : k + 1] not in (b";", b" ", b"\t"):
                k += 1
            value, j = v[j:k], k
            quoted = False
        else:
            # RFC 2045 §5.1: an unquoted value is a token.  Like Dovecot, the token ends at
            # the first tspecial ("boundary=----=_Part" gives "----").
            value, j = _read_token(v, j)
            quoted = False
        raw.append((name.decode("ascii", "replace"), value, quoted))
        j = _skip_cfws(v, j)
        if j < n and v[j : j + 1] != b";":
            break  # junk after a value: stop, as Dovecot does
        i = j
    return _join_rfc2231(raw)


def _join_rfc2231(raw: list[tuple[str, bytes, bool]]) -> list[tuple[str, str]]:
    """Join RFC 2231 §3/§4 continuations the way Dovecot (rfc2231_parse) does.

    Plain parameters come first in their order; RFC 2231 parameters (``name*``, ``name*0``,
    ``name*1*``...) follow, sorted by name, their segments joined raw.  A joined value with
    an extended segment is named ``name*`` and stays encoded (``''`` is prefixed when the
    first segment carries no charset/language part).
    """
    plain: list[tuple[str, str]] = []
    groups: dict[str, tuple[str, list[tuple[int, bool, bytes]]]] = {}
    for name, value, _quoted in raw:
        m = re.fullmatch(r"(.+?)\*(?:(\d+)(\*?))?", name)
        if m is None:
            plain.append((name, _decode_param(value)))
            continue
        base = m.group(1)
        if m.group(2) is None:  # "name*": one extended segment
            idx, ext = 0, True
        else:
            idx, ext = int(m.group(2)), bool(m.group(3))
        groups.setdefault(base.lower(), (base, []))[1].append((idx, ext, value))
    result = plain
    for key in sorted(groups):
        base, segs = groups[key]
        segs.sort(key=lambda s: s[0])
        buf = b"".join(s[2] for s in segs)
        if any(s[1] for s in segs):
            if not segs[0][1]:
                buf = b"''" + buf
            result.append((base + "*", _decode_param(buf)))
        else:
            result.append((base, _decode_param(buf)))
    return result


def _decode_param(value: bytes) -> str:
    """A parameter value as a str: UTF-8 if valid, else octets mapped as latin-1."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


@dataclass(slots=True)
class _ContentType:
    """A parsed Content-Type: main type and subtype as written, lower-case copies, params."""

    type: str
    subtype: str
    params: list[tuple[str, str]]
    explicit: bool

    @property
    def ltype(self) -> str:
        """Lower-case type, for comparisons (RFC 2045 §5.1: case-insensitive)."""
        return self.type.lower()

    @property
    def lsubtype(self) -> str:
        """Lower-case subtype."""
        return self.subtype.lower()

    def param(self, name: str) -> str | None:
        """First parameter named ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for n, v in self.params:
            if n.lower() == lname:
                return v
        return None


def _default_content_type(digest: bool) -> _ContentType:
    """RFC 2045 §5.2 default (text/plain; charset=us-ascii), or message/rfc822 in a digest."""
    if digest:  # RFC 2046 §5.1.5
        return _ContentType("message", "rfc822", [], False)
    return _ContentType("text", "plain", [("charset", "us-ascii")], False)


def _parse_content_type(value: bytes | None, digest: bool = False) -> _ContentType:
    """Parse a Content-Type value; invalid or missing values give the RFC 2045 default."""
    if value is None:
        return _default_content_type(digest)
    v = value.replace(b"\r", b"").replace(b"\n", b"")
    i = _skip_cfws(v, 0)
    typ, i = _read_token(v, i)
    i = _skip_cfws(v, i)
    if not typ or v[i : i + 1] != b"/":
        # RFC 2045 §5.2: a syntactically invalid Content-Type means text/plain us-ascii.
        return _default_content_type(digest)
    i = _skip_cfws(v, i + 1)
    sub, i = _read_token(v, i)
    i = _skip_cfws(v, i)
    if not sub or (i < len(v) and v[i : i + 1] != b";"):
        # "text/plain charset=utf-8": no ";" before the parameters, so the field is
        # invalid as a whole (RFC 2045 §5.1 syntax) and §5.2's default applies.
        return _default_content_type(digest)
    params = _parse_params(v, i)
    if typ.lower() == b"text" and not any(n.lower() == "charset" for n, _v in params):
        # RFC 2045 §5.2 / RFC 2046 §4.1.2: text defaults to us-ascii; Dovecot lists it.
        params.append(("charset", "us-ascii"))
    return _ContentType(
        typ.decode("ascii", "replace"), sub.decode("ascii", "replace"), params, True
    )


def _parse_disposition(value: bytes | None) -> list[Any] | None:
    """RFC 2183 Content-Disposition as ``body-fld-dsp``: [type, params-or-NIL] or NIL."""
    if value is None:
        return None
    v = value.replace(b"\r", b"").replace(b"\n", b"")
    i = _skip_cfws(v, 0)
    typ, i = _read_token(v, i)
    # A present but empty header gives ("" NIL), as Dovecot does.
    return [typ.decode("ascii", "replace"), _params_value(_parse_params(v, i))]


def _params_value(params: list[tuple[str, str]]) -> list[str] | None:
    """``body-fld-param``: a flat list of name/value strings, or NIL when empty."""
    if not params:
        return None
    out: list[str] = []
    for n, v in params:
        out.append(n)
        out.append(v)
    return out


def _language_value(value: bytes | None) -> list[Any] | None:
    """``body-fld-lang`` from Content-Language (RFC 3282): a list of tags, or NIL.

    RFC 3501 §9 allows one string or a list; a list even for one tag is what Dovecot sends.
    """
    if value is None:
        return None
    v = value.replace(b"\r", b"").replace(b"\n", b"")
    # Strip comments, then split on commas.
    cleaned = bytearray()
    i = 0
    while i < len(v):
        j = _skip_cfws(v, i)
        if j > i:
            cleaned += b" "
            i = j
            continue
        cleaned.append(v[i])
        i += 1
    langs = [x.strip() for x in bytes(cleaned).split(b",") if x.strip()]
    return list(langs) or None


# ---------------------------------------------------------------------------
# The MIME tree
# ---------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Entity:
    """A MIME entity located in the raw message: header span, body span and children."""

    start: int
    body_start: int
    end: int
    fields: list[_Field]
    ctype: _ContentType
    children: list[_Entity] = field(default_factory=list)
    message: _Entity | None = None  # the encapsulated message of a message/rfc822 part
    encoded: bool = False  # ``message`` stands in for an encoded message/rfc822 body

    def first(self, lname: str) -> _Field | None:
        """The first header field with this (lower-case) name."""
        for f in self.fields:
            if f.lname == lname:
                return f
        return None

    def value(self, lname: str) -> bytes | None:
        """The unfolded value of the first such field, or None when absent."""
        f = self.first(lname)
        return None if f is None else f.unfolded()

    def last_value(self, lname: str) -> bytes | None:
        """The unfolded value of the last such field (ENVELOPE, like Dovecot), or None."""
        for f in reversed(self.fields):
            if f.lname == lname:
                return f.unfolded()
        return None

    @property
    def is_multipart(self) -> bool:
        """True for multipart/* (RFC 2046 §5.1)."""
        return self.ctype.ltype == "multipart"

    def encoding(self) -> bytes | None:
        """The Content-Transfer-Encoding token (RFC 2045 §6.1), or None if absent/invalid."""
        return _cte_token(self)


def _cte_token(ent: _Entity) -> bytes | None:
    """The Content-Transfer-Encoding mechanism as written, or None when absent or invalid.

    Like Dovecot, a value that is not a single token (``quoted printable``,
    ``quoted-printable;``, ``text/html``) is invalid and counts as the 7bit default.
    """
    v = ent.value("content-transfer-encoding")
    if v is None:
        return None
    i = _skip_cfws(v, 0)
    tok, i = _read_token(v, i)
    if not tok or _skip_cfws(v, i) != len(v):
        return None
    return tok


def _binary_cte(ent: _Entity) -> bytes | None:
    """The encoding BINARY decodes by: the first token of the header, lower-case.

    Unlike BODYSTRUCTURE (where an invalid value reads as 7bit), an unrecognised token such
    as ``text`` from ``text/html`` makes BINARY fail with UNKNOWN-CTE (RFC 3516 §4.3), as
    in Dovecot.  None means absent (7bit).
    """
    v = ent.value("content-transfer-encoding")
    if v is None:
        return None
    tok, _ = _read_token(v, _skip_cfws(v, 0))
    # An empty field names no mechanism (RFC 2045 §6.1): b"", which BINARY cannot decode.
    return tok.lower()


class _Hit:
    """A boundary line found while scanning: which level, close or not, where."""

    __slots__ = ("close", "level", "line_start", "next_pos")

    def __init__(self, level: int, close: bool, line_start: int, next_pos: int) -> None:
        self.level = level
        self.close = close
        self.line_start = line_start
        self.next_pos = next_pos


def _boundary_hit(data: bytes, pos: int, line_end: int, stack: list[bytes]) -> _Hit | None:
    """Does the line at ``pos`` start with ``--boundary`` of an enclosing multipart?

    RFC 2046 §5.1.1 delimiters; like Dovecot, the innermost boundary is tried first and a
    prefix match is enough (text after the boundary is ignored), ``--boundary--`` closes.
    """
    if not stack or data[pos : pos + 2] != b"--":
        return None
    for level in range(len(stack) - 1, -1, -1):
        b = stack[level]
        if data.startswith(b, pos + 2) and pos + 2 + len(b) <= line_end:
            after = pos + 2 + len(b)
            close = data[after : after + 2] == b"--"
            return _Hit(level, close, pos, line_end)
    return None


def _line_end(data: bytes, pos: int, end: int) -> int:
    """Position just after the line starting at ``pos`` (after its LF, or ``end``)."""
    nl = data.find(b"\n", pos, end)
    return end if nl < 0 else nl + 1


def _scan_to_boundary(
    data: bytes, pos: int, end: int, stack: list[bytes]
) -> tuple[int, _Hit | None]:
    """Scan lines from ``pos`` until a boundary line of ``stack``; return (stop, hit).

    ``stop`` is where the boundary line starts (or ``end``).  The caller removes the line
    break before it, which belongs to the delimiter (RFC 2046 §5.1.1).
    """
    if not stack:
        return end, None
    # Fast path: only lines starting with "--" can be delimiters.
    while pos < end:
        if data.startswith(b"--", pos):
            le = _line_end(data, pos, end)
            hit = _boundary_hit(data, pos, le, stack)
            if hit is not None:
                return pos, hit
            pos = le
            continue
        nxt = data.find(b"\n--", pos, end)
        if nxt < 0:
            return end, None
        pos = nxt + 1
    return end, None


def _trim_eol(data: bytes, stop: int, floor: int) -> int:
    """Remove the CRLF (or LF) that precedes a delimiter at ``stop``, not below ``floor``."""
    if stop > floor and data[stop - 1 : stop] == b"\n":
        stop -= 1
        if stop > floor and data[stop - 1 : stop] == b"\r":
            stop -= 1
    return stop


def _parse_entity(
    data: bytes,
    start: int,
    end: int,
    stack: list[bytes],
    *,
    digest: bool = False,
    depth: int = 0,
) -> tuple[_Entity, _Hit | None]:
    """Parse one entity from ``start``: header, blank line, body (RFC 2045, RFC 2046).

    Parsing stops at ``end`` or at a boundary line of an enclosing multipart (``stack``);
    the boundary hit is returned so the enclosing multipart can continue from it.
    """
    # Header: up to and including the blank line (RFC 5322 §2.1).
    pos = start
    hit: _Hit | None = None
    hdr_end = body_start = end
    while pos < end:
        le = _line_end(data, pos, end)
        line = data[pos:le]
        if line in (b"\r\n", b"\n"):
            hdr_end, body_start = pos, le
            break
        if line.startswith(b"--") and stack:
            hit = _boundary_hit(data, pos, le, stack)
            if hit is not None:
                # A delimiter inside the header: the header ends, the body is empty, and
                # the line break before the delimiter is the delimiter's (RFC 2046 §5.1.1).
                hdr_end = body_start = _trim_eol(data, pos, start)
                break
        pos = le
    fields = _parse_fields(data, start, hdr_end)
    ct_field = next((f for f in fields if f.lname == "content-type"), None)
    ctype = _parse_content_type(None if ct_field is None else ct_field.unfolded(), digest)
    ent = _Entity(start, body_start, end, fields, ctype)
    boundary = ctype.param("boundary") if ent.is_multipart else None
    if hit is None and stack and hdr_end < body_start and data.startswith(b"--", body_start):
        # A delimiter of an enclosing multipart right after the blank line takes that line
        # break (RFC 2046 §5.1.1): the header has no separator and there is no body.  The
        # entity's own boundary is tried first, as it would be in its body.
        own = [*stack, boundary.encode("utf-8", "surrogateescape")] if boundary else stack
        next_hit = _boundary_hit(data, body_start, _line_end(data, body_start, end), own)
        if next_hit is not None and next_hit.level < len(stack):
            hit, ent.body_start = next_hit, hdr_end
    if hit is not None:
        ent.end = ent.body_start
        return ent, hit
    if ent.is_multipart and boundary and depth < _MAX_DEPTH:
        inner = [*stack, boundary.encode("utf-8", "surrogateescape")]
        level = len(inner) - 1
        sub_digest = ctype.lsubtype == "digest"
        # Preamble.
        stop, hit = _scan_to_boundary(data, body_start, end, inner)
        while hit is not None and hit.level == level and not hit.close:
            child, hit = _parse_entity(
                data, hit.next_pos, end, inner, digest=sub_digest, depth=depth + 1
            )
            ent.children.append(child)
            stop = child.end if hit is None else hit.line_start
        floor = ent.children[-1].end if ent.children else body_start
        if hit is not None and hit.level == level and hit.close:
            # Epilogue: runs to the next outer boundary or the end.  The close delimiter's
            # own line end stays inside this multipart (Dovecot counts it there).
            floor = hit.next_pos
            stop, hit = _scan_to_boundary(data, hit.next_pos, end, stack)
        if hit is None:
            ent.end = stop
        else:
            ent.end = max(floor, _trim_eol(data, hit.line_start, floor))
        return ent, hit
    if ent.is_multipart:
        # No boundary: nothing can be split; the body runs to the next outer boundary.
        stop, hit = _scan_to_boundary(data, body_start, end, stack)
        ent.end = stop if hit is None else _trim_eol(data, stop, body_start)
        return ent, hit
    is_message = ctype.ltype == "message" and ctype.lsubtype == "rfc822"
    if is_message and depth < _MAX_DEPTH:
        enc = (_cte_token(ent) or b"7bit").lower()
        # RFC 2046 §5.2.1: only 7bit/8bit/binary are allowed.
        if enc in (b"7bit", b"8bit", b"binary"):
            msg, hit = _parse_entity(data, body_start, end, stack, depth=depth + 1)
            ent.message = msg
            ent.end = msg.end
            return ent, hit
    stop, hit = _scan_to_boundary(data, body_start, end, stack)
    ent.end = stop if hit is None else _trim_eol(data, stop, body_start)
    if is_message:
        # An encoded message/rfc822 is not parsed.  RFC 3501 §7.4.2 still wants its
        # envelope and body, so it stands for a message whose header is all of the encoded
        # text (no field in it: an empty envelope) and whose body is empty, as in Dovecot.
        ent.message = _Entity(body_start, ent.end, ent.end, [], _default_content_type(False))
        ent.encoded = True
    return ent, hit


# ---------------------------------------------------------------------------
# Addresses (RFC 5322 §3.4) for ENVELOPE
# ---------------------------------------------------------------------------

# RFC 5322 §3.2.3 specials, plus SP and controls; 8-bit octets count as atext (RFC 6532).
_NOT_ATEXT = frozenset(b'()<>[]:;@\\,."') | frozenset(range(33)) | {127}


class _AddrParser:
    """A recursive-descent parser for address lists, modelled on Dovecot's message-address.c.

    It follows RFC 5322 §3.4 (and the obsolete syntax of §4.4) and degrades the way Dovecot
    does: a missing local part or domain becomes ``MISSING_MAILBOX`` / ``MISSING_DOMAIN``,
    a broken angle address gets the domain ``SYNTAX_ERROR``, and parsing stops at the first
    address that is not followed by a comma.
    """

    def __init__(self, data: bytes) -> None:
        self.d = data.replace(b"\r", b"").replace(b"\n", b"")
        self.i = 0
        self.n = len(self.d)
        self.last_comment = b""
        self.out: list[list[Any]] = []

    def cur(self) -> bytes:
        """The current octet (b"" at the end)."""
        return self.d[self.i : self.i + 1]

    def skip(self) -> bool:
        """Skip CFWS, remembering the last comment; True if input remains."""
        d, n = self.d, self.n
        while self.i < n:
            c = d[self.i]
            if c in (0x20, 0x09):
                self.i += 1
            elif c == 0x28:
                j = _skip_cfws(d, self.i)
                inner = d[self.i + 1 : j - 1] if d[j - 1 : j] == b")" else d[self.i + 1 : j]
                self.last_comment = inner.strip(b" \t")
                self.i = max(j, self.i + 1)
            else:
                break
        return self.i < n

    def atom(self, dots: bool) -> bytes:
        """An atom (``dots``: also '.' as in obs-phrase); skips CFWS after it."""
        j = self.i
        while j < self.n and (self.d[j] not in _NOT_ATEXT or (dots and self.d[j] == 0x2E)):
            j += 1
        tok = self.d[self.i : j]
        self.i = j
        self.skip()
        return tok

    def quoted(self) -> bytes:
        """A quoted-string's content; skips CFWS after it."""
        val, self.i = _read_quoted(self.d, self.i)
        self.skip()
        return val

    def phrase(self) -> bytes:
        """A phrase (RFC 5322 §3.2.5, obs-phrase): words joined by single spaces."""
        words: list[bytes] = []
        while self.i < self.n:
            if self.cur() == b'"':
                words.append(self.quoted())
            else:
                w = self.atom(dots=True)
                if not w:
                    break
                words.append(w)
        return b" ".join(words)

    def dot_atom(self) -> bytes:
        """local-part / domain words separated by '.' (CFWS allowed around dots, §4.4)."""
        parts: list[bytes] = []
        while True:
            parts.append(self.quoted() if self.cur() == b'"' else self.atom(dots=False))
            if self.cur() != b".":
                break
            self.i += 1
            self.skip()
        return b".".join(parts)

    def domain(self) -> bytes:
        """A domain: dot-atom or domain-literal."""
        if self.cur() == b"[":
            j = self.d.find(b"]", self.i)
            j = self.n if j < 0 else j + 1
            tok = self.d[self.i : j]
            self.i = j
            self.skip()
            return tok
        return self.dot_atom()

    def angle_addr(self, addr: list[Any]) -> bool:
        """``"<" [route ":"] local-part "@" domain ">"``; fills ``addr``, False if broken."""
        self.i += 1
        self.skip()
        if self.cur() == b"@":
            route: list[bytes] = []
            while self.cur() == b"@":
                self.i += 1
                self.skip()
                route.append(b"@" + self.domain())
                while self.cur() == b",":
                    self.i += 1
                    self.skip()
            addr[1] = b",".join(route) or None
            if self.cur() != b":":
                return False
            self.i += 1
            self.skip()
        if self.cur() == b">":  # "<>" (null path)
            self.i += 1
            self.skip()
            return True
        addr[2] = self.dot_atom() or None
        if self.cur() == b"@":
            self.i += 1
            self.skip()
            addr[3] = self.domain() or None
        if self.cur() != b">":
            return False
        self.i += 1
        self.skip()
        return True

    def mailbox(self) -> None:
        """name-addr / addr-spec, appended to the output (missing parts filled in)."""
        start = self.i
        addr: list[Any] = [None, None, None, None]
        name = self.phrase()
        if self.cur() == b"<":
            addr[0] = name or None
            if not self.angle_addr(addr):
                addr[3] = b"SYNTAX_ERROR"
        else:
            self.i = start
            self.last_comment = b""
            addr[2] = self.dot_atom() or None
            if self.cur() == b"@":
                self.i += 1
                self.skip()
                addr[3] = self.domain() or None
            if self.last_comment:
                # RFC 822 style "user@host (Real Name)" (Dovecot takes the comment).
                addr[0] = self.last_comment
            elif addr[3] is None and self.i < self.n and self.cur() not in b",;" and name:
                # Not an address at all ("Mary Smith"): keep the words as the name.
                addr = [name, None, None, None]
                self.i = start
                self.phrase()
        if not addr[2]:
            addr[2] = b"MISSING_MAILBOX"
        if not addr[3]:
            addr[3] = b"MISSING_DOMAIN"
        self.out.append(addr)

    def address(self) -> None:
        """address = mailbox / group (RFC 5322 §3.4)."""
        start = self.i
        name = self.phrase()
        if self.cur() == b":" and name:
            self.i += 1
            self.skip()
            self.out.append([None, None, name, None])
            while self.i < self.n and self.cur() != b";":
                before = self.i
                self.mailbox()
                if self.cur() != b",":
                    break
                self.i += 1
                self.skip()
                if self.i == before:
                    break
            if self.cur() == b";":
                self.i += 1
                self.skip()
            self.out.append([None, None, None, None])
            return
        self.i = start
        self.mailbox()

    def parse(self) -> list[list[Any]]:
        """address-list = address *("," address)."""
        if not self.skip():
            return self.out
        while self.i < self.n:
            before = self.i
            self.address()
            if self.cur() != b",":
                break
            self.i += 1
            if not self.skip() or self.i == before:
                break
        return self.out


def _parse_address_list(value: bytes | None) -> list[Any] | None:
    """An address list with groups (RFC 5322 §3.4) as ENVELOPE addresses, NIL when empty.

    Groups become ``(NIL NIL "group" NIL) ... (NIL NIL NIL NIL)`` (RFC 3501 §7.4.2).
    """
    if value is None:
        return None
    try:
        return _AddrParser(value).parse() or None
    except Exception:  # pragma: no cover - defensive: ENVELOPE must never fail
        return None


# ---------------------------------------------------------------------------
# Content transfer encodings and charsets
# ---------------------------------------------------------------------------

_IDENTITY_CTE = {b"7bit", b"8bit", b"binary"}


def _decode_cte(body: bytes, encoding: bytes | None) -> bytes | None:
    """Decode a body by its Content-Transfer-Encoding (RFC 2045 §6); None if unknown.

    ``encoding`` None means the field is absent: 7bit (RFC 2045 §6.1).
    """
    enc = b"7bit" if encoding is None else encoding.lower()
    if enc in _IDENTITY_CTE:
        return body
    if enc == b"base64":
        return _b64decode(body)
    if enc == b"quoted-printable":
        return _qp_decode(body)
    return None


def _b64decode(body: bytes) -> bytes:
    """Lenient base64 (RFC 2045 §6.8: ignore characters outside the alphabet)."""
    clean = re.sub(rb"[^A-Za-z0-9+/]", b"", body.split(b"=", 1)[0] if b"=" in body else body)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    clean += b"=" * (-len(clean) % 4)
    try:
        return base64.b64decode(clean)
    except (binascii.Error, ValueError):
        return b""


def _qp_decode(body: bytes) -> bytes:
    """Quoted-printable decoding (RFC 2045 §6.7), keeping CRLF line ends."""
    # Rule (3): white space at the end of an encoded line was added in transport; delete it.
    body = re.sub(rb"[ \t]+(?=\r?\n|$)", b"", body)
    try:
        out = quopri.decodestring(body)
    except (ValueError, binascii.Error):
        return body
    # quopri turns CRLF into LF for soft/hard breaks inconsistently; normalise to CRLF when the
    # source used CRLF.
    if b"\r\n" in body:
        out = re.sub(rb"\r?\n", b"\r\n", out)
    return out


_CHARSET_ALIASES = {
    "tis620": "tis-620",
    "tis-620": "tis-620",
    "iso-8859-11": "iso8859_11",
    "iso8859-11": "iso8859_11",
    "x-windows-874": "cp874",
    "windows-874": "cp874",
    "ms874": "cp874",
    "cp874": "cp874",
    "us-ascii": "ascii",
    "ansi_x3.4-1968": "ascii",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "latin-1",
    "unknown-8bit": "latin-1",
    "x-user-defined": "latin-1",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
}


def _codec(charset: str | None) -> str | None:
    """A Python codec name for a MIME charset (RFC 2978 names, with common aliases)."""
    if not charset:
        return None
    cs = charset.strip().strip('"').lower()
    cs = cs.split("*", 1)[0]  # RFC 2231 §5 language suffix
    cs = _CHARSET_ALIASES.get(cs, cs)
    try:
        return codecs.lookup(cs).name
    except LookupError:
        return None


def _to_text(data: bytes, charset: str | None, *, fallback: str | None = None) -> str:
    """Decode text in ``charset``; unknown charsets try UTF-8, then ``fallback``, then latin-1.

    The ASCII codec is widened to UTF-8 (8-bit text labelled us-ascii is common).
    """
    codec = _codec(charset)
    if codec is not None and codec != "ascii":
        try:
            return data.decode(codec)
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for alt in (codec, fallback):
        if alt and alt != "ascii":
            try:
                return data.decode(alt, "replace")
            except LookupError:
                pass
    return data.decode("latin-1")


_ENCODED_WORD = re.compile(rb"=\?([^?\s]+)\?([QqBb])\?([^?]*)\?=")
_EW_GAP = re.compile(rb"(=\?[^?\s]+\?[QqBb]\?[^?]*\?=)[ \t\r\n]+(?==\?[^?\s]+\?[QqBb]\?[^?]*\?=)")


def _decode_words(raw: bytes, fallback: str | None = None) -> str:
    """Decode RFC 2047 encoded-words in an unfolded header value (never raises).

    Whitespace between adjacent encoded-words is dropped (RFC 2047 §6.2); adjacent words in
    the same charset are joined before decoding so multi-byte characters split across words
    survive.  Raw 8-bit text is taken as UTF-8 (RFC 6532), else ``fallback``.
    """
    raw = _EW_GAP.sub(rb"\1", raw)
    pieces: list[tuple[str | None, bytes]] = []  # (charset or None for raw, bytes)
    pos = 0
    for m in _ENCODED_WORD.finditer(raw):
        if m.start() > pos:
            pieces.append((None, raw[pos : m.start()]))
        cs = m.group(1).decode("ascii", "replace")
        enc = m.group(2).upper()
        payload = m.group(3)
        if enc == b"B":
            decoded = _b64decode(payload)
        else:
            decoded = re.sub(
                rb"=([0-9A-Fa-f]{2})",
                lambda mm: bytes([int(mm.group(1), 16)]),
                payload.replace(b"_", b" "),
            )
        if pieces and pieces[-1][0] is not None and pieces[-1][0].lower() == cs.lower():
            pieces[-1] = (pieces[-1][0], pieces[-1][1] + decoded)
        else:
            pieces.append((cs, decoded))
        pos = m.end()
    if pos < len(raw):
        pieces.append((None, raw[pos:]))
    return "".join(
        _to_text(b, cs if cs is not None else None, fallback=fallback) for cs, b in pieces
    )


# ---------------------------------------------------------------------------
# Section specifiers
# ---------------------------------------------------------------------------


def _spec_parts(spec: Any) -> tuple[tuple[int, ...], str | None, tuple[str, ...]]:
    """Accept a ``(part, text, fields)`` tuple or any object with those attributes."""
    if isinstance(spec, tuple):
        part, text, fields = (*spec, None, None, ())[:3]
    else:
        part = getattr(spec, "part", ())
        text = getattr(spec, "text", None)
        fields = getattr(spec, "fields", ())
    part_t = tuple(int(p) for p in (part or ()))
    text_s = None if text in (None, "") else str(text).upper()
    fields_t = tuple(
        f.decode("ascii", "replace") if isinstance(f, bytes | bytearray) else str(f)
        for f in (fields or ())
    )
    return part_t, text_s, fields_t


# ---------------------------------------------------------------------------
# ParsedMessage
# ---------------------------------------------------------------------------


class ParsedMessage:
    """A message parsed once, answering ENVELOPE, BODY[STRUCTURE], BODY[...] and BINARY.

    Parsing is lazy and cached, so a FETCH asking for several items parses the message once.
    """

    __slots__ = ("_bs", "_env", "_root", "_text", "raw")

    def __init__(self, raw: bytes) -> None:
        """Wrap the raw stored message (CRLF line ends)."""
        self.raw = bytes(raw)
        self._root: _Entity | None = None
        self._env: list[Any] | None = None
        self._bs: dict[bool, list[Any]] = {}
        self._text: tuple[str, str] | None = None

    @property
    def root(self) -> _Entity:
        """The parsed top-level entity."""
        if self._root is None:
            self._root, _ = _parse_entity(self.raw, 0, len(self.raw), [])
        return self._root

    # -- ENVELOPE ---------------------------------------------------------

    def envelope(self) -> list[Any]:
        """RFC 3501 §7.4.2 ENVELOPE of the message (cached)."""
        if self._env is None:
            self._env = _envelope_of(self.root)
        return self._env

    # -- BODY / BODYSTRUCTURE ---------------------------------------------

    def bodystructure(self, *, extended: bool) -> list[Any]:
        """BODYSTRUCTURE (``extended=True``) or BODY (``False``), RFC 3501 §7.4.2 (cached)."""
        if extended not in self._bs:
            self._bs[extended] = _structure(self.raw, self.root, extended, 0)
        return self._bs[extended]

    # -- BODY[section] ------------------------------------------------------

    def _resolve(self, part: tuple[int, ...]) -> _Entity | None:
        """The entity named by a section-part (RFC 3501 §6.4.5), or None if absent.

        Part 1 of a non-multipart message is its body; parts of a message/rfc822 part are
        the parts of the encapsulated message.
        """
        node: _Entity | None = self.root
        msg_level = True  # node is a message (top level or encapsulated)
        self_ok = False  # node is a leaf chosen from a multipart: "N.1" is itself (Dovecot)
        for idx, n in enumerate(part):
            if node is None or n < 1:
                return None
            if idx > 0 and node.message is not None:
                node = node.message
                msg_level, self_ok = True, False
            if node.is_multipart:
                node = node.children[n - 1] if n <= len(node.children) else None
                msg_level, self_ok = False, True
            elif n == 1 and (msg_level or self_ok):
                msg_level = self_ok = False  # part 1 of a single-part message is its body
            else:
                return None
        return node

    def section(self, spec: Any) -> bytes | None:
        """BODY[section] contents (RFC 3501 §6.4.5); b"" when the part does not exist.

        ``spec`` is ``(part, text, fields)`` or an object with those attributes; ``text`` is
        None, "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT" or "MIME".
        """
        part, text, fields = _spec_parts(spec)
        data = self.raw
        if not part:
            target: _Entity | None = self.root
        else:
            node = self._resolve(part)
            if node is None:
                return b""
            if text is None:
                return data[node.body_start : node.end]
            if text == "MIME":
                # RFC 3501 §6.4.5: the MIME-IMB header of this part.
                return _header_bytes(data, node)
            # HEADER/TEXT of a part only make sense for message/rfc822 parts.
            target = node.message
            if target is None:
                return b""
        assert target is not None
        if text is None:
            return data[target.start : target.end]
        if text == "HEADER":
            return _header_bytes(data, target)
        if text == "TEXT":
            return data[target.body_start : target.end]
        names = {f.lower() for f in fields}
        if text == "HEADER.FIELDS":
            # The chosen fields, each with its line end, and a blank line (RFC 3501 §6.4.5).
            out = b"".join(
                data[f.start : f.end] + (b"" if data[f.end - 1 : f.end] == b"\n" else b"\r\n")
                for f in target.fields
                if f.lname in names
            )
            return out + b"\r\n"
        if text == "HEADER.FIELDS.NOT":
            # The header with those fields taken out, so that NOT of no field is HEADER
            # (the blank line stays only if the message has one), as in Dovecot.
            kept = b"".join(data[f.start : f.end] for f in target.fields if f.lname not in names)
            fields_end = target.fields[-1].end if target.fields else target.start
            return kept + data[fields_end : target.body_start]
        if text == "MIME":
            return b""  # MIME needs a part number (RFC 3501 §6.4.5)
        return None

    # -- BINARY (RFC 3516) -------------------------------------------------

    def binary_section(self, part: tuple[int, ...] | Iterable[int]) -> bytes | None:
        """BINARY[part]: the part's content with its transfer encoding removed (RFC 3516 §4.2).

        Returns b"" for a nonexistent part and None when the encoding is unknown (the server
        answers NO [UNKNOWN-CTE]).  For the whole message (empty part), multipart and
        message/rfc822 parts every leaf inside is decoded and its header gets
        ``Content-Transfer-Encoding: binary``, as Dovecot does.
        """
        part_t = tuple(int(p) for p in part)
        if not part_t:
            return _binary_entity(self.raw, self.root, 0)
        node = self._resolve(part_t)
        if node is None:
            return b""
        if node.is_multipart:
            return _binary_multipart_body(self.raw, node, 0)
        if node.message is not None and not node.encoded:
            return _binary_entity(self.raw, node.message, 0)
        return _decode_cte(self.raw[node.body_start : node.end], _binary_cte(node))

    def binary_size(self, part: tuple[int, ...] | Iterable[int]) -> int | None:
        """BINARY.SIZE[part] (RFC 3516 §4.2): length of :meth:`binary_section`, None if unknown."""
        b = self.binary_section(part)
        return None if b is None else len(b)

    # -- Helpers for SEARCH -----------------------------------------------

    def header_lines(self) -> list[tuple[str, bytes]]:
        """The top-level header fields as (name, unfolded raw value), in order."""
        return [(f.name, f.unfolded()) for f in self.root.fields if f.name]

    def decoded_text(self) -> tuple[str, str]:
        """(decoded header text, decoded body text) for SEARCH (cached, never raises)."""
        if self._text is None:
            try:
                self._text = _decoded_text(self.raw, self.root)
            except Exception:  # pragma: no cover - last-resort guard: SEARCH must not fail
                self._text = (
                    self.raw.decode("utf-8", "replace"),
                    "",
                )
        return self._text


def _binary_entity(data: bytes, ent: _Entity, depth: int) -> bytes | None:
    """An entity with every encoded leaf decoded (RFC 3516 BINARY of a non-leaf section)."""
    if depth > _MAX_DEPTH:
        return data[ent.start : ent.end]
    header = data[ent.start : ent.body_start]
    if ent.is_multipart:
        body = _binary_multipart_body(data, ent, depth)
    elif ent.message is not None and not ent.encoded:
        body = _binary_entity(data, ent.message, depth + 1)
    else:
        enc = _binary_cte(ent)
        if enc is None or enc in _IDENTITY_CTE:
            return data[ent.start : ent.end]
        body = _decode_cte(data[ent.body_start : ent.end], enc)
        if body is not None:
            header = b"".join(
                data[f.start : f.end] for f in ent.fields if f.lname != "content-transfer-encoding"
            )
            header += b"Content-Transfer-Encoding: binary\r\n\r\n"
    return None if body is None else header + body


def _binary_multipart_body(data: bytes, ent: _Entity, depth: int) -> bytes | None:
    """A multipart body with its parts rebuilt by :func:`_binary_entity`."""
    out: list[bytes] = []
    pos = ent.body_start
    for child in ent.children:
        out.append(data[pos : child.start])
        b = _binary_entity(data, child, depth + 1)
        if b is None:
            return None
        out.append(b)
        pos = child.end
    out.append(data[pos : ent.end])
    return b"".join(out)


def _header_bytes(data: bytes, ent: _Entity) -> bytes:
    """The header of ``ent`` as stored, the blank line included when there is one.

    A message that ends inside its header has no blank line, and none is made up:
    HEADER followed by TEXT must give back the message (RFC 3501 §6.4.5), as in Dovecot.
    """
    return data[ent.start : ent.body_start]


def _envelope_of(ent: _Entity) -> list[Any]:
    """ENVELOPE fields of an entity's header (RFC 3501 §7.4.2)."""
    # RFC 5322 §3.6 allows each field once.  Where one repeats anyway, the last Date,
    # Subject, In-Reply-To and Message-ID win and the addresses of every From, Sender,
    # Reply-To, To, Cc and Bcc field are listed, so none is hidden (as in Dovecot).
    v = ent.last_value
    from_ = _addresses_of(ent, "from")
    sender = _addresses_of(ent, "sender")
    reply_to = _addresses_of(ent, "reply-to")
    subject = v("subject")
    # RFC 3501 §7.4.2: absent or empty Sender / Reply-To take the From value.
    if sender is None:
        sender = from_
    if reply_to is None:
        reply_to = from_
    return [
        v("date"),
        None if subject is None else _collapse_ws(subject),
        from_,
        sender,
        reply_to,
        _addresses_of(ent, "to"),
        _addresses_of(ent, "cc"),
        _addresses_of(ent, "bcc"),
        v("in-reply-to"),
        v("message-id"),
    ]


def _addresses_of(ent: _Entity, lname: str) -> list[Any] | None:
    """The addresses of every field named ``lname``, in order; NIL when there are none."""
    found: list[Any] = []
    for f in ent.fields:
        if f.lname == lname:
            found += _parse_address_list(f.unfolded()) or []
    return found or None


def _count_lines(data: bytes, start: int, end: int) -> int:
    """Body size in text lines (RFC 3501 §7.4.2): the number of line ends (LF)."""
    return data.count(b"\n", start, end)


def _ext_1part(ent: _Entity) -> list[Any]:
    """body-ext-1part: md5, disposition, language, location (RFC 3501 §7.4.2, RFC 2557)."""
    return [
        ent.value("content-md5"),
        _parse_disposition(ent.value("content-disposition")),
        _language_value(ent.value("content-language")),
        ent.value("content-location"),
    ]


def _is_plain_7bit(ent: _Entity) -> bool:
    """A top-level text/plain; charset=us-ascii 7bit part with no other MIME fields.

    Dovecot (message_part_data_is_plain_7bit) answers such messages with the canonical
    lower-case form whatever case the header used; we do the same for identical output.
    """
    ct = ent.ctype
    if ct.ltype != "text" or ct.lsubtype != "plain" or len(ct.params) != 1:
        return False
    name, value = ct.params[0]
    if name.lower() != "charset" or value.lower() != "us-ascii":
        return False
    enc = ent.encoding()
    if enc is not None and enc.lower() != b"7bit":
        return False
    return all(
        ent.first(h) is None
        for h in (
            "content-id",
            "content-description",
            "content-md5",
            "content-disposition",
            "content-language",
            "content-location",
        )
    )


def _structure(data: bytes, ent: _Entity, extended: bool, depth: int) -> list[Any]:
    """BODY / BODYSTRUCTURE of one entity (RFC 3501 §7.4.2 body)."""
    ct = ent.ctype
    if depth == 0 and _is_plain_7bit(ent):
        out: list[Any] = list(_EMPTY_PART_BODY)
        out[6] = ent.end - ent.body_start
        out[7] = _count_lines(data, ent.body_start, ent.end)
        return out + ([None, None, None, None] if extended else [])
    if ent.is_multipart:
        if ent.children and depth < _MAX_DEPTH:
            out = [_structure(data, c, extended, depth + 1) for c in ent.children]
        else:
            out = [list(_EMPTY_PART_BODY) + ([None, None, None, None] if extended else [])]
        out.append(ct.subtype)
        if extended:
            out.append(_params_value(ct.params))
            out.append(_parse_disposition(ent.value("content-disposition")))
            out.append(_language_value(ent.value("content-language")))
            out.append(ent.value("content-location"))
        return out
    enc = ent.encoding()
    out = [
        ct.type,
        ct.subtype,
        _params_value(ct.params),
        ent.value("content-id"),
        ent.value("content-description"),
        enc.decode("ascii", "replace") if enc else "7bit",
        ent.end - ent.body_start,
    ]
    if ent.message is not None and depth < _MAX_DEPTH:
        out.append(_envelope_of(ent.message))
        out.append(_structure(data, ent.message, extended, depth + 1))
        out.append(_count_lines(data, ent.body_start, ent.end))
    elif ct.ltype == "text":
        out.append(_count_lines(data, ent.body_start, ent.end))
    if extended:
        out.extend(_ext_1part(ent))
    return out


def _decoded_text(data: bytes, root: _Entity) -> tuple[str, str]:
    """Decoded header and body text of a message for SEARCH."""
    fallback = _codec(root.ctype.param("charset"))
    headers = _decoded_headers(root, fallback)
    body_parts: list[str] = []
    _collect_body_text(data, root, body_parts, 0)
    return headers, "\n".join(p for p in body_parts if p)


def _decoded_headers(ent: _Entity, fallback: str | None) -> str:
    """Header fields as 'Name: decoded value' lines."""
    return "".join(
        f"{f.name}: {_decode_words(f.unfolded(), fallback)}\n" for f in ent.fields if f.name
    )


def _collect_body_text(data: bytes, ent: _Entity, out: list[str], depth: int) -> None:
    """Append decoded text of text/* leaves (and encapsulated messages) to ``out``."""
    if depth > _MAX_DEPTH:
        return
    if ent.is_multipart:
        for c in ent.children:
            _collect_body_text(data, c, out, depth + 1)
        return
    if ent.message is not None:
        # The encapsulated message's header is part of the outer body (RFC 3501 §6.4.4 BODY).
        out.append(_decoded_headers(ent.message, _codec(ent.message.ctype.param("charset"))))
        _collect_body_text(data, ent.message, out, depth + 1)
        return
    if ent.ctype.ltype != "text":
        return
    disp = _parse_disposition(ent.value("content-disposition"))
    if (
        disp
        and str(disp[0]).lower() == "attachment"
        and ent.ctype.lsubtype not in ("plain", "html")
    ):
        return
    raw = data[ent.body_start : ent.end]
    decoded = _decode_cte(raw, ent.encoding())
    if decoded is None:
        decoded = raw
    text = _to_text(decoded, ent.ctype.param("charset"), fallback="cp874")
    out.append(text.replace("\r\n", "\n"))


# ---------------------------------------------------------------------------
# Module-level convenience functions
# ---------------------------------------------------------------------------


def envelope(message: bytes) -> list[Any]:
    """RFC 3501 §7.4.2 ENVELOPE: date, subject, from, sender, reply-to, to, cc, bcc,
    in-reply-to, message-id.  Strings are the raw unfolded header text (encoded-words kept)."""
    return ParsedMessage(message).envelope()


def bodystructure(message: bytes, *, extended: bool) -> list[Any]:
    """BODYSTRUCTURE (``extended=True``) or BODY (``extended=False``), RFC 3501 §7.4.2."""
    return ParsedMessage(message).bodystructure(extended=extended)


def section(message: bytes, spec: Any) -> bytes | None:
    """BODY[section] (RFC 3501 §6.4.5); b"" for a nonexistent part.  See
    :meth:`ParsedMessage.section`."""
    return ParsedMessage(message).section(spec)


def binary_section(message: bytes, part: tuple[int, ...] | Iterable[int]) -> bytes | None:
    """BINARY[part] (RFC 3516): decoded content; None when the CTE is unknown."""
    return ParsedMessage(message).binary_section(part)


def header_lines(message: bytes) -> list[tuple[str, bytes]]:
    """Top-level header fields as (name, unfolded raw value) pairs, in message order."""
    return ParsedMessage(message).header_lines()


def decoded_text(message: bytes) -> tuple[str, str]:
    """(decoded header text, decoded body text) for SEARCH: RFC 2047 words, QP/base64 and
    charsets (UTF-8, TIS-620, windows-874, ISO-8859-x, ...) decoded; non-text parts skipped."""
    return ParsedMessage(message).decoded_text()
