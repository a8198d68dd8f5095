"""What the submission server adds to a message before storing it (pure functions).

Trace fields (RFC 5321 4.4): Return-Path and Received. As a submission
server (RFC 6409 8.2, 8.3) we also add Date: and Message-ID: when the client
left them out. The client's bytes follow unchanged.
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
    sender: str,
    helo: str,
    client_ip: str | None,
    hostname: str,
    queue_id: str,
    tls_version: str | None,
    utf8: bool,
    now: dt.datetime,
    recipients: Sequence[str],
) -> bytes:
    """Return-Path, Received and any missing Date / Message-ID, as CRLF header lines."""
    protocol = ("UTF8SMTP" if utf8 else "ESMTP") + ("SA" if tls_version else "A")
    tls = f" ({tls_version})" if tls_version else ""
    received_for = f"\r\n\tfor <{_clean(recipients[0])}>" if len(recipients) == 1 else ""
    lines = [
        f"Return-Path: <{_clean(sender)}>",
        f"Received: from {_clean(helo)} ([{client_ip or 'unknown'}])\r\n"
        f"\tby {hostname} (mailserver) with {protocol}{tls} id {queue_id}{received_for};"
        f"\r\n\t{email.utils.format_datetime(now)}",
    ]
    if headers.get("Date") is None:
        lines.append(f"Date: {email.utils.format_datetime(now)}")
    if headers.get("Message-ID") is None:
        lines.append(f"Message-ID: <{queue_id}.{int(now.timestamp())}@{hostname}>")
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def added_message_id(trace: bytes) -> str | None:
    """The Message-ID that `trace_headers` added, if it added one."""
    match = re.search(rb"^Message-ID: (<[^>]*>)\r$", trace, re.MULTILINE)
    return match.group(1).decode() if match else None


def _clean(text: str) -> str:
    """No CR/LF or angle brackets from the client reach a header we write."""
    return re.sub(r"[\r\n<>]", "", text)
