"""`mailserver serve`: start the listeners, report what started, drain on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from mailserver import tls
from mailserver.app import Services, build_services
from mailserver.changefeed import ChangeFeed
from mailserver.config import CountersBackend, Settings, cleartext_ldap_urls
from mailserver.control import SOCKET_NAME, AccountWatch, serve_control
from mailserver.counters import CountersUnavailable
from mailserver.counters.fallback import FallbackCounters
from mailserver.directory import DirectoryUnavailable
from mailserver.imap.server import ImapServer
from mailserver.imap.session import ImapContext
from mailserver.lifecycle.sweep import SweepContext, sweep_periodically
from mailserver.listeners import LISTEN_BACKLOG
from mailserver.pop3.server import Pop3Server
from mailserver.queue.model import QueuedMessage
from mailserver.queue.runner import QueueRunner
from mailserver.queue.spool import Spool
from mailserver.smtp.mx_handler import MxHandler, start_mx
from mailserver.smtp.session import (
    SHUTTING_DOWN,
    SmtpConnection,
    SmtpHandler,
    connection_options,
)
from mailserver.smtp.submission import SubmissionHandler

log = logging.getLogger(__name__)

# The README's domain, for the first-account hint when no local domain is configured.
EXAMPLE_DOMAIN = "bangkok.go.th"


@dataclass
class Listener:
    name: str
    server: asyncio.Server

    @property
    def address(self) -> str:
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The listeners' TLS context: the configured certificate, or a generated one."""
    cert, key = settings.tls.cert_file, settings.tls.key_file
    if cert is None or key is None:
        cert, key = tls.ensure_self_signed(settings.cert_dir, settings.server.hostname)
    return tls.server_context(settings.path(cert), settings.path(key), settings.tls.min_version)


async def start_submission(
    services: Services,
    context: ssl.SSLContext,
    spool: Spool,
    on_enqueued: Callable[[QueuedMessage], None],
    watch: AccountWatch | None = None,
) -> tuple[SubmissionHandler, list[Listener]]:
    """Bind 587-style (STARTTLS required before AUTH) and 465-style (implicit TLS) listeners."""
    settings = services.settings
    handler = SubmissionHandler(services, spool, on_enqueued, watch)
    loop = asyncio.get_running_loop()
    common = {**connection_options(settings), "auth_required": True}

    def starttls_session() -> SmtpConnection:
        return SmtpConnection(
            handler, tls_context=context, require_starttls=True, auth_require_tls=True, **common
        )

    def implicit_tls_session() -> SmtpConnection:
        # The whole connection is TLS; SmtpConnection tells aiosmtpd so at connection_made,
        # and the auth methods check the transport themselves as well.
        return SmtpConnection(handler, auth_require_tls=True, **common)

    listen = settings.smtp.listen
    submission = await loop.create_server(
        starttls_session, listen, settings.smtp.submission_port, backlog=LISTEN_BACKLOG
    )
    submissions = await loop.create_server(
        implicit_tls_session,
        listen,
        settings.smtp.submissions_port,
        ssl=context,
        backlog=LISTEN_BACKLOG,
    )
    return handler, [
        Listener("submission (STARTTLS)", submission),
        Listener("submissions (implicit TLS)", submissions),
    ]


async def drain(handlers: list[SmtpHandler], listeners: list[Listener], grace: float) -> None:
    """Stop accepting, let SMTP transactions in flight finish (up to `grace` s), then close."""
    for handler in handlers:
        handler.draining = True
    for listener in listeners:
        listener.server.close()
    connections = [c for handler in handlers for c in handler.connections]
    deadline = time.monotonic() + grace
    while any(c.in_transaction for c in connections) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    for connection in connections:
        if connection.transport is not None:
            connection.transport.write(SHUTTING_DOWN.encode() + b"\r\n")
            connection.transport.close()
    for listener in listeners:
        await listener.server.wait_closed()


async def rotate_daily(services: Services, every: float = 30.0) -> None:
    """Rotate the policy log soon after UTC midnight even when no line is written then."""
    while True:
        await asyncio.sleep(every)
        await asyncio.to_thread(services.log.rotate_if_due)


async def watch_directory(services: Services, watch: AccountWatch) -> None:
    """Run the change feed: accounts changed in the directory by any tool reach the watch."""
    d = services.settings.directory
    if d.change_poll_seconds <= 0:
        return
    feed = ChangeFeed(
        services.directory,
        watch.changed,
        interval=d.change_poll_seconds,
        window=d.change_window_seconds,
        start=services.clock(),
        write_log=services.log.write,
    )
    await feed.run()


