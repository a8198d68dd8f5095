"""Argument grammar for handlers: sequence sets, FETCH items, STORE, dates, mailbox names."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailserver import mutf7
from mailserver.imap.protocol import (
    Atom,
    CommandSyntaxError,
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
    parse_flag_list,
    parse_sequence_set,
    parse_store_args,
)

# -- sequence sets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "max_value", "ranges"),
    [
        ("1", 10, [(1, 1)]),
        ("1:*", 10, [(1, 10)]),
        ("*", 7, [(7, 7)]),
        ("4,1:2", 10, [(1, 2), (4, 4)]),
        ("5:3", 10, [(3, 5)]),
        ("*:4", 2, [(2, 4)]),  # UID 4:* includes the last UID even past it (RFC 3501 §6.4.8)
        ("1:3,2:6,8,7", 10, [(1, 8)]),
        ("4294967295", 1, [(4294967295, 4294967295)]),
    ],
)
def test_parse_sequence_set(text: str, max_value: int, ranges: list[tuple[int, int]]) -> None:
    assert parse_sequence_set(Atom(text), max_value=max_value) == ranges


@pytest.mark.parametrize(
    "text", ["", "0", "1:0", "01", "a", "1,", ",1", "1::2", "4294967296", "1:2:3", "$", "-1"]
)
def test_bad_sequence_sets(text: str) -> None:
    with pytest.raises(CommandSyntaxError):
        parse_sequence_set(text, max_value=10)


def test_sequence_set_membership() -> None:
    seqs = SequenceSet.parse("2:4,10,20:*", max_value=25)
    assert [n for n in range(30) if n in seqs] == [2, 3, 4, 10, *range(20, 26)]
    assert list(SequenceSet.parse("3,1", max_value=5)) == [1, 3]
    assert not in_sequence_set([], 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 60), st.integers(1, 60)), min_size=1, max_size=8))
def test_sequence_set_matches_naive_membership(pairs: list[tuple[int, int]]) -> None:
    text = ",".join(f"{a}:{b}" for a, b in pairs)
    ranges = parse_sequence_set(text, max_value=60)
    expected = {n for a, b in pairs for n in range(min(a, b), max(a, b) + 1)}
    assert {n for n in range(70) if in_sequence_set(ranges, n)} == expected


# -- FETCH items -------------------------------------------------------------------------------


def test_fetch_macros() -> None:
    names = [i.name for i in parse_fetch_items(Atom("full"))]
    assert names == ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"]
    assert [i.name for i in parse_fetch_items(Atom("FAST"))] == [
        "FLAGS",
        "INTERNALDATE",
        "RFC822.SIZE",
    ]
    assert len(parse_fetch_items(Atom("ALL"))) == 4


def test_fetch_simple_items() -> None:
    atts = ["FLAGS", "uid", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "BODYSTRUCTURE", "MODSEQ"]
    items = parse_fetch_items([Atom(a) for a in atts])
    assert [i.name for i in items] == [a.upper() for a in atts]
    assert all(i.section is None and i.response_name() == i.name for i in items)


@pytest.mark.parametrize(
    ("att", "item", "response"),
    [
        ("BODY[]", FetchItem("BODY", Section()), "BODY[]"),
        ("body.peek[]", FetchItem("BODY", Section(), peek=True), "BODY[]"),
        (
            "BODY.PEEK[HEADER.FIELDS (from To)]<0.100>",
            FetchItem("BODY", Section((), "HEADER.FIELDS", ("FROM", "TO")), (0, 100), True),
            "BODY[HEADER.FIELDS (FROM TO)]<0>",
        ),
        (
            'BODY[1.HEADER.FIELDS.NOT ("X-Spam" Received)]',
            FetchItem("BODY", Section((1,), "HEADER.FIELDS.NOT", ("X-SPAM", "RECEIVED"))),
            "BODY[1.HEADER.FIELDS.NOT (X-SPAM RECEIVED)]",
        ),
        ("BODY[1.2.MIME]", FetchItem("BODY", Section((1, 2), "MIME")), "BODY[1.2.MIME]"),
        ("BODY[TEXT]<5.10>", FetchItem("BODY", Section((), "TEXT"), (5, 10)), "BODY[TEXT]<5>"),
        ("BODY[3]", FetchItem("BODY", Section((3,))), "BODY[3]"),
        ("BINARY[1.2]", FetchItem("BINARY", Section((1, 2))), "BINARY[1.2]"),
        (
            "BINARY.PEEK[1]<0.9>",
            FetchItem("BINARY", Section((1,)), (0, 9), True),
            "BINARY[1]<0>",
        ),
        ("BINARY.SIZE[2]", FetchItem("BINARY.SIZE", Section((2,))), "BINARY.SIZE[2]"),
    ],
)
def test_fetch_sections(att: str, item: FetchItem, response: str) -> None:
    assert parse_fetch_items(Atom(att)) == [item]
    assert item.response_name() == response


@pytest.mark.parametrize(
    "att",
    [
        "BODY[MIME]",
        "BODY[HEADER.FIELDS]",
        "BODY[HEADER.FIELDS ()]",
        "BODY[0]",
        "BODY[1.]",
        "BODY[TEXT (A)]",
        "BODY[]<0.0>",
        "BODY[]<1>",
        "BINARY[HEADER]",
        "BINARY.SIZE[1]<0.5>",
        "BODY[HEADER.FIELDS (A:B)]",
        "BODY.SIZE[1]",
        "RFC822.PEEK",
        "XYZZY",
    ],
)
def test_bad_fetch_items(att: str) -> None:
    with pytest.raises(CommandSyntaxError):
        parse_fetch_items(Atom(att))


def test_bad_fetch_arguments() -> None:
    for bad in ([], [Atom("ALL")], b"FLAGS", None, [[Atom("FLAGS")]]):
        with pytest.raises(CommandSyntaxError):
            parse_fetch_items(bad)  # type: ignore[arg-type]


def test_sets_seen() -> None:
    seen = {a: parse_fetch_items(Atom(a))[0].sets_seen for a in ("BODY[]", "BODY.PEEK[]")}
    assert seen == {"BODY[]": True, "BODY.PEEK[]": False}
    assert parse_fetch_items(Atom("RFC822"))[0].sets_seen
    assert not parse_fetch_items(Atom("RFC822.HEADER"))[0].sets_seen
    assert not parse_fetch_items(Atom("BODY"))[0].sets_seen


# -- STORE and flags ---------------------------------------------------------------------------


def test_store_args() -> None:
    args = [Atom("+FLAGS.SILENT"), [Atom("\\seen"), Atom("$Label1")]]
    assert parse_store_args(args) == StoreArgs("+", True, ("\\Seen", "$Label1"))
    assert parse_store_args([Atom("-flags"), Atom("\\Deleted")]) == StoreArgs(
        "-", False, ("\\Deleted",)
    )
    assert parse_store_args([Atom("FLAGS"), Atom("\\Seen"), Atom("\\Flagged")]) == StoreArgs(
        "", False, ("\\Seen", "\\Flagged")
    )
    assert parse_store_args([Atom("FLAGS"), []]) == StoreArgs("", False, ())
    cond = [[Atom("UNCHANGEDSINCE"), Atom("12")], Atom("+FLAGS"), [Atom("\\Seen")]]
    assert parse_store_args(cond).unchanged_since == 12
    mode, silent, flags = parse_store_args(cond)
    assert (mode, silent, flags) == ("+", False, ("\\Seen",))


@pytest.mark.parametrize(
    "args",
    [
        [],
        [Atom("+FLAGS")],
        [Atom("*FLAGS"), Atom("\\Seen")],
        [Atom("FLAGS"), Atom("\\Recent")],
        [Atom("FLAGS"), Atom("\\*")],
        [Atom("FLAGS"), b"quoted"],
        [Atom("FLAGS"), [Atom("a]b")]],
        [[Atom("UNCHANGEDSINCE")], Atom("FLAGS"), Atom("x")],
    ],
)
def test_bad_store_args(args: list[object]) -> None:
    with pytest.raises(CommandSyntaxError):
        parse_store_args(args)  # type: ignore[arg-type]


def test_flag_list_for_append() -> None:
    assert parse_flag_list([Atom("\\DRAFT"), Atom("\\Draft"), Atom("\\X-Ext")]) == (
        "\\Draft",
        "\\X-Ext",
    )
    with pytest.raises(CommandSyntaxError):
        parse_flag_list(Atom("\\Seen"))


# -- dates -------------------------------------------------------------------------------------


def test_parse_date() -> None:
    assert parse_date(Atom("1-Feb-1994")) == date(1994, 2, 1)
    assert parse_date(b"01-feb-1994") == date(1994, 2, 1)
    for bad in ("1-Foo-1994", "30-Feb-2020", "1994-02-01", "1-Feb-94", None):
        with pytest.raises(CommandSyntaxError):
            parse_date(bad)  # type: ignore[arg-type]


def test_parse_datetime() -> None:
    parsed = parse_datetime(b"17-Jul-1996 02:44:25 -0700")
    assert parsed == datetime(1996, 7, 17, 2, 44, 25, tzinfo=timezone(timedelta(hours=-7)))
    assert parse_datetime(b" 1-Feb-1994 21:52:25 +0700").day == 1
    assert parse_datetime(b"1-Feb-1994 21:52:25 +0700").utcoffset() == timedelta(hours=7)
    for bad in (b"17-Jul-1996 02:44:25", b"17-Jul-1996 25:44:25 +0000", b"x", b"\xff"):
        with pytest.raises(CommandSyntaxError):
            parse_datetime(bad)


def test_format_datetime_round_trips() -> None:
    moment = datetime(2024, 3, 5, 9, 7, 1, tzinfo=timezone(timedelta(hours=7)))
    assert format_datetime(moment) == "05-Mar-2024 09:07:01 +0700"
    assert parse_datetime(format_datetime(moment).encode()) == moment
    assert format_datetime(datetime(2024, 1, 1)) == "01-Jan-2024 00:00:00 +0000"
    west = datetime(2024, 1, 1, tzinfo=timezone(-timedelta(hours=3, minutes=30)))
    assert format_datetime(west).endswith("-0330")
    assert format_datetime(datetime(2024, 1, 1, tzinfo=UTC)).endswith("+0000")


# -- mailbox names and modified UTF-7 ----------------------------------------------------------

THAI = "กล่องจดหมาย/งานเอกสาร"


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        ("INBOX", "INBOX"),
        ("a&b", "a&-b"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
        ("ส่งแล้ว", "&DioOSA4HDkEOJQ5JDic-"),
        ("😀", "&2D3eAA-"),
    ],
)
def test_mutf7_known_forms(name: str, encoded: str) -> None:
    assert mutf7.encode(name) == encoded
    assert mutf7.decode(encoded) == name


@pytest.mark.parametrize(
    "bad", ["&", "&AGE-", "&AOk-&AOk-", "&Jjo", "&Jj!-", "caf\u00e9", "&2D0-", "&A-", "&AOl-"]
)
def test_mutf7_rejects_invalid_or_non_canonical(bad: str) -> None:
    with pytest.raises(mutf7.MUtf7Error):
        mutf7.decode(bad)


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=["Cs"]), max_size=30))
def test_mutf7_round_trip(name: str) -> None:
    """Any name survives; encoded runs agree with the stdlib's UTF-7 (RFC 2152) base64."""
    encoded = mutf7.encode(name)
    assert all(" " <= c <= "~" for c in encoded)
    assert mutf7.decode(encoded) == name


@settings(max_examples=200, deadline=None)
@given(st.text(st.characters(min_codepoint=0x80, blacklist_categories=["Cs"]), min_size=1))
def test_mutf7_agrees_with_stdlib_utf7(run: str) -> None:
    expected = run.encode("utf-7").decode("ascii").replace("/", ",")
    assert mutf7.encode(run) == "&" + expected[1:].rstrip("-") + "-"


def test_mailbox_name() -> None:
    assert mailbox_name(Atom("inbox")) == "INBOX"
    assert mailbox_name(b"InBoX") == "INBOX"
    assert mailbox_name(b"INBOX/Sub") == "INBOX/Sub"
    assert mailbox_name(encode_mailbox_name(THAI).encode()) == THAI
    assert mailbox_name(THAI.encode(), utf8=True) == THAI
    assert encode_mailbox_name(THAI, utf8=True) == THAI
    assert mailbox_name(None) == "NIL"
    for bad in (THAI.encode(), b"a&b", b"x\ty", [b"x"], 3):
        with pytest.raises(CommandSyntaxError):
            mailbox_name(bad)  # type: ignore[arg-type]
