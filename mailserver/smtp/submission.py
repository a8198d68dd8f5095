"""Message submission (RFC 6409) on aiosmtpd: AUTH, then the policy at every step.

The handler stays thin: it gathers facts (a fresh account snapshot, the
envelope, the From: header), asks `policy.decide`, writes the decision to
the policy log and answers. Passwords live only in local variables of the
auth methods; they are never logged, stored or echoed.
"""

from __future__ import annotations

import asyncio
import binascii
import email.utils
import time
from base64 import b64decode
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope

from mailserver import access
from mailserver.directory import DirectoryUnavailable
from mailserver.log import new_id
from mailserver.queue.model import Recipient
from mailserver.queue.spool import SpoolError
from mailserver.smtp import delivery
from mailserver.smtp.replies import reply
from mailserver.smtp.session import (
    SHUTTING_DOWN,
    SmtpConnection,
    SmtpHandler,
    SmtpSession,
    declared_size,
)
from policy.engine import (
    bad_credentials,
    directory_unavailable,
    recipient_syntax,
    relayed,
    too_many_recipients,
    unknown_recipient,
)
from policy.model import Account, Action, Decision, Request, Service, Verdict

TRANSACTION_COMMANDS = frozenset({"MAIL", "RCPT", "DATA"})
ENCRYPTION_REQUIRED = "538 5.7.11 Encryption required for requested authentication mechanism"


