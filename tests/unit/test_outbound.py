"""Pure helpers of the outbound SMTP client (the sessions are in tests/integration)."""

from __future__ import annotations

import pytest

from mailserver.smtpclient.client import (
    Target,
    bad_address,
    classify,
    deliver,
    has_8bit,
    mail_parameters,
    needs_smtputf8,
    parse_smarthost,
    reply_text,
    size_limit,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("relay.example", Target("relay.example", ("relay.example",), 25)),
        ("relay.example:587", Target("relay.example", ("relay.example",), 587)),
        (" relay.example:2525 ", Target("relay.example", ("relay.example",), 2525)),
        ("[relay.example]", Target("relay.example", ("relay.example",), 25)),
        ("[relay.example]:587", Target("relay.example", ("relay.example",), 587)),
        ("192.0.2.7:465", Target("192.0.2.7", ("192.0.2.7",), 465)),
        ("[2001:db8::1]:587", Target("2001:db8::1", ("2001:db8::1",), 587)),
        ("2001:db8::1", Target("2001:db8::1", ("2001:db8::1",), 25)),
    ],
)
def test_parse_smarthost(value: str, expected: Target) -> None:
    assert parse_smarthost(value) == expected


def test_parse_smarthost_default_port() -> None:
    assert parse_smarthost("relay.example", default_port=587).port == 587
    assert parse_smarthost("relay.example:25", default_port=587).port == 25


@pytest.mark.parametrize(
    "value",
    ["", "  ", "relay.example:", "relay.example:smtp", "relay.example:0", "relay.example:65536",
     "[relay.example", "[]:25", "[relay.example]x", ":25", "re lay.example"],
)  # fmt: skip
def test_parse_smarthost_rejects(value: str) -> None:
    with pytest.raises(ValueError):
        parse_smarthost(value)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (250, "delivered"),
        (251, "delivered"),
        (421, "temporary"),
        (450, "temporary"),
        (452, "temporary"),
        (500, "permanent"),
        (550, "permanent"),
        (554, "permanent"),
        (354, "temporary"),  # not a final answer: a protocol error, retried
        (199, "temporary"),
    ],
)
def test_classify(code: int, kind: str) -> None:
    assert classify(code) == kind


def test_reply_text_joins_the_lines_of_a_multiline_reply() -> None:
    assert reply_text("5.1.1 No such user\n5.1.1 see https://help") == (
        "5.1.1 No such user 5.1.1 see https://help"
    )
    assert reply_text("  2.0.0 Ok  ") == "2.0.0 Ok"
    assert reply_text("") == ""


def test_has_8bit() -> None:
    assert not has_8bit(b"Subject: plain\r\n\r\nascii\r\n")
    assert has_8bit("สวัสดี".encode())
    assert has_8bit(b"\x80")


def test_needs_smtputf8_and_bad_address() -> None:
    assert not needs_smtputf8("a@b.example")
    assert not needs_smtputf8("")
    assert needs_smtputf8("สมชาย@ตัวอย่าง.ไทย")
    assert not bad_address("")  # the null sender
    assert not bad_address('"a b"@example.org')
    for bad in ("a@b\r\nRCPT TO:<x@y>", "a\x00@b", "a@b>", "<a@b"):
        assert bad_address(bad)


def test_mail_parameters() -> None:
    assert mail_parameters({}, 10, eight_bit=True, smtputf8=False) == []
    assert mail_parameters({"size": "1000"}, 10, eight_bit=False, smtputf8=False) == ["SIZE=10"]
    assert mail_parameters({"size": ""}, 10, eight_bit=False, smtputf8=False) == ["SIZE=10"]
    assert mail_parameters({"8bitmime": ""}, 10, eight_bit=True, smtputf8=False) == [
        "BODY=8BITMIME"
    ]
    assert mail_parameters({"8bitmime": ""}, 10, eight_bit=False, smtputf8=False) == []
    extensions = {"size": "0", "8bitmime": "", "smtputf8": ""}
    assert mail_parameters(extensions, 7, eight_bit=True, smtputf8=True) == [
        "SIZE=7",
        "BODY=8BITMIME",
        "SMTPUTF8",
    ]


def test_size_limit() -> None:
    assert size_limit({}) is None
    assert size_limit({"size": ""}) is None  # SIZE without a number: no fixed limit
    assert size_limit({"size": "0"}) is None  # RFC 1870 4: zero means no fixed limit
    assert size_limit({"size": "52428800"}) == 52_428_800
    assert size_limit({"size": "lots"}) is None


async def test_local_rejections_need_no_connection() -> None:
    outcomes = await deliver(
        [],
        "alice@bangkok.go.th",
        ["bad\r\n@x.example", "ok@x.example"],
        b"x\r\n",
        helo="mail.bangkok.go.th",
        tls="opportunistic",
        connect_timeout=1,
        command_timeout=1,
    )
    assert [(o.kind, o.text[:5]) for o in outcomes] == [
        ("permanent", "5.1.3"),
        ("temporary", "4.4.4"),  # no target to try
    ]
    outcomes = await deliver(
        [],
        "bad\n@sender",
        ["ok@x.example"],
        b"x\r\n",
        helo="mail.bangkok.go.th",
        tls="opportunistic",
        connect_timeout=1,
        command_timeout=1,
    )
    assert [(o.kind, o.text[:5]) for o in outcomes] == [("permanent", "5.1.7")]


async def test_no_recipients_no_outcomes() -> None:
    outcomes = await deliver(
        [Target("x", ("127.0.0.1",), 9)],
        "",
        [],
        b"",
        helo="h",
        tls="required",
        connect_timeout=1,
        command_timeout=1,
    )
    assert outcomes == []
