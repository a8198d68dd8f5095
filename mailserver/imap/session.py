"""One IMAP connection: moves bytes between the socket and the sans-IO parser, runs handlers.

The session owns the connection state of RFC 3501 §3 (not authenticated,
authenticated, selected, logout), the account snapshot and when it was last
judged, and the selected mailbox view. Handlers live in `commands/`; they
send responses through `send` and raise `CommandFailed` / protocol errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from mailserver import access, starttls
from mailserver.app import Services
from mailserver.command_deadline import CommandDeadline
from mailserver.control import AccountWatch
from mailserver.directory import DirectoryUnavailable
from mailserver.fairness import take_turns
from mailserver.imap.protocol import (
    NEED_DATA,
    Command,
    CommandParser,
    ContinuationNeeded,
    ImapProtocolError,
    RawLine,
    tagged,
    untagged_status,
)
from mailserver.log import new_id
from mailserver.store.mailstore import MailboxView, MailStore, UserStore
from policy.engine import directory_unavailable
from policy.model import Account, Action, Decision, Service

log = logging.getLogger(__name__)


class State(Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


class CommandFailed(Exception):
    """A command that is well-formed but cannot be done: tagged NO (or BAD) with a code."""

    def __init__(self, text: str, code: str | None = None, status: str = "NO") -> None:
        super().__init__(text)
        self.text, self.code, self.status = text, code, status


@dataclass(frozen=True)
class Ok:
    """A handler's successful end: the tagged OK text and optional response code."""

    text: str
    code: str | None = None
    # The handler already sent its tagged response (STARTTLS must answer before the handshake).
    answered: bool = False


class SessionClosed(Exception):
    """The connection is over (client gone, BYE sent, or timed out)."""


@dataclass
class ImapContext:
    """What every IMAP session of one server shares."""

    services: Services
    store: MailStore
    watch: AccountWatch
    tls_context: ssl.SSLContext

    @property
    def settings(self) -> Any:
        return self.services.settings


Handler = Callable[["ImapSession", Command], Awaitable[Ok]]


