"""Where to send a remote domain's mail: MX lookup (RFC 5321 §5.1) with dnspython.

`resolve_destination` turns a recipient domain into the hosts to try, best first,
each with its addresses (A, then AAAA), looked up through the same resolver so a
test can point everything at its own name server. Failures are classified for the
queue: `PermanentFailure` bounces the recipients, `TemporaryFailure` retries them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Sequence
from dataclasses import dataclass

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver

# Per-query time limit by default; also the overall limit of one lookup.
DEFAULT_TIMEOUT = 5.0
# Shuffles MX hosts of equal preference.
_RNG = random.Random()


class LookupFailure(Exception):
    """A destination could not be resolved; `enhanced` is the RFC 3463 status code."""

    def __init__(self, enhanced: str, text: str) -> None:
        super().__init__(f"{enhanced} {text}")
        self.enhanced = enhanced
        self.text = text


class PermanentFailure(LookupFailure):
    """The domain can never receive mail as things stand (bounce, 5.x.x)."""


class TemporaryFailure(LookupFailure):
    """The lookup failed for now (retry later, 4.x.x)."""


@dataclass(frozen=True)
class Host:
    """One place to deliver to: an MX host's name, its addresses, port and preference."""

    name: str
    addresses: tuple[str, ...]
    port: int
    preference: int


def make_resolver(
    servers: Sequence[str], port: int, timeout: float = DEFAULT_TIMEOUT
) -> dns.asyncresolver.Resolver:
    """A resolver asking `servers` on `port`, or the system's name servers
    (/etc/resolv.conf, on their usual port) when `servers` is empty.

    `timeout` bounds each query to a server and each lookup as a whole.
    """
    if servers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.port = port
        resolver.nameservers = list(servers)
    else:
        try:
            resolver = dns.asyncresolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            # No resolv.conf: every lookup fails as "no nameservers" (temporary).
            resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.timeout = timeout
    resolver.lifetime = timeout
    # Names are looked up as given, never with a search domain appended.
    resolver.use_search_by_default = False
    return resolver


async def resolve_destination(
    domain: str,
    resolver: dns.asyncresolver.Resolver,
    *,
    port: int,
    rng: random.Random | None = None,
) -> list[Host]:
    """The hosts to try for `domain`, in order (never empty).

    - `[192.0.2.1]` / `[IPv6:2001:db8::1]`: that address (RFC 5321 §4.1.3, §5.1);
    - MX records by preference, equal preferences in random order (RFC 5321 §5.1);
    - no MX: the domain itself if it has an address, the "implicit MX" (§5.1);
    - null MX (RFC 7505): `PermanentFailure` 5.1.10;
    - no such domain, or neither MX nor address: `PermanentFailure` 5.1.2;
    - time-out, SERVFAIL or no usable name server: `TemporaryFailure` 4.4.3;
    - MX hosts none of which has an address: `TemporaryFailure` 4.4.4.
    """
    if domain.startswith("["):
        return [_literal(domain, port)]
    if not domain.strip("."):
        raise PermanentFailure("5.1.2", "empty domain")
    try:
        name = dns.name.from_text(domain.rstrip(".") + ".")
    except (dns.exception.DNSException, UnicodeError, ValueError) as exc:
        raise PermanentFailure("5.1.2", f"{domain}: not a valid domain name ({exc})") from None
    shown = name.to_unicode(omit_final_dot=True)

    try:
        answer = await resolver.resolve(name, dns.rdatatype.MX)
    except dns.resolver.NXDOMAIN:
        raise PermanentFailure("5.1.2", f"{shown}: no such domain") from None
    except dns.resolver.NoAnswer:
        return [await _implicit_mx(name, shown, resolver, port)]
    except dns.exception.DNSException as exc:
        raise TemporaryFailure("4.4.3", f"{shown}: MX lookup failed: {_describe(exc)}") from None

    records = [(r.preference, r.exchange) for r in answer]
    real = [(pref, exchange) for pref, exchange in records if exchange != dns.name.root]
    if not real:
        # RFC 7505 §3: a single MX of preference 0 with the root as exchange. Other
        # root-only answers cannot be delivered to either, so they are treated alike.
        raise PermanentFailure(
            "5.1.10", f"{shown}: domain does not accept mail (null MX, RFC 7505)"
        )
    # RFC 7505 §3 forbids mixing a null MX with others; the real ones are used if so.
    ordered = _by_preference(real, rng or _RNG)

    lookups = await asyncio.gather(*(_addresses(exchange, resolver) for _, exchange in ordered))
    hosts: list[Host] = []
    reasons: list[str] = []
    for (preference, exchange), (addresses, problem) in zip(ordered, lookups, strict=True):
        host_name = exchange.to_unicode(omit_final_dot=True)
        if addresses:
            hosts.append(Host(host_name, addresses, port, preference))
        else:
            reasons.append(f"{host_name}: {problem}")
    if not hosts:
        raise TemporaryFailure(
            "4.4.4", f"{shown}: no MX host has an address ({'; '.join(reasons)})"
        )
    return hosts


