"""Counters shared by the sessions of one node, or by every node: one small interface.

Why: abuse resistance needs counts that outlive a connection (failed logins per
address and per account, messages sent per account, connections per client,
signs of a compromised account), and a count kept in one process is wrong as
soon as a second node serves the same users (DESIGN.md, "Scale beyond one
machine"). The callers count through `Counters`; `Services` holds the
configured implementation, and the counts reach the policy as facts, so the
rules stay pure (DESIGN.md, "Node-local state behind small interfaces").

Every counter is a **fixed window**: the first `incr` of a key creates it with
the count and an expiry `ttl_seconds` later; later increments add to it and
never move the expiry (Redis `INCRBY` + `PEXPIRE ... NX`); once it has expired
the next `incr` starts a new window at the amount. A key that does not exist
reads as 0.

- `MemoryCounters` (`memory.py`): this process only; bounded in size, since the
  callers build keys from what a client sends.
- `RedisCounters` (`redis_counters.py`): shared through Redis. When Redis does
  not answer, every call raises `CountersUnavailable` within the timeout, and
  the caller's policy decides: fail closed (a temporary refusal) or count
  locally for a while, which `FallbackCounters` (`fallback.py`) does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class CountersUnavailable(Exception):
    """The shared counters cannot answer now (Redis down, slow or refusing)."""


class Counters(Protocol):
    """Fixed-window counters; see the module docstring."""

    async def incr(self, key: str, *, ttl_seconds: float, by: int = 1) -> int:
        """Add `by` to `key` and return the new count; a new key expires in `ttl_seconds`."""
        ...

    async def incr_many(self, keys: Sequence[str], *, ttl_seconds: float, by: int = 1) -> list[int]:
        """`incr` of each key, in one round trip where the backend allows; counts in order."""
        ...

    async def get(self, key: str) -> int:
        """The count of `key` now (0 when it does not exist or has expired)."""
        ...

    async def reset(self, key: str) -> None:
        """Forget `key`: it reads 0 and its next `incr` opens a new window."""
        ...

    async def ping(self) -> None:
        """Return when the counters answer; CountersUnavailable when they do not."""
        ...

    async def close(self) -> None:
        """Release connections (the counts themselves stay where they are)."""
        ...


def check_increment(ttl_seconds: float, by: int) -> None:
    """ValueError for an increment no implementation accepts (a caller's bug)."""
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive, not {ttl_seconds!r}")
    if by < 1:
        raise ValueError(f"by must be at least 1, not {by!r}")
