"""Pure checks for the inbound MX: which recipients are ours, which HELO names are sane.

An MX must never relay (RFC 5321 §3.6, RFC 2505): only addresses in our own
domains are accepted, and the old tricks that made servers forward mail —
the percent hack, bang paths, source routes, address literals — are refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Set
from enum import Enum

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")


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


def helo_problem(name: str, own_names: Set[str]) -> str | None:
    """Why a HELO/EHLO name is refused, or None (RFC 5321 §4.1.4 allows checking it)."""
    name = name.strip()
    if name.startswith("[") and name.endswith("]"):
        literal = name[1:-1]
        literal = literal[5:] if literal.lower().startswith("ipv6:") else literal
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return "is not a valid address literal"
        return None
    if not _DOMAIN.match(name) or len(name) > 253:
        return "is not a domain name or address literal"
    if name.lower().rstrip(".") in own_names:
        return "is this server's own name"
    return None
