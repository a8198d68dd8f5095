"""ENVELOPE and BODYSTRUCTURE values in wire form (RFC 3501 §7.4.2, §9).

`mime` describes a message with plain nested lists; the grammar writes two of
its repetitions without separating spaces: the addresses of an address list,
`"(" 1*address ")"`, and the parts of a multipart, `1*body SP media-subtype`.
These functions mark those runs as `Juxtaposed` for the serialiser.
"""

from __future__ import annotations

from typing import Any

from mailserver.imap.protocol import Juxtaposed

# ENVELOPE positions of from, sender, reply-to, to, cc, bcc.
_ADDRESS_FIELDS = range(2, 8)


def envelope(value: list[Any]) -> list[Any]:
    out = list(value)
    for index in _ADDRESS_FIELDS:
        if isinstance(out[index], list):
            out[index] = [Juxtaposed(out[index])]
    return out


def body(value: list[Any]) -> list[Any]:
    """BODY / BODYSTRUCTURE, recursively (multipart parts, message/rfc822 contents)."""
    if value and isinstance(value[0], list):  # multipart: the parts, then the subtype
        count = next((i for i, v in enumerate(value) if not isinstance(v, list)), len(value))
        return [Juxtaposed(body(part) for part in value[:count]), *value[count:]]
    out = list(value)
    media = (str(out[0]).lower(), str(out[1]).lower()) if len(out) > 1 else ("", "")
    if media == ("message", "rfc822") and len(out) > 8 and isinstance(out[7], list):
        out[7] = envelope(out[7])
        out[8] = body(out[8])
    return out
