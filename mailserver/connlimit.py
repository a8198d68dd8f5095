"""Live connections of one listener family, counted per client address and in all.

The counts are the facts `policy.connections` judges a new connection on (Postfix's
`smtpd_client_connection_count_limit`). A listener `admit`s each accepted connection
and, when admitted, `release`s it once it is closed, whatever ended it (try/finally).
In-process: each node counts its own connections. An IPv6 client is counted by its
network of `limits.ipv6_prefix_length` bits (mailserver/client_networks.py).
"""

from __future__ import annotations

from collections import Counter

from mailserver.client_networks import network_key
from policy.connections import connection_refusal
from policy.model import Decision


class ConnectionCount:
    """Open connections per client (its address; an IPv6 one by network) and in all, for
    one listener family."""

    def __init__(self, max_per_address: int, max_in_all: int, ipv6_prefix: int = 64) -> None:
        self.max_per_address = max_per_address
        self.max_in_all = max_in_all
        self.ipv6_prefix = ipv6_prefix
        # Keyed by `network_key`: an IPv6 client's whole network counts as one.
        self.by_address: Counter[str] = Counter()
        self.in_all = 0

    def from_address(self, address: str) -> int:
        """Open connections counted for the client at `address` (its network for IPv6)."""
        return self.by_address[network_key(address, self.ipv6_prefix)]

    def admit(self, address: str) -> Decision | None:
        """Count a new connection from `address` and return None, or return the policy's
        refusal (nothing counted) when a limit is reached."""
        key = network_key(address, self.ipv6_prefix)
        refusal = connection_refusal(
            self.by_address[key], self.in_all, self.max_per_address, self.max_in_all
        )
        if refusal is None:
            self.by_address[key] += 1
            self.in_all += 1
        return refusal

    def release(self, address: str) -> None:
        """Forget one admitted connection from `address` (it is closed)."""
        key = network_key(address, self.ipv6_prefix)
        self.by_address[key] -= 1
        if self.by_address[key] <= 0:
            del self.by_address[key]
        self.in_all = max(self.in_all - 1, 0)


def client_address(peer: object) -> str:
    """The client address of a transport's `peername` ("" when it has none, e.g. a socket
    file); IPv6 as it is."""
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""
