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
