"""Tests for mailserver.imap.mime: ENVELOPE, BODY/BODYSTRUCTURE, BODY[section], BINARY, SEARCH text.

Expected values were written by hand from RFC 3501 §7.4.2 / §6.4.5 and checked against
Dovecot 2.3 (the reference server) where the RFC leaves room.
"""

from __future__ import annotations

import base64
import quopri
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from mailserver.imap import mime
from tests.corpus import corpora, own_messages

# Every message of our corpus, and of MAILSERVER_EXTRA_CORPUS's directory when it is set.
CORPUS_CASES = [
    pytest.param(path, id=corpus.case_id(path))
    for corpus in corpora()
    for path in corpus.messages()
]


def crlf(text: str | bytes) -> bytes:
    """Normalise line ends to CRLF, as the store hands messages over."""
    b = text.encode("utf-8") if isinstance(text, str) else text
    return re.sub(rb"\r?\n", b"\r\n", b)


@dataclass(frozen=True)
class Section:
    """Stand-in for the protocol layer's Section dataclass."""

    part: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()


SIMPLE = crlf(
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\n"
    "Subject: afternoon meeting\n"
    "To: mooch@owatagu.siam.edu.example\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\n"
    "\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\n"
)

ALTERNATIVE = crlf(
    "From: a@example.com\n"
    "To: b@example.com\n"
    "Subject: alt\n"
    "MIME-Version: 1.0\n"
    'Content-Type: multipart/alternative; boundary="XX"\n'
    "\n"
    "preamble\n"
    "--XX\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "\n"
    "plain body\n"
    "--XX\n"
    "Content-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "<p>html=20body</p>\n"
    "two\n"
    "--XX--\n"
    "epilogue\n"
)

PDF = base64.encodebytes(b"%PDF-1.4 fake pdf\x00\xff").decode()
MIXED = crlf(
    "From: a@example.com\n"
    "To: b@example.com\n"
    "Subject: report\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed; boundary=outer\n"
    "\n"
    "--outer\n"
    "Content-Type: text/plain\n"
    "\n"
    "See attached.\n"
    "--outer\n"
    'Content-Type: application/pdf; name="r.pdf"\n'
    "Content-Transfer-Encoding: base64\n"
    'Content-Disposition: attachment; filename="r.pdf"\n'
    "Content-Language: th, en\n"
    "\n"
    f"{PDF}"
    "--outer--\n"
)

INNER = (
    "From: Inner Sender <inner@example.org>\n"
    "Subject: inner\n"
    "Content-Type: multipart/alternative; boundary=in\n"
    "\n"
    "--in\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner plain\n"
    "--in\n"
    "Content-Type: text/html\n"
    "\n"
    "<b>inner</b>\n"
    "--in--\n"
)
NESTED = crlf(
    "From: a@example.com\n"
    "Subject: fwd\n"
    "Content-Type: multipart/mixed; boundary=out\n"
    "\n"
    "--out\n"
    "Content-Type: text/plain\n"
    "\n"
    "forwarding\n"
    "--out\n"
    "Content-Type: message/rfc822\n"
    "\n"
    f"{INNER}"
    "--out--\n"
)


# ---------------------------------------------------------------------------
# ENVELOPE
# ---------------------------------------------------------------------------


def test_envelope_simple() -> None:
    env = mime.envelope(SIMPLE)
    fred = [[b"Fred Foobar", None, b"foobar", b"Blurdybloop.example"]]
    assert env == [
        b"Mon, 7 Feb 1994 21:52:25 -0800 (PST)",
        b"afternoon meeting",
        fred,
        fred,  # Sender defaults to From (RFC 3501 §7.4.2)
        fred,  # Reply-To too
        [[None, None, b"mooch", b"owatagu.siam.edu.example"]],
        None,
        None,
        None,
        b"<B27397-0100000@Blurdybloop.example>",
    ]


def test_envelope_missing_headers_are_nil() -> None:
    env = mime.envelope(b"X-Nothing: here\r\n\r\nbody\r\n")
    assert env == [None] * 10
    assert mime.envelope(b"") == [None] * 10


