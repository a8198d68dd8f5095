"""The sans-IO IMAP command parser (RFC 3501 §9, RFC 7888 LITERAL+), no sockets."""

from __future__ import annotations

import pytest

from mailserver.imap.protocol import (
    NEED_DATA,
    Atom,
    Command,
    CommandParser,
    CommandSyntaxError,
    ContinuationNeeded,
    ImapProtocolError,
    LineTooLong,
    LiteralTooLarge,
    RawLine,
)


def drain(parser: CommandParser) -> list[object]:
    """Events until NEED_DATA; a protocol error is recorded in place of an event."""
    out: list[object] = []
    while True:
        try:
            event = parser.next_event()
        except ImapProtocolError as err:
            out.append(err)
            if err.fatal:
                return out
            continue
        if event is NEED_DATA:
            return out
        out.append(event)


def parse(data: bytes, **limits: int) -> list[object]:
    parser = CommandParser(**limits)
    parser.receive_data(data)
    return drain(parser)


def one(data: bytes) -> Command:
    (event,) = parse(data)
    assert isinstance(event, Command), event
    return event


# -- basic commands ----------------------------------------------------------------------------


def test_simple_command_upper_cases_name() -> None:
    assert one(b"a1 noop\r\n") == Command("a1", "NOOP", False, [])


def test_atoms_numbers_and_nil() -> None:
    cmd = one(b"A001 FETCH 12 NIL nil 1:*,4\r\n")
    assert cmd.args == [Atom("12"), None, None, Atom("1:*,4")]
    assert all(type(a) is Atom for a in cmd.args if a is not None)


def test_uid_command() -> None:
    cmd = one(b"a2 uid fetch 1:* (UID FLAGS)\r\n")
    assert (cmd.name, cmd.uid) == ("FETCH", True)
    assert cmd.args == [Atom("1:*"), [Atom("UID"), Atom("FLAGS")]]


def test_uid_without_subcommand_is_syntax_error() -> None:
    (err,) = parse(b"a2 UID\r\n")
    assert isinstance(err, CommandSyntaxError) and err.tag == "a2"


def test_quoted_strings_with_escapes_are_bytes() -> None:
    cmd = one(b'a1 LOGIN "joe" "p\\"a\\\\ss word"\r\n')
    assert cmd.args == [b"joe", b'p"a\\ss word']


def test_quoted_empty_and_eight_bit() -> None:
    thai = "สวัสดี".encode()
    cmd = one(b'a1 SEARCH CHARSET UTF-8 SUBJECT "' + thai + b'" ""\r\n')
    assert cmd.args[-2:] == [thai, b""]


@pytest.mark.parametrize(
    "line",
    [b'a1 LOGIN "unterminated\r\n', b'a1 X "bad \\n escape"\r\n', b'a1 X "nul\x00"\r\n'],
)
def test_bad_quoted(line: bytes) -> None:
    (err,) = parse(line)
    assert isinstance(err, CommandSyntaxError) and err.tag == "a1" and err.status == "BAD"


def test_nested_lists() -> None:
    cmd = one(b"a1 X (a (b (c NIL) ()) d) e\r\n")
    assert cmd.args == [[Atom("a"), [Atom("b"), [Atom("c"), None], []], Atom("d")], Atom("e")]


@pytest.mark.parametrize("line", [b"a1 X (a b\r\n", b"a1 X a)\r\n", b"a1 X (a)(b)\r\n"])
def test_unbalanced_lists(line: bytes) -> None:
    (err,) = parse(line)
    assert isinstance(err, CommandSyntaxError) and err.tag == "a1"


def test_deep_nesting_is_refused() -> None:
    (err,) = parse(b"a1 X " + b"(" * 100 + b")" * 100 + b"\r\n")
    assert isinstance(err, CommandSyntaxError)


