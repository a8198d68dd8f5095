"""The inbound MX (RFC 5321): mail from other servers for our local domains only.

No AUTH here and never relaying: a recipient is accepted only when its domain
is ours, the account exists and the policy lets it receive. STARTTLS is offered
but not required (RFC 3207 opportunistic TLS). An accepted message is written
to the durable spool before the 250 (RFC 5321 6.1: once accepted, it is ours to
deliver); the queue runner delivers it into the Maildir.

Replies to peers are short and generic: the sender of a message is not our user
and must not learn why a mailbox is refused. The reasons go to the policy log.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any, AnyStr

from aiosmtpd.smtp import Envelope

from mailserver import access
from mailserver.directory import DirectoryUnavailable
from mailserver.listeners import LISTEN_BACKLOG
from mailserver.log import new_id
from mailserver.queue.model import Recipient
from mailserver.queue.spool import SpoolError
from mailserver.smtp import addresses, delivery
from mailserver.smtp.addresses import RecipientKind
from mailserver.smtp.replies import reply
from mailserver.smtp.session import SmtpConnection, SmtpHandler, SmtpSession
from policy import messages, rules
from policy.engine import directory_unavailable
from policy.model import Action, Decision, Request, Service, Verdict

log = logging.getLogger(__name__)

PROTOCOL = "smtp-mx"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, please try again later"

# Rule ids and reasons of the checks the MX makes itself (the policy log's vocabulary).
RULE_HELO = "mx-helo"
RULE_RELAY = "mx-relay"
RULE_SIZE = "mx-size"
RULE_HOPS = "mx-hops"
RULE_AUTH = "mx-auth"
REASON_HELO_SYNTAX = "helo_syntax"
REASON_HELO_FORGED = "helo_claims_local"
REASON_RELAY_DENIED = "relay_denied"
REASON_PERCENT_HACK = "percent_hack"
REASON_BANG_PATH = "bang_path"
REASON_SENDER_SYNTAX = "sender_syntax"
REASON_TOO_BIG = "message_too_big"
REASON_TOO_MANY_HOPS = "too_many_hops"
REASON_AUTH_NOT_OFFERED = "auth_not_offered"

# RFC 5321 6.3: a message that has passed this many hops is looping (Postfix's default).
MAX_HOPS = 50

ACCEPTED_SENDER = Decision(Verdict.ALLOW, rules.RULE_ALLOW, rules.REASON_OK, 250, "2.1.0")
ACCEPTED_MESSAGE = Decision(Verdict.ALLOW, rules.RULE_ALLOW, rules.REASON_OK, 250, "2.0.0")

# The texts of the refusals the MX makes itself (RFC 3463 enhanced codes).
TEXTS = {
    REASON_HELO_SYNTAX: "Syntax error: HELO/EHLO needs a domain name or address literal",
    REASON_HELO_FORGED: "Access denied: you are not this server",
    REASON_RELAY_DENIED: "Relaying denied",
    REASON_PERCENT_HACK: "Relaying denied",
    REASON_BANG_PATH: "Relaying denied",
    REASON_SENDER_SYNTAX: "Bad sender address syntax",
    rules.REASON_RECIPIENT_SYNTAX: "Bad recipient address syntax",
    rules.REASON_TOO_MANY_RECIPIENTS: "Too many recipients",
    REASON_TOO_BIG: "Message size exceeds fixed maximum message size",
    REASON_TOO_MANY_HOPS: "Too many hops (mail loop?)",
    REASON_AUTH_NOT_OFFERED: "AUTH is not available on this port",
}

# aiosmtpd's own size refusals (no enhanced code), rewritten to RFC 3463 5.3.4, and the
# policy-log event each belongs to.
_AIOSMTPD_SIZE_REPLIES = {
    "552 Error: message size exceeds fixed maximum message size": "mail",
    "552 Error: Too much mail data": "data",
}


def refusal(code: int, enhanced: str, rule_id: str, reason: str, **params: str) -> Decision:
    """A refusal the MX makes itself, as a policy Decision (for the log and the reply)."""
    verdict = Verdict.TEMPFAIL if code < 500 else Verdict.DENY
    return Decision(verdict, rule_id, reason, code, enhanced, params=dict(params))


class MxServer(SmtpConnection):
    """One connection from another mail server: no AUTH, and aiosmtpd's own size
    refusals given their enhanced code."""

    # RFC 4954 4: AUTH is an extension the server need not offer; the MX never does.
    # 503 5.5.1 as Postfix answers when authentication is not enabled.
    async def smtp_AUTH(self, arg: str) -> None:
        handler: MxHandler = self.owner  # type: ignore[assignment]
        decision = refusal(503, "5.5.1", RULE_AUTH, REASON_AUTH_NOT_OFFERED)
        handler.log_event(self, "auth", decision=decision)
        await self.push(handler.reply(decision))

    async def push(self, status: AnyStr) -> None:
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else status
        event = _AIOSMTPD_SIZE_REPLIES.get(text)
        if event is not None:
            # RFC 1870 6.1 / RFC 3463: 552 5.3.4, message too big for system.
            handler: MxHandler = self.owner  # type: ignore[assignment]
            limit = str(self.data_size_limit)
            decision = refusal(552, "5.3.4", RULE_SIZE, REASON_TOO_BIG, limit=limit)
            handler.log_event(self, event, decision=decision, size_limit=self.data_size_limit)
            await super().push(handler.reply(decision))
            return
        await super().push(status)


class MxHandler(SmtpHandler):
    """aiosmtpd hooks for the inbound MX listener.

    Connection tracking (connect / disconnect lines, `serve.drain`) and the
    `handle_exception` that never shows internals come from `SmtpHandler`.
    """

    protocol = PROTOCOL

    # --- HELO / EHLO (RFC 5321 4.1.1.1) -----------------------------------------

    async def handle_HELO(
        self, server: MxServer, session: SmtpSession, envelope: Envelope, hostname: str
    ) -> str:
        decision = await self._check_helo(hostname)
        if decision is not None:
            session.host_name = None  # an earlier good HELO does not count any more
            self.log_event(server, "helo", decision=decision, helo_given=hostname)
            return self.reply(decision)
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_EHLO(
        self,
        server: MxServer,
        session: SmtpSession,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        decision = await self._check_helo(hostname)
        if decision is not None:
            session.host_name = None
            self.log_event(server, "helo", decision=decision, helo_given=hostname)
            return [self.reply(decision)]
        session.host_name = hostname
        # No AUTH keyword: peers deliver to us, users submit on 587/465 (RFC 6409).
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def _check_helo(self, name: str) -> Decision | None:
        """RFC 5321 4.1.1.1 syntax, and no peer introducing itself as us.

        RFC 5321 4.1.4 forbids refusing a message because the name does not match the
        client's address; a name that is not a name, or that is our own, is another
        matter (Postfix `reject_invalid_helo_hostname`, `check_helo_access`).
        """
        if not self.services.settings.mx.strict_helo:
            return None
        if not addresses.valid_helo(name):
            return refusal(501, "5.5.2", RULE_HELO, REASON_HELO_SYNTAX)
        settings = self.services.settings
        try:
            domains: frozenset[str] = await self.services.local_domains()
        except DirectoryUnavailable:
            domains = frozenset(settings.server.local_domains)
        if addresses.helo_claims_us(name, settings.server.hostname, domains):
            return refusal(550, "5.7.1", RULE_HELO, REASON_HELO_FORGED)
        return None

    # --- the transaction ----------------------------------------------------------

    async def handle_MAIL(
        self,
        server: MxServer,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if self.draining:
            return SHUTTING_DOWN
        # RFC 5321 4.5.5: the null reverse-path is how bounces arrive; always accepted.
        sender = "" if address == "<>" else address
        decision = ACCEPTED_SENDER
        if sender and addresses.split_mailbox(sender) is None:
            decision = refusal(553, "5.1.7", rules.RULE_SENDER, REASON_SENDER_SYNTAX)
        self.log_event(server, "mail", decision=decision, sender=sender)
        if not decision.allowed:
            return self.reply(decision)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(
        self,
        server: MxServer,
        session: SmtpSession,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        limit = self.services.settings.smtp.max_recipients
        canonical = address
        if len(envelope.rcpt_tos) >= limit:
            # RFC 5321 4.5.3.1.10: 452 for too many recipients, the client sends the rest later.
            decision = refusal(
                452,
                "4.5.3",
                rules.RULE_RECIPIENT,
                rules.REASON_TOO_MANY_RECIPIENTS,
                limit=str(limit),
            )
        else:
            decision, canonical = await self._check_recipient(address)
        self.log_event(
            server,
            "rcpt",
            decision=decision,
            sender=_sender(envelope),
            recipients=[address],
        )
        if not decision.allowed:
            return self.reply(decision)
        # A recipient named twice is delivered once (RFC 5321 3.3 lets the server merge).
        if canonical.lower() not in (a.lower() for a in envelope.rcpt_tos):
            envelope.rcpt_tos.append(canonical)
            envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def _check_recipient(self, address: str) -> tuple[Decision, str]:
        """The decision on RCPT TO `address` and the address to deliver to."""
        try:
            domains = await self.services.local_domains()
            classified = addresses.classify_recipient(address, domains)
            kind, mailbox = classified.kind, classified.mailbox
            if kind is RecipientKind.SYNTAX or mailbox is None:
                syntax = rules.REASON_RECIPIENT_SYNTAX
                return refusal(553, "5.1.3", rules.RULE_RECIPIENT, syntax), address
            if kind in _RELAY_TRICKS:
                # RFC 5321 3.6.2, 7.1: an open relay is abused at once; refuse, never forward.
                return refusal(550, "5.7.1", RULE_RELAY, _RELAY_TRICKS[kind]), address
            if kind is RecipientKind.UNDELIVERABLE:
                unknown = rules.REASON_UNKNOWN_RECIPIENT
                return refusal(550, "5.1.1", rules.RULE_RECIPIENT, unknown), address
            account = await self.services.directory.find_by_address(mailbox.address)
            if account is None:
                unknown = rules.REASON_UNKNOWN_RECIPIENT
                return refusal(550, "5.1.1", rules.RULE_RECIPIENT, unknown), address
            request = Request(Action.RECEIVE, Service.SMTP)
            return await access.judge(self.services, account, request), mailbox.address
        except DirectoryUnavailable:
            # Fail closed, but temporarily: the sending server keeps the message and retries.
            return directory_unavailable(Action.RECEIVE), address

    async def handle_DATA(self, server: MxServer, session: SmtpSession, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        headers = delivery.parse_headers(content)
        message_id = (headers.get("Message-ID") or "").strip()
        client_ip = server.peer[0]
        mail_fields: dict[str, Any] = {
            "sender": _sender(envelope),
            "recipients": list(envelope.rcpt_tos),
            "size": len(content),
            "message_id": message_id or None,
        }
        hops = len(headers.get_all("Received", []))
        if hops > MAX_HOPS:
            # RFC 5321 6.3: count the trace fields to detect a loop; 554 5.4.6 (RFC 3463).
            decision = refusal(554, "5.4.6", RULE_HOPS, REASON_TOO_MANY_HOPS, hops=str(hops))
            self.log_event(server, "data", decision=decision, status="rejected", **mail_fields)
            return self.reply(decision)
        now = self.services.clock()
        # RFC 5321 4.4: a Received line of our own; Return-Path is added at final delivery,
        # and an MX adds no Date or Message-ID (RFC 6409 8 is for submission only).
        trace = delivery.trace_headers(
            headers,
            helo=session.host_name or "unknown",
            client_ip=client_ip,
            hostname=self.services.settings.server.hostname,
            queue_id=new_id(),
            tls_version=session.tls_version,
            utf8=envelope.smtp_utf8,
            now=now,
            recipients=envelope.rcpt_tos,
            authenticated=False,
            complete_headers=False,
        )
        try:
            queued = await asyncio.to_thread(
                self.spool.enqueue,
                _sender(envelope),
                [Recipient(address=a) for a in envelope.rcpt_tos],
                trace + content,
                now=now,
                origin="mx",
                client_ip=client_ip or "",
                message_id=message_id,
            )
        except (OSError, SpoolError) as exc:
            log.error("spooling an inbound message failed: %s", exc)
            self.log_event(
                server,
                "data",
                result="tempfail",
                status="deferred",
                code="451 4.3.0",
                detail=type(exc).__name__,
                **mail_fields,
            )
            return "451 4.3.0 Could not store the message; please try again later"
        try:
            self.on_enqueued(queued)
        except Exception:
            # The message is safe in the spool; the runner's next scan finds it.
            log.exception("waking the queue runner failed")
        self.log_event(
            server,
            "data",
            decision=ACCEPTED_MESSAGE,
            status="queued",
            queue_id=queued.id,
            **mail_fields,
        )
        return f"250 2.0.0 Ok: queued as {queued.id}"

    # --- output ---------------------------------------------------------------------

    def reply(self, decision: Decision) -> str:
        """The reply line for a peer: code, enhanced code and a short generic text."""
        text = TEXTS.get(decision.reason) or messages.reply_text(decision)
        return reply(decision.smtp_code, decision.enhanced_code, [text])

    def log_event(
        self,
        server: MxServer,
        event: str,
        *,
        decision: Decision | None = None,
        **fields: Any,
    ) -> None:
        """One policy-log line with the peer's HELO name; its IP is traffic data."""
        helo = server.session.host_name if server.session else None
        self._log(server, event, decision=decision, helo=helo, **fields)