class ImapSession:
    """The server side of one IMAP connection."""

    def __init__(
        self,
        ctx: ImapContext,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        implicit_tls: bool,
    ) -> None:
        self.ctx = ctx
        self.reader, self.writer = reader, writer
        self.sid = new_id()
        self.state = State.NOT_AUTHENTICATED
        self.live: access.LiveAccount | None = None
        self.user: UserStore | None = None
        self.selected: MailboxView | None = None
        self.enabled: set[str] = set()
        self.changed = asyncio.Event()  # set by store notifications and account changes
        self._unsubscribe_mailbox: Callable[[], None] | None = None
        self._loop = asyncio.get_running_loop()
        self.parser = self._new_parser()
        peer = writer.get_extra_info("peername") or (None, None)
        self.client_ip, self.client_port = (peer[0], peer[1]) if len(peer) >= 2 else (None, None)
        self.tls_version: str | None = None
        if implicit_tls:
            self._note_tls()

    # --- plumbing ---------------------------------------------------------------

    def _new_parser(self) -> CommandParser:
        imap = self.ctx.settings.imap
        return CommandParser(max_line=imap.max_line, max_literal=self._literal_limit())

    def _literal_limit(self) -> int:
        """Before login only LOGIN/AUTHENTICATE need a literal: a small one (RFC 7888 §4
        lets the server refuse any literal; an anonymous client must not make us buffer MBs)."""
        imap = self.ctx.settings.imap
        if self.state is State.NOT_AUTHENTICATED:
            return int(imap.max_login_literal)
        return int(imap.max_literal)

    def _timeout(self) -> float:
        imap = self.ctx.settings.imap
        if self.state is State.NOT_AUTHENTICATED:
            return float(imap.login_timeout_seconds)
        return float(imap.idle_timeout_seconds)

    def _note_tls(self) -> None:
        ssl_object = self.writer.get_extra_info("ssl_object")
        self.tls_version = ssl_object.version() if ssl_object else None

    @property
    def encrypted(self) -> bool:
        return self.tls_version is not None

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def next_event(self, *, raw_line: bool = False) -> Command | RawLine:
        """The next command (or raw line), reading from the socket as needed.

        Protocol errors are answered here (tagged BAD/NO when the tag is known) and
        the parser resumes at the next command, as RFC 3501 §7.1.5 expects.
        """
        if raw_line:
            self.parser.expect_line()
        timeout = self._timeout()
        started = self.parser.in_command or self.parser.buffered > 0
        deadline = CommandDeadline(timeout, timeout, started=started)
        while True:
            try:
                event = self.parser.next_event()
            except ImapProtocolError as error:
                await self.send_protocol_error(error)
                await take_turns()
                if error.fatal:  # the parser cannot find the next command: give up
                    await self.send(untagged_status("BYE", "Too much invalid input"))
                    raise SessionClosed from None
                if raw_line:
                    raise CommandFailed(error.text, status="BAD") from None
                continue
            if event is NEED_DATA:
                try:
                    data = await deadline.read(self.reader)
                except TimeoutError:
                    self.log("timeout")
                    # RFC 3501 §5.4: BYE, then close; write without waiting for a stuck reader.
                    self.writer.write(untagged_status("BYE", "Autologout; too slow"))
                    raise SessionClosed from None
                except (ConnectionError, ssl.SSLError):
                    raise SessionClosed from None
                if not data:
                    raise SessionClosed
                self.parser.receive_data(data)
                continue
            if isinstance(event, ContinuationNeeded):
                await self._answer_literal(event)
                continue
            return event

    async def _answer_literal(self, event: ContinuationNeeded) -> None:
        """Send "+" for a literal the command may have, else refuse it before a byte is read:
        a command not valid in this state (APPEND before login) gets BAD, an APPEND
        over quota NO [OVERQUOTA] (RFC 9208 §5.1, RFC 3501 §7.5)."""
        from mailserver.imap.commands import check_literal

        try:
            await check_literal(self, event)
        except CommandFailed as failed:
            self.parser.refuse_literal()
            await self.send(tagged(event.tag, failed.status, failed.text, code=failed.code))
            return
        await self.send(b"+ Ready for literal data\r\n")

    async def send_protocol_error(self, error: ImapProtocolError) -> None:
        text = error.text or "Syntax error"
        if error.tag:
            await self.send(tagged(error.tag, error.status, text, code=error.code))
        else:
            await self.send(untagged_status("BAD", text, code=error.code))

    # --- the loop ---------------------------------------------------------------

    async def run(self) -> None:
        from mailserver.imap.commands import capabilities, dispatch

        self.log("connect")
        try:
            caps = " ".join(capabilities(self))
            await self.send(
                untagged_status("OK", "mailserver IMAP ready", code=f"CAPABILITY {caps}")
            )
            while self.state is not State.LOGOUT:
                event = await self.next_event()
                if isinstance(event, Command):
                    await dispatch(self, event)
                await take_turns()
        except SessionClosed:
            pass
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            await self.finish()

    async def finish(self) -> None:
        if self.live is not None:
            self.live.close()
        with contextlib.suppress(Exception):
            await self.deselect()
        if self.login is not None:
            self.log("logout", login=self.login)
        self.log("disconnect")
        with contextlib.suppress(Exception):
            self.writer.close()

    async def start_tls(self) -> None:
        """Upgrade after `STARTTLS` OK; cleartext sent behind the command closes the
        connection instead (RFC 3501 §6.2.1, `mailserver.starttls`)."""
        held = self.parser.buffered
        if not await starttls.start_tls(self.reader, self.writer, self.ctx.tls_context, held=held):
            self.log("cleartext_after_starttls")
            raise SessionClosed
        self.parser = self._new_parser()
        self._note_tls()

    # --- login and the policy -----------------------------------------------------

    @property
    def account(self) -> Account | None:
        return self.live.account if self.live else None

    @property
    def login(self) -> str | None:
        return self.live.account.login if self.live else None

    async def authenticate(self, login: str, password: str, mechanism: str) -> Decision:
        """Verify the credentials and judge the account; on allow, enter authenticated state."""
        decision, account = await access.login(self.ctx.services, login, password, Service.IMAP)
        self.log(
            "login",
            decision=decision,
            login=login,
            account=account.login if account else None,
            mechanism=mechanism,
        )
        if decision.allowed and account is not None:
            self.live = access.LiveAccount(
                self.ctx.services, self.ctx.watch, account, Service.IMAP, self.changed.set
            )
            self.state = State.AUTHENTICATED
            self.parser.set_literal_limit(self._literal_limit())
            quota = self.ctx.settings.store.quota_bytes or None
            self.user = self.ctx.store.user(account.address, quota_bytes=quota)
            await asyncio.to_thread(self.user.ensure_created)
        return decision

    def wake(self) -> None:
        """Thread-safe: something in the selected mailbox changed."""
        self._loop.call_soon_threadsafe(self.changed.set)

    async def ensure_still_allowed(self) -> None:
        """Judge the account again when the re-check interval has passed or it changed.

        Denied: `* BYE` with the reason, a `kick` line in the policy log, and the
        connection closes (SessionClosed). A directory outage fails closed for the
        command (NO [UNAVAILABLE]) without dropping the session.
        """
        if self.live is None or not self.live.due:
            return
        services = self.ctx.services
        try:
            decision = await self.live.rejudge()
        except DirectoryUnavailable:
            unavailable = directory_unavailable(Action.LOGIN)
            raise CommandFailed(services.user_line(unavailable), code="UNAVAILABLE") from None
        if decision.allowed:
            return
        self.log("kick", decision=decision)
        for line in services.user_message(decision):
            await self.send(untagged_status("OK", line, code="ALERT"))
        # The BYE text, like a tagged NO, carries every configured language.
        await self.send(untagged_status("BYE", services.user_line(decision)))
        self.state = State.LOGOUT
        raise SessionClosed

    # --- mailbox selection ----------------------------------------------------------

    async def select(self, view: MailboxView) -> None:
        await self.deselect()
        self.selected = view
        self.state = State.SELECTED
        assert self.account is not None
        notifier = self.ctx.store.notifier
        self._unsubscribe_mailbox = notifier.subscribe(self.account.address, view.name, self.wake)

    async def deselect(self) -> None:
        if self.selected is not None:
            if self._unsubscribe_mailbox is not None:
                self._unsubscribe_mailbox()
                self._unsubscribe_mailbox = None
            view, self.selected = self.selected, None
            await asyncio.to_thread(view.close)
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED

    # --- the policy log -----------------------------------------------------------------

    def log(self, event: str, *, decision: Decision | None = None, **fields: Any) -> None:
        """One policy-log line; never pass a password here."""
        access.write_session_log(self.ctx.services, event, self, "imap", decision, fields)
