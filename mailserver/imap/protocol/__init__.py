"""Sans-IO IMAP4rev1 protocol: command parser, response serialiser, argument grammar.

No I/O here (h11 style): the session feeds bytes to `CommandParser` and writes the
bytes `serialize` returns. Client mistakes raise `ImapProtocolError` subclasses only.
"""

from .errors import CommandSyntaxError, ImapProtocolError, LineTooLong, LiteralTooLarge
from .grammar import (
    FetchItem,
    Section,
    SequenceSet,
    StoreArgs,
    encode_mailbox_name,
    format_datetime,
    in_sequence_set,
    mailbox_name,
    parse_date,
    parse_datetime,
    parse_fetch_items,
    parse_flag,
    parse_flag_list,
    parse_sequence_set,
    parse_store_args,
)
from .parser import NEED_DATA, Command, CommandParser, ContinuationNeeded, Event, RawLine
from .serialize import (
    continuation,
    encode_value,
    error_response,
    join_values,
    response_code,
    tagged,
    untagged,
    untagged_status,
)
from .values import Atom, ImapValue, Juxtaposed, Literal, Literal8

__all__ = [
    "NEED_DATA",
    "Atom",
    "Command",
    "CommandParser",
    "CommandSyntaxError",
    "ContinuationNeeded",
    "Event",
    "FetchItem",
    "ImapProtocolError",
    "ImapValue",
    "Juxtaposed",
    "LineTooLong",
    "Literal",
    "Literal8",
    "LiteralTooLarge",
    "RawLine",
    "Section",
    "SequenceSet",
    "StoreArgs",
    "continuation",
    "encode_mailbox_name",
    "encode_value",
    "error_response",
    "format_datetime",
    "in_sequence_set",
    "join_values",
    "mailbox_name",
    "parse_date",
    "parse_datetime",
    "parse_fetch_items",
    "parse_flag",
    "parse_flag_list",
    "parse_sequence_set",
    "parse_store_args",
    "response_code",
    "tagged",
    "untagged",
    "untagged_status",
]
