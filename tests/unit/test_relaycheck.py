"""Which recipients the MX treats as ours, and which HELO names it refuses."""

from __future__ import annotations

import pytest

from mailserver.smtp.relaycheck import Recipient, classify_recipient, helo_problem

LOCAL = frozenset({"bangkok.go.th"})


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("bob@bangkok.go.th", Recipient.LOCAL),
        ("Bob@BANGKOK.GO.TH", Recipient.LOCAL),
        ("bob@bangkok.go.th.", Recipient.LOCAL),
        ("someone@example.com", Recipient.RELAY),
        ("user%example.com@bangkok.go.th", Recipient.RELAY),  # percent hack
        ("example.com!user@bangkok.go.th", Recipient.RELAY),  # bang path
        ('"user@example.com"@bangkok.go.th', Recipient.RELAY),  # quoted local part
        ("user@[127.0.0.1]", Recipient.RELAY),  # address literal
        ("user@[IPv6:::1]", Recipient.RELAY),
        ("bangkok.go.th", Recipient.BAD),
        ("@bangkok.go.th", Recipient.BAD),
        ("user@", Recipient.BAD),
    ],
)
def test_classify_recipient(address: str, kind: Recipient) -> None:
    assert classify_recipient(address, LOCAL) is kind


@pytest.mark.parametrize(
    ("name", "refused"),
    [
        ("mail.example.com", False),
        ("localhost", False),
        ("[192.0.2.1]", False),
        ("[IPv6:2001:db8::1]", False),
        ("[999.1.1.1]", True),
        ("not a name", True),
        ("-bad-.example", True),
        ("mail.bangkok.go.th", True),  # claims to be us
        ("BANGKOK.GO.TH", True),
    ],
)
def test_helo_names(name: str, refused: bool) -> None:
    own = {"mail.bangkok.go.th", "bangkok.go.th"}
    assert (helo_problem(name, own) is not None) is refused
