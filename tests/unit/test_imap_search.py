"""IMAP SEARCH (RFC 3501 §6.4.4): parsing every key, evaluation, Thai text, robustness."""

from __future__ import annotations

import base64
import quopri
import re
from datetime import datetime, timedelta, timezone

import pytest

from mailserver.imap.protocol.values import Atom, ImapValue
from mailserver.imap.search import (
    AndKey,
    BadCharset,
    ParsedSearchMessage,
    SearchMessage,
    SearchProgram,
    SearchSyntaxError,
    SequenceSet,
    decode_charset,
    decode_rfc2047,
    parse_search,
)

BANGKOK = timezone(timedelta(hours=7))

# ----------------------------------------------------------------------- helpers


def args(text: str) -> list[ImapValue]:
    """Tokenise criteria like the protocol parser would: atoms, quoted bytes, lists."""
    stack: list[list[ImapValue]] = [[]]
    for token in re.findall(r'"[^"]*"|\(|\)|[^\s()"]+', text):
        if token == "(":
            stack.append([])
        elif token == ")":
            inner = stack.pop()
            stack[-1].append(inner)
        elif token.startswith('"'):
            stack[-1].append(token[1:-1].encode("utf-8"))
        else:
            stack[-1].append(Atom(token))
    assert len(stack) == 1
    return stack[0]


def b64_word(text: str, charset: str = "utf-8", codec: str | None = None) -> str:
    """An RFC 2047 B-encoded word."""
    data = text.encode(codec or charset)
    return f"=?{charset}?B?{base64.b64encode(data).decode()}?="


def q_word(text: str, charset: str = "utf-8", codec: str | None = None) -> str:
    """An RFC 2047 Q-encoded word (every non-alphanumeric octet escaped)."""
    data = text.encode(codec or charset)
    encoded = "".join(
        chr(b) if chr(b).isascii() and chr(b).isalnum() else "_" if b == 32 else f"={b:02X}"
        for b in data
    )
    return f"=?{charset}?Q?{encoded}?="


def message(
    raw: bytes | str,
    *,
    seq: int = 1,
    uid: int = 1,
    flags: tuple[str, ...] = (),
    recent: bool = False,
    internaldate: datetime | None = None,
    size: int | None = None,
) -> ParsedSearchMessage:
    data = raw.encode("utf-8") if isinstance(raw, str) else raw
    return ParsedSearchMessage(
        seq,
        uid,
        flags,
        recent,
        internaldate or datetime(2024, 3, 10, 12, 0, tzinfo=BANGKOK),
        len(data) if size is None else size,
        data,
    )


def search(
    criteria: str | list[ImapValue], msg: SearchMessage, max_seq: int = 10, max_uid: int = 100
) -> bool:
    program = parse_search(args(criteria) if isinstance(criteria, str) else criteria)
    return program.resolve(max_seq=max_seq, max_uid=max_uid).matches(msg)


# ----------------------------------------------------------------- test messages

THAI_SUBJECT = "สวัสดีครับ ประชุมประจำเดือน"
THAI_NAME = "สมชาย ใจดี"
THAI_BODY = "กรุณาตรวจสอบเอกสารที่แนบมา ขอบคุณครับ"

PLAIN = (
    "From: Alice Example <alice@example.com>\r\n"
    "To: Bob <bob@example.org>, carol@example.net\r\n"
    "Cc: Dave <dave@example.com>\r\n"
    "Bcc: eve@example.com\r\n"
    "Subject: Quarterly Report\r\n"
    "Date: Sun, 10 Mar 2024 23:30:00 -0800\r\n"
    "X-Mailer: TestMailer 1.0\r\n"
    "Message-ID: <abc@example.com>\r\n"
    "\r\n"
    "The numbers are in. Straße café.\r\n"
)

THAI_B64 = (
    f"From: {b64_word(THAI_NAME)} <somchai@example.co.th>\r\n"
    f"To: {q_word('วิภา')} <wipa@example.co.th>\r\n"
    f"Subject: {b64_word(THAI_SUBJECT)}\r\n"
    "Date: Mon, 11 Mar 2024 00:30:00 +0700\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
).encode() + quopri.encodestring(THAI_BODY.encode("utf-8"))