def test_flags_and_list_wildcards() -> None:
    cmd = one(b"a1 STORE 1 +FLAGS (\\Seen \\* $Forwarded)\r\n")
    assert cmd.args == [
        Atom("1"),
        Atom("+FLAGS"),
        [Atom("\\Seen"), Atom("\\*"), Atom("$Forwarded")],
    ]
    cmd2 = parse(b'a2 LIST "" %/*\r\n')[0]
    assert isinstance(cmd2, Command) and cmd2.args == [b"", Atom("%/*")]


# -- fetch attributes with sections ------------------------------------------------------------


@pytest.mark.parametrize(
    "att",
    [
        "BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>",
        "BINARY[1.2]",
        "BODY[]",
        "BODY[1.2.MIME]",
        "BINARY.SIZE[3]",
        'BODY[HEADER.FIELDS.NOT ("X-Spam" Received)]',
    ],
)
def test_section_atoms_are_one_atom(att: str) -> None:
    cmd = one(b"a1 FETCH 1 " + att.encode() + b"\r\n")
    assert cmd.args == [Atom("1"), Atom(att)]


def test_section_atoms_inside_parentheses() -> None:
    cmd = one(b"a1 FETCH 1:3 (FLAGS BODY[HEADER.FIELDS (DATE)] BODY.PEEK[TEXT]<5.10>)\r\n")
    assert cmd.args[1] == [
        Atom("FLAGS"),
        Atom("BODY[HEADER.FIELDS (DATE)]"),
        Atom("BODY.PEEK[TEXT]<5.10>"),
    ]


def test_gmail_style_bracket_mailbox_and_lone_bracket() -> None:
    assert one(b'a1 LIST "" [Gmail]/%\r\n').args == [b"", Atom("[Gmail]/%")]
    assert one(b"a1 SELECT a[b\r\n").args == [Atom("a[b")]


# -- literals ----------------------------------------------------------------------------------


def test_synchronising_literal_asks_for_continuation_then_waits() -> None:
    parser = CommandParser()
    parser.receive_data(b"a1 LOGIN {3}\r\n")
    assert parser.next_event() == ContinuationNeeded("a1", 3, "LOGIN")
    assert parser.next_event() is NEED_DATA
    assert parser.in_command
    parser.receive_data(b"bo")
    assert parser.next_event() is NEED_DATA
    parser.receive_data(b'b "secret"\r\n')
    assert parser.next_event() == Command("a1", "LOGIN", False, [b"bob", b"secret"])
    assert not parser.in_command


def test_non_synchronising_literal_needs_no_continuation() -> None:
    assert parse(b"a1 LOGIN {3+}\r\nbob {6+}\r\nsecret\r\n") == [
        Command("a1", "LOGIN", False, [b"bob", b"secret"])
    ]


def test_literal_in_the_middle_with_crlf_inside() -> None:
    events = parse(b"a1 APPEND INBOX {7}\r\nx\r\ny\r\nz (\\Seen)\r\n")
    assert events == [
        ContinuationNeeded("a1", 7, "APPEND"),
        Command("a1", "APPEND", False, [Atom("INBOX"), b"x\r\ny\r\nz", [Atom("\\Seen")]]),
    ]


def test_multiappend_many_literals_and_zero_length() -> None:
    data = (
        b'a1 APPEND Sent (\\Seen) "1-Feb-1994 21:52:25 -0800" {5+}\r\nhello'
        b" {0}\r\n (\\Draft) {3+}\r\nbye\r\n"
    )
    assert parse(data) == [
        ContinuationNeeded("a1", 0, "APPEND"),
        Command(
            "a1",
            "APPEND",
            False,
            [
                Atom("Sent"),
                [Atom("\\Seen")],
                b"1-Feb-1994 21:52:25 -0800",
                b"hello",
                b"",
                [Atom("\\Draft")],
                b"bye",
            ],
        ),
    ]


def test_literal_inside_a_list_and_literal8() -> None:
    cmd = one(b"a1 X (a {2+}\r\nxy) ~{1+}\r\n\x00\r\n")
    assert cmd.args == [[Atom("a"), b"xy"], b"\x00"]


