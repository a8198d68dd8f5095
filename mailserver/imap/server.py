"""The asyncio front of IMAP: listeners that hand each connection to an `ImapSession`."""

from __future__ import annotations

import asyncio
import logging
import ssl

from mailserver.imap.session import ImapContext, ImapSession

log = logging.getLogger(__name__)


class ImapServer:
    """Two listeners (STARTTLS and implicit TLS) over one context; tracks live sessions."""

    def __init__(self, ctx: ImapContext) -> None:
        self.ctx = ctx
        self.sessions: set[ImapSession] = set()
        self.servers: list[asyncio.AbstractServer] = []

    async def start(self) -> list[tuple[str, asyncio.AbstractServer]]:
        imap = self.ctx.settings.imap
        plain = await asyncio.start_server(self._plain, imap.listen, imap.port)
        secure = await asyncio.start_server(
            self._implicit_tls, imap.listen, imap.tls_port, ssl=self.ctx.tls_context
        )
        self.servers = [plain, secure]
        return [("imap (STARTTLS)", plain), ("imaps (implicit TLS)", secure)]

    async def _plain(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self._run(ImapSession(self.ctx, reader, writer, implicit_tls=False))

    async def _implicit_tls(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await self._run(ImapSession(self.ctx, reader, writer, implicit_tls=True))

    async def _run(self, session: ImapSession) -> None:
        self.sessions.add(session)
        try:
            await session.run()
        except Exception:  # a bug must cost one session, never the server
            log.exception("IMAP session %s failed", session.sid)
            session.writer.close()
        finally:
            self.sessions.discard(session)

    async def stop(self) -> None:
        """Stop listening and tell every live session goodbye (RFC 3501 §7.1.5 BYE)."""
        for server in self.servers:
            server.close()
        for session in list(self.sessions):
            try:
                session.writer.write(b"* BYE Server shutting down\r\n")
                session.writer.close()
            except (ConnectionError, RuntimeError, ssl.SSLError):
                pass
        for server in self.servers:
            await server.wait_closed()