THAI_Q = (
    "From: noreply@example.co.th\r\n"
    f"Subject: {q_word('แจ้งเตือน')} {q_word('การชำระเงิน')}\r\n"
    "\r\n"
    "ascii body\r\n"
).encode()

THAI_TIS = (
    f'From: "{b64_word("ผู้ดูแลระบบ", "TIS-620", "tis_620")}" <admin@example.go.th>\r\n'
    f"Subject: {b64_word('รายงาน', 'TIS-620', 'tis_620')}\r\n"
    f"  {q_word('การเงิน', 'tis-620', 'tis_620')}\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="TIS-620"\r\n'
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
).encode() + base64.encodebytes("งบประมาณประจำปี ๒๕๖๗".encode("tis_620"))

# windows-874 adds e.g. "…" (0x85) and "€" (0x80) to TIS-620.
THAI_CP874 = (
    b"Subject: cp874\r\n"
    b"Content-Type: text/plain; charset=windows-874\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n" + "ราคา 100€ … ส่วนลด".encode("cp874") + b"\r\n"
)

MULTIPART = (
    b"From: sender@example.com\r\n"
    b"Subject: parts\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="XX"\r\n'
    b"\r\n"
    b"--XX\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes("ข้อความหลัก plain part".encode()) + b"--XX\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n"
    b"\r\n"
    b"<p>html part</p>\r\n"
    b"--XX\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n" + base64.encodebytes(b"binary secret") + b"--XX\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner subject\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"inner body text\r\n"
    b"--XX--\r\n"
)


# ------------------------------------------------------------- flags and sizes


@pytest.mark.parametrize(
    ("key", "flag"),
    [
        ("ANSWERED", "\\Answered"),
        ("DELETED", "\\Deleted"),
        ("DRAFT", "\\Draft"),
        ("FLAGGED", "\\Flagged"),
        ("SEEN", "\\Seen"),
    ],
)
def test_flag_keys_and_their_negations(key: str, flag: str) -> None:
    with_flag = message(PLAIN, flags=(flag,))
    without = message(PLAIN, flags=("\\Other",))
    assert search(key, with_flag) and not search(key, without)
    assert search(f"UN{key}", without) and not search(f"UN{key}", with_flag)
    # Keys and flags compare case-insensitively.
    assert search(key.lower(), message(PLAIN, flags=(flag.upper(),)))


def test_all_matches_everything() -> None:
    assert search("ALL", message(PLAIN))
    assert search("ALL", message(b""))


def test_recent_new_old() -> None:
    recent_unseen = message(PLAIN, recent=True)
    recent_seen = message(PLAIN, recent=True, flags=("\\Seen",))
    old = message(PLAIN, recent=False)
    assert search("RECENT", recent_unseen) and search("RECENT", recent_seen)
    assert not search("RECENT", old)
    assert search("NEW", recent_unseen)
    assert not search("NEW", recent_seen) and not search("NEW", old)
    assert search("OLD", old) and not search("OLD", recent_unseen)


def test_keyword_and_unkeyword() -> None:
    msg = message(PLAIN, flags=("$Forwarded", "\\Seen"))
    assert search("KEYWORD $Forwarded", msg)
    assert search("KEYWORD $forwarded", msg)
    assert not search("KEYWORD $Junk", msg)
    assert search("UNKEYWORD $Junk", msg)
    assert not search("UNKEYWORD $FORWARDED", msg)


def test_larger_and_smaller_are_strict() -> None:
    msg = message(PLAIN, size=100)
    assert search("LARGER 99", msg) and not search("LARGER 100", msg)
    assert search("SMALLER 101", msg) and not search("SMALLER 100", msg)
    # Numbers may arrive from the protocol parser as int as well as atoms.
    assert search([Atom("LARGER"), 50], msg)
    assert search([Atom("SMALLER"), 4294967295], msg)


