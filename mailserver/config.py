"""One TOML file -> typed, frozen settings. Every default works embedded.

Relative paths are resolved against the working directory the server was
started in, so `mailserver serve` with no file keeps everything under ./var.
Each section of the file is one dataclass below; `docs/configuration.md`
documents every field (a test keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import socket
import tomllib
import types
import typing
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mailserver.directory.ldap_presets import PRESETS as LDAP_PRESETS
from mailserver.directory.ldap_presets import check_overrides as check_ldap_overrides
from policy.settings import PolicySettings


class ConfigError(Exception):
    """A setting is missing, unknown or of the wrong type; `key` names it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


@dataclass(frozen=True)
class ServerSettings:
    # Name of this node in the policy log (defaults to the host name).
    node: str = field(default_factory=socket.gethostname)
    # Host name announced in SMTP greetings and Received: headers.
    hostname: str = field(default_factory=socket.getfqdn)
    # Everything the server writes lives below this directory.
    data_dir: Path = Path("var")
    # Domains served locally besides those of the accounts in the directory.
    local_domains: tuple[str, ...] = ()
    # Other names of this node in the directory's mailHost (besides `hostname`): mail for
    # a mailbox whose mailHost is none of them is forwarded to that host.
    mail_host_names: tuple[str, ...] = ()
    # Seconds SIGTERM waits for in-flight transactions before closing sessions.
    shutdown_grace_seconds: float = 30.0


@dataclass(frozen=True)
class SmtpSettings:
    listen: str = "127.0.0.1"
    # Message submission with STARTTLS (RFC 6409); 587 in production.
    submission_port: int = 2587
    # Message submission over implicit TLS (RFC 8314); 465 in production.
    submissions_port: int = 2465
    # Largest message accepted, in bytes (advertised with SIZE).
    max_message_size: int = 36_700_160
    max_recipients: int = 100
    # Seconds a session may stay silent before it is closed.
    timeout_seconds: float = 300.0
    # Seconds an account snapshot may be reused within a session (0: read at every command).
    account_staleness_seconds: float = 0.0


@dataclass(frozen=True)
class MxSettings:
    listen: str = "127.0.0.1"
    # Inbound mail from other servers for the local domains; 25 in production.
    port: int = 2525
    # Refuse HELO/EHLO names that are not a domain or address literal, or that claim
    # to be this server (RFC 5321 4.1.4 lets a server check the name).
    strict_helo: bool = True


@dataclass(frozen=True)
class QueueSettings:
    # Spool directory (relative to data_dir).
    directory: Path = Path("queue")
    # Give up on a recipient after this long and bounce (RFC 5321 4.5.4.1: 4-5 days).
    max_age_seconds: float = 432_000.0
    # Retry schedule: first retry after `retry_initial_seconds`, doubling, capped.
    retry_initial_seconds: float = 300.0
    retry_max_seconds: float = 3600.0
    # Tell the sender after this long that the message is delayed (0: never).
    delay_warning_seconds: float = 14_400.0
    # Deliveries at once in all, and connections at once to one destination.
    concurrency: int = 20
    per_destination: int = 4
    # Refuse new mail (452 4.3.1 at MAIL FROM and DATA) while the spool's filesystem has
    # less than this many bytes free, or would have after a declared SIZE (0: no check).
    # Postfix's queue_minfree; it suggests at least 1.5 x smtp.max_message_size.
    min_free_bytes: int = 104_857_600


@dataclass(frozen=True)
class RelaySettings:
    # Send all remote mail to this relay ("host" or "host:port") instead of by MX.
    smarthost: str = ""
    smarthost_username: str = ""
    # A file holding the relay password (kept out of the settings file).
    smarthost_password_file: Path | None = None
    # With a smarthost: refuse to send unless STARTTLS succeeds (always true with AUTH).
    smarthost_require_tls: bool = True
    # Port of remote MX hosts (25; tests point it at a local sink).
    remote_port: int = 25
    # Port of the server named by a mailbox's mailHost (its inbound MX listener).
    mail_host_port: int = 25
    # Name servers for MX lookups ([] = the system's /etc/resolv.conf) and their port.
    dns_servers: tuple[str, ...] = ()
    dns_port: int = 53
    # Seconds to connect, and for each SMTP command (RFC 5321 4.5.3.2 suggests minutes).
    connect_timeout_seconds: float = 30.0
    command_timeout_seconds: float = 300.0


