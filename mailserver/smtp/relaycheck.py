"""A pure check for the inbound MX: which recipients are ours (HELO names: `policy.helo`).

An MX must never relay (RFC 5321 §3.6, RFC 2505): only addresses in our own
domains are accepted, and the old tricks that made servers forward mail —
the percent hack, bang paths, source routes, address literals — are refused.
"""

from __future__ import annotations

from collections.abc import Set
from enum import Enum


class Recipient(Enum):
    LOCAL = "local"  # one of our domains: look the address up
    RELAY = "relay"  # someone else's: refuse, we are not a relay
    BAD = "bad"  # not a usable address


def classify_recipient(address: str, local_domains: Set[str]) -> Recipient:
    """Where `address` (as aiosmtpd parsed it from RCPT TO) would send mail."""
    local_part, at, domain = address.rpartition("@")
    if not at or not local_part or not domain:
        return Recipient.BAD
    domain = domain.lower().rstrip(".")
    if domain.startswith("["):
        return Recipient.RELAY  # address literals name hosts, not our domains
    if domain not in local_domains:
        return Recipient.RELAY
    bare = local_part.strip('"')
    # user%remote@local and remote!user@local asked old MTAs to forward; so does a
    # quoted "user@remote"@local to a naive one. None of them is a mailbox of ours.
    if any(c in bare for c in "%!@"):
        return Recipient.RELAY
    return Recipient.LOCAL