# ---------------------------------------------------------------- sequence sets


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ("5", True),
        ("1:3", False),
        ("4:6", True),
        ("6:4", True),
        ("1,3,5", True),
        ("1:4,6:*", False),
        ("*", False),
        ("*:4", True),  # RFC 3501 §9: 4:10 whichever order
        ("5:*", True),
        ("11:*", False),  # *:11 is 10:11
    ],
)
def test_message_sequence_sets(criteria: str, expected: bool) -> None:
    assert search(criteria, message(PLAIN, seq=5, uid=500), max_seq=10) is expected


def test_star_is_the_last_message() -> None:
    assert search("*", message(PLAIN, seq=10), max_seq=10)
    assert search("15:*", message(PLAIN, seq=10), max_seq=10)


def test_sequence_number_given_as_int() -> None:
    assert search([5], message(PLAIN, seq=5))
    assert not search([6], message(PLAIN, seq=5))


def test_uid_sets() -> None:
    msg = message(PLAIN, seq=1, uid=100)
    assert search("UID 100", msg)
    assert search("UID 50:150", msg)
    assert search("UID 50:*", msg, max_uid=100)
    # "UID n:*" with n above the largest UID still covers the largest UID message.
    assert search("UID 200:*", msg, max_uid=100)
    assert not search("UID 200:*", msg, max_uid=120)
    assert not search("UID 1:99,101", msg)
    assert search([Atom("UID"), 100], msg)


def test_unresolved_star_is_reported() -> None:
    program = parse_search(args("1:*"))
    assert program.uses_star
    with pytest.raises(RuntimeError):
        program.matches(message(PLAIN))
    # Sets without "*" need no context.
    flat = parse_search(args("1:5 UID 1"))
    assert not flat.uses_star
    assert flat.matches(message(PLAIN, seq=2, uid=1))


def test_sequence_set_parser() -> None:
    assert SequenceSet.parse("1:3,5,7:*").ranges == ((1, 3), (5, 5), (7, None))
    for bad in ("0", "1:0", "1:", ":1", "1,,2", "1:2:3", "a", "4294967296"):
        with pytest.raises(SearchSyntaxError):
            SequenceSet.parse(bad)


# ------------------------------------------------------------------------ dates


# Internal date 01:00 on 10 March in Bangkok is still 9 March in UTC: RFC 3501
# compares "disregarding time and timezone", i.e. the date as the message has it.
INTERNAL = datetime(2024, 3, 10, 1, 0, tzinfo=BANGKOK)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ("BEFORE 10-Mar-2024", False),
        ("BEFORE 11-Mar-2024", True),
        ("BEFORE 9-Mar-2024", False),
        ("ON 10-Mar-2024", True),
        ("ON 9-Mar-2024", False),
        ("ON 11-Mar-2024", False),
        ("SINCE 10-Mar-2024", True),
        ("SINCE 9-Mar-2024", True),
        ("SINCE 11-Mar-2024", False),
        ('ON "10-Mar-2024"', True),
        ("on 10-mar-2024", True),
        ("ON 01-Mar-2024", False),
    ],
)
def test_internal_date_keys(criteria: str, expected: bool) -> None:
    assert search(criteria, message(PLAIN, internaldate=INTERNAL)) is expected


def test_internal_date_naive_datetime() -> None:
    msg = message(PLAIN, internaldate=datetime(2024, 2, 29, 23, 59, 59))
    assert search("ON 29-Feb-2024", msg)
    assert search("BEFORE 1-Mar-2024", msg)


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        # PLAIN: "Sun, 10 Mar 2024 23:30:00 -0800" (already 11 March in UTC)
        ("SENTON 10-Mar-2024", True),
        ("SENTON 11-Mar-2024", False),
        ("SENTBEFORE 10-Mar-2024", False),
        ("SENTBEFORE 11-Mar-2024", True),
        ("SENTSINCE 10-Mar-2024", True),
        ("SENTSINCE 11-Mar-2024", False),
        ('SENTSINCE "1-Jan-2024"', True),
    ],
)
def test_sent_dates_use_the_header_own_timezone(criteria: str, expected: bool) -> None:
    assert search(criteria, message(PLAIN)) is expected


