"""TLS contexts for the listeners, and the self-signed certificate of the embedded default.

Build a context once per listener, never per connection: loading the
certificate chain is the expensive part (DESIGN.md, known traps).
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import datetime as dt
import ipaddress
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailserver import private

_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}


def ensure_self_signed(cert_dir: Path, hostname: str) -> tuple[Path, Path]:
    """Return (cert, key) under `cert_dir`, generating a self-signed pair on first use.

    Both files are created with mode 0600 before any byte reaches the disk, in a 0700
    directory (`mailserver.private`).
    """
    cert_path, key_path = cert_dir / "server.crt", cert_dir / "server.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    private.make_dirs(cert_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(hostname), x509.DNSName("localhost")]
    names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    for path, data in ((key_path, key_pem), (cert_path, cert_pem)):
        with os.fdopen(private.open_fd(path, os.O_WRONLY | os.O_TRUNC), "wb") as f:
            f.write(data)
    return cert_path, key_path


def server_context(cert_file: Path, key_file: Path, min_version: str = "TLSv1.2") -> ssl.SSLContext:
    """A server-side context for mail clients: modern protocols only, no client certificates."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = _VERSIONS[min_version]
    context.load_cert_chain(cert_file, key_file)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


# asyncio's SSLProtocol preallocates `max_size` (256 KiB) per connection as its socket read
# buffer. Measured (DESIGN.md, known traps; docs/benchmarks.md, "IMAP"): an idle IMAP TLS
# session costs ~290 KiB with it, so 10,000 phones in IDLE need ~3 GB. 16 KiB holds a whole
# TLS record (the largest read that can be decrypted at once), so nothing is lost but a few
# more, smaller recv calls on bulk uploads.
TLS_READ_BUFFER = 16 * 1024


class _SmallBufferSSLProtocol(asyncio.sslproto.SSLProtocol):
    """asyncio's own TLS protocol with a smaller read buffer; nothing else differs."""

    def __init__(self, *args: Any, read_buffer: int, **kwargs: Any) -> None:
        # read by SSLProtocol.__init__ to size the buffer; the stubs call it a ClassVar
        self.max_size = read_buffer  # type: ignore[misc]
        super().__init__(*args, **kwargs)


async def start_tls_server(
    client_connected_cb: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    host: str,
    port: int,
    context: ssl.SSLContext,
    *,
    read_buffer: int = TLS_READ_BUFFER,
    backlog: int = 1024,
) -> asyncio.Server:
    """`asyncio.start_server(cb, host, port, ssl=context)` with `read_buffer`-byte TLS buffers.

    Builds what `loop.create_server(..., ssl=...)` builds for each connection (an SSLProtocol
    wrapping a StreamReaderProtocol, on a plain TCP transport), but with the read buffer
    sized by us, for this listener only: no process-wide change to asyncio. Connections
    upgraded later with STARTTLS still get asyncio's default buffer.
    """
    loop = asyncio.get_running_loop()

    def factory() -> asyncio.BaseProtocol:
        reader = asyncio.StreamReader(loop=loop)
        app = asyncio.StreamReaderProtocol(reader, client_connected_cb, loop=loop)
        return _SmallBufferSSLProtocol(
            loop, app, context, None, server_side=True, read_buffer=read_buffer
        )

    return await loop.create_server(factory, host, port, backlog=backlog)