def test_envelope_groups_and_quoting() -> None:
    msg = crlf(
        'From: "Doe, John" <john@example.com>\n'
        "Sender: sec@example.com (The Secretary)\n"
        "To: A Group: ann@example.com, Bob <bob@example.com>;, solo@example.com\n"
        "Cc: undisclosed-recipients:;\n"
        "Bcc: <@relay.example:route@example.com>\n"
        "\n"
    )
    env = mime.envelope(msg)
    assert env[2] == [[b"Doe, John", None, b"john", b"example.com"]]
    assert env[3] == [[b"The Secretary", None, b"sec", b"example.com"]]
    assert env[4] == env[2]
    assert env[5] == [
        [None, None, b"A Group", None],
        [None, None, b"ann", b"example.com"],
        [b"Bob", None, b"bob", b"example.com"],
        [None, None, None, None],
        [None, None, b"solo", b"example.com"],
    ]
    assert env[6] == [[None, None, b"undisclosed-recipients", None], [None, None, None, None]]
    assert env[7] == [[None, b"@relay.example", b"route", b"example.com"]]


def test_envelope_broken_addresses_follow_dovecot() -> None:
    msg = crlf("To: Mary Smith\nCc: , x@example.com\nBcc: jdoe\n\n")
    env = mime.envelope(msg)
    assert env[5] == [[b"Mary Smith", None, b"MISSING_MAILBOX", b"MISSING_DOMAIN"]]
    assert env[6] == [
        [None, None, b"MISSING_MAILBOX", b"MISSING_DOMAIN"],
        [None, None, b"x", b"example.com"],
    ]
    assert env[7] == [[None, None, b"jdoe", b"MISSING_DOMAIN"]]


def test_envelope_unfolds_and_keeps_raw_values() -> None:
    msg = crlf(
        "Subject: Re: TEST\n \n\t=?UTF-8?B?4Liq4Lin4Lix4Liq4LiU4Li1?=\n"
        "Date:\n   Fri, 1 Jan 2021 00:00:00 +0000 \n"
        "In-Reply-To: <a@b>\n <c@d>\n\n"
    )
    env = mime.envelope(msg)
    # Subject: whitespace runs collapsed (Dovecot); encoded-words left untouched.
    assert env[1] == b"Re: TEST =?UTF-8?B?4Liq4Lin4Lix4Liq4LiU4Li1?="
    assert env[0] == b"   Fri, 1 Jan 2021 00:00:00 +0000 "
    assert env[8] == b"<a@b> <c@d>"


def test_envelope_thai_subject_stays_encoded() -> None:
    ew_utf8 = "=?UTF-8?B?" + base64.b64encode("สวัสดีครับ".encode()).decode() + "?="
    ew_tis = "=?TIS-620?Q?" + quopri.encodestring("ประชุม".encode("tis-620"), header=True).decode()
    msg = crlf(
        f"Subject: {ew_utf8}\n {ew_tis}?=\nFrom: =?UTF-8?B?4Liq4Lih4LiK4Liy4Lii?= <s@bma.go.th>\n\n"
    )
    env = mime.envelope(msg)
    assert env[1] == f"{ew_utf8} {ew_tis}?=".encode()
    assert env[2] == [[b"=?UTF-8?B?4Liq4Lih4LiK4Liy4Lii?=", None, b"s", b"bma.go.th"]]
    headers, _body = mime.decoded_text(msg)
    assert "Subject: สวัสดีครับประชุม\n" in headers
    assert "From: สมชาย <s@bma.go.th>" in headers


def test_envelope_8bit_header_is_bytes() -> None:
    msg = "Subject: ทดสอบ\r\nFrom: ผู้ส่ง <a@example.com>\r\n\r\n".encode()
    env = mime.envelope(msg)
    assert env[1] == "ทดสอบ".encode()
    assert env[2] == [["ผู้ส่ง".encode(), None, b"a", b"example.com"]]