async def counters_report(services: Services) -> str:
    """Where the counters are, for the start-up report; with Redis, after a PING.

    Redis not answering does not stop the server (as with the directory): with
    `on_redis_down = "fail_closed"` every count fails until it answers, and the callers
    refuse with a temporary error; with "local" this process counts on its own."""
    c = services.settings.counters
    if c.backend is not CountersBackend.REDIS:
        return "in memory (this process only)"
    where = f"redis {c.redis_url} (key prefix {c.key_prefix!r})"
    try:
        await services.counters.ping()
    except CountersUnavailable as exc:
        log.warning("counters: %s; counts fail until it answers (fail_closed)", exc)
        return f"{where}: unavailable, {exc}; counts fail until it answers (fail closed)"
    if isinstance(services.counters, FallbackCounters) and services.counters.on_local:
        return f"{where}: unavailable; counting in this process until it answers"
    return where


def first_account_hint(settings: Settings, command: str) -> str:
    """The command that adds a first account, as it works from where `serve` was started:
    `command` is how this program was invoked (with its --config), the domain the first
    configured local domain, else the README's."""
    domains = settings.server.local_domains
    return f"{command} account add alice@{domains[0] if domains else EXAMPLE_DOMAIN}"


async def serve(
    settings: Settings,
    out: TextIO = sys.stdout,
    *,
    source: str = "",
    command: str = "mailserver",
) -> None:
    """Run every listener, the queue, the change feed and the sweeps until SIGTERM/SIGINT.

    `source` says where the settings came from and `command` how to run this program
    again (both for the start-up report)."""
    cleartext = cleartext_ldap_urls(settings.directory)
    if cleartext:  # only with directory.ldap_allow_cleartext: validate refuses it otherwise
        log.warning(
            "directory.ldap_allow_cleartext is set: users' passwords go to %s unencrypted",
            ", ".join(cleartext),
        )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    services = build_services(settings)
    context = tls_context(settings)
    spool = Spool(settings.queue_dir)
    runner = QueueRunner(services, spool)
    watch = AccountWatch()
    watch.watch_all(services.authenticator.forget)  # a changed account re-verifies its password
    handler, smtp_listeners = await start_submission(
        services, context, spool, runner.enqueued, watch
    )
    mx_handler = MxHandler(services, spool, runner.enqueued)
    smtp_listeners.append(
        Listener("mx (inbound)", await start_mx(mx_handler, context, LISTEN_BACKLOG))
    )
    control = await serve_control(settings.data_dir / SOCKET_NAME, watch, runner.rescan)
    imap_context = ImapContext(services, services.store, watch, context)  # one certificate
    imap = ImapServer(imap_context)
    pop3 = Pop3Server(imap_context)  # same store, policy, account watch and certificate
    other_listeners = [Listener(name, server) for name, server in await imap.start()]
    other_listeners += [Listener(name, server) for name, server in await pop3.start()]
    listeners = smtp_listeners + other_listeners
    services.log.write("start", detail="listeners: " + ", ".join(x.address for x in listeners))
    print(f"mailserver started on node {settings.server.node}", file=out)
    for listener in listeners:
        print(f"  {listener.name:<28} {listener.address}", file=out)
    if source:
        print(f"  settings                     {source}", file=out)
    print(f"  data directory               {settings.data_dir}", file=out)
    print(f"  policy log                   {services.log.path}", file=out)
    print(f"  counters                     {await counters_report(services)}", file=out)
    try:
        empty = not await services.directory.list_accounts()
    except DirectoryUnavailable as exc:
        # Fail closed, keep serving: logins get a temporary error until it answers.
        print(f"  directory unavailable: {exc}", file=out)
        empty = False
    if empty:
        print("No accounts yet. Add the first one in another terminal:", file=out)
        print(f"  {first_account_hint(settings, command)}", file=out)
    out.flush()
    rotation = asyncio.create_task(rotate_daily(services))
    queue = asyncio.create_task(runner.run())
    feed = asyncio.create_task(watch_directory(services, watch))
    lifecycle = SweepContext(
        settings, services.directory, services.log, spool, runner.enqueued, watch.changed
    )
    sweeps = asyncio.create_task(
        sweep_periodically(lifecycle, services.clock, settings.lifecycle.sweep_interval_seconds)
    )
    await stop.wait()
    sweeps.cancel()
    rotation.cancel()
    feed.cancel()
    print("mailserver stopping: finishing transactions in flight", file=out, flush=True)
    control.close()
    grace = settings.server.shutdown_grace_seconds
    await drain([handler, mx_handler], smtp_listeners, grace)
    await imap.stop()
    await pop3.stop()
    await runner.stop(grace)
    queue.cancel()
    services.log.write("stop")
    await services.close()