def test_sent_date_positive_offset() -> None:
    # THAI_B64: "Mon, 11 Mar 2024 00:30:00 +0700" is 10 March in UTC.
    msg = message(THAI_B64)
    assert search("SENTON 11-Mar-2024", msg)
    assert not search("SENTON 10-Mar-2024", msg)
    assert msg.sent_date() is not None and msg.sent_date().isoformat() == "2024-03-11"


def test_sent_keys_without_usable_date_match_nothing() -> None:
    for raw in (b"Subject: no date\r\n\r\nx\r\n", b"Date: not a date at all\r\n\r\nx\r\n"):
        msg = message(raw)
        assert msg.sent_date() is None
        for key in ("SENTON", "SENTBEFORE", "SENTSINCE"):
            assert not search(f"{key} 1-Jan-2024", msg)
        assert search("NOT SENTBEFORE 1-Jan-2024", msg)


def test_impossible_date_in_header_is_ignored() -> None:
    msg = message(b"Date: Fri, 31 Feb 2024 10:00:00 +0000\r\n\r\n")
    assert msg.sent_date() is None


# ------------------------------------------------------------ header string keys


@pytest.mark.parametrize(
    "criteria",
    [
        'FROM "alice"',
        'FROM "ALICE@EXAMPLE.COM"',
        'FROM "Alice Example"',
        'TO "bob@example.org"',
        'TO "carol"',
        'CC "Dave"',
        'BCC "eve@"',
        'SUBJECT "quarterly"',
        'SUBJECT "REPORT"',
        'HEADER "X-Mailer" "testmailer"',
        'HEADER "x-mailer" ""',
        'HEADER Message-ID "abc@"',
        "SUBJECT Report",
    ],
)
def test_header_keys_match(criteria: str) -> None:
    assert search(criteria, message(PLAIN))


@pytest.mark.parametrize(
    "criteria",
    [
        'FROM "bob"',
        'TO "alice"',
        'CC "eve"',
        'BCC "dave"',
        'SUBJECT "numbers"',
        'HEADER "X-Missing" ""',
        'HEADER "X-Mailer" "other"',
    ],
)
def test_header_keys_do_not_match(criteria: str) -> None:
    assert not search(criteria, message(PLAIN))


def test_empty_string_header_search_requires_the_field() -> None:
    assert search('SUBJECT ""', message(PLAIN))
    assert not search('CC ""', message(b"Subject: x\r\n\r\n"))


def test_folded_header_is_unfolded() -> None:
    msg = message(b"Subject: first line\r\n second line\r\n\r\n")
    assert search('SUBJECT "line second"', msg)


def test_repeated_headers_are_all_searched() -> None:
    msg = message(b"Received: from a\r\nReceived: from b.example\r\n\r\n")
    assert msg.header_values("received") == ["from a", "from b.example"]
    assert search('HEADER RECEIVED "b.example"', msg)


# ---------------------------------------------------------------- text and body


def test_body_and_text() -> None:
    msg = message(PLAIN)
    assert search('BODY "numbers are"', msg)
    assert not search('BODY "Quarterly"', msg)  # only in a header
    assert search('TEXT "Quarterly"', msg)
    assert search('TEXT "numbers"', msg)
    assert search('TEXT "x-mailer"', msg)  # field names are header text too
    assert not search('TEXT "absent words"', msg)


def test_unicode_case_folding_and_normalisation() -> None:
    msg = message(PLAIN)
    assert search('BODY "STRASSE"', msg)  # ß casefolds to ss
    assert search('BODY "CAFÉ"', msg)
    decomposed = "cafe\u0301".encode()
    assert search([Atom("BODY"), decomposed], msg)  # NFC on both sides


def test_multipart_searches_text_parts_only() -> None:
    msg = message(MULTIPART)
    assert search('BODY "plain part"', msg)
    assert search('BODY "ข้อความหลัก"', msg)
    assert search('BODY "html part"', msg)
    assert not search('BODY "binary secret"', msg)
    # An attached message's header and body are body text of the outer message.
    assert search('BODY "inner subject"', msg)
    assert search('BODY "inner body"', msg)
    assert not search('SUBJECT "inner"', msg)


