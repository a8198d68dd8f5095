"""The sans-IO POP3 layer: line framing and limits, command parsing, the state table,
responses with byte-stuffing, TOP, and the maildrop snapshot (RFC 1939, RFC 2449)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from mailserver.pop3.maildrop import Maildrop
from mailserver.pop3.protocol import (
    ALLOWED,
    MAX_LINE,
    NEED_DATA,
    Command,
    LineReader,
    Pop3ProtocolError,
    State,
    check_state,
    continuation,
    dot_stuff,
    err,
    multiline,
    ok,
    parse_command,
    parse_number,
    top,
)

# --- framing ---------------------------------------------------------------------------


def lines_of(reader: LineReader) -> list[bytes | str]:
    """Every event the reader has: lines, or "error" for each Pop3ProtocolError."""
    out: list[bytes | str] = []
    while True:
        try:
            line = reader.next_line()
        except Pop3ProtocolError:
            out.append("error")
            continue
        if line is NEED_DATA:
            return out
        assert isinstance(line, bytes)
        out.append(line)


def test_lines_whole_and_byte_by_byte_agree() -> None:
    data = b"USER alice\r\nPASS secret word\r\nSTAT\nQUIT\r\n"
    whole = LineReader()
    whole.receive_data(data)
    expected = lines_of(whole)
    assert expected == [b"USER alice", b"PASS secret word", b"STAT", b"QUIT"]
    split = LineReader()
    got: list[bytes | str] = []
    for i in range(len(data)):
        split.receive_data(data[i : i + 1])
        got += lines_of(split)
    assert got == expected


def test_incomplete_line_needs_data() -> None:
    reader = LineReader()
    reader.receive_data(b"STA")
    assert reader.next_line() is NEED_DATA
    reader.receive_data(b"T\r\n")
    assert reader.next_line() == b"STAT"


@pytest.mark.parametrize("chunk", [1, 7, 100, 10_000])
def test_over_long_line_gives_one_error_and_the_stream_resyncs(chunk: int) -> None:
    data = b"NOOP " + b"x" * 5000 + b"\r\nSTAT\r\n"
    reader = LineReader()
    events: list[bytes | str] = []
    for i in range(0, len(data), chunk):
        reader.receive_data(data[i : i + chunk])
        events += lines_of(reader)
    assert events == ["error", b"STAT"]


def test_line_at_the_limit_is_accepted_and_one_over_is_not() -> None:
    exact = b"N" * (MAX_LINE - 2) + b"\r\n"
    reader = LineReader()
    reader.receive_data(exact + b"N" * (MAX_LINE - 1) + b"\r\n")
    assert lines_of(reader) == [exact[:-2], "error"]


def test_a_larger_limit_for_sasl_responses() -> None:
    reader = LineReader()
    reader.receive_data(b"A" * 2000 + b"\r\n")
    assert reader.next_line(8192) == b"A" * 2000


def test_buffered_counts_what_follows_the_last_line_taken() -> None:
    """STLS refuses to start while anything is buffered behind it (mailserver/starttls.py)."""
    reader = LineReader()
    reader.receive_data(b"STLS\r\nUSER injected\r\n")
    assert reader.next_line() == b"STLS"
    assert reader.buffered == len(b"USER injected\r\n")
    assert reader.next_line() == b"USER injected"
    assert reader.buffered == 0


# --- parsing ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "command"),
    [
        (b"stat", Command("STAT")),
        (b"Capa", Command("CAPA")),
        (b"LIST 3", Command("LIST", ("3",))),
        (b"top 1 10", Command("TOP", ("1", "10"))),
        (b"USER alice@bangkok.go.th", Command("USER", ("alice@bangkok.go.th",))),
        (b"PASS correct horse  battery", Command("PASS", ("correct horse  battery",))),
        (b"AUTH PLAIN AGFsaWNlAHNlY3JldA==", Command("AUTH", ("PLAIN", "AGFsaWNlAHNlY3JldA=="))),
        (b"AUTH", Command("AUTH")),
        ("USER สมชาย@bangkok.go.th".encode(), Command("USER", ("สมชาย@bangkok.go.th",))),
    ],
)
def test_parse_command(line: bytes, command: Command) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b" STAT",
        b"FROB",
        b"ST",
        b"STATS",
        b"RETR",
        b"RETR 1 2",
        b"TOP 1",
        b"STAT now",
        b"USER",
        b"PASS",
        b"USER a\x00b",
        b"USER \xff\xfe",
        b"\x16\x03\x01\x02\x00",  # a TLS ClientHello on the plain port
    ],
)
def test_bad_commands_raise_the_protocol_error(line: bytes) -> None:
    with pytest.raises(Pop3ProtocolError):
        parse_command(line)


@pytest.mark.parametrize("value", ["0", "1", "42", "0000000007"])
def test_numbers(value: str) -> None:
    assert parse_number(value) == int(value)


@pytest.mark.parametrize("value", ["-1", "+1", "1.0", "x", "", "١", "12345678901"])
def test_bad_numbers(value: str) -> None:
    with pytest.raises(Pop3ProtocolError):
        parse_number(value)


def test_fuzzed_lines_raise_only_the_protocol_error() -> None:
    rng = random.Random(1939)
    alphabet = b"STATLISTRETRDELEUSERPASSAUTHtop 0123456789.\r\n\x00\xff "
    for _ in range(3000):
        line = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 30)))
        try:
            command = parse_command(line.replace(b"\r", b"").replace(b"\n", b""))
        except Pop3ProtocolError:
            continue
        assert command.name.isupper()


# --- the state table ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "name", "allowed"),
    [
        (State.AUTHORIZATION, "USER", True),
        (State.AUTHORIZATION, "STLS", True),
        (State.AUTHORIZATION, "CAPA", True),
        (State.AUTHORIZATION, "QUIT", True),
        (State.AUTHORIZATION, "STAT", False),
        (State.AUTHORIZATION, "RETR", False),
        (State.AUTHORIZATION, "NOOP", False),
        (State.TRANSACTION, "RETR", True),
        (State.TRANSACTION, "UIDL", True),
        (State.TRANSACTION, "CAPA", True),
        (State.TRANSACTION, "USER", False),
        (State.TRANSACTION, "PASS", False),
        (State.TRANSACTION, "STLS", False),
        (State.TRANSACTION, "AUTH", False),
        (State.UPDATE, "QUIT", False),
    ],
)
def test_state_table(state: State, name: str, allowed: bool) -> None:
    command = Command(name)
    if allowed:
        check_state(state, command)
    else:
        with pytest.raises(Pop3ProtocolError, match="not valid"):
            check_state(state, command)


def test_update_accepts_nothing() -> None:
    assert ALLOWED[State.UPDATE] == frozenset()


# --- responses -----------------------------------------------------------------------------


def test_status_lines() -> None:
    assert ok() == b"+OK\r\n"
    assert ok("2 320") == b"+OK 2 320\r\n"
    assert err("No such message 9") == b"-ERR No such message 9\r\n"
    assert err("Go away", "AUTH") == b"-ERR [AUTH] Go away\r\n"
    assert err("two\r\nlines") == b"-ERR two  lines\r\n"
    assert continuation() == b"+ \r\n"


@pytest.mark.parametrize(
    ("body", "wire"),
    [
        (b"", b".\r\n"),
        (b"a\r\n", b"a\r\n.\r\n"),
        (b".\r\n", b"..\r\n.\r\n"),
        (b"a\r\n.\r\nb\r\n", b"a\r\n..\r\nb\r\n.\r\n"),
        (b"..x\r\n.y", b"...x\r\n..y\r\n.\r\n"),
        (b"no newline", b"no newline\r\n.\r\n"),
        (b"bare\nlf\n.dot\n", b"bare\r\nlf\r\n..dot\r\n.\r\n"),
        (b"a.b\r\n x.\r\n", b"a.b\r\n x.\r\n.\r\n"),
    ],
)
def test_dot_stuffing(body: bytes, wire: bytes) -> None:
    assert dot_stuff(body) == wire


def test_unstuffing_gives_back_the_message() -> None:
    message = b"Subject: x\r\n\r\n.\r\n..\r\n.hidden\r\nend\r\n"
    wire = dot_stuff(message)
    lines = wire.split(b"\r\n")[:-2]  # drop the terminator and what follows it
    assert lines[-1] != b"."
    restored = b"".join((ln[1:] if ln.startswith(b".") else ln) + b"\r\n" for ln in lines)
    assert restored == message


def test_multiline() -> None:
    assert multiline("2 messages", ["1 120", "2 200"]) == (
        b"+OK 2 messages\r\n1 120\r\n2 200\r\n.\r\n"
    )
    assert multiline("none", []) == b"+OK none\r\n.\r\n"


MESSAGE = b"From: a@b\r\nSubject: s\r\n\r\nline 1\r\nline 2\r\nline 3\r\n"


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (0, b"From: a@b\r\nSubject: s\r\n\r\n"),
        (1, b"From: a@b\r\nSubject: s\r\n\r\nline 1\r\n"),
        (2, b"From: a@b\r\nSubject: s\r\n\r\nline 1\r\nline 2\r\n"),
        (3, MESSAGE),
        (99, MESSAGE),
    ],
)
def test_top(lines: int, expected: bytes) -> None:
    assert top(MESSAGE, lines) == expected


def test_top_of_a_message_without_a_body() -> None:
    assert top(b"Subject: only\r\n", 5) == b"Subject: only\r\n"


# --- the maildrop ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Info:
    uid: int
    size: int


def maildrop() -> Maildrop:
    return Maildrop(1700000000, [Info(4, 100), Info(7, 250), Info(9, 30)])


def test_maildrop_numbers_sizes_and_unique_ids() -> None:
    drop = maildrop()
    assert drop.stat() == (3, 380)
    assert drop.get("2").uid == 7
    assert drop.unique_id(drop.get("3")) == "1700000000.9"


def test_dele_hides_the_message_until_rset() -> None:
    drop = maildrop()
    drop.delete("2")
    assert drop.stat() == (2, 130)
    assert [e.number for e in drop.live()] == [1, 3]
    with pytest.raises(Pop3ProtocolError, match="deleted"):
        drop.get("2")
    with pytest.raises(Pop3ProtocolError, match="deleted"):
        drop.delete("2")
    assert drop.deleted_uids == [7]
    drop.reset()
    assert drop.stat() == (3, 380) and drop.deleted_uids == []


@pytest.mark.parametrize("argument", ["0", "4", "-1", "x"])
def test_no_such_message(argument: str) -> None:
    with pytest.raises(Pop3ProtocolError):
        maildrop().get(argument)
