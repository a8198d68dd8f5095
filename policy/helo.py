"""The HELO/EHLO name a peer server gives the inbound MX, judged as a policy value.

RFC 5321 §4.1.1.1 asks a client to give its fully-qualified domain name, or an address
literal when it has none (§4.1.3); §4.1.4 lets a server check the name. With
`mx.strict_helo` the MX refuses what Postfix's HELO restrictions refuse, with Postfix's
codes, so senders see what they would see at any well-run MX:

- neither a domain name nor an address literal (`not a name!`, `[999.1.1.1]`):
  501 5.5.2, as `reject_invalid_helo_hostname`;
- a name of one label (`foo`, `localhost`): 504 5.5.2, as
  `reject_non_fqdn_helo_hostname` ("need fully-qualified hostname");
- a name claiming to be this server or one of its domains: 550 5.7.1 (no peer is us).

Address literals (`[192.0.2.1]`, `[IPv6:2001:db8::1]`) are accepted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Set

from policy import rules
from policy.model import Decision

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*\.?$")
_MAX_DOMAIN = 253  # RFC 1035 §2.3.4, as text without the final dot


def helo_refusal(name: str, own_names: Set[str]) -> Decision | None:
    """The refusal of HELO/EHLO `name`, or None when it is acceptable.

    `own_names` are this server's host name and local domains, lower case.
    """
    name = name.strip()
    problem = _problem(name, own_names)
    if problem is None:
        return None
    codes, reason = problem
    return rules.deny(codes, rules.RULE_HELO, reason, {"helo": name[:100]})


def _problem(name: str, own_names: Set[str]) -> tuple[tuple[int, str], str] | None:
    """The (codes, reason) that refuse `name`, or None."""
    invalid = (rules.HELO_INVALID, rules.REASON_HELO_INVALID)
    if name.startswith("[") and name.endswith("]"):
        literal = name[1:-1]
        literal = literal[5:] if literal.lower().startswith("ipv6:") else literal
        try:
            ipaddress.ip_address(literal)
        except ValueError:
            return invalid
        return None
    if not _DOMAIN.match(name) or len(name.rstrip(".")) > _MAX_DOMAIN:
        return invalid
    bare = name.lower().rstrip(".")
    if "." not in bare:
        return rules.HELO_NOT_FQDN, rules.REASON_HELO_NOT_FQDN
    if bare in own_names:
        return rules.HELO_OWN_NAME, rules.REASON_HELO_OWN_NAME
    return None