# ------------------------------------------------------------------------- Thai


def test_thai_subject_base64_utf8() -> None:
    msg = message(THAI_B64)
    assert msg.header_values("Subject") == [THAI_SUBJECT]
    assert search([Atom("SUBJECT"), "ประชุม".encode()], msg)
    assert search([Atom("SUBJECT"), "สวัสดีครับ ประชุม".encode()], msg)
    assert not search([Atom("SUBJECT"), "ลาก่อน".encode()], msg)


def test_thai_subject_q_encoded_utf8() -> None:
    msg = message(THAI_Q)
    # Whitespace between adjacent encoded words is dropped (RFC 2047 §6.2).
    assert msg.header_values("Subject") == ["แจ้งเตือนการชำระเงิน"]
    assert search([Atom("SUBJECT"), "เตือนการชำระ".encode()], msg)


def test_thai_subject_tis620_encoded_words() -> None:
    msg = message(THAI_TIS)
    assert msg.header_values("Subject") == ["รายงานการเงิน"]
    assert search([Atom("SUBJECT"), "งานการ".encode()], msg)


def test_thai_display_name_in_from() -> None:
    assert search([Atom("FROM"), "สมชาย".encode()], message(THAI_B64))
    assert search([Atom("FROM"), "ใจดี".encode()], message(THAI_B64))
    assert search([Atom("FROM"), b"somchai@example.co.th"], message(THAI_B64))
    assert search([Atom("TO"), "วิภา".encode()], message(THAI_B64))
    # Encoded word inside a quoted display name (common, though not RFC 2047).
    assert search([Atom("FROM"), "ผู้ดูแล".encode()], message(THAI_TIS))


def test_thai_body_quoted_printable_utf8() -> None:
    msg = message(THAI_B64)
    assert THAI_BODY in msg.body_text()
    assert search([Atom("BODY"), "ตรวจสอบเอกสาร".encode()], msg)
    assert search([Atom("TEXT"), "ตรวจสอบเอกสาร".encode()], msg)
    assert search([Atom("TEXT"), "ประชุมประจำเดือน".encode()], msg)
    assert not search([Atom("BODY"), "ประชุมประจำเดือน".encode()], msg)


def test_thai_body_base64_tis620() -> None:
    msg = message(THAI_TIS)
    assert "งบประมาณประจำปี ๒๕๖๗" in msg.body_text()
    assert search([Atom("BODY"), "ประมาณประจำ".encode()], msg)
    assert search([Atom("BODY"), "๒๕๖๗".encode()], msg)


def test_thai_body_windows_874() -> None:
    msg = message(THAI_CP874)
    assert search([Atom("BODY"), "100€ … ส่วนลด".encode()], msg)


def test_charset_utf8_with_thai_strings() -> None:
    criteria = [Atom("CHARSET"), Atom("UTF-8"), Atom("SUBJECT"), "ประชุม".encode()]
    program = parse_search(criteria)
    assert program.charset == "UTF-8"
    assert program.matches(message(THAI_B64))
    assert not program.matches(message(PLAIN))
    # Charset name as a quoted string, lower case, with a literal-style search string.
    assert search([Atom("charset"), b"utf-8", Atom("BODY"), "ขอบคุณ".encode()], message(THAI_B64))


def test_charset_us_ascii() -> None:
    program = parse_search(args('CHARSET US-ASCII SUBJECT "report"'))
    assert program.charset == "US-ASCII"
    assert program.matches(message(PLAIN))


@pytest.mark.parametrize("name", [Atom("ISO-8859-1"), b"TIS-620", Atom("KOI8-R"), Atom("x")])
def test_badcharset(name: ImapValue) -> None:
    with pytest.raises(BadCharset) as info:
        parse_search([Atom("CHARSET"), name, Atom("ALL")])
    assert info.value.response_code == "BADCHARSET (US-ASCII UTF-8)"
    assert info.value.supported == ("US-ASCII", "UTF-8")


# --------------------------------------------------------------- NOT/OR/groups