# ---------------------------------------------------------------------------
# BODY / BODYSTRUCTURE
# ---------------------------------------------------------------------------


def test_bodystructure_simple() -> None:
    body = b"Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n"
    # A top-level plain 7bit us-ascii part is given in canonical lower case (as Dovecot does).
    assert mime.bodystructure(SIMPLE, extended=False) == [
        "text",
        "plain",
        ["charset", "us-ascii"],
        None,
        None,
        "7bit",
        len(body),
        1,
    ]
    assert mime.bodystructure(SIMPLE, extended=True)[8:] == [None, None, None, None]


def test_bodystructure_defaults_without_content_type() -> None:
    msg = b"Subject: x\r\n\r\nline1\r\nline2"
    assert mime.bodystructure(msg, extended=False) == [
        "text",
        "plain",
        ["charset", "us-ascii"],
        None,
        None,
        "7bit",
        12,
        1,  # lines are counted by line ends, as Dovecot does
    ]


def test_bodystructure_alternative() -> None:
    bs = mime.bodystructure(ALTERNATIVE, extended=True)
    assert bs == [
        # "plain body" has no line end of its own (the CRLF belongs to the delimiter).
        ["text", "plain", ["charset", "utf-8"], None, None, "7bit", 10, 0, None, None, None, None],
        [
            "text",
            "html",
            ["charset", "utf-8"],
            None,
            None,
            "quoted-printable",
            len(b"<p>html=20body</p>\r\ntwo"),
            1,
            None,
            None,
            None,
            None,
        ],
        "alternative",
        ["boundary", "XX"],
        None,
        None,
        None,
    ]
    assert mime.bodystructure(ALTERNATIVE, extended=False) == [
        ["text", "plain", ["charset", "utf-8"], None, None, "7bit", 10, 0],
        ["text", "html", ["charset", "utf-8"], None, None, "quoted-printable", 23, 1],
        "alternative",
    ]


def test_bodystructure_mixed_with_attachment() -> None:
    bs = mime.bodystructure(MIXED, extended=True)
    pdf_size = len(crlf(PDF)) - 2  # the CRLF before the delimiter is not part of the body
    assert bs[0] == [
        "text",
        "plain",
        ["charset", "us-ascii"],
        None,
        None,
        "7bit",
        13,
        0,
        None,
        None,
        None,
        None,
    ]
    assert bs[1] == [
        "application",
        "pdf",
        ["name", "r.pdf"],
        None,
        None,
        "base64",
        pdf_size,
        None,
        ["attachment", ["filename", "r.pdf"]],
        [b"th", b"en"],
        None,
    ]
    assert bs[2:] == ["mixed", ["boundary", "outer"], None, None, None]
    assert len(mime.section(MIXED, ((2,), None, ()))) == pdf_size
    assert mime.binary_section(MIXED, (2,)) == b"%PDF-1.4 fake pdf\x00\xff"


def test_bodystructure_nested_message() -> None:
    bs = mime.bodystructure(NESTED, extended=False)
    # The inner close delimiter's line end stays in the part (Dovecot counts it there too).
    inner = crlf(INNER)
    msg_part = bs[1]
    assert msg_part[:7] == ["message", "rfc822", None, None, None, "7bit", len(inner)]
    envelope = msg_part[7]
    assert envelope[1] == b"inner"
    assert envelope[2] == [[b"Inner Sender", None, b"inner", b"example.org"]]
    assert msg_part[8] == [
        ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 11, 0],
        ["text", "html", ["charset", "us-ascii"], None, None, "7bit", 12, 0],
        "alternative",
    ]
    assert msg_part[9] == inner.count(b"\n")
    assert bs[2] == "mixed"


def test_multipart_without_parts_gets_placeholder() -> None:
    msg = crlf("Content-Type: multipart/mixed; boundary=zz\n\nno parts here\n")
    assert mime.bodystructure(msg, extended=False) == [
        ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 0, 0],
        "mixed",
    ]


