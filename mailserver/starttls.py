"""The STARTTLS upgrade of IMAP and POP3, closed to command injection (CVE-2011-0411).

RFC 3501 §6.2.1 and RFC 2595 §3.1 (§4 for POP3's STLS): once a client has sent
STARTTLS it MUST NOT send anything more until the server's OK has arrived and
TLS is negotiated. Cleartext behind the command comes from a broken client or
from someone in the path, and must never be read as if TLS had carried it.
It can be in three places when the server has written its OK:

- the session's own parser (sent in the same segment as the command);
- asyncio's StreamReader, read from the socket but not yet handed to the
  session (a later segment that arrived while the command was processed, or
  anything beyond the 64 KiB the session reads at a time);
- still on the wire.

The first two close the connection here, with no handshake (a protocol
violation, as RFC 3501 §6.2.1 and RFC 2595 §3.1 make it); the third reaches the
TLS layer as a malformed record and the handshake fails. Discarding instead
would let the first two go on and the third fail, an outcome that depends on
timing: closing gives one outcome whatever the timing, and nothing a
conformant client sends is lost. (SMTP is aiosmtpd's: it clears its buffer at
the upgrade, RFC 3207 §4.2.)
"""

from __future__ import annotations

import asyncio
import ssl


def buffered_cleartext(reader: asyncio.StreamReader) -> int:
    """Bytes asyncio has read from the socket that no one has taken from `reader` yet.

    StreamReader has no public way to ask; aiosmtpd reads the same attribute at its
    STARTTLS. Should a Python release rename it, this raises and the session ends:
    the check fails closed.
    """
    return len(reader._buffer)  # type: ignore[attr-defined]


async def start_tls(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    context: ssl.SSLContext,
    *,
    held: int,
) -> bool:
    """Handshake after the OK has been written; False, and no handshake, when cleartext
    followed the command (`held`: bytes the session's parser still holds).

    Nothing yields between the check and the switch of the transport to TLS, so no
    cleartext can reach `reader` in between: later bytes go to the TLS layer.
    """
    await writer.drain()
    if held or buffered_cleartext(reader):
        return False
    await writer.start_tls(context)
    return True