_RELAY_TRICKS = {
    RecipientKind.REMOTE: REASON_RELAY_DENIED,
    RecipientKind.PERCENT_HACK: REASON_PERCENT_HACK,
    RecipientKind.BANG_PATH: REASON_BANG_PATH,
}


def _sender(envelope: Envelope) -> str:
    """The reverse-path, "" for the null sender."""
    sender = envelope.mail_from or ""
    return "" if sender == "<>" else sender


async def start_mx(
    handler: MxHandler, context: ssl.SSLContext | None, backlog: int = LISTEN_BACKLOG
) -> asyncio.AbstractServer:
    """Bind the MX listener on `mx.listen`:`mx.port` for `handler`.

    STARTTLS is offered when `context` is given, never required (RFC 3207 4: a
    public MX must take mail in clear from peers without TLS); AUTH is neither
    offered nor accepted. Stop it with `serve.drain` like the submission listeners.
    """
    settings = handler.services.settings
    loop = asyncio.get_running_loop()

    def connection() -> MxServer:
        return MxServer(
            handler,
            data_size_limit=settings.smtp.max_message_size,
            enable_SMTPUTF8=True,
            hostname=settings.server.hostname,
            ident="mailserver",
            timeout=settings.smtp.timeout_seconds,
            tls_context=context,
            require_starttls=False,
            auth_required=False,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
            loop=loop,
        )

    return await loop.create_server(
        connection, settings.mx.listen, settings.mx.port, backlog=backlog
    )
