"""What every SMTP listener shares: the aiosmtpd connection and session, and a handler base.

`SmtpConnection` keeps a session id across STARTTLS, knows whether the
transport is encrypted (also for implicit TLS, which aiosmtpd does not
track), and reports its lifetime to the handler; `SmtpHandler` logs each
connection, answers refusals in the configured languages, writes policy-log
lines, and never lets internal errors reach the client.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from mailserver import access
from mailserver.app import Services
from mailserver.config import Settings
from mailserver.control import AccountWatch
from mailserver.fairness import take_turns
from mailserver.log import new_id
from mailserver.queue.model import QueuedMessage
from mailserver.queue.spool import Spool
from mailserver.smtp.replies import reply
from policy.model import Account, Decision

log = logging.getLogger(__name__)

INTERNAL_ERROR = "451 4.3.0 Internal error; the message was not accepted, please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, please try again later"


def connection_options(settings: Settings) -> dict[str, Any]:
    """The aiosmtpd options every SMTP listener shares (size limit, names, timeout)."""
    return {
        "data_size_limit": settings.smtp.max_message_size,
        "enable_SMTPUTF8": True,
        "hostname": settings.server.hostname,
        "ident": "mailserver",
        "timeout": settings.smtp.timeout_seconds,
        "loop": asyncio.get_running_loop(),
    }


class SmtpSession(Session):
    """aiosmtpd's session plus what the policy log needs."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sid: str | None = None) -> None:
        super().__init__(loop)
        self.sid = sid or new_id()
        self.login: str | None = None
        self.account: Account | None = None
        self.account_read_at = 0.0
        # Set by the account watch when the directory says the account changed: the
        # account is judged again before the next command.
        self.account_changed = False
        self.stop_watching: Callable[[], None] | None = None
        self.tls_version: str | None = None

    # aiosmtpd sets the deprecated `login_data` on every AUTH and logs a warning each
    # time; we keep the login in `self.login` and let that attribute be a plain one.
    @property
    def login_data(self) -> Any:
        return self._login_data

    @login_data.setter
    def login_data(self, value: Any) -> None:
        self._login_data = value


class SmtpConnection(SMTP):
    """One client connection. Keeps the session id across STARTTLS and reports its lifetime."""

    session: SmtpSession | None
    envelope: Envelope | None
    transport: asyncio.Transport | None  # aiosmtpd says BaseTransport; asyncio gives a Transport

    def __init__(self, handler: SmtpHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.owner = handler
        # Every command but QUIT first asks the handler whether the session may go on
        # (an account changed in the directory is judged again before its next command),
        # and then lets the other sessions run.
        for command, method in self._smtp_methods.items():
            if command != "QUIT":
                self._smtp_methods[command] = self._checked(command, method)

    def _checked(
        self, command: str, method: Callable[[str], Awaitable[None]]
    ) -> Callable[[str], Any]:
        @functools.wraps(method)
        async def checked(arg: str) -> None:
            refusal = await self.owner.before_command(self, command)
            if refusal is None:
                await method(arg)
                # A turn for the other sessions (`mailserver.fairness`) once the command
                # is done: after STARTTLS that is after the handshake, never between the
                # 220 and the switch to TLS (CVE-2011-0411).
                await take_turns()
                return
            await self.push(refusal)
            if self.transport is not None:
                self.transport.close()

        return checked

    def _create_session(self) -> SmtpSession:
        previous = self.session
        return SmtpSession(self.loop, previous.sid if previous else None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        super().connection_made(transport)
        assert self.session is not None
        ssl_object = transport.get_extra_info("ssl_object")
        self.session.tls_version = ssl_object.version() if ssl_object else None
        if first and ssl_object is not None:
            # Implicit TLS (RFC 8314): the connection is encrypted from the first byte.
            # aiosmtpd only knows STARTTLS; marking the session as TLS lets its own
            # auth_require_tls check pass and keeps STARTTLS from being offered again.
            self._tls_protocol = transport  # type: ignore[assignment]
        if first:
            self.owner.connected(self)

    def connection_lost(self, error: Exception | None) -> None:
        if self.session is not None and self.session.stop_watching is not None:
            self.session.stop_watching()
            self.session.stop_watching = None
        self.owner.disconnected(self)
        super().connection_lost(error)

    @property
    def encrypted(self) -> bool:
        return (
            self.transport is not None and self.transport.get_extra_info("ssl_object") is not None
        )

    @property
    def in_transaction(self) -> bool:
        return self.envelope is not None and self.envelope.mail_from is not None

    @property
    def peer(self) -> tuple[str | None, int | None]:
        peer = self.session.peer if self.session else None
        if isinstance(peer, tuple) and len(peer) >= 2:
            return str(peer[0]), int(peer[1])
        return None, None


class SmtpHandler:
    """Base of the aiosmtpd handlers: connection tracking, refusals, the policy log."""

    protocol = "smtp"

    def __init__(
        self,
        services: Services,
        spool: Spool,
        on_enqueued: Callable[[QueuedMessage], None],
        watch: AccountWatch | None = None,
    ) -> None:
        self.services = services
        self.spool = spool
        self.on_enqueued = on_enqueued
        self.watch = watch or AccountWatch()
        self.connections: weakref.WeakSet[SmtpConnection] = weakref.WeakSet()
        self.draining = False

    def connected(self, server: SmtpConnection) -> None:
        self.connections.add(server)
        self._log(server, "connect")

    def disconnected(self, server: SmtpConnection) -> None:
        if server in self.connections:
            self.connections.discard(server)
            self._log(server, "disconnect")

    async def before_command(self, server: SmtpConnection, command: str) -> str | None:
        """None to go on with the command, or the reply that ends the session."""
        return None

    async def handle_exception(self, error: Exception) -> str:
        """Never show internal errors to the client (aiosmtpd's default echoes them)."""
        log.error("SMTP session error", exc_info=error)
        return INTERNAL_ERROR

    def _refusal(self, decision: Decision) -> str:
        return reply(
            decision.smtp_code, decision.enhanced_code, self.services.user_message(decision)
        )

    def _log(
        self,
        server: SmtpConnection,
        event: str,
        *,
        decision: Decision | None = None,
        **fields: Any,
    ) -> None:
        session = server.session
        ip, port = server.peer
        record: dict[str, Any] = {
            "session": session.sid if session else None,
            "protocol": self.protocol,
            "client_ip": ip,
            "client_port": port,
            "tls": session.tls_version if session else None,
            "login": session.login if session else None,
        }
        if decision is not None:
            record.update(access.decision_fields(decision))
            record["code"] = f"{decision.smtp_code} {decision.enhanced_code}"
        record.update(fields)
        self.services.log.write(event, **record)