def test_missing_final_boundary_and_similar_boundaries() -> None:
    msg = crlf(
        "Content-Type: multipart/mixed; boundary=b\n\n"
        "--b\nContent-Type: multipart/alternative; boundary=b_alt\n\n"
        "--b_alt\n\nA\n--b_alt\n\nBB\n"  # inner close missing: the outer delimiter ends it
        "--b\n\nCCC\n"  # outer close missing: runs to the end
    )
    bs = mime.bodystructure(msg, extended=False)
    assert [p[6] for p in bs[0][:2]] == [1, 2]
    assert bs[1][6] == len(b"CCC\r\n")
    assert mime.section(msg, ((1, 2), None, ())) == b"BB"
    assert mime.section(msg, ((2,), None, ())) == b"CCC\r\n"


def test_bare_lf_messages_are_tolerated() -> None:
    msg = ALTERNATIVE.replace(b"\r\n", b"\n")
    bs = mime.bodystructure(msg, extended=False)
    assert bs[0][6:] == [10, 0]
    assert mime.section(msg, ((1,), None, ())) == b"plain body"


# ---------------------------------------------------------------------------
# BODY[section]
# ---------------------------------------------------------------------------


def test_sections_of_simple_message() -> None:
    hdr, _, text = SIMPLE.partition(b"\r\n\r\n")
    assert mime.section(SIMPLE, ((), None, ())) == SIMPLE
    assert mime.section(SIMPLE, ((), "HEADER", ())) == hdr + b"\r\n\r\n"
    assert mime.section(SIMPLE, ((), "TEXT", ())) == text
    assert mime.section(SIMPLE, ((1,), None, ())) == text  # part 1 of a non-multipart message
    assert mime.section(SIMPLE, ((2,), None, ())) == b""
    assert mime.section(SIMPLE, ((1, 1), None, ())) == b""


def test_header_fields_and_not() -> None:
    msg = crlf("From: a@b\nSubject: one\n two\nTo: c@d\nsubject: again\n\nbody\n")
    got = mime.section(msg, Section((), "HEADER.FIELDS", ("SUBJECT", "x-missing")))
    assert got == b"Subject: one\r\n two\r\nsubject: again\r\n\r\n"
    got = mime.section(msg, Section((), "HEADER.FIELDS.NOT", ("subject",)))
    assert got == b"From: a@b\r\nTo: c@d\r\n\r\n"
    assert mime.section(msg, Section((), "HEADER.FIELDS", ("nothing",))) == b"\r\n"


def test_sections_of_multipart_and_nested_message() -> None:
    assert mime.section(MIXED, ((1,), None, ())) == b"See attached."
    assert mime.section(MIXED, ((1,), "MIME", ())) == b"Content-Type: text/plain\r\n\r\n"
    assert mime.section(MIXED, ((3,), None, ())) == b""
    inner = crlf(INNER)
    inner_hdr, _, inner_text = inner.partition(b"\r\n\r\n")
    assert mime.section(NESTED, ((2,), None, ())) == inner
    assert mime.section(NESTED, ((2,), "MIME", ())) == b"Content-Type: message/rfc822\r\n\r\n"
    assert mime.section(NESTED, ((2,), "HEADER", ())) == inner_hdr + b"\r\n\r\n"
    assert mime.section(NESTED, ((2,), "TEXT", ())) == inner_text
    assert mime.section(NESTED, ((2,), "HEADER.FIELDS", ("subject",))) == b"Subject: inner\r\n\r\n"
    assert mime.section(NESTED, ((2, 1), None, ())) == b"inner plain"
    assert mime.section(NESTED, ((2, 2), "MIME", ())) == b"Content-Type: text/html\r\n\r\n"
    assert mime.section(NESTED, ((1,), "HEADER", ())) == b""  # not a message/rfc822 part
    # A leaf chosen from a multipart is its own part 1 (Dovecot).
    assert mime.section(NESTED, ((1, 1), None, ())) == b"forwarding"


