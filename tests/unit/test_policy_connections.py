"""The connection limits (policy/connections.py, mailserver/connlimit.py): a connection
from an address already holding `max_per_address`, or while `max_in_all` are open, is
refused with 421 4.7.0 (Postfix's answer), TEMPFAIL; 0 turns a limit off."""

from __future__ import annotations

import pytest

from mailserver.connlimit import ConnectionCount, client_address
from policy import rules
from policy.connections import connection_refusal, refusal_line
from policy.model import Verdict


@pytest.mark.parametrize(
    ("from_address", "in_all", "per_address", "total", "reason"),
    [
        (2, 10, 3, 100, None),
        (3, 10, 3, 100, rules.REASON_CONNECTIONS_PER_ADDRESS),
        (3, 100, 3, 100, rules.REASON_CONNECTIONS_PER_ADDRESS),  # the narrower reason
        (0, 99, 3, 100, None),
        (0, 100, 3, 100, rules.REASON_CONNECTIONS_IN_ALL),
        (500, 5000, 0, 0, None),  # 0: no limit
    ],
)
def test_connection_refusal(
    from_address: int, in_all: int, per_address: int, total: int, reason: str | None
) -> None:
    refusal = connection_refusal(from_address, in_all, per_address, total)
    if reason is None:
        assert refusal is None
        return
    assert refusal is not None
    assert refusal.reason == reason
    assert refusal.verdict is Verdict.TEMPFAIL
    assert (refusal.smtp_code, refusal.enhanced_code) == (421, "4.7.0")
    assert refusal.rule_id == rules.RULE_CONNECTIONS


def test_refusal_lines_per_protocol() -> None:
    refusal = connection_refusal(3, 3, 3, 100)
    assert refusal is not None
    assert refusal_line(refusal, "smtp", "mx.example") == (
        b"421 4.7.0 mx.example Too many connections from your address, try again later\r\n"
    )
    assert refusal_line(refusal, "imap", "") == (
        b"* BYE [UNAVAILABLE] Too many connections from your address\r\n"
    )
    assert refusal_line(refusal, "pop3", "") == (
        b"-ERR [SYS/TEMP] Too many connections from your address\r\n"
    )


def test_count_admits_up_to_the_limit_and_releases() -> None:
    count = ConnectionCount(max_per_address=2, max_in_all=3)
    assert count.admit("192.0.2.1") is None
    assert count.admit("192.0.2.1") is None
    assert count.admit("192.0.2.1") is not None  # refused: not counted
    assert count.admit("2001:db8::1") is None
    assert count.in_all == 3
    assert count.admit("2001:db8::2") is not None  # in all
    count.release("192.0.2.1")
    assert count.admit("192.0.2.1") is None
    for address in ("192.0.2.1", "192.0.2.1", "2001:db8::1"):
        count.release(address)
    assert count.in_all == 0
    assert not count.by_address  # no address is kept once its connections closed


def test_client_address() -> None:
    assert client_address(("192.0.2.1", 25)) == "192.0.2.1"
    assert client_address(("2001:db8::1", 25, 0, 0)) == "2001:db8::1"
    assert client_address(None) == ""


def test_an_ipv6_network_counts_as_one_client() -> None:
    count = ConnectionCount(max_per_address=2, max_in_all=100, ipv6_prefix=64)
    assert count.admit("2001:db8:1:2::1") is None
    assert count.admit("2001:db8:1:2:ffff::9") is None
    assert count.admit("2001:db8:1:2::77") is not None  # the same /64: a third one
    assert count.admit("2001:db8:1:3::1") is None  # the next /64 is another client
    assert count.from_address("2001:db8:1:2::abcd") == 2
    count.release("2001:db8:1:2::1")
    assert count.admit("2001:db8:1:2::77") is None
