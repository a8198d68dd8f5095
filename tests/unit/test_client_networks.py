"""The key a client is counted by: IPv4 as it is, IPv6 by network."""

from __future__ import annotations

import pytest

from mailserver.client_networks import network_key


@pytest.mark.parametrize(
    ("address", "prefix", "key"),
    [
        ("192.0.2.7", 64, "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::/64"),
        ("2001:DB8:1:2::9", 64, "2001:db8:1:2::/64"),  # one spelling per network
        ("2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::/48"),
        ("2001:db8::1", 128, "2001:db8::1"),
        ("::ffff:192.0.2.7", 64, "192.0.2.7"),  # a dual-stack socket's IPv4 client
        ("fe80::1%eth0", 64, "fe80::/64"),
        ("", 64, ""),  # a socket file
        ("not-an-address", 64, "not-an-address"),
    ],
)
def test_network_key(address: str, prefix: int, key: str) -> None:
    assert network_key(address, prefix) == key