def test_not_or_and_groups() -> None:
    seen = message(PLAIN, flags=("\\Seen",), size=100)
    flagged = message(PLAIN, flags=("\\Flagged",), size=100)
    assert search("OR SEEN FLAGGED", seen) and search("OR SEEN FLAGGED", flagged)
    assert not search("OR DELETED DRAFT", seen)
    assert search("NOT NOT SEEN", seen)
    assert not search("NOT SEEN", seen)
    assert search("NOT (SEEN DELETED)", seen)
    assert not search("(SEEN LARGER 200)", seen)
    assert search("SEEN (LARGER 50 SMALLER 200)", seen)
    assert search("OR (SEEN LARGER 500) (FLAGGED SMALLER 500)", flagged)
    assert not search("OR (SEEN LARGER 500) (FLAGGED SMALLER 50)", flagged)
    assert search("OR SEEN OR DELETED FLAGGED", flagged)
    assert search("NOT OR DELETED DRAFT", seen)
    assert search('OR SUBJECT "nomatch" NOT (FROM "bob" UNSEEN)', seen)
    assert search('((SUBJECT "report"))', seen)


# ---------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    "criteria",
    [
        [],
        [Atom("FOO")],
        [Atom("SUBJECT")],
        [Atom("HEADER"), b"Subject"],
        [Atom("HEADER"), b"", b"x"],
        [Atom("HEADER"), b"Bad Name", b"x"],
        [Atom("LARGER")],
        [Atom("LARGER"), Atom("abc")],
        [Atom("LARGER"), b"10"],
        [Atom("SMALLER"), 4294967296],
        [Atom("SMALLER"), -1],
        [Atom("BEFORE")],
        [Atom("BEFORE"), Atom("32-Jan-2024")],
        [Atom("BEFORE"), Atom("1-Foo-2024")],
        [Atom("SINCE"), Atom("2024-01-01")],
        [Atom("ON"), Atom("1-Jan-24")],
        [Atom("SENTON"), [Atom("1-Jan-2024")]],
        [Atom("OR"), Atom("SEEN")],
        [Atom("NOT")],
        [[]],
        [Atom("0:3")],
        [Atom("1:x")],
        [0],
        [Atom("UID")],
        [Atom("UID"), Atom("abc")],
        [Atom("KEYWORD")],
        [Atom("KEYWORD"), b"$Junk"],
        [Atom("CHARSET")],
        [Atom("CHARSET"), Atom("UTF-8")],
        [b"SEEN"],
        [None],
        [Atom("SUBJECT"), [b"x"]],
        [Atom("SUBJECT"), b"\xff\xfe not utf-8"],
        [Atom("NOT")] * 1000 + [Atom("SEEN")],
    ],
)
def test_syntax_errors(criteria: list[ImapValue]) -> None:
    with pytest.raises(SearchSyntaxError):
        parse_search(criteria)


def test_deeply_nested_groups_are_refused() -> None:
    nested: list[ImapValue] = [Atom("SEEN")]
    for _ in range(500):
        nested = [nested]
    with pytest.raises(SearchSyntaxError):
        parse_search(nested)


def test_charset_can_be_disallowed() -> None:
    with pytest.raises(SearchSyntaxError):
        parse_search(args("CHARSET UTF-8 ALL"), charset_allowed=False)
    assert parse_search(args("ALL"), charset_allowed=False).matches(message(PLAIN))


def test_string_argument_forms() -> None:
    msg = message(b"Subject: NIL and 2024\r\n\r\n")
    assert search([Atom("SUBJECT"), None], msg)  # NIL read as an astring
    assert search([Atom("SUBJECT"), 2024], msg)
    assert search([Atom("SUBJECT"), Atom("and")], msg)


# ---------------------------------------------------------------- needs_content