@dataclass(frozen=True)
class ImapSettings:
    listen: str = "127.0.0.1"
    # IMAP with STARTTLS (LOGINDISABLED before it); 143 in production.
    port: int = 1143
    # IMAP over implicit TLS; 993 in production.
    tls_port: int = 1993
    # Seconds after which a session's account is judged again, at the next command or in IDLE.
    account_recheck_seconds: float = 30.0
    # Longest command line (literals excluded), and largest literal (APPEND), in bytes.
    max_line: int = 65_536
    max_literal: int = 36_700_160
    # Largest literal before login (LOGIN/AUTHENTICATE with a long password), in bytes.
    max_login_literal: int = 8192
    # Seconds of inactivity before logout (RFC 3501 5.4: at least 30 minutes), and the most
    # one command may take from its first byte to its end, literals included.
    idle_timeout_seconds: float = 1800.0
    # The same two limits before login.
    login_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class Pop3Settings:
    listen: str = "127.0.0.1"
    # POP3 with STLS; 110 in production.
    port: int = 1110
    # POP3 over implicit TLS; 995 in production.
    tls_port: int = 1995
    # Seconds of inactivity before the session is closed (RFC 1939: at least 10 minutes), and
    # the most one command line may take from its first byte to its end.
    idle_timeout_seconds: float = 600.0
    # The same two limits before login (AUTHORIZATION state).
    login_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class TlsSettings:
    # PEM certificate chain and key; generated self-signed into data_dir/certs when empty.
    cert_file: Path | None = None
    key_file: Path | None = None
    # Oldest protocol accepted: "TLSv1.2" or "TLSv1.3".
    min_version: str = "TLSv1.2"


@dataclass(frozen=True)
class DirectorySettings:
    # "sqlite" is the embedded directory; "ldap" the organisation's shared directory.
    backend: str = "sqlite"
    # SQLite database file (relative to data_dir).
    sqlite_path: Path = Path("directory.sqlite3")
    # LDAP servers, tried in order (failover), e.g. ["ldap://ldap1:389", "ldap://ldap2:389"].
    ldap_urls: tuple[str, ...] = ()
    # Base DN of the directory, and of the user entries (empty: the base).
    ldap_base: str = ""
    ldap_user_base: str = ""
    # Service account for searches (empty: anonymous) and the file holding its password.
    ldap_bind_dn: str = ""
    ldap_bind_password_file: Path | None = None
    # Seconds to connect, and to wait for an answer; a failed server is tried last for
    # `ldap_retry_after` seconds.
    ldap_connect_timeout: float = 5.0
    ldap_receive_timeout: float = 10.0
    ldap_retry_after: float = 30.0
    # StartTLS on ldap:// URLs, and the CA bundle that verifies the servers' certificates.
    ldap_start_tls: bool = False
    ldap_ca_file: Path | None = None
    # ldap:// without StartTLS sends the users' passwords in clear: refused unless this is
    # set, for a directory on this host only (over loopback).
    ldap_allow_cleartext: bool = False
    # Connections kept open: up to this many bound as the service account, as many for
    # the users' password binds (and as many threads); one idle this long is closed.
    ldap_pool_size: int = 8
    ldap_pool_idle_seconds: float = 60.0
    # Attribute mapping preset: "mailserver" (our schema), "openldap-ppolicy",
    # "active-directory" or "iredmail"; and per-field overrides, e.g. {unit = "ou"}.
    ldap_preset: str = "mailserver"
    ldap_attributes: dict[str, str] = field(default_factory=dict)
    # Write the preset's directory-wide lock (ppolicy pwdAccountLockedTime, AD's
    # ACCOUNTDISABLE, iRedMail's accountStatus) when an account is locked or suspended.
    ldap_directory_lock: bool = True
    # The change feed: how often each node asks the directory what changed (0: never),
    # and how far before the newest change seen it looks (clock skew, replication lag).
    change_poll_seconds: float = 5.0
    change_window_seconds: float = 300.0