class SubmissionHandler(SmtpHandler):
    """aiosmtpd hooks for the submission listeners (587 and 465)."""

    protocol = "smtp"

    # --- AUTH (RFC 4954) ---------------------------------------------------

    async def auth_PLAIN(self, server: SmtpConnection, args: list[str]) -> AuthResult:
        """SASL PLAIN (RFC 4616): authzid NUL authcid NUL password, initial response or not."""
        if not server.encrypted:
            return AuthResult(success=False, handled=False, message=ENCRYPTION_REQUIRED)
        if len(args) == 2:
            raw = b"" if args[1] == "=" else _b64(args[1])
        else:
            challenged = await server.challenge_auth("")
            if challenged is MISSING:
                return AuthResult(success=False, handled=True)
            raw = challenged
        parts = raw.split(b"\0") if raw is not None else []
        if len(parts) != 3:
            return AuthResult(
                success=False, handled=False, message="501 5.5.2 Malformed PLAIN response"
            )
        authzid, login, password = parts
        if authzid and authzid != login:
            # No proxy authorisation: a login may only act as itself.
            decision = bad_credentials()
            self._log(
                server,
                "auth",
                decision=decision,
                login=login.decode("utf-8", "replace"),
                mechanism="PLAIN",
                detail="authzid differs from authcid",
            )
            return AuthResult(success=False, handled=False, message=self._refusal(decision))
        return await self._authenticate(server, login, password, "PLAIN")

    async def auth_LOGIN(self, server: SmtpConnection, args: list[str]) -> AuthResult:
        """The LOGIN mechanism Outlook still uses: user name and password, each base64."""
        if not server.encrypted:
            return AuthResult(success=False, handled=False, message=ENCRYPTION_REQUIRED)
        if len(args) == 2:
            login = _b64(args[1])
            if login is None:
                return AuthResult(
                    success=False, handled=False, message="501 5.5.2 Cannot decode base64"
                )
        else:
            challenged = await server.challenge_auth(SMTP.AuthLoginUsernameChallenge)
            if challenged is MISSING:
                return AuthResult(success=False, handled=True)
            login = challenged
        password = await server.challenge_auth(SMTP.AuthLoginPasswordChallenge)
        if password is MISSING:
            return AuthResult(success=False, handled=True)
        return await self._authenticate(server, login, password, "LOGIN")

    async def _authenticate(
        self, server: SmtpConnection, login_raw: bytes, password_raw: bytes, mechanism: str
    ) -> AuthResult:
        session = _session(server)
        try:
            login = login_raw.decode("utf-8")  # normalised by access.login, as on IMAP
            password = password_raw.decode("utf-8")
        except UnicodeDecodeError:
            return AuthResult(
                success=False, handled=False, message="501 5.5.2 Credentials must be UTF-8"
            )
        decision, account = await access.login(self.services, login, password, Service.SMTP)
        del password
        self._log(
            server,
            "auth",
            decision=decision,
            login=login,
            account=account.login if account else None,
            mechanism=mechanism,
        )
        if decision.verdict is Verdict.ALLOW and account is not None:
            session.login = account.login
            session.account = account
            session.account_read_at = time.monotonic()
            if session.stop_watching is not None:
                session.stop_watching()
            session.stop_watching = self.watch.watch(account.login, _flag_changed(session))
            return AuthResult(success=True, auth_data=account.login)
        return AuthResult(success=False, handled=False, message=self._refusal(decision))

    async def before_command(self, server: SmtpConnection, command: str) -> str | None:
        """An account that changed in the directory is judged again before its next
        command. MAIL, RCPT and DATA judge a fresh snapshot themselves and refuse with
        the reason (550 5.7.13 and the like, the session stays open); any other command
        of a refused account ends the session with 421 4.7.0 (RFC 5321 3.8)."""
        session = server.session
        if session is None or not session.account_changed or session.login is None:
            return None
        if command in TRANSACTION_COMMANDS:
            return None
        session.account_changed = False
        try:
            account = await self.services.directory.get(session.login)
            session.account, session.account_read_at = account, time.monotonic()
            if account is None:
                decision = bad_credentials()
            else:
                decision = await self._decide(account, Request(Action.LOGIN, Service.SMTP))
        except DirectoryUnavailable:
            session.account_changed = True  # the sending commands fail closed on their own
            return None
        if decision.allowed:
            return None
        self._log(server, "kick", decision=decision)
        return reply(421, "4.7.0", self.services.user_message(decision))

    # --- the transaction ----------------------------------------------------

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
        sender = "" if address == "<>" else address
        refusal = self._storage_refusal(server, "mail", declared_size(mail_options), sender=sender)
        if refusal is not None:
            return self._refusal(refusal)
        decision = await self._check_sender(session, sender, ())
        self._log(server, "mail", decision=decision, sender=sender)
        if not decision.allowed:
            return self._refusal(decision)
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
        limit = self.services.settings.smtp.max_recipients
        if len(envelope.rcpt_tos) >= limit:
            decision = too_many_recipients(limit)
        else:
            # The sender is judged again with a fresh snapshot: a suspension between
            # MAIL and RCPT takes effect here.
            decision = await self._check_sender(session, envelope.mail_from or "", ())
            if decision.allowed:
                decision = await self._check_recipient(address)
        self._log(
            server, "rcpt", decision=decision, sender=envelope.mail_from, recipients=[address]
        )
        if not decision.allowed:
            return self._refusal(decision)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(
        self, server: SmtpConnection, session: SmtpSession, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        headers = delivery.parse_headers(content)
        from_addresses = tuple(a for _, a in email.utils.getaddresses(headers.get_all("From", [])))
        decision = await self._check_sender(session, envelope.mail_from or "", from_addresses)
        message_id = (headers.get("Message-ID") or "").strip() or None
        mail_fields: dict[str, Any] = {
            "sender": envelope.mail_from,
            "recipients": list(envelope.rcpt_tos),
            "size": len(content),
            "message_id": message_id,
        }
        if not decision.allowed:
            self._log(server, "data", decision=decision, status="rejected", **mail_fields)
            return self._refusal(decision)
        now = self.services.clock()
        trace = delivery.trace_headers(
            headers,
            helo=session.host_name or "unknown",
            client_ip=server.peer[0],
            hostname=self.services.settings.server.hostname,
            queue_id=new_id(),
            tls_version=session.tls_version,
            utf8=envelope.smtp_utf8,
            now=now,
            recipients=envelope.rcpt_tos,
        )
        message_id = message_id or delivery.added_message_id(trace)
        mail_fields["message_id"] = message_id
        try:
            queued = await asyncio.to_thread(
                self.spool.enqueue,
                "" if envelope.mail_from == "<>" else envelope.mail_from or "",
                [Recipient(address=a) for a in envelope.rcpt_tos],
                trace + content,
                now=now,
                origin="submission",
                login=session.login or "",
                client_ip=server.peer[0] or "",
                message_id=message_id or "",
            )
        except (OSError, SpoolError) as exc:
            return self._spool_failed(server, exc, **mail_fields)
        self.on_enqueued(queued)
        self._log(
            server,
            "data",
            decision=decision,
            status="queued",
            code="250 2.0.0",
            queue_id=queued.id,
            **mail_fields,
        )
        return f"250 2.0.0 Ok: queued as {queued.id}"

    # --- facts for the policy -------------------------------------------------

    async def _fresh_account(self, session: SmtpSession) -> Account | None:
        """The session's account, re-read unless the snapshot is within the staleness bound."""
        bound = self.services.settings.smtp.account_staleness_seconds
        if session.account is None or time.monotonic() - session.account_read_at >= bound:
            session.account = await self.services.directory.get(session.login or "")
            session.account_read_at = time.monotonic()
        return session.account

    async def _check_sender(
        self, session: SmtpSession, sender: str, header_from: tuple[str, ...]
    ) -> Decision:
        try:
            account = await self._fresh_account(session)
            if account is None:
                return bad_credentials()
            directory = self.services.directory
            owners = []
            for address in {sender, *header_from} - {""}:
                if address.lower() not in account.sendable_addresses:
                    owner = await directory.find_by_address(address)
                    if owner is not None:
                        owners.append(owner)
            request = Request(
                Action.SEND,
                Service.SMTP,
                sender=sender,
                header_from=header_from,
                sender_owners=tuple(owners),
            )
            return await self._decide(account, request)
        except DirectoryUnavailable:
            return directory_unavailable(Action.SEND)

    async def _check_recipient(self, address: str) -> Decision:
        """Local recipients must exist and may receive; remote ones are relayed for the
        authenticated user (the queue delivers them by MX or through the smarthost)."""
        _, _, domain = address.rpartition("@")
        if not domain:
            return recipient_syntax(address)
        try:
            if domain.lower() not in await self.services.local_domains():
                return relayed(address)
            account = await self.services.directory.find_by_address(address)
            if account is None:
                return unknown_recipient(address)
            return await self._decide(account, Request(Action.RECEIVE, Service.SMTP))
        except DirectoryUnavailable:
            return directory_unavailable(Action.RECEIVE)

    async def _decide(self, account: Account, request: Request) -> Decision:
        return await access.judge(self.services, account, request)

    # --- output ---------------------------------------------------------------


def _flag_changed(session: SmtpSession) -> Callable[[], None]:
    def changed() -> None:
        session.account_changed = True
        session.account_read_at = float("-inf")  # no snapshot reuse after a change

    return changed


def _session(server: SmtpConnection) -> SmtpSession:
    assert server.session is not None
    return server.session


def _b64(text: str) -> bytes | None:
    try:
        return b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