@pytest.mark.parametrize(
    ("criteria", "content", "body"),
    [
        ("ALL", False, False),
        ("SEEN UNDELETED NEW OLD RECENT", False, False),
        ("KEYWORD $x LARGER 5 SMALLER 9", False, False),
        ("BEFORE 1-Jan-2024 ON 1-Jan-2024 SINCE 1-Jan-2024", False, False),
        ("1:* UID 1:*", False, False),
        ("NOT OR SEEN (DELETED FLAGGED)", False, False),
        ('SUBJECT "x"', True, False),
        ('FROM "x"', True, False),
        ('TO "x"', True, False),
        ('CC "x"', True, False),
        ('BCC "x"', True, False),
        ('HEADER X-Y ""', True, False),
        ("SENTON 1-Jan-2024", True, False),
        ("SENTBEFORE 1-Jan-2024", True, False),
        ("SENTSINCE 1-Jan-2024", True, False),
        ('BODY "x"', True, True),
        ('TEXT "x"', True, True),
        ('NOT SUBJECT "x"', True, False),
        ('OR SEEN BODY "x"', True, True),
        ('SEEN (FLAGGED (TEXT "x"))', True, True),
    ],
)
def test_needs_content(criteria: str, content: bool, body: bool) -> None:
    program = parse_search(args(criteria))
    assert program.needs_content is content
    assert program.needs_body is body


def test_content_is_not_loaded_for_flag_only_searches() -> None:
    def explode() -> bytes:
        raise AssertionError("content should not be read")

    lazy = ParsedSearchMessage(1, 1, ["\\Seen"], False, INTERNAL, 10, explode)
    assert parse_search(args("SEEN LARGER 5 ON 10-Mar-2024")).matches(lazy)
    # Cheap keys are tried first, so a failing flag test spares reading the content.
    assert not parse_search(args('SUBJECT "x" UNSEEN')).matches(lazy)


def test_lazy_loader_is_called_once() -> None:
    calls: list[int] = []

    def load() -> bytes:
        calls.append(1)
        return PLAIN.encode()

    msg = ParsedSearchMessage(1, 1, [], False, INTERNAL, 10, load)
    assert search('SUBJECT "report" BODY "numbers" TEXT "alice"', msg)
    assert len(calls) == 1


def test_and_key_orders_cheap_keys_first() -> None:
    program = parse_search(args('BODY "x" SUBJECT "y" SEEN'))
    assert isinstance(program.root, AndKey)
    assert [key.needs_content for key in program.root.keys] == [False, True, True]
    assert program.root.keys[-1].needs_body


def test_parsed_message_satisfies_protocol() -> None:
    assert isinstance(message(PLAIN), SearchMessage)
    assert isinstance(parse_search(args("ALL")), SearchProgram)


# ---------------------------------------------------------- malformed messages

MALFORMED: list[bytes] = [
    b"",
    b"\x00\x01\x02\xff\xfe garbage without headers",
    b"no colon header line\r\n\r\nbody\r\n",
    b"Subject: =?x-garbage?B?4LiB?= and =?utf-8?B?!!!?= =?utf-8?Q?=ZZ?=\r\n\r\n",
    b"Subject: =?utf-8?B?4Lg?=\r\n\r\n",  # truncated UTF-8 sequence
    b"Subject: =?base64?B?YWJj?= =?zlib?Q?x?=\r\n\r\n",  # non-text codecs
    b"Subject: raw \xe0\xb8\x81 utf8 and \xff latin\r\n\r\n",
    b"Content-Type: text/plain; charset=x-nonexistent\r\n\r\n\xff\xfe\xfd\r\n",
    b"Content-Type: text/plain; charset=zlib\r\n\r\nabc\r\n",
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    b"!!!not base64@@@\r\n",
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n=ZZ=E0=B8\r\n",
    b'Content-Type: multipart/mixed; boundary="never"\r\n\r\nno parts here\r\n',
    b"Content-Type: multipart/mixed\r\n\r\n--\r\n",
    b"Content-Type: ;;;===\r\nContent-Transfer-Encoding: x-unknown\r\n\r\nbody\r\n",
    b"Content-Type: text/plain; charset*=utf-8''%E0%B8%81\r\n\r\nbody\r\n",
    b"Date: Mon, 99 Foo 99999 99:99:99 +9999\r\n\r\n",
    b"Date: \r\nFrom: <>\r\nTo: ,,,@@\r\n\r\n",
    b"".join(
        b'Content-Type: multipart/mixed; boundary="b%d"\r\n\r\n--b%d\r\n' % (i, i)
        for i in range(300)
    ),
]

