"""The MX's pure address checks: relay tricks, local recipients, HELO names."""

from __future__ import annotations

import pytest

from mailserver.smtp.addresses import (
    Mailbox,
    RecipientKind,
    classify_recipient,
    helo_claims_us,
    is_address_literal,
    is_domain,
    split_mailbox,
    strip_source_route,
    valid_helo,
)

LOCAL = frozenset({"bangkok.go.th"})


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("bob@bangkok.go.th", RecipientKind.LOCAL),
        ("Bob@BANGKOK.GO.TH", RecipientKind.LOCAL),
        ('"bob"@bangkok.go.th', RecipientKind.LOCAL),  # RFC 5321 4.1.2: same mailbox
        ("สมชาย@bangkok.go.th", RecipientKind.LOCAL),  # RFC 6531 UTF-8 local part
        ("someone@example.com", RecipientKind.REMOTE),
        ("bob@bangkok.go.th.example.com", RecipientKind.REMOTE),
        ("bob@sub.bangkok.go.th", RecipientKind.REMOTE),  # only the listed domains
        ("user@[127.0.0.1]", RecipientKind.REMOTE),  # a literal is not ours unless listed
        ("user@[IPv6:::1]", RecipientKind.REMOTE),
        ("@relay.example:user@example.com", RecipientKind.REMOTE),  # the route is ignored
        ("@relay.example,@b.example:bob@bangkok.go.th", RecipientKind.LOCAL),
        ("user%example.com@bangkok.go.th", RecipientKind.PERCENT_HACK),
        ('"user%example.com"@bangkok.go.th', RecipientKind.PERCENT_HACK),
        ("example.com!user@bangkok.go.th", RecipientKind.BANG_PATH),
        ('"user@example.com"@bangkok.go.th', RecipientKind.UNDELIVERABLE),  # text, not a route
        ('"a b"@bangkok.go.th', RecipientKind.UNDELIVERABLE),
        ("user@bangkok.go.th@example.com", RecipientKind.SYNTAX),
        ("user@example.com@bangkok.go.th", RecipientKind.SYNTAX),
        ("bob", RecipientKind.SYNTAX),
        ("@bangkok.go.th", RecipientKind.SYNTAX),
        ("bob@", RecipientKind.SYNTAX),
        ("bob@bangkok.go.th.", RecipientKind.SYNTAX),
        ("bob..x@bangkok.go.th", RecipientKind.SYNTAX),
        ('"unterminated@bangkok.go.th', RecipientKind.SYNTAX),
        ('"a"b"@bangkok.go.th', RecipientKind.SYNTAX),
        ("x" * 65 + "@bangkok.go.th", RecipientKind.SYNTAX),  # RFC 5321 4.5.3.1.1
    ],
)
def test_classify_recipient(address: str, kind: RecipientKind) -> None:
    assert classify_recipient(address, LOCAL).kind is kind


def test_an_address_literal_is_local_only_when_configured() -> None:
    assert classify_recipient("user@[127.0.0.1]", {"[127.0.0.1]"}).kind is RecipientKind.LOCAL


def test_split_mailbox_unquotes_and_canonicalises() -> None:
    assert split_mailbox('"bob"@Bangkok.go.th') == Mailbox("bob", "bangkok.go.th", True)
    assert split_mailbox('"bob"@bangkok.go.th').address == "bob@bangkok.go.th"  # type: ignore[union-attr]
    quoted = split_mailbox(r'"a\"b@c"@bangkok.go.th')
    assert quoted is not None and quoted.local_part == 'a"b@c'
    assert quoted.address == r'"a\"b@c"@bangkok.go.th'
    assert split_mailbox("<bob@bangkok.go.th>") == Mailbox("bob", "bangkok.go.th", False)


def test_strip_source_route() -> None:
    assert strip_source_route("@a.example,@b.example:u@c.example") == "u@c.example"
    assert strip_source_route("u@c.example") == "u@c.example"


@pytest.mark.parametrize(
    "name",
    [
        "mx.example.org",
        "localhost",
        "a-b.example",
        "xn--72c1a1bt4awk9o.xn--o3cw4h",
        "ไทย.example",
        "[192.0.2.1]",
        "[IPv6:2001:db8::1]",
        "[x-tag:content]",
    ],
)
def test_valid_helo(name: str) -> None:
    assert valid_helo(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "bad_name",
        "-start.example",
        "end-.example",
        "a..b",
        "trailing.dot.",
        "192.0.2.1",  # a bare IP must be an address literal
        "[192.0.2.300]",
        "[IPv6:nonsense]",
        "[]",
        "mx.example.org extra",
        "a" * 64 + ".example",
        ".".join(["a" * 60] * 5),
    ],
)
def test_invalid_helo(name: str) -> None:
    assert not valid_helo(name)


def test_domain_and_literal_predicates() -> None:
    assert is_domain("bangkok.go.th") and not is_domain("[127.0.0.1]")
    assert is_address_literal("[127.0.0.1]") and not is_address_literal("127.0.0.1")


def test_helo_claims_us() -> None:
    assert helo_claims_us("MAIL.test.example", "mail.test.example", LOCAL)
    assert helo_claims_us("Bangkok.Go.Th", "mail.test.example", LOCAL)
    assert not helo_claims_us("mx.example.org", "mail.test.example", LOCAL)
    assert not helo_claims_us("sub.bangkok.go.th", "mail.test.example", LOCAL)