@dataclass(frozen=True)
class AuthSettings:
    # argon2id cost for new password hashes (OWASP: 19 MiB, 2 passes).
    argon2_memory_kib: int = 19_456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    # Verified-credential cache: entries and their lifetime. 0 entries disables it.
    cache_size: int = 10_000
    cache_ttl_seconds: float = 300.0
    # Pause before answering a failed login (slows password guessing, as Dovecot does).
    failure_delay_seconds: float = 2.0


class CountersBackend(StrEnum):
    """Where the abuse-resistance counters live."""

    MEMORY = "memory"  # this process only: one node
    REDIS = "redis"  # shared by every node naming the same Redis and key prefix


class RedisDownAction(StrEnum):
    """What the counters do while Redis does not answer."""

    FAIL_CLOSED = "fail_closed"  # every count raises CountersUnavailable: callers refuse
    LOCAL = "local"  # count in this process until Redis answers again


@dataclass(frozen=True)
class CountersSettings:
    # "memory" (this process) or "redis" (shared by the nodes).
    backend: CountersBackend = CountersBackend.MEMORY
    # The Redis server: redis://host:port/db, rediss:// (TLS) or unix:///path.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # A file holding the Redis password (kept out of the settings file and the URL).
    redis_password_file: Path | None = None
    # Prefix of every key, so several installations can share one Redis.
    key_prefix: str = "mailserver:"
    # Seconds to connect, and to wait for each answer.
    redis_timeout_seconds: float = 1.0
    on_redis_down: RedisDownAction = RedisDownAction.FAIL_CLOSED
    # Keys held in memory (the memory backend, and the local fallback); the windows
    # that end soonest are dropped beyond it.
    max_keys: int = 100_000


@dataclass(frozen=True)
class LimitsSettings:
    # Open connections from one client address, per listener family (SMTP submission and
    # MX together, IMAP, POP3); beyond it a connection is refused at once (0: no limit).
    # Postfix's smtpd_client_connection_count_limit default: a whole office behind one NAT
    # address, each mail client holding up to 5 IMAP connections, stays under it.
    max_connections_per_ip: int = 50
    # Open connections in all, per listener family (0: no limit).
    max_connections: int = 1000
    # An IPv6 client is counted by its network of this many bits (a host usually gets a
    # whole /64), by connection caps and login penalties alike; 128: each address apart.
    ipv6_prefix_length: int = 64


@dataclass(frozen=True)
class StoreSettings:
    # Root of the mailboxes (relative to data_dir): <root>/<domain>/<user>/Maildir.
    mail_root: Path = Path("mail")
    # Mailbox quota per account in bytes (0: unlimited); APPEND/COPY beyond it get OVERQUOTA.
    quota_bytes: int = 0


@dataclass(frozen=True)
class LogSettings:
    # Directory of the policy log (relative to data_dir); policy.log, rotated daily.
    directory: Path = Path("log")
    # Days rotated files are kept; the Computer Crime Act asks for at least 90.
    retention_days: int = 90
    # Level of the server's own diagnostic messages on stderr.
    level: str = "INFO"


@dataclass(frozen=True)
class MessageSettings:
    # Languages of user-facing refusals, in order; each is one reply line.
    languages: tuple[str, ...] = ("en", "th")
    # How users reach the administrators; ends every refusal.
    contact_en: str = "the Database Section mail administrators"
    contact_th: str = "ผู้ดูแลระบบ ฝ่ายฐานข้อมูล"


