"""The asyncio front of IMAP: listeners that hand each connection to an `ImapSession`."""

from __future__ import annotations

import asyncio

from mailserver.imap.session import ImapContext, ImapSession
from mailserver.listeners import SessionListeners


class ImapServer(SessionListeners):
    """STARTTLS (`imap.port`) and implicit TLS (`imap.tls_port`)."""

    def __init__(self, ctx: ImapContext) -> None:
        self.ctx = ctx
        super().__init__(
            "IMAP",
            lambda reader, writer, tls: ImapSession(ctx, reader, writer, implicit_tls=tls),
            b"* BYE Server shutting down\r\n",  # RFC 3501 §7.1.5
            ctx.services,
        )

    async def start(self) -> list[tuple[str, asyncio.Server]]:
        imap = self.ctx.settings.imap
        names = ("imap (STARTTLS)", "imaps (implicit TLS)")
        return await self.listen(imap.listen, imap.port, imap.tls_port, self.ctx.tls_context, names)