def _literal(domain: str, port: int) -> Host:
    """RFC 5321 §4.1.3 address literal: `[IPv4]` or `[IPv6:addr]`."""
    inner = domain[1:-1] if domain.endswith("]") else ""
    tag, colon, rest = inner.partition(":")
    try:
        if colon and tag.upper() == "IPV6":
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv6Address(rest)
        else:
            address = ipaddress.IPv4Address(inner)
    except ValueError:
        raise PermanentFailure("5.1.2", f"{domain}: malformed address literal") from None
    return Host(str(address), (str(address),), port, 0)


async def _implicit_mx(
    name: dns.name.Name, shown: str, resolver: dns.asyncresolver.Resolver, port: int
) -> Host:
    """RFC 5321 §5.1: no MX records, so the domain itself is the host, if it has an address."""
    addresses, problem = await _addresses(name, resolver)
    if addresses:
        return Host(shown, addresses, port, 0)
    if problem.startswith("lookup failed"):
        raise TemporaryFailure("4.4.3", f"{shown}: no MX and address {problem}")
    raise PermanentFailure("5.1.2", f"{shown}: no MX and no address records ({problem})")


async def _addresses(
    name: dns.name.Name, resolver: dns.asyncresolver.Resolver
) -> tuple[tuple[str, ...], str]:
    """The A then AAAA addresses of `name`, and why there are none if so.

    The reason starts with "lookup failed" when a query failed for now (time-out,
    SERVFAIL) rather than finding nothing.
    """
    results = await asyncio.gather(
        resolver.resolve(name, dns.rdatatype.A),
        resolver.resolve(name, dns.rdatatype.AAAA),
        return_exceptions=True,
    )
    addresses: list[str] = []
    failures: list[str] = []
    for result in results:
        if isinstance(result, dns.resolver.Answer):
            addresses.extend(rdata.address for rdata in result)
        elif isinstance(result, dns.resolver.NXDOMAIN):
            return (), "no such host"
        elif isinstance(result, dns.resolver.NoAnswer):
            continue
        elif isinstance(result, dns.exception.DNSException):
            failures.append(_describe(result))
        elif isinstance(result, BaseException):
            raise result
    if addresses:
        return tuple(dict.fromkeys(addresses)), ""
    if failures:
        return (), f"lookup failed: {failures[0]}"
    return (), "no A or AAAA records"


def _by_preference(
    records: list[tuple[int, dns.name.Name]], rng: random.Random
) -> list[tuple[int, dns.name.Name]]:
    """Lowest preference first; equal ones shuffled to spread the load (RFC 5321 §5.1).

    A host listed twice keeps only its best preference.
    """
    best: dict[dns.name.Name, int] = {}
    for preference, exchange in records:
        if exchange not in best or preference < best[exchange]:
            best[exchange] = preference
    groups: dict[int, list[dns.name.Name]] = {}
    for exchange, preference in best.items():
        groups.setdefault(preference, []).append(exchange)
    ordered: list[tuple[int, dns.name.Name]] = []
    for preference in sorted(groups):
        group = groups[preference]
        rng.shuffle(group)
        ordered.extend((preference, exchange) for exchange in group)
    return ordered


def _describe(exc: dns.exception.DNSException) -> str:
    """A short reason for the log and DSNs."""
    if isinstance(exc, dns.exception.Timeout):
        return "time-out"
    if isinstance(exc, dns.resolver.NoNameservers):
        return "no name server answered (SERVFAIL or refused)"
    return type(exc).__name__
