"""What an SMTP listener adds to a message before spooling it (pure functions).

The Received trace field (RFC 5321 4.4); Return-Path is added at final
delivery, by the queue. As a submission server (RFC 6409 8.2, 8.3) we also
add Date: and Message-ID: when the client left them out. The client's bytes
follow unchanged.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Sequence
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32

_HEADER_END = re.compile(rb"\r?\n\r?\n")


def parse_headers(content: bytes) -> Message:
    """The header section of `content` only (the body can be tens of megabytes)."""
    match = _HEADER_END.search(content)
    block = content[: match.end()] if match else content
    return BytesHeaderParser(policy=compat32).parsebytes(block)


def trace_headers(
    headers: Message,
    *,
    helo: str,
    client_ip: str | None,
    hostname: str,
    queue_id: str,
    tls_version: str | None,
    utf8: bool,
    now: dt.datetime,
    recipients: Sequence[str],
    authenticated: bool = True,
    complete_headers: bool = True,
) -> bytes:
    """Received, and (for submission) any missing Date / Message-ID, as CRLF header lines.

    The protocol name follows RFC 3848: ESMTP, plus S with TLS, plus A with AUTH.
    """
    protocol = ("UTF8SMTP" if utf8 else "ESMTP") + ("S" if tls_version else "")
    protocol += "A" if authenticated else ""
    tls = f" ({tls_version})" if tls_version else ""
    received_for = f"\r\n\tfor <{_clean(recipients[0])}>" if len(recipients) == 1 else ""
    lines = [
        f"Received: from {_clean(helo)} ([{client_ip or 'unknown'}])\r\n"
        f"\tby {hostname} (mailserver) with {protocol}{tls} id {queue_id}{received_for};"
        f"\r\n\t{email.utils.format_datetime(now)}",
    ]
    # Only a submission server completes messages (RFC 6409 8.2, 8.3); an MX relays as is.
    if complete_headers and headers.get("Date") is None:
        lines.append(f"Date: {email.utils.format_datetime(now)}")
    if complete_headers and headers.get("Message-ID") is None:
        lines.append(f"Message-ID: <{queue_id}.{int(now.timestamp())}@{hostname}>")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def added_message_id(trace: bytes) -> str | None:
    """The Message-ID that `trace_headers` added, if it added one."""
    match = re.search(rb"^Message-ID: (<[^>]*>)\r$", trace, re.MULTILINE)
    return match.group(1).decode() if match else None


def _clean(text: str) -> str:
    """No CR/LF or angle brackets from the client reach a header we write."""
    return re.sub(r"[\r\n<>]", "", text)