def test_literal_not_at_line_end_is_syntax_error() -> None:
    (err,) = parse(b"a1 LOGIN {3} bob\r\n")
    assert isinstance(err, CommandSyntaxError)


def test_syntax_error_before_sync_literal_sends_no_continuation() -> None:
    events = parse(b'a1 LOGIN "x {3}\r\na2 NOOP\r\n')
    assert isinstance(events[0], CommandSyntaxError) and events[0].tag == "a1"
    assert events[1:] == [Command("a2", "NOOP", False, [])]


def test_syntax_error_before_non_sync_literal_skips_its_bytes() -> None:
    events = parse(b'a1 LOGIN "x {14+}\r\na0 DELETE x\r\n\r\na2 NOOP\r\n')
    assert isinstance(events[0], CommandSyntaxError)
    assert events[1:] == [Command("a2", "NOOP", False, [])]


def test_too_big_sync_literal_is_refused_without_continuation() -> None:
    events = parse(b"a1 APPEND INBOX {101}\r\na2 NOOP\r\n", max_literal=100)
    err = events[0]
    assert isinstance(err, LiteralTooLarge)
    assert (err.tag, err.status, err.code) == ("a1", "NO", "TOOBIG")
    assert events[1:] == [Command("a2", "NOOP", False, [])]


def test_too_big_non_sync_literal_is_fatal_and_nothing_after_it_runs() -> None:
    body = b"a3 DELETE INBOX\r\n" * 6  # looks like commands: must never run
    parser = CommandParser(max_literal=50)
    parser.receive_data(b"a1 APPEND INBOX {%d+}\r\n" % len(body) + body + b" (x)\r\n")
    with pytest.raises(LiteralTooLarge) as info:
        parser.next_event()
    assert (info.value.tag, info.value.status, info.value.code) == ("a1", "BAD", "TOOBIG")
    assert info.value.fatal  # RFC 7888 §4: close rather than read and discard the bytes
    parser.receive_data(b"a2 NOOP\r\n")
    assert parser.next_event() is NEED_DATA
    assert parser.buffered == 0


def test_small_non_sync_literal_of_a_bad_command_is_skipped_then_parser_recovers() -> None:
    body = b"a3 DELETE INBOX\r\n" * 2  # looks like commands: must never run
    data = b"a1 (bad {%d+}\r\n" % len(body) + body + b"\r\na2 NOOP\r\n"
    events = parse(data, max_literal=50)
    assert isinstance(events[0], CommandSyntaxError) and events[0].tag == "a1"
    assert events[1:] == [Command("a2", "NOOP", False, [])]


def test_refused_continuation_drops_the_command_and_reads_the_next_line() -> None:
    parser = CommandParser()
    parser.receive_data(b"a1 APPEND INBOX {30000000}\r\na2 NOOP\r\n")
    assert parser.next_event() == ContinuationNeeded("a1", 30000000, "APPEND")
    parser.refuse_literal()
    assert not parser.in_command
    assert parser.next_event() == Command("a2", "NOOP", False, [])
    with pytest.raises(RuntimeError):
        parser.refuse_literal()


def test_literal_limit_can_change_between_commands() -> None:
    parser = CommandParser(max_literal=8192)
    parser.receive_data(b"a1 LOGIN {30000000}\r\n")
    with pytest.raises(LiteralTooLarge) as info:
        parser.next_event()
    assert (info.value.status, info.value.code, info.value.fatal) == ("NO", "TOOBIG", False)
    parser.set_literal_limit(64 * 1024 * 1024)
    parser.receive_data(b"a2 APPEND INBOX {30000000}\r\n")
    assert parser.next_event() == ContinuationNeeded("a2", 30000000, "APPEND")


