"""The asyncio front of POP3: two listeners handing each connection to a `Pop3Session`."""

from __future__ import annotations

import asyncio
import logging
import ssl

from mailserver.imap.session import ImapContext
from mailserver.pop3.session import MaildropLocks, Pop3Session

log = logging.getLogger(__name__)


class Pop3Server:
    """STLS (`pop3.port`) and implicit TLS (`pop3.tls_port`) over the IMAP context."""

    def __init__(self, ctx: ImapContext) -> None:
        self.ctx = ctx
        self.locks = MaildropLocks()
        self.sessions: set[Pop3Session] = set()
        self.servers: list[asyncio.AbstractServer] = []

    async def start(self) -> list[tuple[str, asyncio.AbstractServer]]:
        """Bind both listeners; returns (name, server) pairs for `serve` to report."""
        pop3 = self.ctx.settings.pop3
        plain = await asyncio.start_server(self._plain, pop3.listen, pop3.port)
        secure = await asyncio.start_server(
            self._implicit_tls, pop3.listen, pop3.tls_port, ssl=self.ctx.tls_context
        )
        self.servers = [plain, secure]
        return [("pop3 (STLS)", plain), ("pop3s (implicit TLS)", secure)]

    async def _plain(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._run(Pop3Session(self.ctx, self.locks, reader, writer, implicit_tls=False))

    async def _implicit_tls(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._run(Pop3Session(self.ctx, self.locks, reader, writer, implicit_tls=True))

    async def _run(self, session: Pop3Session) -> None:
        self.sessions.add(session)
        try:
            await session.run()
        except Exception:  # a bug must cost one session, never the server
            log.exception("POP3 session %s failed", session.sid)
            session.writer.close()
        finally:
            self.sessions.discard(session)

    async def stop(self) -> None:
        """Stop listening and close live sessions without UPDATE (nothing is deleted)."""
        for server in self.servers:
            server.close()
        for session in list(self.sessions):
            try:
                session.writer.write(b"-ERR [SYS/TEMP] Server shutting down\r\n")
                session.writer.close()
            except (ConnectionError, RuntimeError, ssl.SSLError):
                pass
        for server in self.servers:
            await server.wait_closed()
