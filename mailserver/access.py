"""Account access shared by SMTP, IMAP and POP3: login, the policy's facts, re-judging.

Every protocol asks the same questions: are these credentials right, and does
the policy let this account do this now? The answers must not depend on which
protocol asked, so they are computed here once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from mailserver.app import Services
from mailserver.connlimit import ConnectionCount, client_address
from mailserver.control import AccountWatch
from mailserver.directory import DirectoryUnavailable
from mailserver.logins import normal_login
from policy import decide
from policy.engine import bad_credentials, directory_unavailable, mailbox_elsewhere
from policy.model import Account, AccountKind, Action, Decision, Request, Service, Verdict


def decision_fields(decision: Decision) -> dict[str, Any]:
    """The policy-log fields of a decision (rule, reason, result, and when access ends)."""
    fields: dict[str, Any] = {
        "rule": decision.rule_id,
        "reason": decision.reason,
        "result": decision.verdict.value,
    }
    if decision.access_ends is not None:
        fields["access_ends"] = decision.access_ends.isoformat()
    return fields


def write_session_log(
    services: Services,
    event: str,
    session: Any,
    protocol: str,
    decision: Decision | None,
    fields: dict[str, Any],
) -> None:
    """One policy-log line for an IMAP or POP3 session (never pass a password in `fields`).

    `session` has sid, client_ip, client_port, tls_version and login.
    """
    record: dict[str, Any] = {
        "session": session.sid,
        "protocol": protocol,
        "client_ip": session.client_ip,
        "client_port": session.client_port,
        "tls": session.tls_version,
        "login": session.login,
    }
    if decision is not None:
        record.update(decision_fields(decision))
    record.update(fields)
    services.log.write(event, **record)


async def judge(services: Services, account: Account, request: Request) -> Decision:
    """`policy.decide` with the role-mailbox facts filled in.

    The role concerned is the account itself when it is a unit mailbox, else a role
    address the request sends as; its responsible person is read fresh.
    """
    role = account if account.kind is AccountKind.ROLE else None
    role = role or next((o for o in request.sender_owners if o.kind is AccountKind.ROLE), None)
    if role is not None and role.responsible:
        responsible = await services.directory.get(role.responsible)
        request = replace(request, role_responsible=responsible)
    return decide(account, request, services.clock(), services.settings.policy)


def held_elsewhere(services: Services, account: Account) -> str | None:
    """The server holding this account's mailbox when it is not this node (the directory's
    mailHost, compared with `server.hostname` and `server.mail_host_names`), else None."""
    host = account.mail_host.lower().rstrip(".")
    server = services.settings.server
    here = {n.lower().rstrip(".") for n in (server.hostname, *server.mail_host_names)}
    return host if host and host not in here else None


async def login(
    services: Services, login_name: str, password: str, service: Service
) -> tuple[Decision, Account | None]:
    """Verify the credentials and judge the login; fails closed when the directory is down.

    `login_name` is what the client sent: it is normalised here, the same for every
    protocol (`mailserver.logins`); one that is not a login is refused as a wrong one.
    A wrong password or an unknown login is answered after `auth.failure_delay_seconds`,
    the same for both, to slow down guessing.
    """
    account: Account | None = None
    normal = normal_login(login_name)
    try:
        if normal is not None:
            account = await services.authenticator.authenticate(normal, password)
        if account is None:
            decision = bad_credentials()
        else:
            decision = await judge(services, account, Request(Action.LOGIN, service))
            host = held_elsewhere(services, account)
            if decision.allowed and host and service is not Service.SMTP:
                # Reading mail here would show an empty store: say where the mailbox is.
                decision = mailbox_elsewhere(host)
    except DirectoryUnavailable:
        decision = directory_unavailable(Action.LOGIN)
    if account is None and decision.verdict is Verdict.DENY:
        await asyncio.sleep(services.settings.auth.failure_delay_seconds)
    return decision, account


class LiveAccount:
    """The account of a logged-in IMAP or POP3 session, judged again while the session lives.

    Due after `imap.account_recheck_seconds`, or at once when the control socket says
    the account changed (a suspension with the CLI on this node).
    """

    def __init__(
        self,
        services: Services,
        watch: AccountWatch,
        account: Account,
        service: Service,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.services, self.service, self.account = services, service, account
        self.checked_at = time.monotonic()
        self.changed = False
        self._on_change = on_change
        self._stop = watch.watch(account.login, self._changed)

    def _changed(self) -> None:
        self.changed = True
        if self._on_change is not None:
            self._on_change()

    @property
    def due(self) -> bool:
        interval = self.services.settings.imap.account_recheck_seconds
        return self.changed or time.monotonic() - self.checked_at >= interval

    async def rejudge(self) -> Decision:
        """A fresh snapshot judged for login; raises DirectoryUnavailable (stays due)."""
        self.changed = False
        try:
            account = await self.services.directory.get(self.account.login)
        except DirectoryUnavailable:
            self.changed = True  # judge again at the next command
            raise
        self.checked_at = time.monotonic()
        if account is None:
            return bad_credentials()
        decision = await judge(self.services, account, Request(Action.LOGIN, self.service))
        if decision.allowed:
            self.account = account
        return decision

    def close(self) -> None:
        self._stop()


def log_refused_connection(
    services: Services, protocol: str, peer: Any, count: ConnectionCount, refusal: Decision
) -> None:
    """The policy-log line of a connection refused at accept (policy/connections.py), with
    the counts it was refused on."""
    services.log.write(
        "connect",
        protocol=protocol,
        client_ip=client_address(peer),
        client_port=peer[1] if isinstance(peer, tuple) and len(peer) > 1 else None,
        from_address=count.from_address(client_address(peer)),
        open_connections=count.in_all,
        code=f"{refusal.smtp_code} {refusal.enhanced_code}",
        **decision_fields(refusal),
    )