ALL_KEYS = (
    'ALL ANSWERED BCC "x" BEFORE 1-Jan-2024 BODY "x" CC "x" DELETED DRAFT FLAGGED '
    'FROM "x" HEADER X-Y "x" KEYWORD $k LARGER 1 NEW NOT SEEN OLD ON 1-Jan-2024 '
    "OR SEEN UNSEEN RECENT SEEN SENTBEFORE 1-Jan-2024 SENTON 1-Jan-2024 "
    'SENTSINCE 1-Jan-2024 SINCE 1-Jan-2024 SMALLER 1 SUBJECT "x" TEXT "x" TO "x" '
    "UID 1:* UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD $k UNSEEN 1:*"
)


@pytest.mark.parametrize("raw", MALFORMED)
def test_malformed_messages_never_raise(raw: bytes) -> None:
    msg = message(raw)
    msg.header_values("Subject")
    msg.header_text()
    msg.body_text()
    msg.sent_date()
    # Each key alone (each must evaluate without raising) and all keys together.
    program = parse_search(args(ALL_KEYS)).resolve(max_seq=1, max_uid=1)
    assert program.matches(msg) is False
    for criteria in ALL_KEYS.split(" "):
        if criteria.isalpha() and criteria.isupper():
            try:
                single = parse_search([Atom(criteria)])
            except SearchSyntaxError:
                continue  # key needs an argument: covered by the full program
            single.resolve(max_seq=1, max_uid=1).matches(msg)
    for criteria in ('SUBJECT "x"', 'BODY "x"', 'TEXT "x"', 'FROM "x"', "SENTON 1-Jan-2024"):
        search(criteria, msg)


def test_garbage_charset_decodes_with_replacement() -> None:
    msg = message(MALFORMED[7])
    assert msg.body_text().strip() == "\ufffd\ufffd\ufffd"
    msg = message(b"Subject: =?x-garbage?Q?caf=C3=A9?=\r\n\r\n")
    assert msg.header_values("Subject") == ["café"]  # unknown label: UTF-8 guess


# ----------------------------------------------------------------- decoders


def test_decode_rfc2047_details() -> None:
    # Multibyte character split across two words in the same charset.
    data = "ก".encode()
    split = (
        f"=?utf-8?B?{base64.b64encode(data[:1]).decode()}?= "
        f"=?utf-8?B?{base64.b64encode(data[1:]).decode()}?="
    )
    assert decode_rfc2047(split) == "ก"
    assert decode_rfc2047("plain text") == "plain text"
    assert decode_rfc2047("a =?utf-8?Q?b?= c") == "a b c"
    assert decode_rfc2047("=?utf-8*th?Q?=E0=B8=81?=") == "ก"  # RFC 2231 language
    assert decode_rfc2047("=?utf-8?B?!!!?=") == "=?utf-8?B?!!!?="
    # Unpadded base64 is tolerated.
    assert decode_rfc2047("=?utf-8?B?4LiB?=") == "ก"
    assert decode_rfc2047("=?UTF-8?B?4LiB?=") == "ก"


@pytest.mark.parametrize(
    ("charset", "codec"),
    [
        ("TIS-620", "tis_620"),
        ("tis620", "tis_620"),
        ("ISO-8859-11", "iso8859_11"),
        ("windows-874", "cp874"),
        ("x-windows-874", "cp874"),
        ("UTF-8", "utf-8"),
    ],
)
def test_decode_charset_thai_labels(charset: str, codec: str) -> None:
    assert decode_charset("ภาษาไทย".encode(codec), charset) == "ภาษาไทย"


def test_decode_charset_never_raises() -> None:
    assert decode_charset(b"\xff", "utf-8") == "\ufffd"
    assert decode_charset(b"abc", "rot13") in ("abc", "nop")
    assert decode_charset(b"abc", "base64") == "abc"
    assert decode_charset(b"abc", None) == "abc"
    assert decode_charset(b"caf\xc3\xa9", "us-ascii") == "café"
