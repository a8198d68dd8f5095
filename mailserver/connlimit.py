"""Live connections of one listener family, counted per client address and in all.

The counts are the facts `policy.connections` judges a new connection on (Postfix's
`smtpd_client_connection_count_limit`). A listener `admit`s each accepted connection
and, when admitted, `release`s it once it is closed, whatever ended it (try/finally).
In-process: each node counts its own connections. IPv6 addresses are counted as they
are, not by /64 prefix (docs/security.md, known gaps).
"""

from __future__ import annotations

from collections import Counter

from policy.connections import connection_refusal
from policy.model import Decision


class ConnectionCount:
    """Open connections per client address and in all, for one listener family."""

    def __init__(self, max_per_address: int, max_in_all: int) -> None:
        self.max_per_address = max_per_address
        self.max_in_all = max_in_all
        self.by_address: Counter[str] = Counter()
        self.in_all = 0

    def admit(self, address: str) -> Decision | None:
        """Count a new connection from `address` and return None, or return the policy's
        refusal (nothing counted) when a limit is reached."""
        refusal = connection_refusal(
            self.by_address[address], self.in_all, self.max_per_address, self.max_in_all
        )
        if refusal is None:
            self.by_address[address] += 1
            self.in_all += 1
        return refusal

    def release(self, address: str) -> None:
        """Forget one admitted connection from `address` (it is closed)."""
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]
        self.in_all = max(self.in_all - 1, 0)


def client_address(peer: object) -> str:
    """The client address of a transport's `peername` ("" when it has none, e.g. a socket
    file); IPv6 as it is."""
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""