def test_literal_total_and_count_limits() -> None:
    events = parse(b"a1 X {3+}\r\nabc {3+}\r\nabc\r\na2 NOOP\r\n", max_literal=5)
    assert isinstance(events[0], LiteralTooLarge) and events[0].fatal
    assert events[1:] == []
    events = parse(b"a1 X {3+}\r\nabc {3}\r\na2 NOOP\r\n", max_literal=5)
    assert isinstance(events[0], LiteralTooLarge) and not events[0].fatal
    assert events[1:] == [Command("a2", "NOOP", False, [])]
    events = parse(b"a1 X {0+}\r\n {0+}\r\n {0+}\r\n\r\na2 NOOP\r\n", max_literals=2)
    assert isinstance(events[0], CommandSyntaxError) and events[0].tag == "a1"
    assert events[1:] == [Command("a2", "NOOP", False, [])]


def test_absurd_non_sync_literal_is_fatal() -> None:
    parser = CommandParser(max_literal=10)
    parser.receive_data(b"a1 APPEND x {" + b"9" * 30 + b"+}\r\na2 NOOP\r\n")
    with pytest.raises(LiteralTooLarge) as info:
        parser.next_event()
    assert info.value.fatal
    parser.receive_data(b"a3 NOOP\r\n")  # dropped: the session is expected to close
    assert parser.next_event() is NEED_DATA


def test_absurd_literal_after_a_too_long_line_is_reported_once_as_fatal() -> None:
    parser = CommandParser(max_line=32, max_literal=10)
    parser.receive_data(b"a1 X " + b"a" * 40)
    with pytest.raises(LineTooLong) as first:
        parser.next_event()
    assert not first.value.fatal
    parser.receive_data(b" {999999+}\r\nxyz")
    with pytest.raises(LiteralTooLarge) as second:
        parser.next_event()
    assert second.value.fatal
    assert parser.next_event() is NEED_DATA


def test_absurd_sync_literal_is_refused_not_crashing() -> None:
    events = parse(b"a1 X {" + b"9" * 5000 + b"}\r\na2 NOOP\r\n")
    assert isinstance(events[0], LiteralTooLarge)
    assert events[1:] == [Command("a2", "NOOP", False, [])]


# -- line limits -------------------------------------------------------------------------------


def test_too_long_line_with_its_end_present() -> None:
    events = parse(b"a1 X " + b"a" * 100 + b"\r\na2 NOOP\r\n", max_line=64)
    assert isinstance(events[0], LineTooLong) and events[0].tag == "a1"
    assert events[1:] == [Command("a2", "NOOP", False, [])]


def test_line_exactly_at_the_limit_is_accepted() -> None:
    line = b"a1 X " + b"a" * 59
    assert len(line) == 64
    assert parse(line + b"\r\n", max_line=64) == [Command("a1", "X", False, [Atom("a" * 59)])]


def test_ten_mib_line_without_crlf_is_rejected_early_with_bounded_memory() -> None:
    parser = CommandParser()
    chunk = b"a" * 65536
    parser.receive_data(b"t1 SEARCH ")
    raised = 0
    for _ in range(160):  # 10 MiB, fed as a socket would
        parser.receive_data(chunk)
        try:
            assert parser.next_event() is NEED_DATA
        except LineTooLong as err:
            raised += 1
            assert err.tag == "t1"
        assert parser.buffered <= parser.max_line + len(chunk)
    assert raised == 1
    parser.receive_data(b"aaa\r\nt2 NOOP\r\n")
    assert drain(parser) == [Command("t2", "NOOP", False, [])]


def test_too_long_line_ending_in_non_sync_literal_skips_the_literal() -> None:
    data = b"a1 X " + b"a" * 100 + b" {17+}\r\na3 DELETE INBOX\r\n\r\na2 NOOP\r\n"
    events = parse(data, max_line=64)
    assert isinstance(events[0], LineTooLong)
    assert events[1:] == [Command("a2", "NOOP", False, [])]


def test_text_limit_counts_all_lines_of_a_command() -> None:
    data = b"a1 X " + b"a" * 40 + b" {1+}\r\nx " + b"b" * 40 + b"\r\na2 NOOP\r\n"
    events = parse(data, max_line=64)
    assert isinstance(events[0], LineTooLong) and events[0].tag == "a1"
    assert events[1:] == [Command("a2", "NOOP", False, [])]


