"""The facts the policy decides on, and the decision it returns.

Everything here is an immutable value: the servers build an `Account`
snapshot and a `Request`, call `policy.decide`, and act on the `Decision`.
Nothing in this package opens a socket, reads a file or looks at a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class AccountStatus(StrEnum):
    """Life-cycle state of an account (memo clauses 1, 3.1 and 4)."""

    PENDING = "pending"  # requested, not yet approved (memo 1, 3.1)
    ACTIVE = "active"
    DEPARTED = "departed"  # no longer staff; grace window to back up mail (memo 4.1)
    LOCKED = "locked"  # security suspension, every system at once (memo 4.2)
    SUSPENDED = "suspended"  # suspended by an administrator
    CLOSED = "closed"  # account removed from service


class AccountKind(StrEnum):
    PERSON = "person"
    ROLE = "role"  # a unit's (departmental) mailbox with a responsible person (memo 4.3)


class Action(StrEnum):
    LOGIN = "login"  # AUTH on SMTP, LOGIN/AUTHENTICATE on IMAP, USER/PASS on POP3
    SEND = "send"  # MAIL FROM / RCPT TO / DATA on submission
    RECEIVE = "receive"  # a message addressed to the account is delivered to it


class Service(StrEnum):
    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"


class Verdict(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    TEMPFAIL = "tempfail"


@dataclass(frozen=True, slots=True)
class Account:
    """An immutable snapshot of one directory entry, as fresh as its source allows."""

    login: str
    address: str
    aliases: tuple[str, ...] = ()
    kind: AccountKind = AccountKind.PERSON
    status: AccountStatus = AccountStatus.ACTIVE
    # Why, by whom and since when the current status holds (locked / suspended / closed).
    status_reason: str = ""
    status_actor: str = ""
    status_since: datetime | None = None
    # The day the person stopped being staff (departed accounts, memo 4.1).
    separation_date: date | None = None
    unit: str = ""
    # When `unit` last changed: a responsible person who moves unit orphans the role mailbox.
    unit_since: datetime | None = None
    # For role mailboxes: the login of the responsible person, and logins acting for them.
    responsible: str | None = None
    delegates: tuple[str, ...] = ()
    # Extra addresses this login may use as sender besides its own address and aliases.
    send_as: tuple[str, ...] = ()
    smtp_enabled: bool = True
    imap_enabled: bool = True
    # Changes on every write to the entry; lets caches notice any change.
    revision: str = ""
    display_name: str = ""
    # The mail server that holds this mailbox (LDAP mailHost); "" or one of this node's
    # names: here. Mail for a mailbox held elsewhere is forwarded there by SMTP.
    mail_host: str = ""

    @property
    def addresses(self) -> tuple[str, ...]:
        """Every address that delivers to this account: primary first, then aliases."""
        return (self.address, *self.aliases)

    @property
    def sendable_addresses(self) -> frozenset[str]:
        """Addresses this login may put in MAIL FROM or From: on its own authority."""
        return frozenset(a.lower() for a in (*self.addresses, *self.send_as))

    def may_act_for(self, role: Account) -> bool:
        """True when this login is the role mailbox's responsible person or a delegate."""
        login = self.login.lower()
        return role.kind is AccountKind.ROLE and (
            (role.responsible or "").lower() == login
            or login in (d.lower() for d in role.delegates)
        )


@dataclass(frozen=True, slots=True)
class Request:
    """What the account is trying to do, with the facts the servers gathered for it.

    `sender` is the envelope sender being checked (`""` is the null sender,
    `None` when the request is not about a sender). `header_from` holds the
    addresses of the From: header when a message's content is checked.
    `sender_owner` is the account that owns `sender` or a From: address when
    that is not the requesting account itself (e.g. a role mailbox), and
    `role_responsible` the responsible person of the role mailbox concerned
    (the account itself when it is a role, or `sender_owner`).
    """

    action: Action
    service: Service
    sender: str | None = None
    header_from: tuple[str, ...] = ()
    sender_owners: tuple[Account, ...] = ()
    role_responsible: Account | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: allow, deny or tempfail, with everything needed to reply and to log."""

    verdict: Verdict
    rule_id: str
    reason: str
    smtp_code: int = 250
    enhanced_code: str = "2.0.0"
    # Parameters for the user-facing message template of `reason`.
    params: dict[str, str] = field(default_factory=dict)
    # For departed accounts inside the grace window: the day access ends (memo 4.1).
    access_ends: date | None = None

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW
