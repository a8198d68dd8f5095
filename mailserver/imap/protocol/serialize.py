"""Server responses as bytes (RFC 3501 §7, formal syntax §9): pure functions, no I/O.

Values follow the vocabulary of `values.py`: None -> NIL, int -> number, Atom as is,
str/bytes -> quoted string when safe else literal, Literal -> always a literal,
list -> parenthesised list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from .errors import ImapProtocolError
from .values import Atom, ImapValue, Juxtaposed, Literal, Literal8

__all__ = [
    "continuation",
    "encode_value",
    "error_response",
    "join_values",
    "response_code",
    "tagged",
    "untagged",
    "untagged_status",
]

CRLF: Final = b"\r\n"
MAX_QUOTED: Final = 1024  # longer strings go as literals (easier on clients' line limits)

# quoted = DQUOTE *QUOTED-CHAR DQUOTE: printable 7-bit text, " and \ escaped (RFC 3501 §9).
_UNSAFE_FOR_QUOTED = re.compile(rb"[^\x20-\x7e]")
_ESCAPE = re.compile(rb'(["\\])')
# resp-text must hold no CR, LF or other CTL (RFC 3501 §9: TEXT-CHAR); nor may a code hold "]".
_CTL_STR = re.compile(r"[\x00-\x1f\x7f]+")
_TAGGED_STATUS: Final = frozenset({"OK", "NO", "BAD"})
_UNTAGGED_STATUS: Final = frozenset({"OK", "NO", "BAD", "PREAUTH", "BYE"})


def encode_value(value: ImapValue) -> bytes:
    """One value in wire form, e.g. [Atom("\\\\Seen"), None, 3] -> b"(\\\\Seen NIL 3)"."""
    if value is None:
        return b"NIL"
    if isinstance(value, bool):
        raise TypeError("bool is not an IMAP value")
    if isinstance(value, int):
        return str(value).encode("ascii")
    if isinstance(value, Atom):
        data = value.encode("ascii")
        # An atom is one token; only a fetch att like BODY[HEADER.FIELDS (A B)] holds SP.
        if not data or _UNSAFE_FOR_QUOTED.search(data) or (b" " in data and "[" not in value):
            raise ValueError(f"not an atom: {value!r}")
        return data
    if isinstance(value, Literal):
        return _literal(value)
    if isinstance(value, Literal8):
        # literal8 = "~{" number "}" CRLF *OCTET (RFC 3516 §4.3): NUL allowed.
        return b"~" + _literal(value)
    if isinstance(value, str):
        return _string(value.encode("utf-8"))
    if isinstance(value, bytes | bytearray | memoryview):
        return _string(bytes(value))
    if isinstance(value, Juxtaposed):
        return b"".join(encode_value(v) for v in value)
    if isinstance(value, list | tuple):
        return b"(" + b" ".join(encode_value(v) for v in value) + b")"
    raise TypeError(f"not an IMAP value: {type(value).__name__}")


def _literal(data: bytes) -> bytes:
    # literal = "{" number "}" CRLF *CHAR8 (RFC 3501 §4.3)
    return b"{%d}\r\n" % len(data) + data


def _string(data: bytes) -> bytes:
    if len(data) > MAX_QUOTED or _UNSAFE_FOR_QUOTED.search(data):
        return _literal(data)
    return b'"' + _ESCAPE.sub(rb"\\\1", data) + b'"'


def _clean_text(text: str) -> bytes:
    """resp-text without CR/LF/CTL (a line break would forge a response), UTF-8."""
    return _CTL_STR.sub(" ", text).strip().encode("utf-8")


def _resp_text(code: str | None, text: str) -> bytes:
    # resp-text = ["[" resp-text-code "]" SP] text  (RFC 3501 §9)
    parts = []
    if code:
        clean_code = _CTL_STR.sub(" ", code).replace("]", "").strip()
        parts.append(b"[" + clean_code.encode("utf-8") + b"]")
    body = _clean_text(text)
    if body:
        parts.append(body)
    return b" ".join(parts)


def untagged(*parts: ImapValue) -> bytes:
    """An untagged data response: untagged(3, Atom("EXISTS")) -> b"* 3 EXISTS\\r\\n"."""
    return b"* " + b" ".join(encode_value(p) for p in parts) + CRLF


def untagged_status(status: str, text: str, code: str | None = None) -> bytes:
    """`* OK [ALERT] text`, `* BYE text`, `* NO ...`, `* PREAUTH ...` (RFC 3501 §7.1)."""
    if status not in _UNTAGGED_STATUS:
        raise ValueError(f"not an untagged status: {status!r}")
    body = _resp_text(code, text)
    return b"* " + status.encode("ascii") + (b" " + body if body else b"") + CRLF


def tagged(tag: str, status: str, text: str, code: str | None = None) -> bytes:
    """The command's completion: tagged("a1", "OK", "SELECT completed", "READ-WRITE")."""
    if status not in _TAGGED_STATUS:
        raise ValueError(f"not a tagged status: {status!r}")
    clean_tag = _CTL_STR.sub("", tag).replace(" ", "")
    if not clean_tag:
        raise ValueError("empty tag")
    body = _resp_text(code, text)
    return clean_tag.encode("utf-8") + b" " + status.encode("ascii") + b" " + body + CRLF


def continuation(text: str = "") -> bytes:
    """A command continuation request: `+ text` (RFC 3501 §7.5); text may be base64."""
    return b"+ " + _clean_text(text) + CRLF


def response_code(name: str, *args: ImapValue) -> str:
    """A response code's text, e.g. response_code("UIDVALIDITY", 3857529045).

    Lists work too: response_code("PERMANENTFLAGS", [Atom("\\\\Seen"), Atom("\\\\*")]).
    Arguments must encode without literals (a code lives inside one line).
    """
    out = [name]
    for arg in args:
        data = encode_value(arg)
        if b"\r" in data or b"\n" in data or b"]" in data:
            raise ValueError(f"response code argument cannot go on one line: {arg!r}")
        out.append(data.decode("utf-8"))
    return " ".join(out)


def error_response(err: ImapProtocolError) -> bytes:
    """The answer to a client's protocol error: tagged when its tag is known, else `* BAD`."""
    if err.tag:
        return tagged(err.tag, err.status, err.text, err.code)
    status = err.status if err.status in _UNTAGGED_STATUS else "BAD"
    return untagged_status(status, err.text, err.code)


def join_values(values: Iterable[ImapValue]) -> bytes:
    """Values separated by SP, without parentheses (for FETCH items, SEARCH results)."""
    return b" ".join(encode_value(v) for v in values)