# -- line endings, garbage, tags ---------------------------------------------------------------


def test_bare_lf_is_tolerated() -> None:
    assert parse(b"a1 NOOP\na2 LOGIN {1}\nx y\n") == [
        Command("a1", "NOOP", False, []),
        ContinuationNeeded("a2", 1, "LOGIN"),
        Command("a2", "LOGIN", False, [b"x", Atom("y")]),
    ]


def test_empty_lines_between_commands_are_ignored() -> None:
    assert parse(b"\r\n\n\r\na1 NOOP\r\n") == [Command("a1", "NOOP", False, [])]


@pytest.mark.parametrize(
    "line", [b"NOOP\r\n", b"* OK hi\r\n", b"+ go\r\n", b" a1 NOOP\r\n", b"a+1 NOOP\r\n"]
)
def test_missing_or_invalid_tag(line: bytes) -> None:
    events = parse(line + b"a2 NOOP\r\n")
    assert isinstance(events[0], CommandSyntaxError) and events[0].tag is None
    assert events[1:] == [Command("a2", "NOOP", False, [])]


@pytest.mark.parametrize(
    "line",
    [b"a1\r\n", b"a1 \r\n", b"a1 1NOOP\r\n", b"a1 NO(OP\r\n", b"a1  NOOP\r\n"],
)
def test_missing_or_invalid_command_name(line: bytes) -> None:
    (err,) = parse(line)
    assert isinstance(err, CommandSyntaxError)


def test_garbage_and_control_characters() -> None:
    events = parse(b"\x00\xff\xfe garbage\r\na1 X \x01\r\na1 X \xe0\xb8\x81\r\na1 X a\rb\r\n")
    assert len(events) == 4
    assert all(isinstance(e, CommandSyntaxError) for e in events)


def test_missing_space_between_arguments() -> None:
    (err,) = parse(b'a1 X "a""b"\r\n')
    assert isinstance(err, CommandSyntaxError)


# -- raw-line mode -----------------------------------------------------------------------------


def test_raw_line_for_authenticate_and_idle() -> None:
    parser = CommandParser()
    parser.receive_data(
        b"a1 AUTHENTICATE PLAIN\r\nAGJvYgBzZWNyZXQ=\r\na2 IDLE\r\nDONE\na3 NOOP\r\n"
    )
    assert parser.next_event() == Command("a1", "AUTHENTICATE", False, [Atom("PLAIN")])
    parser.expect_line()
    assert parser.next_event() == RawLine(b"AGJvYgBzZWNyZXQ=")
    assert parser.next_event() == Command("a2", "IDLE", False, [])
    parser.expect_line()
    assert parser.next_event() == RawLine(b"DONE")
    assert parser.next_event() == Command("a3", "NOOP", False, [])


def test_raw_line_is_bounded_and_does_not_read_literal_markers() -> None:
    parser = CommandParser(max_line=32)
    parser.expect_line()
    parser.receive_data(b"x" * 100 + b" {5+}\r\na1 NOOP\r\n")
    with pytest.raises(LineTooLong) as info:
        parser.next_event()
    assert info.value.tag is None
    assert parser.next_event() == Command("a1", "NOOP", False, [])


def test_raw_line_may_be_empty_and_may_look_like_a_literal() -> None:
    parser = CommandParser()
    parser.expect_line()
    parser.receive_data(b"\r\n")
    assert parser.next_event() == RawLine(b"")
    parser.expect_line()
    parser.receive_data(b"{5}\r\n")
    assert parser.next_event() == RawLine(b"{5}")


def test_expect_line_mid_command_is_a_bug() -> None:
    parser = CommandParser()
    parser.receive_data(b"a1 LOGIN {3}\r\n")
    parser.next_event()
    with pytest.raises(RuntimeError):
        parser.expect_line()
