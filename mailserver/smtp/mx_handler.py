"""The inbound MX (port 25): mail from other servers for our domains, never a relay.

Recipients are verified against the directory at RCPT (unknown: 550 5.1.1;
the account's state: the policy's RECEIVE rules; directory down: 451 4.3.0 so
the sender retries). Accepted messages are spooled and fsynced before the 250;
the queue delivers them. STARTTLS is offered; AUTH is not (users submit on 587).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from aiosmtpd.smtp import MISSING, Envelope

from mailserver import access
from mailserver.directory import DirectoryUnavailable
from mailserver.queue.model import Recipient
from mailserver.queue.spool import SpoolError
from mailserver.smtp import delivery
from mailserver.smtp.relaycheck import Recipient as Kind
from mailserver.smtp.relaycheck import classify_recipient, helo_problem
from mailserver.smtp.session import (
    SHUTTING_DOWN,
    SmtpConnection,
    SmtpHandler,
    SmtpSession,
    connection_options,
)
from policy import rules
from policy.engine import directory_unavailable
from policy.messages import reply_text
from policy.model import Action, Decision, Request, Service, Verdict

RELAY_DENIED = "550 5.7.1 Relaying denied: this server accepts mail only for its own domains"
NO_AUTH = "503 5.5.1 AUTH is not available here; users submit mail on port 587 or 465"


class MxConnection(SmtpConnection):
    """An inbound connection: AUTH is not a command here."""

    async def smtp_AUTH(self, arg: str) -> None:
        await self.push(NO_AUTH)


class MxHandler(SmtpHandler):
    """aiosmtpd hooks for the MX listener."""

    protocol = "smtp-mx"

    async def handle_HELO(
        self, server: SmtpConnection, session: SmtpSession, envelope: Envelope, hostname: str
    ) -> Any:
        refusal = await self._check_helo(server, hostname)
        if refusal:
            session.host_name = None
            return refusal
        return MISSING

    async def handle_EHLO(
        self,
        server: SmtpConnection,
        session: SmtpSession,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        refusal = await self._check_helo(server, hostname)
        if refusal:
            session.host_name = None  # a refused name does not keep an earlier good one
            return [refusal]
        session.host_name = hostname  # the 5-argument hook must set it (aiosmtpd)
        return [r for r in responses if not r[4:].upper().startswith("AUTH")]

    async def _check_helo(self, server: SmtpConnection, hostname: str) -> str | None:
        settings = self.services.settings
        if not settings.mx.strict_helo:
            return None
        own = {settings.server.hostname.lower()}
        with contextlib.suppress(DirectoryUnavailable):
            own |= await self.services.local_domains()
        problem = helo_problem(hostname, own)
        if problem is None:
            return None
        self._log(server, "helo", result="deny", reason="bad_helo", detail=hostname[:100])
        return f"550 5.7.1 HELO name {problem}"

    async def handle_MAIL(
        self,
        server: SmtpConnection,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.draining:
            return SHUTTING_DOWN
        if address != "<>" and "@" not in address:
            # A bounce to a sender without a domain could never be delivered.
            self._log(server, "mail", result="deny", reason="sender_syntax", sender=address)
            return "553 5.1.7 The sender address needs a domain"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self,
        server: SmtpConnection,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        sender = "" if envelope.mail_from == "<>" else envelope.mail_from
        limit = self.services.settings.smtp.max_recipients
        if len(envelope.rcpt_tos) >= limit:
            self._log(
                server,
                "rcpt",
                result="tempfail",
                reason=rules.REASON_TOO_MANY_RECIPIENTS,
                sender=sender,
                recipients=[address],
            )
            return f"452 4.5.3 Too many recipients (at most {limit} per message)"
        try:
            kind = classify_recipient(address, await self.services.local_domains())
        except DirectoryUnavailable:
            decision = directory_unavailable(Action.RECEIVE)
            self._log(server, "rcpt", decision=decision, sender=sender, recipients=[address])
            return self._refusal(decision)
        if kind is not Kind.LOCAL:
            reason = "relay_denied" if kind is Kind.RELAY else rules.REASON_RECIPIENT_SYNTAX
            self._log(
                server, "rcpt", result="deny", reason=reason, sender=sender, recipients=[address]
            )
            return RELAY_DENIED if kind is Kind.RELAY else "553 5.1.3 Bad recipient address"
        decision = await self._receive(address)
        self._log(server, "rcpt", decision=decision, sender=sender, recipients=[address])
        if not decision.allowed:
            # Other servers get the generic text: why a mailbox is disabled is our users'
            # business, not the Internet's.
            return f"{decision.smtp_code} {decision.enhanced_code} {reply_text(decision)}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def _receive(self, address: str) -> Decision:
        try:
            account = await self.services.directory.find_by_address(address)
            if account is None:
                return Decision(
                    Verdict.DENY, rules.RULE_RECIPIENT, rules.REASON_UNKNOWN_RECIPIENT, 550, "5.1.1"
                )
            return await access.judge(self.services, account, Request(Action.RECEIVE, Service.SMTP))
        except DirectoryUnavailable:
            return directory_unavailable(Action.RECEIVE)

    async def handle_DATA(
        self, server: SmtpConnection, session: SmtpSession, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        headers = delivery.parse_headers(content)
        sender = "" if envelope.mail_from == "<>" else envelope.mail_from or ""
        message_id = (headers.get("Message-ID") or "").strip()
        now = self.services.clock()
        trace = delivery.trace_headers(
            headers,
            helo=session.host_name or "unknown",
            client_ip=server.peer[0],
            hostname=self.services.settings.server.hostname,
            queue_id=session.sid,
            tls_version=session.tls_version,
            utf8=envelope.smtp_utf8,
            now=now,
            recipients=envelope.rcpt_tos,
            authenticated=False,
            complete_headers=False,
        )
        fields: dict[str, Any] = {
            "sender": sender,
            "recipients": list(envelope.rcpt_tos),
            "size": len(content),
            "message_id": message_id or None,
        }
        try:
            queued = await asyncio.to_thread(
                self.spool.enqueue,
                sender,
                [Recipient(address=a) for a in envelope.rcpt_tos],
                trace + content,
                now=now,
                origin="mx",
                client_ip=server.peer[0] or "",
                message_id=message_id,
            )
        except (OSError, SpoolError):
            self._log(server, "data", result="tempfail", status="deferred", **fields)
            return "451 4.3.0 Could not store the message; please try again later"
        self.on_enqueued(queued)
        self._log(
            server,
            "data",
            result="allow",
            status="queued",
            queue_id=queued.id,
            code="250 2.0.0",
            **fields,
        )
        return f"250 2.0.0 Ok: queued as {queued.id}"


async def start_mx(handler: MxHandler, context: ssl.SSLContext, backlog: int) -> asyncio.Server:
    """Bind the MX listener: STARTTLS offered, AUTH not, no authentication required."""
    settings = handler.services.settings
    options = connection_options(settings)

    def connection() -> MxConnection:
        return MxConnection(
            handler,
            tls_context=context,
            require_starttls=False,
            auth_required=False,
            auth_require_tls=True,
            **options,
        )

    return await asyncio.get_running_loop().create_server(
        connection, settings.mx.listen, settings.mx.port, backlog=backlog
    )
