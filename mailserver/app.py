"""The pieces every listener shares, built once from the settings."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mailserver import private
from mailserver.authcache import CachingAuthenticator
from mailserver.config import CountersBackend, RedisDownAction, Settings
from mailserver.connlimit import ConnectionCount
from mailserver.counters import Counters
from mailserver.counters.memory import MemoryCounters
from mailserver.directory import Directory
from mailserver.directory.local import SqliteDirectory
from mailserver.log import PolicyLog
from mailserver.passwords import PasswordHasher
from mailserver.store.mailstore import MailStore
from policy import messages
from policy.model import Decision


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Services:
    """Shared state of one server process: directory, caches, counters, log and store."""

    settings: Settings
    directory: Directory
    authenticator: CachingAuthenticator
    log: PolicyLog
    store: MailStore
    # Abuse-resistance counts (auth failures, sends, connections): see mailserver/counters.
    counters: Counters = field(default_factory=MemoryCounters)
    clock: Callable[[], dt.datetime] = utc_now
    # Local domains: the directory's plus the configured ones, re-read at most every few seconds.
    _domains: frozenset[str] = field(default=frozenset())
    # Live connections per listener family ("smtp", "imap", "pop3"): `connection_count`.
    _connections: dict[str, ConnectionCount] = field(default_factory=dict)
    _domains_at: float = field(default=-1e9)

    def user_message(self, decision: Decision) -> list[str]:
        """The refusal lines for the user, in the configured languages."""
        return messages.render(decision, self.settings.messages.languages, self._contact)

    def user_line(self, decision: Decision) -> str:
        """The refusal in every configured language on one line (IMAP NO and BYE texts)."""
        return messages.render_one_line(decision, self.settings.messages.languages, self._contact)

    def connection_count(self, family: str) -> ConnectionCount:
        """The live connections of a listener family ("smtp": submission and MX, "imap",
        "pop3"), counted against `limits.max_connections_per_ip` and `limits.max_connections`."""
        if family not in self._connections:
            limits = self.settings.limits
            self._connections[family] = ConnectionCount(
                limits.max_connections_per_ip, limits.max_connections, limits.ipv6_prefix_length
            )
        return self._connections[family]

    @property
    def _contact(self) -> dict[str, str]:
        return {"en": self.settings.messages.contact_en, "th": self.settings.messages.contact_th}

    async def local_domains(self) -> frozenset[str]:
        """Domains this server delivers for; a short cache keeps RCPT cheap."""
        if time.monotonic() - self._domains_at > 5.0:
            configured = {d.lower() for d in self.settings.server.local_domains}
            self._domains = frozenset(configured) | await self.directory.local_domains()
            self._domains_at = time.monotonic()
        return self._domains

    async def close(self) -> None:
        await self.directory.close()
        await self.counters.close()
        self.log.close()


def password_hasher(settings: Settings) -> PasswordHasher:
    auth = settings.auth
    return PasswordHasher(
        memory_kib=auth.argon2_memory_kib,
        time_cost=auth.argon2_time_cost,
        parallelism=auth.argon2_parallelism,
    )


def open_directory(settings: Settings) -> Directory:
    """The configured directory: embedded SQLite, or the organisation's LDAP."""
    private.make_dirs(settings.data_dir)
    d = settings.directory
    if d.backend != "ldap":
        return SqliteDirectory(settings.directory_db, password_hasher(settings))
    from mailserver.directory.ldap import LdapDirectory
    from mailserver.directory.ldap_presets import preset_mapping

    password = None
    if d.ldap_bind_password_file is not None:
        password = settings.path(d.ldap_bind_password_file).read_text(encoding="utf-8").strip()
    return LdapDirectory(
        d.ldap_urls,
        d.ldap_base,
        bind_dn=d.ldap_bind_dn or None,
        bind_password=password,
        user_base=d.ldap_user_base or None,
        mapping=preset_mapping(
            d.ldap_preset, d.ldap_attributes, directory_lock=d.ldap_directory_lock
        ),
        connect_timeout=d.ldap_connect_timeout,
        receive_timeout=d.ldap_receive_timeout,
        retry_after=d.ldap_retry_after,
        start_tls=d.ldap_start_tls,
        ca_file=str(settings.path(d.ldap_ca_file)) if d.ldap_ca_file else None,
        pool_size=d.ldap_pool_size,
        pool_max_idle=d.ldap_pool_idle_seconds,
    )


def open_counters(settings: Settings) -> Counters:
    """The configured counters: this process's memory, or Redis (with the local fallback
    when `on_redis_down = "local"`). Redis is not contacted here: `serve` pings it."""
    c = settings.counters
    if c.backend is not CountersBackend.REDIS:
        return MemoryCounters(max_keys=c.max_keys)
    from mailserver.counters.fallback import FallbackCounters
    from mailserver.counters.redis_counters import RedisCounters

    password = None
    if c.redis_password_file is not None:
        password = settings.path(c.redis_password_file).read_text(encoding="utf-8").strip()
    shared = RedisCounters.from_url(
        c.redis_url,
        key_prefix=c.key_prefix,
        timeout_seconds=c.redis_timeout_seconds,
        password=password,
    )
    if c.on_redis_down is RedisDownAction.LOCAL:
        return FallbackCounters(shared, MemoryCounters(max_keys=c.max_keys))
    return shared


def open_log(settings: Settings, *, server: bool = False) -> PolicyLog:
    """The policy log; the server gzips rotated days in a thread, off the event loop."""
    return PolicyLog(
        settings.log_dir,
        node=settings.server.node,
        retention_days=settings.log.retention_days,
        compress_in_background=server,
    )


def build_services(settings: Settings) -> Services:
    directory = open_directory(settings)
    authenticator = CachingAuthenticator(
        directory, size=settings.auth.cache_size, ttl_seconds=settings.auth.cache_ttl_seconds
    )
    store = MailStore(
        settings.mail_root,
        hostname=settings.server.hostname,
        default_quota_bytes=settings.store.quota_bytes or None,
    )
    return Services(
        settings,
        directory,
        authenticator,
        open_log(settings, server=True),
        store,
        counters=open_counters(settings),
    )
