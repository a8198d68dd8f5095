"""The one login normaliser: what a typed login means, the same for every way in.

Why: a login arrives by SMTP AUTH (RFC 4954, SASL PLAIN RFC 4616 / LOGIN), IMAP LOGIN
and AUTHENTICATE (RFC 3501 §6.2), POP3 USER and AUTH (RFC 1939 §7, RFC 5034), the admin
CLI, and is looked up in the embedded or the LDAP directory. When each of them cleaned
it its own way, ``\\u212aanya`` (KELVIN SIGN) logged in as ``kanya`` (Python's
``str.lower`` maps U+212A to ``k``) and a trailing space was trimmed by SMTP but not by
IMAP. Now every one of them calls `normal_login` and nothing else, and the directories
store exactly what it returns.

The rules (docs/security.md, "Logins"):

- A login is printable ASCII in its local part (``!`` .. ``~``, no space): the logins of
  our directories are ASCII. Nothing is *mapped* to ASCII: a compatibility character
  (KELVIN SIGN, fullwidth ``ｋ``, ligatures) or any other non-ASCII letter in the local
  part is refused, never folded into some other user's login (Unicode TR 36 §2: one
  visible string, one identity).
- No trimming: leading, trailing or inner whitespace is refused everywhere (a password is
  never trimmed either; a login the user did not type as stored is not that login).
- NUL and every other control character are refused (RFC 4616 §2 forbids NUL inside
  authcid; it would also end a C string in a peer).
- The domain, after one ``@``, is ASCII letters, digits, ``-`` and ``_`` in non-empty
  dot-separated labels (no trailing dot). A non-ASCII domain is taken in its IDNA
  A-label form (``xn--``), but only when that conversion maps nothing: the U-labels
  read back from the A-labels must be the domain as typed (after ASCII lower-casing),
  so ``bang\\u212aok.go.th`` or a fullwidth dot is refused, not mapped.
- ASCII letters are lower-cased (logins are case-insensitive, as the directory's
  caseIgnoreMatch is); only A-Z, never the Unicode lower-casing.
- At most 254 characters (RFC 5321 §4.5.3.1.3's path limit less the brackets).

A refused login is None. Every caller answers it as a wrong login (the same reply as
an unknown user or a wrong password), so the rules cannot be used to tell anything
about the accounts; the rules themselves are public.
"""

from __future__ import annotations

import re
from typing import Final

MAX_LOGIN: Final = 254
# Longer input is refused before any other work (the IDNA codec is not free).
_MAX_INPUT: Final = 4 * MAX_LOGIN
_LOCAL = re.compile(r"[!-?A-~]+")  # printable ASCII without space and "@"
_DOMAIN = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_ASCII_LOWER: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normal_login(raw: object) -> str | None:
    """The login as the directory stores it, or None when `raw` is not a valid login.

    Pure, never raises, idempotent: ``normal_login(normal_login(x)) == normal_login(x)``.
    """
    if not isinstance(raw, str) or not raw or len(raw) > _MAX_INPUT:
        return None
    local, at, domain = raw.partition("@")
    if not _LOCAL.fullmatch(local):
        return None
    login = local.translate(_ASCII_LOWER)
    if at:
        ascii_domain = _ascii_domain(domain)
        if ascii_domain is None:
            return None
        login += "@" + ascii_domain
    return login if len(login) <= MAX_LOGIN else None


def _ascii_domain(domain: str) -> str | None:
    """The lower-case ASCII form of `domain`, or None (see the module docstring)."""
    lowered = domain.translate(_ASCII_LOWER)
    if not lowered.isascii():
        try:
            a_labels = lowered.encode("idna").decode("ascii")
            if a_labels.encode("ascii").decode("idna") != lowered:
                return None  # the conversion mapped something: refuse, never map
        except (UnicodeError, ValueError):
            return None
        lowered = a_labels
    return lowered if _DOMAIN.fullmatch(lowered) else None