def test_parsed_message_caches_and_accepts_objects() -> None:
    pm = mime.ParsedMessage(NESTED)
    assert pm.envelope() is pm.envelope()
    assert pm.bodystructure(extended=True) is pm.bodystructure(extended=True)
    assert pm.section(Section((2, 1))) == b"inner plain"
    assert pm.header_lines()[:2] == [("From", b"a@example.com"), ("Subject", b"fwd")]
    assert mime.header_lines(b"A: 1\r\n  2\r\nno colon line\r\n\r\n") == [("A", b"1  2")]


def test_a_header_without_blank_line_is_given_as_it_is() -> None:
    for msg in (b"Subject: a\r\nX: b\r\n", b"Subject: a\r\nX: b"):
        assert mime.section(msg, ((), "HEADER", ())) == msg
        assert mime.section(msg, ((), "TEXT", ())) == b""
        assert mime.section(msg, Section((), "HEADER.FIELDS.NOT", ("x",))) == b"Subject: a\r\n"
        assert mime.section(msg, Section((), "HEADER.FIELDS", ("x",))) == b"X: b\r\n\r\n"
    with_body = b"Subject: a\r\nX: b\r\n\r\nbody\r\n"
    assert mime.section(with_body, Section((), "HEADER.FIELDS.NOT", ("x",))) == (
        b"Subject: a\r\n\r\n"
    )


def test_the_line_break_before_a_delimiter_is_the_delimiters() -> None:
    """RFC 2046 §5.1.1, also where it ends a part's header (its blank line, or a field)."""
    msg = crlf(
        "Content-Type: multipart/mixed; boundary=x\n\n"
        "--x\nContent-Type: text/plain\nX-Cut: here\n"
        "--x\nContent-Type: text/html\n\n"
        "--x\nContent-Type: message/rfc822\n\nSubject: inner\n\n"
        "--x--\n"
    )
    assert mime.section(msg, ((1,), "MIME", ())) == b"Content-Type: text/plain\r\nX-Cut: here"
    assert mime.section(msg, ((2,), "MIME", ())) == b"Content-Type: text/html\r\n"
    assert mime.section(msg, ((2,), None, ())) == b""
    assert mime.section(msg, ((3,), None, ())) == b"Subject: inner\r\n"
    assert mime.section(msg, ((3,), "HEADER", ())) == b"Subject: inner\r\n"
    rfc822 = mime.bodystructure(msg, extended=False)[2]
    assert rfc822[6] == len(b"Subject: inner\r\n") and rfc822[9] == 1


def test_content_language_is_always_a_list() -> None:
    msg = crlf("Content-Type: text/plain\nContent-Language: th\n\nx\n")
    assert mime.bodystructure(msg, extended=True)[10] == [b"th"]


def test_repeated_address_fields_list_every_address() -> None:
    msg = crlf(
        "From: a@x\nFrom: b@x\nSender:\nSender: s@x\nReply-To: r@x\nReply-To:\n"
        "To: t1@x\nTo: t2@x, t3@x\nSubject: first\nSubject: last\n\n"
    )
    env = mime.envelope(msg)
    assert env[1] == b"last"
    assert env[2] == [[None, None, b"a", b"x"], [None, None, b"b", b"x"]]
    assert env[3] == [[None, None, b"s", b"x"]]
    assert env[4] == [[None, None, b"r", b"x"]]
    assert [a[2] for a in env[5]] == [b"t1", b"t2", b"t3"]