@dataclass(frozen=True)
class LifecycleSettings:
    # Seconds between the sweeps `serve` runs itself (0: never; run `mailserver lifecycle sweep`).
    sweep_interval_seconds: float = 3600.0
    # Days before the end of a departed user's grace window at which they are warned by mail.
    warn_days: tuple[int, ...] = (30, 7, 1)
    # Where the orphaned role mailbox report goes ("": the policy log only).
    admin_address: str = ""
    # Suspend a role mailbox orphaned this many days, without notice (memo 4.3); 0: never.
    suspend_orphans_after_days: int = 0


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    mx: MxSettings = field(default_factory=MxSettings)
    queue: QueueSettings = field(default_factory=QueueSettings)
    relay: RelaySettings = field(default_factory=RelaySettings)
    imap: ImapSettings = field(default_factory=ImapSettings)
    pop3: Pop3Settings = field(default_factory=Pop3Settings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    directory: DirectorySettings = field(default_factory=DirectorySettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    counters: CountersSettings = field(default_factory=CountersSettings)
    limits: LimitsSettings = field(default_factory=LimitsSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    log: LogSettings = field(default_factory=LogSettings)
    messages: MessageSettings = field(default_factory=MessageSettings)
    lifecycle: LifecycleSettings = field(default_factory=LifecycleSettings)
    policy: PolicySettings = field(default_factory=PolicySettings)

    # Resolved paths: everything relative hangs off server.data_dir.
    def path(self, relative: Path) -> Path:
        return relative if relative.is_absolute() else self.server.data_dir / relative

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir

    @property
    def cert_dir(self) -> Path:
        return self.server.data_dir / "certs"

    @property
    def log_dir(self) -> Path:
        return self.path(self.log.directory)

    @property
    def queue_dir(self) -> Path:
        return self.path(self.queue.directory)

    @property
    def mail_root(self) -> Path:
        return self.path(self.store.mail_root)

    @property
    def directory_db(self) -> Path:
        return self.path(self.directory.sqlite_path)


def load_valid(path: Path | None) -> Settings:
    """`load`, then `validate`: the first problem is raised as ConfigError."""
    settings = load(path)
    errors = validate(settings)
    if errors:
        raise errors[0]
    return settings


def load(path: Path | None, *, base: Path | None = None) -> Settings:
    """Read `path` (or nothing: all defaults) into `Settings`; raise ConfigError on a bad key."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(str(path), f"cannot read: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from None
    settings = _build(Settings, raw, "")
    data_dir = settings.server.data_dir
    if not data_dir.is_absolute():
        data_dir = (base or Path.cwd()) / data_dir
    return dataclasses.replace(
        settings, server=dataclasses.replace(settings.server, data_dir=data_dir)
    )


def cleartext_ldap_urls(directory: DirectorySettings) -> list[str]:
    """The LDAP URLs whose binds would carry users' passwords in clear: `ldap://` ones
    without `ldap_start_tls` (`ldaps://` is TLS from the first byte)."""
    if directory.backend != "ldap" or directory.ldap_start_tls:
        return []
    return [url for url in directory.ldap_urls if urlsplit(url.strip()).scheme.lower() == "ldap"]


def _ldap_transport_errors(directory: DirectorySettings) -> list[ConfigError]:
    """Secure by default: TLS to the directory unless the operator opted out explicitly."""
    if directory.backend != "ldap":
        return []
    errors = [
        ConfigError("directory.ldap_urls", f"{url!r} is not an ldap:// or ldaps:// URL")
        for url in directory.ldap_urls
        if urlsplit(url.strip()).scheme.lower() not in ("ldap", "ldaps")
    ]
    cleartext = cleartext_ldap_urls(directory)
    if cleartext and not directory.ldap_allow_cleartext:
        message = (
            f"{', '.join(cleartext)} would carry the users' passwords in clear: use ldaps://,"
            " or set ldap_start_tls = true (or, for a directory on this host only,"
            " ldap_allow_cleartext = true)"
        )
        errors.append(ConfigError("directory.ldap_urls", message))
    return errors


def validate(settings: Settings) -> list[ConfigError]:
    """Checks that need more than one value's type; empty when the settings make sense."""
    errors: list[ConfigError] = []
    ports = {
        "smtp.submission_port": settings.smtp.submission_port,
        "smtp.submissions_port": settings.smtp.submissions_port,
        "mx.port": settings.mx.port,
        "relay.remote_port": settings.relay.remote_port,
        "relay.dns_port": settings.relay.dns_port,
        "imap.port": settings.imap.port,
        "imap.tls_port": settings.imap.tls_port,
        "pop3.port": settings.pop3.port,
        "pop3.tls_port": settings.pop3.tls_port,
    }
    for key, port in ports.items():
        if not 0 <= port <= 65535:
            errors.append(ConfigError(key, f"{port} is not a TCP port"))
    if settings.log.retention_days < 90:
        errors.append(ConfigError("log.retention_days", "must be at least 90 (Computer Crime Act)"))
    positive = {
        "imap.login_timeout_seconds": settings.imap.login_timeout_seconds,
        "imap.idle_timeout_seconds": settings.imap.idle_timeout_seconds,
        "imap.max_login_literal": settings.imap.max_login_literal,
        "pop3.login_timeout_seconds": settings.pop3.login_timeout_seconds,
        "pop3.idle_timeout_seconds": settings.pop3.idle_timeout_seconds,
    }
    for key, value in positive.items():
        if value <= 0:
            errors.append(ConfigError(key, "must be more than 0"))
    if settings.tls.min_version not in ("TLSv1.2", "TLSv1.3"):
        errors.append(ConfigError("tls.min_version", 'must be "TLSv1.2" or "TLSv1.3"'))
    if (settings.tls.cert_file is None) != (settings.tls.key_file is None):
        errors.append(ConfigError("tls.cert_file", "cert_file and key_file go together"))
    directory = settings.directory
    if directory.backend not in ("sqlite", "ldap"):
        errors.append(ConfigError("directory.backend", 'must be "sqlite" or "ldap"'))
    if directory.backend == "ldap" and not (directory.ldap_urls and directory.ldap_base):
        errors.append(
            ConfigError("directory.ldap_urls", "the ldap backend needs ldap_urls and ldap_base")
        )
    errors.extend(_ldap_transport_errors(directory))
    if directory.ldap_preset not in LDAP_PRESETS:
        errors.append(
            ConfigError("directory.ldap_preset", f"must be one of {', '.join(LDAP_PRESETS)}")
        )
    for problem in check_ldap_overrides(directory.ldap_attributes):
        errors.append(ConfigError("directory.ldap_attributes", problem))
    if directory.ldap_pool_size < 1 or directory.ldap_pool_idle_seconds < 0:
        errors.append(
            ConfigError("directory.ldap_pool_size", "needs a pool of at least 1 and idle >= 0")
        )
    if directory.change_poll_seconds < 0 or directory.change_window_seconds < 0:
        errors.append(
            ConfigError("directory.change_poll_seconds", "the change feed needs times >= 0")
        )
    if settings.policy.departed_grace_months < 0:
        errors.append(ConfigError("policy.departed_grace_months", "must not be negative"))
    for lang in settings.messages.languages:
        if lang not in ("en", "th"):
            errors.append(ConfigError("messages.languages", f"unknown language {lang!r}"))
    if settings.smtp.max_message_size < 1024:
        errors.append(ConfigError("smtp.max_message_size", "must be at least 1024 bytes"))
    if settings.queue.concurrency < 1 or settings.queue.per_destination < 1:
        errors.append(ConfigError("queue.concurrency", "concurrency limits must be at least 1"))
    if settings.queue.min_free_bytes < 0:
        errors.append(ConfigError("queue.min_free_bytes", "must not be negative"))
    if settings.relay.smarthost_username and settings.relay.smarthost_password_file is None:
        errors.append(
            ConfigError(
                "relay.smarthost_password_file", "a smarthost username needs a password file"
            )
        )
    if settings.smtp.max_recipients < 1:
        errors.append(ConfigError("smtp.max_recipients", "must be at least 1"))
    errors.extend(_validate_lifecycle(settings.lifecycle))
    errors.extend(_validate_counters(settings.counters))
    for name in ("max_connections_per_ip", "max_connections"):
        if getattr(settings.limits, name) < 0:
            errors.append(ConfigError(f"limits.{name}", "must not be negative (0: no limit)"))
    if not 16 <= settings.limits.ipv6_prefix_length <= 128:
        errors.append(ConfigError("limits.ipv6_prefix_length", "must be from 16 to 128 bits"))
    return errors


def _validate_counters(counters: CountersSettings) -> list[ConfigError]:
    errors: list[ConfigError] = []
    if counters.max_keys < 1:
        errors.append(ConfigError("counters.max_keys", "must be at least 1"))
    if counters.redis_timeout_seconds <= 0:
        errors.append(ConfigError("counters.redis_timeout_seconds", "must be positive"))
    if counters.backend is CountersBackend.REDIS:
        try:
            url = urlsplit(counters.redis_url.strip())
            password = url.password
        except ValueError:
            url, password = urlsplit(""), None
        if url.scheme not in ("redis", "rediss", "unix"):
            errors.append(
                ConfigError(
                    "counters.redis_url",
                    f"{counters.redis_url!r} is not a redis://, rediss:// or unix:// URL",
                )
            )
        elif password:
            errors.append(
                ConfigError(
                    "counters.redis_url",
                    "holds a password: put it in a file named by counters.redis_password_file",
                )
            )
    return errors


def _validate_lifecycle(lifecycle: LifecycleSettings) -> list[ConfigError]:
    errors: list[ConfigError] = []
    if lifecycle.sweep_interval_seconds < 0:
        errors.append(ConfigError("lifecycle.sweep_interval_seconds", "must not be negative"))
    if any(days < 1 for days in lifecycle.warn_days):
        errors.append(ConfigError("lifecycle.warn_days", "each must be at least 1 day"))
    address = lifecycle.admin_address
    if address and (address.count("@") != 1 or any(c.isspace() for c in address)):
        errors.append(ConfigError("lifecycle.admin_address", f"{address!r} is not an address"))
    if lifecycle.suspend_orphans_after_days < 0:
        errors.append(ConfigError("lifecycle.suspend_orphans_after_days", "must not be negative"))
    return errors


def _build(cls: type, raw: Any, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(prefix or "(top level)", "expected a table")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in names:
            raise ConfigError(_join(prefix, key), "unknown setting")
    values = {}
    for name in names:
        if name in raw:
            values[name] = _convert(hints[name], raw[name], _join(prefix, name))
    return cls(**values)


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    if origin in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        return _convert(options[0], value, key)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(key, "expected a table")
        item = typing.get_args(hint)[1]
        return {str(k): _convert(item, v, _join(key, str(k))) for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list):
            raise ConfigError(key, "expected a list")
        (item,) = typing.get_args(hint)[:1]
        return tuple(_convert(item, v, key) for v in value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return hint(value)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in hint)
            raise ConfigError(key, f"must be one of {allowed}") from None
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigError(key, "expected a path (string)")
        return Path(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(key, "expected a number")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(key, "expected a whole number")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(key, "expected true or false")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(key, "expected a string")
        return value
    raise ConfigError(key, f"unsupported setting type {hint!r}")


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def documented_keys() -> list[str]:
    """Every `section.key` a config file may set (for the docs test and check-config)."""
    hints = typing.get_type_hints(Settings)
    return [
        f"{section.name}.{f.name}"
        for section in dataclasses.fields(Settings)
        for f in dataclasses.fields(hints[section.name])
    ]
