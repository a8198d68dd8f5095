"""One POP3 connection: moves bytes between the socket and the sans-IO protocol.

The session owns the RFC 1939 §3 state (AUTHORIZATION, TRANSACTION, UPDATE), the
account snapshot and when it was last judged, the open INBOX view and the
maildrop snapshot. Command handlers live in `commands.py`; they return the bytes
to send, raise `Pop3ProtocolError` for a client's mistake and `CommandFailed` for
a refusal the client could not have avoided.

Login goes through the same authenticator and policy as IMAP (action LOGIN,
service POP3), and a logged-in account is judged again at a command once
`imap.account_recheck_seconds` have passed or the AccountWatch says it changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from mailserver import access, starttls
from mailserver.command_deadline import CommandDeadline
from mailserver.directory import DirectoryUnavailable
from mailserver.fairness import take_turns
from mailserver.imap.session import ImapContext
from mailserver.log import new_id
from mailserver.pop3.maildrop import Maildrop
from mailserver.pop3.protocol import (
    MAX_SASL_LINE,
    NEED_DATA,
    LineReader,
    Pop3ProtocolError,
    State,
    err,
    parse_command,
)
from mailserver.store.mailstore import MailboxView, StoreError
from policy.model import Account, Decision, Service, Verdict


class CommandFailed(Exception):
    """A well-formed command that cannot be done: `-ERR [code] text`."""

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text, self.code = text, code


class SessionClosed(Exception):
    """The connection is over: client gone, QUIT done, kicked or timed out."""


class MaildropLocks:
    """RFC 1939 §8: one TRANSACTION-state session per maildrop on this node."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    def acquire(self, login: str) -> bool:
        key = login.lower()
        if key in self._held:
            return False
        self._held.add(key)
        return True

    def release(self, login: str) -> None:
        self._held.discard(login.lower())


def user_text(lines: list[str], fallback: str) -> str:
    """The policy's message lines as one POP3 status text.

    POP3 status lines are ASCII unless UTF8 was negotiated (RFC 6856), so the
    ASCII lines (the English ones) are used when there are any.
    """
    ascii_lines = [line for line in lines if line.isascii()]
    chosen = ascii_lines or lines
    return " / ".join(chosen) if chosen else fallback


