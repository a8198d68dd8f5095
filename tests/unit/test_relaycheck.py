"""Which recipients the MX treats as ours."""

from __future__ import annotations

import pytest

from mailserver.smtp.relaycheck import Recipient, classify_recipient

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