def test_an_encoded_message_rfc822_still_has_envelope_and_body() -> None:
    """RFC 3501 §7.4.2 needs them; RFC 2046 §5.2.1 forbids the encoding, so nothing is parsed."""
    inner = b"Subject: i\r\n\r\nbody\r\n"
    msg = crlf(
        "Content-Type: multipart/mixed; boundary=x\n\n--x\n"
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        f"{base64.b64encode(inner).decode()}\n--x--\n"
    )
    part = mime.bodystructure(msg, extended=False)[0]
    encoded = base64.b64encode(inner)
    assert part[:7] == ["message", "rfc822", None, None, None, "base64", len(encoded)]
    assert part[7] == [None] * 10
    assert part[8] == ["text", "plain", ["charset", "us-ascii"], None, None, "7bit", 0, 0]
    assert part[9] == 0
    # The stand-in message is all header and no body, as its BODYSTRUCTURE says.
    assert mime.section(msg, ((1,), "HEADER", ())) == encoded
    assert mime.section(msg, ((1,), "TEXT", ())) == b""
    assert mime.section(msg, ((1, 1), None, ())) == b""
    assert mime.binary_section(msg, (1,)) == inner


def test_junk_before_the_parameters_makes_the_content_type_invalid() -> None:
    """RFC 2045 §5.2: "text/plain charset=utf-8" (no ";") is invalid, so the default holds."""
    msg = b"Content-Type: text/plain charset=utf-8\r\n\r\nx\r\n"
    assert mime.bodystructure(msg, extended=False)[:3] == ["text", "plain", ["charset", "us-ascii"]]
    ok = b"Content-Type: text/plain (a comment) ; charset=utf-8\r\n\r\nx\r\n"
    assert mime.bodystructure(ok, extended=False)[2] == ["charset", "utf-8"]


# ---------------------------------------------------------------------------
# BINARY
# ---------------------------------------------------------------------------


def test_binary_sections() -> None:
    qp = mime.binary_section(ALTERNATIVE, (2,))
    assert qp == b"<p>html body</p>\r\ntwo"
    unknown = crlf("Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin\n")
    assert mime.binary_section(unknown, (1,)) is None
    assert mime.binary_section(unknown, ()) is None
    assert mime.binary_section(SIMPLE, (5,)) == b""
    whole = mime.binary_section(MIXED, ())
    assert whole is not None
    assert b"Content-Transfer-Encoding: binary\r\n\r\n%PDF-1.4 fake pdf\x00\xff" in whole
    assert mime.ParsedMessage(MIXED).binary_size((2,)) == 19


def test_binary_deletes_transport_padding_and_refuses_an_empty_encoding() -> None:
    qp = crlf("Content-Transfer-Encoding: quoted-printable\n\nline  \nsoft=\n \t\nend\n")
    assert mime.binary_section(qp, (1,)) == b"line\r\nsoft\r\nend\r\n"  # RFC 2045 §6.7 (3)
    empty = crlf("Content-Type: text/plain\nContent-Transfer-Encoding:\n\nx\n")
    assert mime.binary_section(empty, (1,)) is None  # no mechanism named: UNKNOWN-CTE
    assert mime.bodystructure(empty, extended=False)[5] == "7bit"


# ---------------------------------------------------------------------------
# decoded_text (SEARCH)
# ---------------------------------------------------------------------------

THAI = "การประชุมประจำเดือน กรุงเทพมหานคร"


@pytest.mark.parametrize(
    ("charset", "cte"),
    [
        ("TIS-620", "quoted-printable"),
        ("tis-620", "base64"),
        ("windows-874", "quoted-printable"),
        ("windows-874", "base64"),
        ("iso-8859-11", "8bit"),
        ("utf-8", "base64"),
        ("utf-8", "quoted-printable"),
    ],
)
def test_decoded_text_thai_bodies(charset: str, cte: str) -> None:
    raw = (THAI + "\r\n").encode("cp874" if charset == "windows-874" else charset)
    if cte == "base64":
        body = base64.encodebytes(raw)
    elif cte == "quoted-printable":
        body = quopri.encodestring(raw)
    else:
        body = raw
    msg = (
        crlf(f"Subject: x\nContent-Type: text/plain; charset={charset}\n")
        + crlf(f"Content-Transfer-Encoding: {cte}\n\n")
        + crlf(body)
    )
    _headers, text = mime.decoded_text(msg)
    assert THAI in text


