"""The key one client is counted by: its IPv4 address, or its IPv6 network.

An IPv6 host is usually given a whole /64 (RFC 6177, RFC 7934: "a /64 per host" on
most networks), so counting each IPv6 address apart would let one attacker take a
fresh address for every connection or every guess. Connection caps, login penalties
and every other per-client count therefore count an IPv6 client by its network of
`limits.ipv6_prefix_length` bits (64 by default, as Stalwart and fail2ban's
`ipv6_prefix` advise); an IPv4-mapped IPv6 address (::ffff:a.b.c.d, from a dual-stack
socket) is the IPv4 client it names.
"""

from __future__ import annotations

import ipaddress


def network_key(address: str, ipv6_prefix: int = 64) -> str:
    """The counting key of the client at `address`: "192.0.2.7", "2001:db8:1:2::/64".

    Anything that is not an IP address (a socket file's "" or a name) is its own key.
    """
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone index
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        if ipv6_prefix >= 128:
            return str(ip)
        network = ipaddress.IPv6Network((ip, ipv6_prefix), strict=False)
        return str(network)
    return str(ip)
