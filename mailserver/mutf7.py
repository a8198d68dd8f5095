"""Modified UTF-7 for mailbox names (RFC 3501 §5.1.3).

Printable US-ASCII (0x20-0x7e) except "&" stands for itself; "&" is "&-"; any other
run of characters is "&" + modified BASE64 (RFC 2152 with "," for "/", no padding)
of its UTF-16BE form + "-". Decoding is strict: a name has exactly one encoding,
so two spellings can never name two different mailboxes that look the same.
"""

from __future__ import annotations

import base64
import binascii
import re

__all__ = ["MUtf7Error", "decode", "encode"]


class MUtf7Error(ValueError):
    """The text is not canonical modified UTF-7."""


_DIRECT = re.compile(r"[\x20-\x25\x27-\x7e]+")
_ENCODED = re.compile(r"&([A-Za-z0-9+,]*)-")


def _b64(chars: str) -> str:
    raw = chars.encode("utf-16-be", "surrogatepass")
    return base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")


def encode(name: str) -> str:
    """A Unicode mailbox name in modified UTF-7, e.g. "กล่อง" -> "&DgEOJQ5IDkcOMA-"."""
    out: list[str] = []
    pos = 0
    while pos < len(name):
        m = _DIRECT.match(name, pos)
        if m is not None:
            out.append(m.group())
            pos = m.end()
            continue
        if name[pos] == "&":
            out.append("&-")
            pos += 1
            continue
        end = pos
        while end < len(name) and not ("\x20" <= name[end] <= "\x7e"):
            end += 1
        out.append("&" + _b64(name[pos:end]) + "-")
        pos = end
    return "".join(out)


def decode(text: str) -> str:
    """A modified UTF-7 mailbox name as Unicode; raises MUtf7Error unless canonical."""
    out: list[str] = []
    pos = 0
    while pos < len(text):
        m = _DIRECT.match(text, pos)
        if m is not None:
            out.append(m.group())
            pos = m.end()
            continue
        if text[pos] != "&":
            raise MUtf7Error(f"character {text[pos]!r} must be encoded")
        m = _ENCODED.match(text, pos)
        if m is None:
            raise MUtf7Error("unterminated or invalid '&' sequence")
        pos = m.end()
        chars = m.group(1)
        if not chars:
            out.append("&")
            continue
        out.append(_decode_run(chars))
    result = "".join(out)
    if encode(result) != text:
        # e.g. "&AGE-" for "a", or two adjacent runs "&AOk-&AOk-" (RFC 3501 §5.1.3 forbids)
        raise MUtf7Error("not the canonical modified UTF-7 form")
    return result


def _decode_run(chars: str) -> str:
    b64 = chars.replace(",", "/")
    if len(b64) % 4 == 1:
        raise MUtf7Error("invalid modified BASE64 length")
    try:
        raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except binascii.Error as exc:
        raise MUtf7Error("invalid modified BASE64") from exc
    if len(raw) % 2:
        raise MUtf7Error("odd number of UTF-16 octets")
    try:
        return raw.decode("utf-16-be")
    except UnicodeDecodeError as exc:
        raise MUtf7Error("invalid UTF-16 (lone surrogate)") from exc
