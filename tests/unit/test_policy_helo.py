"""Which HELO/EHLO names the MX refuses, with which codes (policy/helo.py): Postfix's
reject_invalid_helo_hostname and reject_non_fqdn_helo_hostname, and no peer claiming to be us."""

from __future__ import annotations

import pytest

from policy import rules
from policy.helo import helo_refusal
from policy.messages import reply_text
from policy.model import Verdict

OWN = frozenset({"mail.bangkok.go.th", "bangkok.go.th"})


@pytest.mark.parametrize(
    "name",
    [
        "mail.example.com",
        "mail.example.com.",
        "MX1.Example.ORG",
        "[192.0.2.1]",
        "[IPv6:2001:db8::1]",
        "[ipv6:::1]",
        "a.b",
    ],
)
def test_accepted(name: str) -> None:
    assert helo_refusal(name, OWN) is None


@pytest.mark.parametrize(
    ("name", "reason", "codes"),
    [
        # One label: reject_non_fqdn_helo_hostname, 504 5.5.2.
        ("foo", rules.REASON_HELO_NOT_FQDN, (504, "5.5.2")),
        ("localhost", rules.REASON_HELO_NOT_FQDN, (504, "5.5.2")),
        ("FOO.", rules.REASON_HELO_NOT_FQDN, (504, "5.5.2")),
        # Not a name at all: reject_invalid_helo_hostname, 501 5.5.2.
        ("[999.1.1.1]", rules.REASON_HELO_INVALID, (501, "5.5.2")),
        ("[IPv6:not-an-address]", rules.REASON_HELO_INVALID, (501, "5.5.2")),
        ("[foo]", rules.REASON_HELO_INVALID, (501, "5.5.2")),
        ("not a name", rules.REASON_HELO_INVALID, (501, "5.5.2")),
        ("-bad-.example", rules.REASON_HELO_INVALID, (501, "5.5.2")),
        ("a..b", rules.REASON_HELO_INVALID, (501, "5.5.2")),
        ("x" * 64 + ".example", rules.REASON_HELO_INVALID, (501, "5.5.2")),  # label > 63
        ("example." * 40 + "org", rules.REASON_HELO_INVALID, (501, "5.5.2")),  # name > 253
        # Claims to be this server or one of its domains.
        ("mail.bangkok.go.th", rules.REASON_HELO_OWN_NAME, (550, "5.7.1")),
        ("BANGKOK.GO.TH.", rules.REASON_HELO_OWN_NAME, (550, "5.7.1")),
    ],
)
def test_refused(name: str, reason: str, codes: tuple[int, str]) -> None:
    decision = helo_refusal(name, OWN)
    assert decision is not None
    assert decision.verdict is Verdict.DENY
    assert (decision.rule_id, decision.reason) == (rules.RULE_HELO, reason)
    assert (decision.smtp_code, decision.enhanced_code) == codes
    assert decision.params["helo"] == name.strip()[:100]


def test_peer_text_is_postfix_wording_and_ascii() -> None:
    decision = helo_refusal("foo", OWN)
    assert decision is not None
    assert reply_text(decision) == "Helo command rejected: need fully-qualified hostname"
    invalid = helo_refusal("[999.1.1.1]", OWN)
    assert invalid is not None
    assert reply_text(invalid) == "Helo command rejected: Invalid name"
    own = helo_refusal("bangkok.go.th", OWN)
    assert own is not None
    assert reply_text(own).isascii()
