"""The listeners of a mail-access protocol (IMAP, POP3): one for STARTTLS, one for implicit
TLS, and the live sessions they run."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Protocol

from mailserver.access import log_refused_connection
from mailserver.app import Services
from mailserver.connlimit import client_address
from mailserver.tls import start_tls_server
from policy.connections import refusal_line

log = logging.getLogger(__name__)

# Pending connections the kernel queues before accept (asyncio's default is 100): phones
# reconnect by the thousand after a network blip.
LISTEN_BACKLOG = 1024


class Session(Protocol):
    sid: str
    writer: asyncio.StreamWriter

    async def run(self) -> None: ...


SessionFactory = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bool], Session]


class SessionListeners:
    """Accepts connections, runs one session each, and says goodbye to them at shutdown."""

    def __init__(
        self, protocol: str, new_session: SessionFactory, goodbye: bytes, services: Services
    ) -> None:
        self.protocol = protocol
        self.services = services
        # Shared by both listeners of the protocol (policy/connections.py).
        self.connection_count = services.connection_count(protocol.lower())
        self.new_session = new_session
        self.goodbye = goodbye
        self.sessions: set[Session] = set()
        self.servers: list[asyncio.Server] = []

    async def listen(
        self,
        host: str,
        port: int,
        tls_port: int,
        tls_context: ssl.SSLContext,
        names: tuple[str, str],
    ) -> list[tuple[str, asyncio.Server]]:
        """Bind the STARTTLS-style and the implicit-TLS listener; (name, server) pairs."""

        async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._admitted(reader, writer, False)

        async def secure(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._admitted(reader, writer, True)

        first = await asyncio.start_server(plain, host, port, backlog=LISTEN_BACKLOG)
        # Small TLS read buffers: thousands of idle phones hold these connections (tls.py).
        second = await start_tls_server(secure, host, tls_port, tls_context)
        self.servers = [first, second]
        return [(names[0], first), (names[1], second)]

    async def _admitted(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, tls: bool
    ) -> None:
        """Run a session for the connection, or refuse it when its client address (or the
        listener family) has too many open; an admitted one is released when it ends."""
        peer = writer.get_extra_info("peername")
        address = client_address(peer)
        refusal = self.connection_count.admit(address)
        if refusal is not None:
            log_refused_connection(
                self.services, self.protocol.lower(), peer, self.connection_count, refusal
            )
            try:
                writer.write(refusal_line(refusal, self.protocol.lower(), ""))
                writer.close()
                await writer.wait_closed()
            except (ConnectionError, ssl.SSLError):
                pass
            return
        try:
            await self._run(self.new_session(reader, writer, tls))
        finally:
            self.connection_count.release(address)

    async def _run(self, session: Session) -> None:
        self.sessions.add(session)
        try:
            await session.run()
        except Exception:  # a bug must cost one session, never the server
            log.exception("%s session %s failed", self.protocol, session.sid)
            session.writer.close()
        finally:
            self.sessions.discard(session)

    async def stop(self) -> None:
        """Stop listening and tell every live session goodbye."""
        for server in self.servers:
            server.close()
        for session in list(self.sessions):
            try:
                session.writer.write(self.goodbye)
                session.writer.close()
            except (ConnectionError, RuntimeError, ssl.SSLError):
                pass
        for server in self.servers:
            await server.wait_closed()
