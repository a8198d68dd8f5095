"""The inbound MX (port 25): mail from other servers for our domains, never a relay.

Recipients are verified against the directory at RCPT (unknown: 550 5.1.1;
the account's state: the policy's RECEIVE rules; directory down: 451 4.3.0 so
the sender retries). Every refusal, the HELO name's included (`policy.helo`),
is a policy decision; peers get its codes and a generic text
(`replies.peer_reply`). Accepted messages are spooled and fsynced before the
250; the queue delivers them. STARTTLS is offered; AUTH is not (users submit
on 587).
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
from mailserver.smtp.relaycheck import classify_recipient
from mailserver.smtp.replies import peer_reply
from mailserver.smtp.session import (
    SHUTTING_DOWN,
    SmtpConnection,
    SmtpHandler,
    SmtpSession,
    connection_options,
    declared_size,
)
from policy.engine import (
    directory_unavailable,
    recipient_syntax,
    relay_denied,
    sender_without_domain,
    too_many_recipients,
    unknown_recipient,
)
from policy.helo import helo_refusal
from policy.model import Action, Decision, Request, Service

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
        refusal = helo_refusal(hostname, own)
        if refusal is None:
            return None
        self._log(server, "helo", decision=refusal, detail=hostname[:100])
        return peer_reply(refusal)

    def _reply_to_client(self, decision: Decision) -> str:
        """Other servers get the decision's codes and a generic text."""
        return peer_reply(decision)

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
        refusal = self._storage_refusal(server, "mail", declared_size(mail_options), sender=address)
        if refusal is not None:
            return peer_reply(refusal)
        if address != "<>" and "@" not in address:
            refusal = sender_without_domain(address)
            self._log(server, "mail", decision=refusal, sender=address)
            return peer_reply(refusal)
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
            decision = too_many_recipients(limit)
        else:
            try:
                kind = classify_recipient(address, await self.services.local_domains())
            except DirectoryUnavailable:
                decision = directory_unavailable(Action.RECEIVE)
                self._log(server, "rcpt", decision=decision, sender=sender, recipients=[address])
                return self._refusal(decision)
            if kind is Kind.RELAY:
                decision = relay_denied(address)
            elif kind is Kind.BAD:
                decision = recipient_syntax(address)
            else:
                decision = await self._receive(address)
        self._log(server, "rcpt", decision=decision, sender=sender, recipients=[address])
        if not decision.allowed:
            # Other servers get the generic text: why a mailbox is disabled is our users'
            # business, not the Internet's.
            return peer_reply(decision)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def _receive(self, address: str) -> Decision:
        try:
            account = await self.services.directory.find_by_address(address)
            if account is None:
                return unknown_recipient(address)
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
        except (OSError, SpoolError) as exc:
            return self._spool_failed(server, exc, **fields)
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
