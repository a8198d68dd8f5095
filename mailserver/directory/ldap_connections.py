"""Connections to the LDAP servers, for LdapDirectory (ldap.py): failover, pools, TLS.

Connections are pooled (ldap_pool.py) and used off the event loop on a thread
pool of `pool_size` threads, one thread per connection at a time. Up to
`pool_size` connections bound as the service account (or anonymous) serve the
searches and writes (`run`). The users' binds (`bind_as`) run on a second pool
of up to `pool_size` connections: a simple bind replaces a connection's
identity and a failed one leaves it anonymous (RFC 4511 4.2.1), so those
connections serve only further user binds, never a search (measured: 1.4x the
logins/s of a fresh connection per bind in clear, 6x over TLS;
docs/architecture.md). At most 2 x `pool_size` connections per node.

A connection that fails (server restarted, idle timeout, no answer within
`receive_timeout`) is closed and the operation run once more on a fresh
connection, possibly to the next server; a failed connect has already tried
every server and is not repeated. An idle connection the server has closed is
noticed before use without a round trip (its socket is readable) and replaced;
one idle for `pool_max_idle` seconds is closed.

TLS: ldaps:// URLs, and StartTLS on ldap:// ones with `start_tls`, verify the
server's certificate against `ca_file` (else the system's CAs) and its name or
IP address in the handshake, with one SSLContext for every connection. A
refused StartTLS or a failed verification fails closed: never a fallback to
cleartext. ldap3 would reopen a closed connection inside bind() without
StartTLS; a bind is only ever sent on a connection known open and encrypted.

Several URLs: the servers are tried in order ("first": always from the first
one; "round_robin": starting after the last one used). A server that fails to
answer is put last for `retry_after` seconds; when every server is down each
is still tried once, so recovery is noticed at once. With "first", a pooled
connection to a later server is dropped when an earlier one is due to be tried
again (its `retry_after` is over). (ldap3's `ServerPool`
is not used: with `active=True` it loops forever when every server is down
instead of failing, sleeps POOLING_LOOP_TIMEOUT between rounds, and keeps a
state per connection that grows with one connection per operation.)

Failing closed: an `Unavailable` (which the operations raise too, e.g. for a
failed search), an ldap3 error or an OSError on a worker thread comes out of
`run` as DirectoryUnavailable; a DirectoryError raised by the operation (the
server's definite answer) passes through and its connection is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import select
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import urlsplit

import ldap3
from ldap3.core.exceptions import LDAPException

from mailserver.directory import DirectoryError, DirectoryUnavailable
from mailserver.directory.ldap_pool import ConnectionPool, Lease, PoolError

# The LDAP directory's logger: one for the directory and its connections.
log = logging.getLogger("mailserver.directory.ldap")

T = TypeVar("T")

# LDAP result codes (RFC 4511) that refuse a bind for good, not outages.
_NO_SUCH_OBJECT = 32
_INAPPROPRIATE_AUTH = 48
_INVALID_CREDENTIALS = 49


class Unavailable(Exception):
    """Raised on the worker threads (here and by the operations `run` runs); turned into
    DirectoryUnavailable."""


class _GaveUp(Unavailable):
    """Unavailable after every server and any retry were tried: do not retry again."""


class _VerifiedTls(ldap3.Tls):
    """ldap3.Tls whose handshake verifies the chain and the server's name (DNS name or IP
    address), with one SSLContext for all connections. ldap3's own name check runs after
    the handshake with ssl.match_hostname (gone in Python 3.12, where its fallback knows
    no IP addresses), on a context it builds per connection."""

    def __init__(self, ca_file: str | None) -> None:
        super().__init__(validate=ssl.CERT_REQUIRED, ca_certs_file=ca_file)
        self.context = ssl.create_default_context(cafile=ca_file)  # TLS >= 1.2, names checked

    def wrap_socket(self, connection: ldap3.Connection, do_handshake: bool = False) -> None:
        connection.socket = self.context.wrap_socket(
            connection.socket,
            server_hostname=connection.server.host,
            do_handshake_on_connect=do_handshake,
        )


class LdapConnections:
    """The connections of one LdapDirectory; see the module docstring."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        bind_dn: str | None,
        bind_password: str | None,
        pool_strategy: str,
        connect_timeout: float,
        receive_timeout: float,
        retry_after: float,
        start_tls: bool,
        ca_file: str | None,
        pool_size: int,
        pool_max_idle: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("at least one LDAP URL is needed")
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        if pool_strategy not in ("first", "round_robin"):
            raise ValueError('pool_strategy must be "first" or "round_robin"')
        self.bind_dn = bind_dn
        self.bind_password = bind_password
        self.pool_strategy = pool_strategy
        # ldap3 sets SO_RCVTIMEO with whole seconds (a float breaks its struct.pack).
        self.receive_timeout = max(1, math.ceil(receive_timeout))
        self.retry_after = retry_after
        self._clock = clock  # for retry_after and pool_max_idle; tests hand in their own
        self.start_tls = start_tls
        tls = None
        if start_tls or ca_file or any(u.lower().startswith("ldaps:") for u in urls):
            tls = _VerifiedTls(ca_file)
        self.connect_timeout = connect_timeout
        self._tls = tls
        # A fresh ldap3.Server per attempt: a Server remembers failed addresses (for
        # minutes) and is not meant to be shared between threads.
        self._urls = [_server_url(url) for url in urls]
        self._down_until = [0.0] * len(self._urls)
        self._next = 0
        self._lock = threading.Lock()
        # One thread uses one service and at most one bind connection at a time, so with as
        # many threads as connections of each kind, no thread waits for a connection.
        self._threads = ThreadPoolExecutor(max_workers=pool_size, thread_name_prefix="ldap")
        wait = connect_timeout + self.receive_timeout
        self._service: ConnectionPool[ldap3.Connection] = ConnectionPool(
            size=pool_size,
            max_idle=pool_max_idle,
            open=self._open_service,
            close=_unbind,
            usable=self._usable,
            wait=wait,
            clock=clock,
        )
        self._binds: ConnectionPool[ldap3.Connection] = ConnectionPool(
            size=pool_size,
            max_idle=pool_max_idle,
            open=self._connect,
            close=_unbind,
            usable=self._usable,
            wait=wait,
            clock=clock,
        )
        self._closed = False

    # --- event loop side ----------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(connection, *args)` with a service connection on the pool."""
        return await self._call(self._with_service, fn, *args)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise DirectoryUnavailable("the directory is closed")
        loop = asyncio.get_running_loop()
        try:
            future = loop.run_in_executor(self._threads, functools.partial(fn, *args))
        except RuntimeError as exc:  # the pool was shut down meanwhile
            raise DirectoryUnavailable(str(exc)) from exc
        try:
            return await future
        except (Unavailable, LDAPException, OSError) as exc:
            log.warning("ldap: directory unavailable: %s", exc)
            raise DirectoryUnavailable(f"LDAP directory unavailable: {exc}") from exc

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._threads.shutdown(wait=False)
        # Each idle connection is sent an unbind: off the event loop. Connections in use
        # are closed when their operation gives them back.
        await asyncio.to_thread(self._service.close)
        await asyncio.to_thread(self._binds.close)

    # --- worker threads -------------------------------------------------------

    def _order(self) -> list[int]:
        """Server indexes to try: per the strategy, servers marked down last."""
        with self._lock:
            n = len(self._urls)
            start = self._next if self.pool_strategy == "round_robin" else 0
            order = [(start + i) % n for i in range(n)]
            now = self._clock()
            return [i for i in order if self._down_until[i] <= now] + [
                i for i in order if self._down_until[i] > now
            ]

    def _mark(self, index: int, up: bool) -> None:
        with self._lock:
            if up:
                self._down_until[index] = 0.0
                self._next = (index + 1) % len(self._urls)
            else:
                self._down_until[index] = self._clock() + self.retry_after

    def _usable(self, lease: Lease[ldap3.Connection]) -> bool:
        """Whether an idle pooled connection may serve again: still open and encrypted
        where it must be, nothing received while idle (an idle LDAP connection only ever
        hears EOF or a notice of disconnection), and with strategy "first" still to the
        server the order now starts with."""
        conn = lease.conn
        if not self._sound(conn) or conn.socket is None:
            return False
        if self.pool_strategy == "first" and self._order()[0] != lease.server:
            return False
        poller = select.poll()  # not select.select: it fails for descriptors >= 1024
        poller.register(conn.socket, select.POLLIN)
        return not poller.poll(0)

    def _sound(self, conn: ldap3.Connection) -> bool:
        """Open, and TLS started when StartTLS is asked for."""
        return not conn.closed and (conn.server.ssl or not self.start_tls or conn.tls_started)

    def _connect(self, bind: tuple[str, str] | None = None) -> tuple[ldap3.Connection, int]:
        """An open connection (TLS done, bound as `bind`'s DN and password if given, else
        anonymous) to the first server that answers, and that server's index. A server
        that fails, even in the bind (a proxy in front of a dead server accepts and then
        closes), is marked down and the next one tried; a refused bind ends the search."""
        errors: list[str] = []
        for index in self._order():
            server = ldap3.Server(
                self._urls[index],
                connect_timeout=self.connect_timeout,
                get_info=ldap3.NONE,
                tls=self._tls,
            )
            conn = ldap3.Connection(
                server,
                client_strategy=ldap3.SYNC,
                receive_timeout=self.receive_timeout,
                raise_exceptions=False,
                auto_referrals=False,
                read_only=False,
            )
            try:
                conn.open()
                if self.start_tls and not server.ssl and not conn.start_tls():
                    raise Unavailable(f"StartTLS refused by {server.host}")
                bound = bind is None or self._simple_bind(conn, *bind)
            except (LDAPException, OSError, Unavailable) as exc:
                _unbind(conn)
                self._mark(index, up=False)
                errors.append(f"{server.host}:{server.port}: {exc}")
                continue
            if not bound and bind is not None:
                code = conn.result.get("result") if conn.result else None
                description = conn.result.get("description") if conn.result else None
                _unbind(conn)
                if code in (_INVALID_CREDENTIALS, _INAPPROPRIATE_AUTH, _NO_SUCH_OBJECT):
                    raise _GaveUp(f"service bind as {bind[0]} failed: {description}")
                self._mark(index, up=False)  # busy, unavailable...: try the next server
                errors.append(f"{server.host}:{server.port}: bind: {description}")
                continue
            self._mark(index, up=True)
            return conn, index
        raise Unavailable("no LDAP server answers (" + "; ".join(errors) + ")")

    def _open_service(self) -> tuple[ldap3.Connection, int]:
        """A new connection for the service pool: bound as the service account, or anonymous."""
        if not self.bind_dn:
            return self._connect()
        return self._connect((self.bind_dn, self.bind_password or ""))

    def _simple_bind(self, conn: ldap3.Connection, dn: str, password: str) -> bool:
        """A simple bind on an open connection. ldap3's bind() reopens a closed connection
        without StartTLS, which would send the password in clear: refuse instead."""
        if not self._sound(conn):
            raise Unavailable("the connection was closed")
        conn.user, conn.password, conn.authentication = dn, password, ldap3.SIMPLE
        try:
            return bool(conn.bind())
        finally:
            conn.password = None  # not kept in memory with an idle connection

    def _lease(self, pool: ConnectionPool[Any], fresh: bool) -> Lease[ldap3.Connection]:
        """A connection from `pool`; _GaveUp if none (opening one tried every server)."""
        try:
            return pool.acquire(fresh=fresh)
        except Unavailable as exc:
            raise _GaveUp(str(exc)) from exc
        except (PoolError, LDAPException, OSError) as exc:
            raise _GaveUp(f"{type(exc).__name__}: {exc}") from exc

    def _with_service(self, fn: Callable[..., T], *args: Any) -> T:
        """fn(connection, *args) on a service connection; once more on a fresh connection
        when the connection failed (restart, idle timeout, timeout), not when the server
        answered with an error."""
        for attempt in (1, 2):
            lease = self._lease(self._service, fresh=attempt > 1)
            try:
                result = fn(lease.conn, *args)
            except (LDAPException, OSError) as exc:  # the connection failed
                self._service.discard(lease)
                if attempt > 1:
                    raise _GaveUp(f"{type(exc).__name__}: {exc}") from exc
                if not lease.reused:  # a new connection failing: its server is in trouble
                    self._mark(lease.server, up=False)
                log.info("ldap: retrying on a fresh connection: %s: %s", type(exc).__name__, exc)
                continue
            except (DirectoryError, Unavailable):  # an answer, on a connection still sound
                if self._sound(lease.conn):
                    self._service.release(lease)
                else:
                    self._service.discard(lease)
                raise
            except BaseException:
                self._service.discard(lease)
                raise
            self._service.release(lease)
            return result
        raise AssertionError("unreachable")

    def bind_as(self, dn: str, password: str, diagnostics: list[str] | None = None) -> bool:
        """True when `password` binds as `dn`; False when the directory says no. Called on
        a worker thread (within `run`); runs on a connection of the bind pool, retried once
        on a fresh one if the connection failed. A refusal's diagnostic message is appended
        to `diagnostics` (AD's sub-codes)."""
        for attempt in (1, 2):
            lease = self._lease(self._binds, fresh=attempt > 1)
            conn = lease.conn
            try:
                bound = self._simple_bind(conn, dn, password)
            except (LDAPException, OSError, Unavailable) as exc:
                self._binds.discard(lease)
                if attempt > 1:
                    raise _GaveUp(f"bind failed: {type(exc).__name__}: {exc}") from exc
                if not lease.reused:
                    self._mark(lease.server, up=False)
                continue
            except BaseException:
                self._binds.discard(lease)
                raise
            code = conn.result.get("result") if conn.result else None
            if bound or code in (_INVALID_CREDENTIALS, _INAPPROPRIATE_AUTH, _NO_SUCH_OBJECT):
                if not bound and diagnostics is not None and conn.result:
                    diagnostics.append(str(conn.result.get("message") or ""))
                self._binds.release(lease)
                return bound
            self._binds.discard(lease)
            description = conn.result.get("description") if conn.result else None
            raise _GaveUp(f"bind failed: {description}")
        raise AssertionError("unreachable")


def _server_url(url: str) -> str:
    """scheme://host:port of an LDAP URL (ldap3 rejects the "/" and DN of RFC 4516 URLs)."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("ldap", "ldaps") or not parts.netloc:
        raise ValueError(f"not an ldap:// or ldaps:// URL: {url!r}")
    return f"{parts.scheme.lower()}://{parts.netloc}"


def _unbind(conn: ldap3.Connection) -> None:
    with contextlib.suppress(Exception):  # best effort on a broken connection
        conn.unbind()
