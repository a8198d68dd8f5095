"""The queue runner: takes every spooled message to its recipients, with retries and DSNs.

Local recipients go into their Maildir (Return-Path added here, at final
delivery, RFC 5321 §4.4); remote ones are grouped by domain, looked up by MX
(or sent to the smarthost) and handed to the SMTP client. Each recipient's
result is written to the spool before the next step, so a crash never
delivers a recorded recipient twice and never forgets one.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from mailserver import access, smtpclient
from mailserver.app import Services
from mailserver.directory import DirectoryUnavailable
from mailserver.diskspace import out_of_space
from mailserver.queue import dsn, mx, schedule
from mailserver.queue.admin import ADMIN_BOUNCE
from mailserver.queue.model import GaveUp, QueuedMessage, Recipient, RecipientState
from mailserver.queue.spool import Spool, SpoolError
from policy.model import Action, Request, Service, Verdict
from policy.storage import storage_full

log = logging.getLogger(__name__)

# A rescan of the spool picks up changes made by the CLI in another process.
RESCAN_SECONDS = 30.0
# How often the queue's size and oldest message go to the policy log (queue-stats).
STATS_SECONDS = 300.0
# Policy-log status and result of a recipient in each state.
_STATUS = {
    RecipientState.DELIVERED: ("delivered", "allow"),
    RecipientState.FAILED: ("bounced", "deny"),
    RecipientState.PENDING: ("deferred", "tempfail"),
}


class QueueRunner:
    """Delivers what the spool holds; `wake()` after enqueueing makes it start at once."""

    def __init__(self, services: Services, spool: Spool) -> None:
        self.services = services
        self.spool = spool
        self.settings = services.settings
        self._due: dict[str, dt.datetime] = {}  # queue id -> next attempt
        self._inflight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._rescan = True
        self._next_stats = services.clock()
        self._stopping = False
        self._slots = asyncio.Semaphore(self.settings.queue.concurrency)
        self._destinations: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.settings.queue.per_destination)
        )
        relay = self.settings.relay
        self._resolver = mx.make_resolver(relay.dns_servers, relay.dns_port)
        self._loop = asyncio.get_running_loop()

    # --- scheduling ---------------------------------------------------------------

    def enqueued(self, message: QueuedMessage) -> None:
        """Thread-safe: a new message is in the spool; deliver it now."""
        self._loop.call_soon_threadsafe(self._add, message.id, message.next_attempt)

    def rescan(self) -> None:
        """Thread-safe: the spool changed outside this process (queue retry, delete...)."""
        self._rescan = True
        self._loop.call_soon_threadsafe(self._wake.set)

    def _add(self, queue_id: str, when: dt.datetime) -> None:
        self._due[queue_id] = when
        self._wake.set()

    async def run(self) -> None:
        removed = await asyncio.to_thread(self.spool.recover)
        if removed:
            log.info("queue: removed %d files left by an interrupted write", removed)
        while not self._stopping:
            if self._rescan:
                self._rescan = False
                await self._load_schedule()
            now = self.services.clock()
            for queue_id, when in sorted(self._due.items(), key=lambda item: item[1]):
                if when > now or queue_id in self._inflight:
                    continue
                if self._slots.locked():
                    break
                await self._slots.acquire()
                self._inflight.add(queue_id)
                task = asyncio.create_task(self._process(queue_id))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            await self._sleep(now)

    async def _sleep(self, now: dt.datetime) -> None:
        waiting = [w for q, w in self._due.items() if q not in self._inflight]
        timeout = RESCAN_SECONDS
        if waiting:
            timeout = min(timeout, max((min(waiting) - now).total_seconds(), 0.05))
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        if timeout == RESCAN_SECONDS and not self._wake.is_set():
            self._rescan = True

    async def _load_schedule(self) -> None:
        messages = await asyncio.to_thread(lambda: list(self.spool.all()))
        self._due = {m.id: m.next_attempt for m in messages if not m.frozen}
        now = self.services.clock()
        if now >= self._next_stats:
            self._next_stats = now + dt.timedelta(seconds=STATS_SECONDS)
            oldest = min((m.received_at for m in messages), default=now)
            self.services.log.write(
                "queue-stats",
                protocol="queue",
                size=len(messages),
                pending_recipients=sum(len(m.pending) for m in messages),
                oldest_seconds=int((now - oldest).total_seconds()),
            )

    async def stop(self, grace: float) -> None:
        """Stop starting deliveries; let those in progress finish for `grace` seconds."""
        self._stopping = True
        self._wake.set()
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()  # state not yet recorded is retried at the next start

    # --- one message ---------------------------------------------------------------

    async def _process(self, queue_id: str) -> None:
        try:
            await self._attempt(queue_id)
        except SpoolError as exc:
            log.info("queue %s: %s", queue_id, exc)
            self._due.pop(queue_id, None)
        except Exception:
            log.exception("queue %s: delivery attempt failed", queue_id)
            self._due[queue_id] = self.services.clock() + dt.timedelta(
                seconds=self.settings.queue.retry_initial_seconds
            )
        finally:
            self._inflight.discard(queue_id)
            self._slots.release()
            self._wake.set()

    async def _attempt(self, queue_id: str) -> None:
        message = await asyncio.to_thread(self.spool.load, queue_id)
        if message.frozen:
            self._due.pop(queue_id, None)
            return
        content = await asyncio.to_thread(self.spool.content, queue_id)
        before = {r.address: r.state for r in message.recipients}
        if message.extra.get(ADMIN_BOUNCE):
            extra = {k: v for k, v in message.extra.items() if k != ADMIN_BOUNCE}
            message = replace(message, extra=extra)
            # The last real reply stays as it was; the DSN says an administrator bounced it.
            given_up = [
                replace(r, state=RecipientState.FAILED, gave_up=GaveUp.ADMINISTRATOR)
                for r in message.pending
            ]
            message = await self._record(message, given_up)
        local_domains = await self.services.local_domains()
        pending = message.pending
        local = [r for r in pending if r.domain in local_domains]
        remote: dict[str, list[Recipient]] = defaultdict(list)
        for recipient in pending:
            if recipient.domain not in local_domains:
                remote[recipient.domain].append(recipient)

        for recipient in local:
            message = await self._record(message, [await self._local(message, recipient, content)])
        groups = [self._remote(domain, group, message, content) for domain, group in remote.items()]
        for finished in asyncio.as_completed(groups):
            message = await self._record(message, await finished)

        now = self.services.clock()
        message = replace(message, attempts=message.attempts + 1)
        if message.pending and schedule.expired(message, self.settings.queue, now):
            message = await self._record(message, [self._expire(r) for r in message.pending])
        failed = [
            r
            for r in message.recipients
            if r.state is RecipientState.FAILED and before[r.address] is not RecipientState.FAILED
        ]
        if failed:
            await self._notify(message, failed, "failure", content)
        elif message.pending and schedule.delay_warning_due(message, self.settings.queue, now):
            await self._notify(message, list(message.pending), "delay", content)
            message = replace(message, delay_notified=True)
        if message.done:
            await asyncio.to_thread(self.spool.remove, message.id)
            self._due.pop(message.id, None)
            self._log("queue-done", message)
            return
        message = replace(
            message, next_attempt=schedule.next_attempt(message, self.settings.queue, now)
        )
        await asyncio.to_thread(self.spool.update, message)
        self._due[message.id] = message.next_attempt

    async def _record(self, message: QueuedMessage, updates: Iterable[Recipient]) -> QueuedMessage:
        """Apply recipient results and make them durable before anything else happens."""
        updates = list(updates)
        for recipient in updates:
            message = message.with_recipient(recipient)
        await asyncio.to_thread(self.spool.update, message)
        for recipient in updates:
            status, result = _STATUS[recipient.state]
            self._log(
                "deliver",
                message,
                recipients=[recipient.address],
                status=status,
                result=result,
                code=recipient.last_code,
                detail=recipient.last_text,
                gave_up=recipient.gave_up,
                remote=recipient.remote_mta or None,
                attempts=recipient.attempts,
            )
        return message

    # --- local delivery ----------------------------------------------------------------

    async def _local(
        self, message: QueuedMessage, recipient: Recipient, content: bytes
    ) -> Recipient:
        now = self.services.clock()
        try:
            account = await self.services.directory.find_by_address(recipient.address)
            if account is None:
                return self._result(
                    recipient, "permanent", 550, "5.1.1 No such mailbox", "local", now
                )
            decision = await access.judge(
                self.services, account, Request(Action.RECEIVE, Service.SMTP)
            )
        except DirectoryUnavailable:
            return self._result(
                recipient, "temporary", 451, "4.3.0 Directory unavailable", "local", now
            )
        if decision.verdict is not Verdict.ALLOW:
            kind = "temporary" if decision.verdict is Verdict.TEMPFAIL else "permanent"
            text = f"{decision.enhanced_code} {decision.reason}"
            return self._result(recipient, kind, decision.smtp_code, text, "local", now)
        host = access.held_elsewhere(self.services, account)
        if host is not None:
            return await self._forward(message, recipient, host, content)
        mailbox = f"local:{account.login}"
        if any(
            r.remote_mta == mailbox and r.state is RecipientState.DELIVERED
            for r in message.recipients
        ):
            # Another address of the same account (an alias) already got this copy.
            return self._result(
                recipient, "delivered", 250, "2.0.0 Duplicate of an alias", mailbox, now
            )
        data = f"Return-Path: <{message.sender}>\r\n".encode() + content
        try:
            await asyncio.to_thread(self.services.store.deliver, account.address, data)
        except OSError as exc:
            log.error("queue %s: cannot store for %s: %s", message.id, account.login, exc)
            if out_of_space(exc):
                # The disk is full: the message stays queued and is retried (452 4.3.1).
                full = storage_full()
                text = f"{full.enhanced_code} {full.reason}"
                return self._result(recipient, "temporary", full.smtp_code, text, mailbox, now)
            return self._result(
                recipient, "temporary", 451, "4.3.0 Mailbox store error", mailbox, now
            )
        return self._result(recipient, "delivered", 250, "2.0.0 Delivered to mailbox", mailbox, now)

    async def _forward(
        self, message: QueuedMessage, recipient: Recipient, host: str, content: bytes
    ) -> Recipient:
        """Hand the message to the server holding the mailbox (mailHost), by SMTP."""
        relay = self.settings.relay
        async with self._destinations[f"mailhost:{host}"]:
            (outcome,) = await smtpclient.deliver(
                [smtpclient.Target(host, (host,), relay.mail_host_port)],
                message.sender,
                [recipient.address],
                content,
                helo=self.settings.server.hostname,
                tls="opportunistic",
                connect_timeout=relay.connect_timeout_seconds,
                command_timeout=relay.command_timeout_seconds,
            )
        return self._result(
            recipient,
            outcome.kind,
            outcome.code,
            outcome.text,
            outcome.remote,
            self.services.clock(),
        )

    # --- remote delivery ----------------------------------------------------------------

    async def _remote(
        self, domain: str, recipients: list[Recipient], message: QueuedMessage, content: bytes
    ) -> list[Recipient]:
        relay = self.settings.relay
        key = relay.smarthost or domain
        now = self.services.clock()
        async with self._destinations[key]:
            try:
                targets, tls, auth = await self._route(domain)
            except mx.PermanentFailure as exc:
                return [
                    self._result(r, "permanent", 550, f"{exc.enhanced} {exc.text}", "", now)
                    for r in recipients
                ]
            except mx.TemporaryFailure as exc:
                return [
                    self._result(r, "temporary", 451, f"{exc.enhanced} {exc.text}", "", now)
                    for r in recipients
                ]
            outcomes = await smtpclient.deliver(
                targets,
                message.sender,
                [r.address for r in recipients],
                content,
                helo=self.settings.server.hostname,
                tls=tls,
                auth=auth,
                connect_timeout=relay.connect_timeout_seconds,
                command_timeout=relay.command_timeout_seconds,
            )
        by_address = {o.recipient: o for o in outcomes}
        now = self.services.clock()
        results = []
        for recipient in recipients:
            outcome = by_address.get(recipient.address)
            if outcome is None:
                results.append(
                    self._result(recipient, "temporary", None, "4.0.0 No answer", "", now)
                )
            else:
                results.append(
                    self._result(
                        recipient, outcome.kind, outcome.code, outcome.text, outcome.remote, now
                    )
                )
        return results

    async def _route(
        self, domain: str
    ) -> tuple[list[smtpclient.Target], smtpclient.TlsPolicy, tuple[str, str] | None]:
        relay = self.settings.relay
        if relay.smarthost:
            auth = None
            if relay.smarthost_username and relay.smarthost_password_file is not None:
                path = self.settings.path(relay.smarthost_password_file)
                password = (await asyncio.to_thread(Path.read_text, path)).strip()
                auth = (relay.smarthost_username, password)
            tls: smtpclient.TlsPolicy = (
                "required" if relay.smarthost_require_tls or auth else "opportunistic"
            )
            return [smtpclient.parse_smarthost(relay.smarthost)], tls, auth
        hosts = await mx.resolve_destination(domain, self._resolver, port=relay.remote_port)
        # RFC 5321 §5.1: never send to ourselves; a domain whose MX is us would loop.
        own = self.settings.server.hostname.lower().rstrip(".")
        hosts = [h for h in hosts if h.name.lower().rstrip(".") != own]
        if not hosts:
            raise mx.PermanentFailure("5.4.6", f"mail for {domain} loops back to this server")
        targets = [smtpclient.Target(h.name, h.addresses, h.port) for h in hosts]
        return targets, "opportunistic", None

    # --- results, DSNs and the log -------------------------------------------------------

    def _result(
        self,
        recipient: Recipient,
        kind: str,
        code: int | None,
        text: str,
        remote: str,
        now: dt.datetime,
    ) -> Recipient:
        state = {
            "delivered": RecipientState.DELIVERED,
            "permanent": RecipientState.FAILED,
        }.get(kind, RecipientState.PENDING)
        return replace(
            recipient,
            state=state,
            attempts=recipient.attempts + 1,
            last_code=code,
            last_text=text,
            last_attempt=now,
            remote_mta=remote,
        )

    def _expire(self, recipient: Recipient) -> Recipient:
        """Give up at the end of the queue lifetime, keeping the last reply for the DSN."""
        return replace(recipient, state=RecipientState.FAILED, gave_up=GaveUp.EXPIRED)

    async def _notify(
        self, message: QueuedMessage, recipients: list[Recipient], kind: str, content: bytes
    ) -> None:
        """Queue a DSN to the envelope sender (never for a bounce: no loops)."""
        wanted = [r for r in recipients if dsn.should_notify(r, kind)]  # type: ignore[arg-type]
        if not wanted or not dsn.dsn_allowed(message):
            return
        hostname = self.settings.server.hostname
        report = dsn.build_dsn(
            message,
            wanted,
            kind=kind,  # type: ignore[arg-type]
            original=content,
            reporting_mta=hostname,
            postmaster=f"postmaster@{hostname}",
            now=self.services.clock(),
            retry_until=schedule.expires_at(message, self.settings.queue),
        )
        bounce = await asyncio.to_thread(
            self.spool.enqueue,
            "",
            [Recipient(address=message.sender)],
            report,
            now=self.services.clock(),
            origin="dsn",
        )
        self._log("dsn", message, detail=f"{kind} -> {bounce.id}")
        self._add(bounce.id, bounce.next_attempt)

    def _log(self, event: str, message: QueuedMessage, **fields: Any) -> None:
        self.services.log.write(
            event,
            protocol="queue",
            queue_id=message.id,
            sender=message.sender,
            message_id=message.message_id or None,
            **fields,
        )
