"""Pure checks of envelope addresses and HELO names for the inbound MX (no I/O).

The MX must never be an open relay: a recipient is accepted only when its
domain is one of ours, and the old tricks that made an MTA forward mail
elsewhere (percent hack, bang paths, source routes, a second "@") are refused
or read as plain local-part text that can never leave this server.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum

# RFC 5322 3.2.3 atext, widened by RFC 6531 3.3 to any non-ASCII UTF-8 character.
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff"
_DOT_ATOM = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
# RFC 5321 4.1.2: sub-domain = Let-dig [Ldh-str]; RFC 6531 3.3 adds U-labels.
_LET_DIG = r"A-Za-z0-9\u0080-\U0010ffff"
_LABEL = re.compile(rf"[{_LET_DIG}](?:[{_LET_DIG}\-]*[{_LET_DIG}])?")
# RFC 5321 4.1.3: General-address-literal = Standardized-tag ":" 1*dcontent.
_GENERAL_LITERAL = re.compile(r"[A-Za-z0-9\-]*[A-Za-z0-9]:[\x21-\x5a\x5e-\x7e]+")
# RFC 5321 4.5.3.1.1 and 4.5.3.1.2: 64 octets of local part, 255 of domain.
MAX_LOCAL_PART = 64
MAX_DOMAIN = 255
MAX_LABEL = 63


class RecipientKind(StrEnum):
    """What an RCPT TO address is, as far as relaying is concerned."""

    LOCAL = "local"  # one of our domains, an ordinary local part: look it up
    UNDELIVERABLE = "undeliverable"  # one of our domains, a local part no account can have
    REMOTE = "remote"  # another domain: relaying, refused at the MX
    PERCENT_HACK = "percent_hack"  # user%remote@local: forward-to-remote trick
    BANG_PATH = "bang_path"  # remote!user@local: UUCP route trick
    SYNTAX = "syntax"  # no domain, empty parts, a second "@", bad quoting


@dataclass(frozen=True)
class Mailbox:
    """An envelope address split per RFC 5321 4.1.2 (Mailbox = Local-part "@" domain)."""

    local_part: str  # the local part with any quoting removed
    domain: str  # lower case, as given (a domain or an address literal)
    quoted: bool  # the local part was a Quoted-string

    @property
    def dot_atom(self) -> bool:
        """Whether the local part can be written unquoted (RFC 5321 4.1.2 Dot-string)."""
        return _DOT_ATOM.fullmatch(self.local_part) is not None

    @property
    def address(self) -> str:
        """The canonical form: `"bob"@x` is `bob@x` (RFC 5321 4.1.2 prefers Dot-string)."""
        if self.dot_atom:
            return f"{self.local_part}@{self.domain}"
        escaped = self.local_part.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"@{self.domain}'


@dataclass(frozen=True)
class Classified:
    """The result of `classify_recipient`: the kind, and the mailbox when it parsed."""

    kind: RecipientKind
    mailbox: Mailbox | None = None


def strip_source_route(address: str) -> str:
    """`@relay.example,@b.example:user@remote.example` -> `user@remote.example`.

    RFC 5321 4.1.1.3 and appendix C: servers must accept the source-route syntax
    but should ignore the route; only the final mailbox counts.
    """
    if address.startswith("@") and ":" in address:
        return address.split(":", 1)[1]
    return address


def _unquote(quoted: str) -> str | None:
    """The content of an RFC 5321 Quoted-string (with its quotes), or None if malformed."""
    if len(quoted) < 2 or not (quoted.startswith('"') and quoted.endswith('"')):
        return None
    out: list[str] = []
    chars = iter(quoted[1:-1])
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                return None
            out.append(escaped)
        elif char == '"' or char in "\r\n":
            return None
        else:
            out.append(char)
    return "".join(out)


def split_mailbox(address: str) -> Mailbox | None:
    """Split an envelope address into local part and domain; None when malformed.

    The domain is what follows the last "@" (a domain never holds one). An unquoted
    local part holding "@" (`user@local@remote`) is malformed: RFC 5321 allows "@"
    only inside a Quoted-string.
    """
    address = strip_source_route(address.strip())
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return None
    quoted = local.startswith('"')
    if quoted:
        text = _unquote(local)
        if text is None:
            return None
    elif _DOT_ATOM.fullmatch(local) is None:
        return None
    else:
        text = local
    if len(local.encode("utf-8")) > MAX_LOCAL_PART:
        return None
    if not (is_domain(domain) or is_address_literal(domain)):
        return None
    return Mailbox(text, domain.lower(), quoted)


def classify_recipient(address: str, local_domains: Collection[str]) -> Classified:
    """Decide what RCPT TO `address` is, given the domains we deliver for.

    Relay tricks are refused even when the domain is ours: `user%remote@local`
    (the "percent hack", Postfix `allow_percent_hack`) and `remote!user@local` (a
    UUCP bang path) asked old MTAs to forward the mail on. We refuse them rather
    than guess, whether quoted or not. A quoted local part holding "@"
    (`"user@remote"@local`) is only text: no account has it, so it is
    undeliverable here and never relayed.
    """
    mailbox = split_mailbox(address)
    if mailbox is None:
        return Classified(RecipientKind.SYNTAX)
    if mailbox.domain not in {d.lower() for d in local_domains}:
        return Classified(RecipientKind.REMOTE, mailbox)
    if "%" in mailbox.local_part:
        return Classified(RecipientKind.PERCENT_HACK, mailbox)
    if "!" in mailbox.local_part:
        return Classified(RecipientKind.BANG_PATH, mailbox)
    if not mailbox.dot_atom:
        return Classified(RecipientKind.UNDELIVERABLE, mailbox)
    return Classified(RecipientKind.LOCAL, mailbox)


def is_domain(name: str) -> bool:
    """RFC 5321 4.1.2 Domain: dot-separated labels of letters, digits and inner hyphens.

    No trailing dot (the grammar has none; Postfix refuses it as well), at most 63
    octets a label and 255 in all, and a top label that is not all digits (a bare
    IPv4 address must be written as an address literal, RFC 5321 4.1.3).
    """
    if not name or len(name.encode("utf-8")) > MAX_DOMAIN:
        return False
    labels = name.split(".")
    if any(len(label.encode("utf-8")) > MAX_LABEL for label in labels):
        return False
    if not all(_LABEL.fullmatch(label) for label in labels):
        return False
    return not labels[-1].isdigit()


def is_address_literal(text: str) -> bool:
    """RFC 5321 4.1.3: `[192.0.2.1]`, `[IPv6:2001:db8::1]` or `[tag:content]`."""
    if not (text.startswith("[") and text.endswith("]")):
        return False
    inner = text[1:-1]
    if inner[:5].lower() == "ipv6:":
        try:
            ipaddress.IPv6Address(inner[5:])
        except ValueError:
            return False
        return True
    try:
        ipaddress.IPv4Address(inner)
    except ValueError:
        return _GENERAL_LITERAL.fullmatch(inner) is not None
    return True


def valid_helo(name: str) -> bool:
    """RFC 5321 4.1.1.1: the HELO/EHLO argument is a Domain or an address literal."""
    return is_domain(name) or is_address_literal(name)


def helo_claims_us(name: str, hostname: str, local_domains: Collection[str]) -> bool:
    """Whether a peer's HELO name is our own host name or one of our mail domains.

    No other server may introduce itself as us; a peer that does is forging its
    identity (RFC 5321 4.1.4 lets a server check the name given).
    """
    wanted = name.lower()
    return wanted == hostname.lower() or wanted in {d.lower() for d in local_domains}
