"""IMAP response serialisation (RFC 3501 §7, §9): pure bytes out."""

from __future__ import annotations

import pytest

from mailserver.imap.protocol import (
    Atom,
    CommandParser,
    CommandSyntaxError,
    LiteralTooLarge,
    continuation,
    encode_value,
    error_response,
    join_values,
    response_code,
    tagged,
    untagged,
    untagged_status,
)
from mailserver.imap.protocol.values import Literal, Literal8


def test_untagged_data() -> None:
    assert untagged(3, Atom("EXISTS")) == b"* 3 EXISTS\r\n"
    flags = [Atom("\\Answered"), Atom("\\Seen"), Atom("$Forwarded")]
    assert untagged(Atom("FLAGS"), flags) == b"* FLAGS (\\Answered \\Seen $Forwarded)\r\n"


def test_tagged_with_code() -> None:
    assert tagged("a1", "OK", "SELECT completed", "READ-WRITE") == (
        b"a1 OK [READ-WRITE] SELECT completed\r\n"
    )
    assert tagged("a2", "NO", "nope") == b"a2 NO nope\r\n"


@pytest.mark.parametrize("status", ["PREAUTH", "ok", "BYE"])
def test_tagged_rejects_bad_status(status: str) -> None:
    with pytest.raises(ValueError):
        tagged("a1", status, "x")


def test_untagged_status() -> None:
    assert untagged_status("OK", "Be careful", "ALERT") == b"* OK [ALERT] Be careful\r\n"
    assert untagged_status("BYE", "Logging out") == b"* BYE Logging out\r\n"
    assert untagged_status("NO", "disk") == b"* NO disk\r\n"
    with pytest.raises(ValueError):
        untagged_status("MAYBE", "x")


def test_text_never_carries_line_breaks() -> None:
    out = tagged("a1", "NO", "bad\r\na2 OK forged\n", "ALERT\r\n]x")
    assert out.count(b"\r\n") == 1 and out.endswith(b"\r\n")
    assert out == b"a1 NO [ALERT x] bad a2 OK forged\r\n"
    out = untagged_status("OK", "one\rtwo\x00three")
    assert out == b"* OK one two three\r\n"
    assert continuation("x\r\ny") == b"+ x y\r\n"


def test_thai_text_goes_utf8() -> None:
    text = "บัญชีถูกระงับ ติดต่อฝ่ายไอที"
    assert untagged_status("BYE", text) == b"* BYE " + text.encode() + b"\r\n"


def test_continuation() -> None:
    assert continuation() == b"+ \r\n"
    assert continuation("Ready for literal data") == b"+ Ready for literal data\r\n"


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (None, b"NIL"),
        (0, b"0"),
        (4294967295, b"4294967295"),
        (Atom("\\Seen"), b"\\Seen"),
        (Atom("BODY[HEADER.FIELDS (FROM TO)]<0>"), b"BODY[HEADER.FIELDS (FROM TO)]<0>"),
        ("hello world", b'"hello world"'),
        (b"", b'""'),
        ('say "hi" \\o/', b'"say \\"hi\\" \\\\o/"'),
        (b"a\r\nb", b"{4}\r\na\r\nb"),
        (b"nul\x00", b"{4}\r\nnul\x00"),
        ("ไทย", b"{9}\r\n" + "ไทย".encode()),
        (Literal(b"short"), b"{5}\r\nshort"),
        (Literal(b""), b"{0}\r\n"),
        (Literal8(b"a\x00b"), b"~{3}\r\na\x00b"),  # RFC 3516 §4.3
        ([], b"()"),
        ([1, [None, b"x"], Atom("A")], b'(1 (NIL "x") A)'),
    ],
)
def test_encode_value(value: object, wire: bytes) -> None:
    assert encode_value(value) == wire  # type: ignore[arg-type]


def test_long_strings_go_as_literals() -> None:
    data = b"x" * 5000
    assert encode_value(data) == b"{5000}\r\n" + data


@pytest.mark.parametrize("bad", [Atom(""), Atom("a b"), Atom("a\r\n"), True, 1.5, object()])
def test_encode_value_rejects_non_values(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        encode_value(bad)  # type: ignore[arg-type]


def test_response_codes() -> None:
    assert response_code("UIDVALIDITY", 3857529045) == "UIDVALIDITY 3857529045"
    assert response_code("PERMANENTFLAGS", [Atom("\\Seen"), Atom("\\*")]) == (
        "PERMANENTFLAGS (\\Seen \\*)"
    )
    assert response_code("APPENDUID", 38505, 3955) == "APPENDUID 38505 3955"
    assert response_code("CAPABILITY", Atom("IMAP4rev1"), Atom("LITERAL+")) == (
        "CAPABILITY IMAP4rev1 LITERAL+"
    )
    with pytest.raises(ValueError):
        response_code("X", b"line\r\nbreak")


def test_error_response() -> None:
    assert error_response(CommandSyntaxError("Bad", tag="a1")) == b"a1 BAD Bad\r\n"
    assert error_response(CommandSyntaxError("Bad")) == b"* BAD Bad\r\n"
    assert error_response(LiteralTooLarge("Too big", tag="a1")) == b"a1 NO [TOOBIG] Too big\r\n"


def test_join_values() -> None:
    assert join_values([Atom("UID"), 4, Atom("FLAGS"), []]) == b"UID 4 FLAGS ()"


@pytest.mark.parametrize(
    "value",
    [b"", b"plain", b'q"uo\\te', b"a\r\nb", "ไทย".encode(), [b"x", [None, Atom("A")]]],
)
def test_round_trip_through_the_parser(value: object) -> None:
    parser = CommandParser()
    parser.receive_data(b"a1 X " + encode_value(value) + b"\r\n")  # type: ignore[arg-type]
    event = parser.next_event()
    while not hasattr(event, "args"):
        event = parser.next_event()
    assert event.args == [value]  # type: ignore[union-attr]