def test_decoded_text_skips_non_text_attachments() -> None:
    headers, text = mime.decoded_text(MIXED)
    assert "Subject: report" in headers
    assert "See attached." in text
    assert "PDF" not in text
    _h, nested = mime.decoded_text(NESTED)
    assert "inner plain" in nested and "Subject: inner" in nested


def test_decoded_text_never_raises_on_garbage() -> None:
    msg = (
        b"Subject: =?x-bogus?Q?=FF?= =?utf-8?B?!!!?=\r\n"
        b"Content-Type: text/plain; charset=no-such-charset\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n\xff\xfe not base64 ===\r\n"
    )
    headers, text = mime.decoded_text(msg)
    assert headers.startswith("Subject: ")
    assert isinstance(text, str)


# ---------------------------------------------------------------------------
# The real-world corpus
# ---------------------------------------------------------------------------


def _split(bs: list) -> tuple[list, str]:
    """A multipart BODYSTRUCTURE's children and subtype (children precede the subtype)."""
    idx = next(i for i, x in enumerate(bs) if isinstance(x, str))
    return bs[:idx], bs[idx]


def _is_message(bs: list) -> bool:
    return str(bs[0]).lower() == "message" and str(bs[1]).lower() == "rfc822" and len(bs) >= 10


def _leaves(bs: list, path: tuple[int, ...]) -> list[tuple[tuple[int, ...], list]]:
    """(part path, structure) for every part of a BODYSTRUCTURE, descending into messages."""
    if isinstance(bs[0], list):
        children, _subtype = _split(bs)
        out: list[tuple[tuple[int, ...], list]] = []
        for i, child in enumerate(children):
            out += _leaves(child, (*path, i + 1))
        return out
    here = path or (1,)
    if _is_message(bs) and path:
        inner = bs[8]
        sub = _leaves(inner, path) if isinstance(inner[0], list) else [((*path, 1), inner)]
        return [(here, bs), *sub]
    return [(here, bs)]


def test_the_corpus_is_there() -> None:
    """tests/corpus/ holds the messages (python -m tests.corpus.make_corpus writes them)."""
    assert len(own_messages()) > 50


@pytest.mark.parametrize("path", CORPUS_CASES)
def test_corpus_message(path: Path) -> None:
    msg = crlf(path.read_bytes())
    pm = mime.ParsedMessage(msg)
    env = pm.envelope()
    assert len(env) == 10
    body = pm.bodystructure(extended=False)
    full = pm.bodystructure(extended=True)
    assert pm.section(((), None, ())) == msg
    header = pm.section(((), "HEADER", ()))
    text = pm.section(((), "TEXT", ()))
    assert header is not None and text is not None
    assert header + text == msg  # RFC 3501 §6.4.5: the header, then the body
    assert pm.section(((), "HEADER.FIELDS.NOT", ())) == header  # taking no field out
    pm.decoded_text()
    pm.binary_section(())
    leaves = _leaves(full, ())
    assert leaves
    for part, leaf in leaves:
        content = pm.section((part, None, ()))
        assert content is not None
        assert len(content) == leaf[6], (part, leaf)
        if str(leaf[0]).lower() == "text":
            assert leaf[7] == content.count(b"\n")
        if _is_message(leaf):
            # An encapsulated message is its header and its body, and its lines are counted.
            inner_header = pm.section((part, "HEADER", ()))
            assert inner_header + pm.section((part, "TEXT", ())) == content, part
            assert leaf[9] == content.count(b"\n")
        pm.section((part, "MIME", ()))
        pm.binary_section(part)
    # BODY is BODYSTRUCTURE without the extension data.
    assert _strip_ext(full) == body


def _strip_ext(bs: list) -> list:
    """Drop extension fields from a BODYSTRUCTURE to get BODY (RFC 3501 §7.4.2)."""
    if isinstance(bs[0], list):
        children, subtype = _split(bs)
        return [*(_strip_ext(c) for c in children), subtype]
    if _is_message(bs):
        return [*bs[:8], _strip_ext(bs[8]), bs[9]]
    if str(bs[0]).lower() == "text":
        return bs[:8]
    return bs[:7]
