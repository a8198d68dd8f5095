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
from mailserver.connlimit import client_address
from mailserver.control import AccountWatch
from mailserver.diskspace import free_bytes, out_of_space
from mailserver.fairness import take_turns
from mailserver.log import new_id
from mailserver.queue.model import QueuedMessage
from mailserver.queue.spool import Spool
from mailserver.smtp.replies import reply
from policy.connections import refusal_line
from policy.model import Account, Decision
from policy.storage import storage_full, storage_refusal

log = logging.getLogger(__name__)

INTERNAL_ERROR = "451 4.3.0 Internal error; the message was not accepted, please try again later"
NOT_STORED = "451 4.3.0 Could not store the message; please try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down, please try again later"


def declared_size(mail_options: list[str]) -> int:
    """The SIZE= of MAIL FROM (RFC 1870 §6), 0 when not declared (aiosmtpd checked digits)."""
    for option in mail_options:
        name, _, value = option.partition("=")
        if name.upper() == "SIZE" and value.isdigit():
            return int(value)
    return 0


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
        # The client address counted against the connection limits while this is open,
        # or None (not admitted yet, refused, or released).
        self.counted_address: str | None = None
        self.refused = False
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

    async def smtp_DATA(self, arg: str) -> None:
        """DATA, refused before the 354 when the handler says the message cannot be
        stored (disk space low: 452 4.3.1); the transaction stays, the client may retry."""
        if self.envelope is not None and self.envelope.rcpt_tos and not arg:
            refusal = self.owner.before_data(self)
            if refusal is not None:
                await self.push(refusal)
                return
        await super().smtp_DATA(arg)

    def _create_session(self) -> SmtpSession:
        previous = self.session
        return SmtpSession(self.loop, previous.sid if previous else None)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None
        if first:
            peer = transport.get_extra_info("peername")
            address = client_address(peer)
            refusal = self.owner.admit(address, peer)
            if refusal is not None:
                # 421 as the greeting, then close (RFC 5321 §3.1); aiosmtpd never starts.
                self.refused = True
                hostname = self.owner.services.settings.server.hostname
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(refusal_line(refusal, "smtp", hostname))
                transport.close()
                return
            self.counted_address = address
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
        if self.refused:
            return
        if self.counted_address is not None:
            self.owner.connection_count.release(self.counted_address)
            self.counted_address = None
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
        # Submission and MX share one count (policy/connections.py).
        self.connection_count = services.connection_count("smtp")

    def admit(self, address: str, peer: Any) -> Decision | None:
        """Count a new connection from `address`, or the refusal (logged) when its
        address, or all SMTP listeners together, have too many open."""
        refusal = self.connection_count.admit(address)
        if refusal is not None:
            access.log_refused_connection(
                self.services, self.protocol, peer, self.connection_count, refusal
            )
        return refusal

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

    def before_data(self, server: SmtpConnection) -> str | None:
        """None to answer DATA with 354, or the reply that refuses it (disk space low)."""
        refusal = self._storage_refusal(server, "data", status="rejected")
        return None if refusal is None else self._reply_to_client(refusal)

    def _storage_refusal(
        self, server: SmtpConnection, event: str, declared_size: int = 0, **fields: Any
    ) -> Decision | None:
        """The storage policy's refusal of a new message (logged), or None: the spool's
        filesystem must keep `queue.min_free_bytes` free (policy/storage.py)."""
        free = free_bytes(self.spool.directory)
        minimum = self.services.settings.queue.min_free_bytes
        refusal = storage_refusal(free, minimum, declared_size)
        if refusal is not None:
            self._log(
                server,
                event,
                decision=refusal,
                free_bytes=free,
                min_free_bytes=minimum,
                declared_size=declared_size or None,
                **fields,
            )
        return refusal

    def _spool_failed(self, server: SmtpConnection, error: Exception, **fields: Any) -> str:
        """The reply when spooling an accepted DATA failed (the spool kept nothing of it):
        452 4.3.1 when the disk is full (RFC 3463 X.3.1), else 451 4.3.0. Either is
        temporary: the session goes on, and the client may RSET and try again."""
        if out_of_space(error):
            decision = storage_full()
            self._log(server, "data", decision=decision, status="deferred", **fields)
            return self._reply_to_client(decision)
        log.error("spooling a message failed: %s", error)
        self._log(
            server,
            "data",
            result="tempfail",
            status="deferred",
            detail=type(error).__name__,
            **fields,
        )
        return NOT_STORED

    def _reply_to_client(self, decision: Decision) -> str:
        """The reply that carries `decision` to this listener's clients (users by default)."""
        return self._refusal(decision)

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
