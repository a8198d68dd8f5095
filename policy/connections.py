"""Connections from one client address, and in all, as a policy value: refused at accept.

One address holding hundreds of idle or trickling connections starves everyone else of
sockets, memory and file descriptors. So, as Postfix's `smtpd_client_connection_count_limit`
and Dovecot's `mail_max_userip_connections`, each listener family (SMTP submission and
MX together, IMAP, POP3) refuses a connection beyond `limits.max_connections_per_ip`
from one address, or beyond `limits.max_connections` in all, with its protocol's own
temporary refusal, and closes it:

- SMTP: 421 4.7.0 as the greeting (RFC 5321 §3.1 and §4.2.3: 421 "Service not
  available, closing transmission channel"; RFC 3463 X.7.0, the codes Postfix gives);
- IMAP: an untagged BYE with the UNAVAILABLE response code (RFC 3501 §7.1.5, RFC 5530 §3);
- POP3: -ERR with the SYS/TEMP response code (RFC 2449 §8, RFC 3206 §4).

The counts are facts handed in; the counting lives in mailserver/connlimit.py.
"""

from __future__ import annotations

from policy import rules
from policy.messages import reply_text
from policy.model import Decision, Verdict


def connection_refusal(
    from_address: int, in_all: int, max_per_address: int, max_in_all: int
) -> Decision | None:
    """The refusal of one more connection while `from_address` connections from its client
    address and `in_all` connections in all are open, or None to accept it.

    A limit of 0 turns its check off.
    """
    if 0 < max_per_address <= from_address:
        reason = rules.REASON_CONNECTIONS_PER_ADDRESS
    elif 0 < max_in_all <= in_all:
        reason = rules.REASON_CONNECTIONS_IN_ALL
    else:
        return None
    code, enhanced = rules.TOO_MANY_CONNECTIONS
    params = {
        "from_address": str(from_address),
        "in_all": str(in_all),
        "max_per_address": str(max_per_address),
        "max_connections": str(max_in_all),
    }
    return Decision(Verdict.TEMPFAIL, rules.RULE_CONNECTIONS, reason, code, enhanced, params)


def refusal_line(refusal: Decision, protocol: str, hostname: str) -> bytes:
    """The line that answers a refused connection in `protocol` ("smtp", "imap", "pop3"),
    CRLF included; the connection is closed after it."""
    text = reply_text(refusal)  # peers' texts, ASCII: no user is known yet
    if protocol == "imap":
        line = f"* BYE [UNAVAILABLE] {text}"
    elif protocol == "pop3":
        line = f"-ERR [SYS/TEMP] {text}"
    else:
        line = f"{refusal.smtp_code} {refusal.enhanced_code} {hostname} {text}, try again later"
    return line.encode("ascii") + b"\r\n"
