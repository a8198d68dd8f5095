"""The Python values that stand for IMAP data, shared by parser, serialiser and handlers.

Parsed command arguments and response data use the same vocabulary:

| IMAP                         | Python                                  |
| ---------------------------- | --------------------------------------- |
| NIL                          | `None`                                  |
| number                       | `int`                                   |
| atom (FLAGS, \\Seen, 1:*)     | `Atom("...")` (a `str` subclass)        |
| quoted string / literal      | `bytes` (parsed); `str` or `bytes` (responses) |
| parenthesised list           | `list`                                  |
| literal forced in a response | `Literal(b"...")`                       |
| literal8 (RFC 3516)          | `Literal8(b"...")`                      |
| BODY[...]<..> fetch att      | `Atom` holding the whole text (see below) |

A fetch attribute with a section is one `Atom` with its exact text, e.g.
`Atom("BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>")`.

The serialiser chooses quoted or literal form for `str`/`bytes` by content
(quoted when short, printable ASCII without CR/LF/NUL; literal otherwise);
`Literal` always goes as a literal. A response `str` is encoded UTF-8.
"""

from __future__ import annotations


class Atom(str):
    """An IMAP atom (also flags like \\Seen, sequence sets, section specs): sent as is."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Atom({str.__repr__(self)})"


class Literal(bytes):
    """Bytes always sent as a literal ({n}CRLF + data), e.g. message content in FETCH."""

    __slots__ = ()


class Literal8(bytes):
    """Bytes sent as a literal8 (~{n}CRLF + data): BINARY content holding NUL (RFC 3516 §4.3)."""

    __slots__ = ()


class Juxtaposed(list["ImapValue"]):
    """Values written back to back, with no spaces and no parentheses of their own.

    RFC 3501 §9 writes some repetitions without separators: `"(" 1*address ")"` in
    ENVELOPE and `1*body SP media-subtype` in a multipart BODYSTRUCTURE, so two
    addresses read `(...)(...)`, not `(...) (...)`.
    """

    __slots__ = ()


ImapValue = None | int | Atom | str | bytes | Literal | Literal8 | list["ImapValue"]
