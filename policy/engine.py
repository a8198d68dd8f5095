"""Runs the rules of `policy.rules` for one request and returns the answer.

The first denial wins. An ALLOW *note* from a rule (a departed account inside its grace
window, an orphaned role mailbox in report mode) does not stop the run: later rules may
still deny; if none does, the first note is the answer, so the log and the user see it.
"""

from __future__ import annotations

from datetime import datetime

from policy import rules
from policy.model import Account, Action, Decision, Request, Verdict
from policy.settings import PolicySettings


def decide(
    account: Account,
    request: Request,
    now: datetime,
    settings: PolicySettings | None = None,
) -> Decision:
    """Decide whether `account` may do `request` at `now` under `settings`.

    Returns the first DENY (or TEMPFAIL) of the rules for the request's action; else the
    first ALLOW note (reason other than "ok", e.g. "departed_grace" with `access_ends`);
    else a plain ALLOW (rule "allow", reason "ok") with the action's success code.
    """
    settings = settings if settings is not None else PolicySettings()
    note: Decision | None = None
    for rule in rules.RULES[request.action]:
        decision = rule(account, request, now, settings)
        if decision is None:
            continue
        if decision.verdict is not Verdict.ALLOW:
            return decision
        if note is None:
            note = decision
    return note if note is not None else rules.allow(request.action)


def bad_credentials() -> Decision:
    """The answer to a wrong login or password: DENY, 535 5.7.8 (RFC 4954)."""
    return rules.deny(rules.BAD_CREDENTIALS, rules.RULE_AUTH, rules.REASON_BAD_CREDENTIALS)


def mailbox_elsewhere(host: str) -> Decision:
    """An IMAP or POP3 login on a node that does not hold the mailbox (the directory's
    mailHost names another server): refused, saying where the mailbox is. Sending works
    through any node; mail to the mailbox is forwarded to its server."""
    return Decision(
        Verdict.DENY,
        rules.RULE_MAIL_HOST,
        rules.REASON_MAILBOX_ELSEWHERE,
        530,
        "5.7.0",
        params={"host": host},
    )


def directory_unavailable(action: Action) -> Decision:
    """Fail closed when the directory cannot be read: a temporary failure, never an allow.

    454 4.7.0 for a login (RFC 4954), 451 4.3.0 for sending and receiving, so clients and
    peers retry later and nothing is lost.
    """
    code, enhanced = rules.LOGIN_TEMPFAIL if action is Action.LOGIN else rules.MAIL_TEMPFAIL
    return Decision(
        Verdict.TEMPFAIL,
        rules.RULE_FAIL_CLOSED,
        rules.REASON_DIRECTORY_UNAVAILABLE,
        code,
        enhanced,
    )


# --- the envelope, as the SMTP side checks it before any account is judged ----------------
def unknown_recipient(address: str) -> Decision:
    """RCPT TO an address of our domains that no account holds: 550 5.1.1."""
    return _recipient_refused(rules.MAILBOX_UNKNOWN, rules.REASON_UNKNOWN_RECIPIENT, address)


def recipient_syntax(address: str) -> Decision:
    """RCPT TO something that is not a complete address: 553 5.1.3 (RFC 5321 §4.2.2)."""
    return _recipient_refused(rules.RECIPIENT_SYNTAX, rules.REASON_RECIPIENT_SYNTAX, address)


def _recipient_refused(codes: tuple[int, str], reason: str, address: str) -> Decision:
    return rules.deny(codes, rules.RULE_RECIPIENT, reason, {"address": address})


def too_many_recipients(limit: int) -> Decision:
    """One RCPT TO beyond `smtp.max_recipients`: 452 4.5.3, a temporary failure, so the
    client sends the message again to the rest (RFC 5321 §4.5.3.1.10)."""
    code, enhanced = rules.TOO_MANY_RECIPIENTS
    return Decision(
        Verdict.TEMPFAIL,
        rules.RULE_RECIPIENT,
        rules.REASON_TOO_MANY_RECIPIENTS,
        code,
        enhanced,
        params={"limit": str(limit)},
    )


def relayed(address: str) -> Decision:
    """A remote recipient of an authenticated user: allowed, the queue relays it."""
    return rules.allow(
        Action.RECEIVE, rules.RULE_RECIPIENT, rules.REASON_RELAY, {"address": address}
    )


def relay_denied(address: str) -> Decision:
    """RCPT TO someone else's domain (or a relay trick) at the MX: 550 5.7.1. An MX is
    never a relay (RFC 5321 §3.6, RFC 2505)."""
    return _recipient_refused(rules.RELAY_DENIED, rules.REASON_RELAY_DENIED, address)


def sender_without_domain(address: str) -> Decision:
    """MAIL FROM without a domain at the MX: a bounce to it could never be delivered, so
    553 5.1.7 (RFC 3463 "bad sender's mailbox address syntax")."""
    return rules.deny(
        rules.SENDER_SYNTAX,
        rules.RULE_SENDER_SYNTAX,
        rules.REASON_SENDER_SYNTAX,
        {"address": address},
    )