class Pop3Session:
    """The server side of one POP3 connection."""

    def __init__(
        self,
        ctx: ImapContext,
        locks: MaildropLocks,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        implicit_tls: bool,
    ) -> None:
        self.ctx, self.locks = ctx, locks
        self.reader, self.writer = reader, writer
        self.sid = new_id()
        self.state = State.AUTHORIZATION
        self.lines = LineReader()
        self.pending_user: str | None = None  # USER given, PASS awaited (RFC 1939 §7)
        self.live: access.LiveAccount | None = None
        self.view: MailboxView | None = None
        self.maildrop: Maildrop | None = None
        self.login_notice = ""
        self._locked = False
        peer = writer.get_extra_info("peername") or (None, None)
        self.client_ip, self.client_port = (peer[0], peer[1]) if len(peer) >= 2 else (None, None)
        self.tls_version: str | None = None
        if implicit_tls:
            self._note_tls()

    @property
    def settings(self) -> Any:
        return self.ctx.services.settings

    @property
    def encrypted(self) -> bool:
        return self.tls_version is not None

    def _note_tls(self) -> None:
        ssl_object = self.writer.get_extra_info("ssl_object")
        self.tls_version = ssl_object.version() if ssl_object else None

    # --- bytes in and out ---------------------------------------------------------

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_line(self, *, sasl: bool = False) -> bytes:
        """The next line, reading as needed. The inactivity timer of RFC 1939 §3 applies,
        shorter before login, and bounds the whole line too (a client trickling a byte at
        a time is closed once the line has taken that long)."""
        pop3 = self.settings.pop3
        authorizing = self.state is State.AUTHORIZATION
        timeout = float(pop3.login_timeout_seconds if authorizing else pop3.idle_timeout_seconds)
        started = self.lines.buffered > 0
        deadline = CommandDeadline(timeout, timeout, started=started)
        while True:
            line = self.lines.next_line(MAX_SASL_LINE if sasl else None)
            if line is not NEED_DATA:
                assert isinstance(line, bytes)
                return line
            try:
                data = await deadline.read(self.reader)
            except TimeoutError:
                # §3: close without entering UPDATE, so nothing is deleted.
                with contextlib.suppress(ConnectionError, ssl.SSLError):
                    await self.send(err("Disconnected for inactivity"))
                self.log("timeout")
                raise SessionClosed from None
            except (ConnectionError, ssl.SSLError):
                raise SessionClosed from None
            if not data:
                raise SessionClosed
            self.lines.receive_data(data)

    async def start_tls(self) -> None:
        """RFC 2595 §4: handshake after `+OK`; cleartext sent behind STLS closes the
        connection instead (`mailserver.starttls`)."""
        held = self.lines.buffered
        if not await starttls.start_tls(self.reader, self.writer, self.ctx.tls_context, held=held):
            self.log("cleartext_after_starttls")
            raise SessionClosed
        self.lines = LineReader()
        self.pending_user = None
        self._note_tls()

    # --- the loop -------------------------------------------------------------------

    async def run(self) -> None:
        from mailserver.pop3.commands import dispatch

        self.log("connect")
        try:
            # No APOP timestamp in the greeting: APOP is not offered (RFC 1939 §7).
            await self.send(b"+OK mailserver POP3 ready\r\n")
            while self.state is not State.UPDATE:
                try:
                    command = parse_command(await self.read_line())
                    await dispatch(self, command)
                except Pop3ProtocolError as error:
                    await self.send(err(error.text, error.code))
                except CommandFailed as failure:
                    await self.send(err(failure.text, failure.code))
                await take_turns()
        except (SessionClosed, ConnectionError, ssl.SSLError):
            pass
        finally:
            await self.finish()

    @property
    def account(self) -> Account | None:
        return self.live.account if self.live else None

    @property
    def login(self) -> str | None:
        return self.live.account.login if self.live else None

    async def finish(self) -> None:
        if self.live is not None:
            self.live.close()
        if self.view is not None:
            view, self.view = self.view, None
            with contextlib.suppress(Exception):
                await asyncio.to_thread(view.close)
        if self._locked and self.login is not None:
            self.locks.release(self.login)
            self._locked = False
        if self.login is not None:
            self.log("logout")
        self.log("disconnect")
        with contextlib.suppress(Exception):
            self.writer.close()

    # --- login and the policy -----------------------------------------------------------

    async def authenticate(self, login: str, password: str, mechanism: str) -> None:
        """Verify, judge, lock and open the maildrop; raise CommandFailed on any refusal.

        On success the session is in TRANSACTION state and `self.login_notice` holds
        the text for `+OK` (the access end date for a departed user, memo 4.1).
        """
        decision, account = await access.login(self.ctx.services, login, password, Service.POP3)
        in_use = False
        if decision.allowed and account is not None:
            in_use = not self.locks.acquire(account.login)
        fields: dict[str, Any] = {"mechanism": mechanism, "account": account and account.login}
        if in_use:
            fields["maildrop"] = "in-use"
        self.log("login", decision=decision, login=login, **fields)
        if not decision.allowed or account is None:
            raise self.refusal(decision)
        if in_use:
            # RFC 2449 §8.1.2: another session holds the maildrop.
            raise CommandFailed("Mailbox is in use by another POP3 session", "IN-USE")
        self._locked = True
        try:
            await self._open_maildrop(account)
        except StoreError:
            self.locks.release(account.login)
            self._locked = False
            raise CommandFailed("Mailbox is unavailable; try again later", "SYS/TEMP") from None
        self.live = access.LiveAccount(self.ctx.services, self.ctx.watch, account, Service.POP3)
        self.state = State.TRANSACTION
        self.login_notice = self.notice(decision)

    def notice(self, decision: Decision) -> str:
        """The `+OK` text of a successful login; a departed user learns when access ends."""
        assert self.maildrop is not None
        count, octets = self.maildrop.stat()
        text = f"Logged in, {count} messages ({octets} octets)"
        if decision.access_ends is not None:
            lines = self.ctx.services.user_message(decision)
            text += ". " + user_text(lines, f"Access ends on {decision.access_ends.isoformat()}")
        return text

    def refusal(self, decision: Decision) -> CommandFailed:
        """RFC 3206: [SYS/TEMP] for a temporary failure, [AUTH] for any other refusal."""
        text = user_text(self.ctx.services.user_message(decision), "Login refused")
        code = "SYS/TEMP" if decision.verdict is Verdict.TEMPFAIL else "AUTH"
        return CommandFailed(text, code)

    async def _open_maildrop(self, account: Account) -> None:
        """Snapshot INBOX (RFC 1939 §4: the maildrop is fixed for the session)."""
        quota = self.settings.store.quota_bytes or None
        user = self.ctx.store.user(account.address, quota_bytes=quota)
        await asyncio.to_thread(user.ensure_created)
        view = await asyncio.to_thread(user.open, "INBOX")
        self.view = view
        self.maildrop = Maildrop(view.uidvalidity, list(view.messages))

    async def ensure_still_allowed(self) -> None:
        """Judge the account again when the re-check interval passed or it changed.

        Denied: `-ERR [AUTH] <reason>`, a `kick` line in the policy log, and the
        connection closes without UPDATE (nothing is deleted). A directory outage
        fails the command with [SYS/TEMP] and keeps the session.
        """
        if self.live is None or not self.live.due:
            return
        try:
            decision = await self.live.rejudge()
        except DirectoryUnavailable:
            raise CommandFailed(
                "The account service is unavailable; try again later", "SYS/TEMP"
            ) from None
        if decision.allowed:
            return
        self.log("kick", decision=decision)
        refusal = self.refusal(decision)
        await self.send(err(refusal.text, "AUTH"))
        raise SessionClosed

    # --- the policy log ------------------------------------------------------------------

    def log(self, event: str, *, decision: Decision | None = None, **fields: Any) -> None:
        """One policy-log line; never pass a password here."""
        access.write_session_log(self.ctx.services, event, self, "pop3", decision, fields)
