"""The asyncio front of POP3: two listeners handing each connection to a `Pop3Session`."""

from __future__ import annotations

import asyncio

from mailserver.imap.session import ImapContext
from mailserver.listeners import SessionListeners
from mailserver.pop3.session import MaildropLocks, Pop3Session


class Pop3Server(SessionListeners):
    """STLS (`pop3.port`) and implicit TLS (`pop3.tls_port`) over the IMAP context.

    At shutdown sessions are closed without UPDATE, so nothing is deleted (RFC 1939 §6).
    """

    def __init__(self, ctx: ImapContext) -> None:
        self.ctx = ctx
        self.locks = MaildropLocks()
        super().__init__(
            "POP3",
            lambda reader, writer, tls: Pop3Session(
                ctx, self.locks, reader, writer, implicit_tls=tls
            ),
            b"-ERR [SYS/TEMP] Server shutting down\r\n",
            ctx.services,
        )

    async def start(self) -> list[tuple[str, asyncio.Server]]:
        """Bind both listeners; returns (name, server) pairs for `serve` to report."""
        pop3 = self.ctx.settings.pop3
        names = ("pop3 (STLS)", "pop3s (implicit TLS)")
        return await self.listen(pop3.listen, pop3.port, pop3.tls_port, self.ctx.tls_context, names)
