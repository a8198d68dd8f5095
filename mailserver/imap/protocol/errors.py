"""The one exception family for a client's protocol mistakes (h11's RemoteProtocolError).

The parser and the grammar helpers raise only these; anything else escaping them
is a bug. Each error carries what the session needs to answer (RFC 3501 §7.1):
the tag (when known) for a tagged response, the status (BAD for syntax, NO for
a refusal) and an optional response code such as TOOBIG (RFC 7888 §4, RFC 4469 §5).
"""

from __future__ import annotations


class ImapProtocolError(Exception):
    """A client's mistake: answer `<tag or *> <status> [<code>] <text>` and carry on.

    `tag` is None when the command's tag could not be read (answer untagged).
    Grammar helpers do not know the tag; the session may set `err.tag` itself.
    `fatal` is True when the parser cannot resynchronise (the session should
    send BYE and close the connection).
    """

    default_status = "BAD"
    default_code: str | None = None

    def __init__(
        self,
        text: str,
        *,
        tag: str | None = None,
        status: str | None = None,
        code: str | None = None,
        fatal: bool = False,
    ) -> None:
        super().__init__(text)
        self.text = text
        self.tag = tag
        self.status = status or self.default_status
        self.code = code if code is not None else self.default_code
        self.fatal = fatal

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.text!r}, tag={self.tag!r}, "
            f"status={self.status!r}, code={self.code!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ImapProtocolError):
            return NotImplemented
        return (type(self), self.text, self.tag, self.status, self.code, self.fatal) == (
            type(other),
            other.text,
            other.tag,
            other.status,
            other.code,
            other.fatal,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.text, self.tag, self.status, self.code))


class CommandSyntaxError(ImapProtocolError):
    """The command does not follow the grammar of RFC 3501 §9: BAD."""


class LineTooLong(ImapProtocolError):
    """The command text (literals excluded) exceeds the server's max_line: BAD.

    The tag may be unknown when the line is rejected before its end arrives.
    """


class LiteralTooLarge(ImapProtocolError):
    """A literal (or a command's literals together) exceeds the server's limits.

    RFC 7888 §4 / RFC 4469 §5: the response carries [TOOBIG]. A refused
    synchronising literal gets NO [TOOBIG] and no continuation; a refused
    non-synchronising one (already on its way) gets BAD [TOOBIG] and is fatal:
    the session closes instead of reading bytes only to discard them.
    """

    default_status = "NO"
    default_code = "TOOBIG"
