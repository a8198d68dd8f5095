"""Delivery status notifications (RFC 3464) for failed and delayed recipients.

Pure functions: the runner decides when to notify (`should_notify`, `dsn_allowed`)
and enqueues what `build_dsn` returns with the null sender (RFC 3461 §6.2,
RFC 5321 §4.5.5), so a DSN is never answered by another DSN.

The report is a multipart/report (RFC 6522) of report-type delivery-status:

1. text/plain, UTF-8, quoted-printable: what happened, in English then Thai;
2. message/delivery-status (RFC 3464 §2): one per-message block, then one
   block per recipient;
3. the original: text/rfc822-headers (headers only; RET=HDRS or no RET, or too
   big to return whole) or message/rfc822 (RET=FULL).
"""

from __future__ import annotations

import datetime as dt
import quopri
import re
import uuid
from collections.abc import Iterable, Sequence
from email.utils import format_datetime
from typing import Literal

from mailserver.queue.model import GaveUp, QueuedMessage, Recipient

Kind = Literal["failure", "delay"]

# Largest original returned whole with RET=FULL; above it only the headers go back.
DEFAULT_MAX_RETURN_BYTES = 1024 * 1024
# When the caller does not say how long a delayed message is retried: the default
# queue lifetime (QueueSettings.max_age_seconds, RFC 5321 §4.5.4.1: 4-5 days).
DEFAULT_RETRY_SECONDS = 432_000.0

# RFC 3461 §4.1: the NOTIFY keywords; no NOTIFY means FAILURE,DELAY here (§5.1
# leaves the default to the MTA, "FAILURE" or "FAILURE,DELAY").
_DEFAULT_NOTIFY = frozenset({"FAILURE", "DELAY"})
_NOTIFY_KEYWORD = {"failure": "FAILURE", "delay": "DELAY", "success": "SUCCESS"}

# RFC 3463 §2: class "." subject "." detail, subject and detail of 1-3 digits.
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d|\.\d)")
# RFC 3461 §4: xtext "+" HEXCHAR HEXCHAR stands for one octet.
_XTEXT = re.compile(rb"\+([0-9A-Fa-f]{2})")
# Longest line of a DSN field before it is folded (RFC 5322 §2.1.1 recommends 78).
_FOLD_AT = 78

_SUBJECTS = {
    "failure": "Undelivered Mail Returned to Sender",
    "delay": "Delayed Mail (still being retried)",
}

# RFC 3463 Status of a recipient the queue gave up on without any server refusing it:
# expiry is "4.4.7 Delivery time expired" (§3.5, a persistent transient failure, so
# class 4 with Action: failed); an administrator's bounce is a permanent "5.0.0 Other
# undefined status" (§3.1), since nobody will try again.
GAVE_UP_STATUS = {GaveUp.EXPIRED: "4.4.7", GaveUp.ADMINISTRATOR: "5.0.0"}
# Why, for the X-mailserver Diagnostic-Code and the text part (English, Thai).
_GAVE_UP_TEXT = {
    GaveUp.EXPIRED: (
        "delivery time expired; the mail system gave up retrying",
        "หมดเวลาส่ง ระบบหยุดพยายามส่งแล้ว",
    ),
    GaveUp.ADMINISTRATOR: (
        "returned to the sender by the mail administrators",
        "ผู้ดูแลระบบส่งจดหมายคืนผู้ส่ง",
    ),
}


def dsn_allowed(message: QueuedMessage) -> bool:
    """Whether a DSN may be sent about `message` at all.

    Never for the null sender (RFC 5321 §4.5.5, RFC 3461 §6.2): the message is
    itself a notification, and answering it could loop between two servers.
    """
    return message.sender.strip() not in ("", "<>")


def should_notify(recipient: Recipient, kind: Literal["failure", "delay", "success"]) -> bool:
    """Whether the sender asked to hear about `kind` for this recipient (RFC 3461 §4.1).

    NOTIFY=NEVER silences everything; otherwise the keyword must be listed. With no
    NOTIFY parameter, failures and delays are reported, successes are not (§5.1).
    """
    wanted = {keyword.strip().upper() for keyword in recipient.notify if keyword.strip()}
    if not wanted:
        wanted = set(_DEFAULT_NOTIFY)
    if "NEVER" in wanted:
        return False
    return _NOTIFY_KEYWORD[kind] in wanted


def status_code(recipient: Recipient, kind: Kind) -> str:
    """The RFC 3464 §2.3.4 Status of a recipient (an RFC 3463 enhanced code).

    A recipient the queue gave up on itself has the give-up's code (`GAVE_UP_STATUS`).
    Otherwise the class is that of the last reply code (RFC 3463 §2, RFC 2034 §4: the
    class of the enhanced code agrees with the first digit of the reply), a delay is
    always class 4 (it has not failed permanently), and without a reply code the class of
    the enhanced code in the text counts. The subject and detail are those of the enhanced
    code at the start of the last text (else the first one in it) when its class agrees,
    else X.0.0: a reply "550 4.2.2" is reported as 5.0.0, as Postfix does.
    """
    if kind == "failure" and recipient.gave_up is not None:
        return GAVE_UP_STATUS[recipient.gave_up]
    match = _ENHANCED.match(recipient.last_text.strip())
    if match is None:
        # Some servers put the code later ("host said: 5.1.1 ..."): take the first one.
        match = _ENHANCED.search(recipient.last_text)
    enhanced = match.groups() if match is not None else None
    klass = _status_class(recipient.last_code, enhanced[0] if enhanced else None, kind)
    if enhanced is not None and enhanced[0] == klass:
        _, subject, detail = enhanced
        return f"{klass}.{int(subject)}.{int(detail)}"
    return f"{klass}.0.0"


def _status_class(code: int | None, text_class: str | None, kind: Kind) -> str:
    """The class digit of a recipient's Status: "4" or "5"."""
    if kind == "delay":
        return "4"
    if code is not None and 400 <= code < 600:
        return str(code)[0]
    if text_class in ("4", "5"):
        return text_class
    return "5"


def diagnostic_code(recipient: Recipient, status: str) -> str | None:
    """The RFC 3464 §2.3.6 Diagnostic-Code of a recipient whose Status is `status`.

    The last reply as it came, `smtp; <code> <text>`, when its class is that of the
    Status (a 4.4.7 expiry quotes the last 4xx reply); anything else is an
    `X-mailserver;` diagnostic (§2.3.6 allows a private diagnostic-type): errors
    decided here (no reply code), an administrator's bounce (no server said 5xx, so no
    smtp code is claimed), and a reply that contradicts the Action (a 5xx on a delayed
    recipient). None when there is nothing to say.
    """
    text = _ascii(recipient.last_text.strip())
    code = recipient.last_code
    if recipient.gave_up is GaveUp.ADMINISTRATOR:
        return f"X-mailserver; {_GAVE_UP_TEXT[GaveUp.ADMINISTRATOR][0]}"
    if code is not None:
        reply = f"{code} {text}".rstrip()
        kind = "smtp" if str(code)[0] == status[0] else "X-mailserver"
        return f"{kind}; {reply}"
    if text:
        return f"X-mailserver; {text}"
    if recipient.gave_up is not None:
        return f"X-mailserver; {_GAVE_UP_TEXT[recipient.gave_up][0]}"
    return None


def _reported_by_remote(recipient: Recipient) -> bool:
    """Whether the remote MTA's last answer is what the DSN reports (RFC 3464 §2.3.5
    Remote-MTA): not when an administrator bounced the message."""
    return bool(recipient.remote_mta) and recipient.gave_up is not GaveUp.ADMINISTRATOR


def build_dsn(
    message: QueuedMessage,
    recipients: Sequence[Recipient],
    *,
    kind: Kind,
    original: bytes,
    reporting_mta: str,
    postmaster: str,
    now: dt.datetime,
    max_return_bytes: int = DEFAULT_MAX_RETURN_BYTES,
    retry_until: dt.datetime | None = None,
    message_id: str | None = None,
) -> bytes:
    """The complete DSN message (headers and body, CRLF lines) about `recipients`.

    `kind` is "failure" (Action: failed) or "delay" (Action: delayed, with
    Will-Retry-Until = `retry_until`, by default the arrival plus the default queue
    lifetime). `original` is the message as spooled; it goes back whole only with
    RET=FULL and when not larger than `max_return_bytes`.
    """
    if kind not in _SUBJECTS:
        raise ValueError(f"unknown DSN kind {kind!r}")
    if not recipients:
        raise ValueError("a DSN needs at least one recipient")
    if retry_until is None:
        retry_until = message.received_at + dt.timedelta(seconds=DEFAULT_RETRY_SECONDS)
    original = _crlf(original)
    headers_only = message.dsn_ret.upper() != "FULL" or len(original) > max_return_bytes
    truncated = message.dsn_ret.upper() == "FULL" and len(original) > max_return_bytes
    boundary = f"=_dsn_{uuid.uuid4().hex}"

    text = _human_text(
        message, recipients, kind, reporting_mta, retry_until, truncated, len(original)
    )
    status = _delivery_status(message, recipients, kind, reporting_mta, retry_until)
    returned, returned_8bit = _returned_part(original, headers_only)

    top = [
        f'From: "Mail Delivery System" <{postmaster}>',
        f"To: <{message.sender}>",
        f"Subject: {_SUBJECTS[kind]}",
        f"Date: {format_datetime(_aware(now))}",
        f"Message-ID: {message_id or f'<{uuid.uuid4().hex}.dsn@{reporting_mta}>'}",
    ]
    if message.message_id.startswith("<") and message.message_id.endswith(">"):
        top.append(f"In-Reply-To: {message.message_id}")
        top.append(f"References: {message.message_id}")
    top += [
        # RFC 3834 §5: generated automatically, in reply to the message.
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        # RFC 6522 §3: report-type names the second part's type.
        "Content-Type: multipart/report; report-type=delivery-status;",
        f' boundary="{boundary}"',
    ]
    if returned_8bit:
        # RFC 2045 §6.4: a multipart holding an 8bit part is itself 8bit.
        top.append("Content-Transfer-Encoding: 8bit")
    else:
        top.append("Content-Transfer-Encoding: 7bit")

    body_text = _quoted_printable(text.encode("utf-8"))
    parts: list[bytes] = [
        _lines(top) + b"\r\n",
        b"This is a MIME-encapsulated delivery status notification (RFC 3464).\r\n",
        _delimiter(boundary),
        _lines(
            [
                "Content-Description: Notification",
                'Content-Type: text/plain; charset="utf-8"',
                "Content-Transfer-Encoding: quoted-printable",
            ]
        )
        + b"\r\n",
        body_text.rstrip(b"\r\n") + b"\r\n",
        _delimiter(boundary),
        _lines(
            [
                "Content-Description: Delivery report",
                "Content-Type: message/delivery-status",
                "Content-Transfer-Encoding: 7bit",
            ]
        )
        + b"\r\n",
        status,
        _delimiter(boundary),
        returned,
        f"\r\n--{boundary}--\r\n".encode("ascii"),
    ]
    return b"".join(parts)


# --- the three parts ------------------------------------------------------------------


def _human_text(
    message: QueuedMessage,
    recipients: Sequence[Recipient],
    kind: Kind,
    reporting_mta: str,
    retry_until: dt.datetime,
    truncated: bool,
    size: int,
) -> str:
    """The text/plain part: English, then Thai (RFC 3464 §2.1 leaves it free)."""
    until = format_datetime(_aware(retry_until))
    en: list[str] = [f"This is the mail system at host {reporting_mta}.", ""]
    th: list[str] = [f"ข้อความนี้มาจากระบบจดหมายอิเล็กทรอนิกส์ที่เครื่อง {reporting_mta}", ""]
    if kind == "failure":
        en += [
            "I'm sorry to have to inform you that your message could not",
            "be delivered to one or more recipients. It is attached below.",
            "",
            "The following address(es) failed permanently:",
        ]
        th += [
            "ขออภัย ระบบไม่สามารถส่งจดหมายของท่านถึงผู้รับต่อไปนี้ได้",
            "จดหมายต้นฉบับแนบมาด้านล่าง",
            "",
            "ผู้รับที่ส่งไม่สำเร็จ:",
        ]
    else:
        en += [
            "Your message has not yet been delivered to one or more recipients.",
            f"The mail system will keep trying until {until};",
            "you do not need to send it again. If it still cannot be delivered",
            "by then, you will receive another notice.",
            "",
            "Delivery to the following address(es) is delayed:",
        ]
        th += [
            "จดหมายของท่านยังส่งไม่ถึงผู้รับต่อไปนี้",
            f"ระบบจะพยายามส่งต่อไปจนถึง {until}",
            "ท่านไม่ต้องส่งจดหมายซ้ำ หากถึงเวลาดังกล่าวแล้วยังส่งไม่ได้ ระบบจะแจ้งให้ทราบอีกครั้ง",
            "",
            "ผู้รับที่การส่งล่าช้า:",
        ]
    for recipient in recipients:
        diagnostic = _diagnostic_line(recipient)
        en.append("")
        en.append(f"  <{recipient.address}>")
        th.append("")
        th.append(f"  <{recipient.address}>")
        if recipient.gave_up is not None:
            why_en, why_th = _GAVE_UP_TEXT[recipient.gave_up]
            en.append(f"    {why_en[0].upper()}{why_en[1:]}.")
            th.append(f"    {why_th}")
        if recipient.remote_mta and diagnostic:
            en.append(f"    The server {recipient.remote_mta} said: {diagnostic}")
            th.append(f"    เซิร์ฟเวอร์ปลายทาง {recipient.remote_mta} ตอบว่า: {diagnostic}")
        elif diagnostic:
            en.append(f"    Reason: {diagnostic}")
            th.append(f"    สาเหตุ: {diagnostic}")
        elif recipient.gave_up is None:
            en.append("    No reason was recorded.")
            th.append("    ไม่มีการบันทึกสาเหตุ")
    if truncated:
        en += [
            "",
            f"The original message ({size} bytes) is too large to return in full;",
            "only its headers are attached.",
        ]
        th += ["", f"จดหมายต้นฉบับ ({size} ไบต์) มีขนาดใหญ่เกินกว่าจะส่งคืนทั้งฉบับ จึงแนบเฉพาะส่วนหัว"]
    return "\n".join([*en, "", "-" * 60, "", *th, ""])


def _diagnostic_line(recipient: Recipient) -> str:
    text = recipient.last_text.strip()
    if recipient.last_code is not None:
        return f"{recipient.last_code} {text}".strip()
    return text


def _delivery_status(
    message: QueuedMessage,
    recipients: Sequence[Recipient],
    kind: Kind,
    reporting_mta: str,
    retry_until: dt.datetime,
) -> bytes:
    """The message/delivery-status body (RFC 3464 §2.2, §2.3): blank-line separated."""
    # RFC 3464 §2.2: per-message fields.
    per_message = [f"Reporting-MTA: dns; {_ascii(reporting_mta)}"]
    if message.envid:
        per_message.append(f"Original-Envelope-Id: {_ascii(_xtext_decode(message.envid))}")
    per_message.append(f"Arrival-Date: {format_datetime(_aware(message.received_at))}")
    blocks = [per_message]
    # RFC 3464 §2.3: per-recipient fields.
    for recipient in recipients:
        fields: list[str] = []
        if recipient.orcpt:
            fields.append(f"Original-Recipient: {_orcpt(recipient.orcpt)}")
        fields.append(f"Final-Recipient: {_address_field(recipient.address)}")
        fields.append(f"Action: {'failed' if kind == 'failure' else 'delayed'}")
        status = status_code(recipient, kind)
        fields.append(f"Status: {status}")
        if _reported_by_remote(recipient):
            fields.append(f"Remote-MTA: dns; {_ascii(recipient.remote_mta)}")
        diagnostic = diagnostic_code(recipient, status)
        if diagnostic is not None:
            fields.append(f"Diagnostic-Code: {diagnostic}")
        if recipient.last_attempt is not None:
            fields.append(f"Last-Attempt-Date: {format_datetime(_aware(recipient.last_attempt))}")
        if kind == "delay":
            fields.append(f"Will-Retry-Until: {format_datetime(_aware(retry_until))}")
        blocks.append(fields)
    return b"\r\n".join(_lines(_fold(field) for field in block) for block in blocks)


def _returned_part(original: bytes, headers_only: bool) -> tuple[bytes, bool]:
    """The third part's headers and body, and whether it is 8bit."""
    if headers_only:
        # RFC 6522 §4: text/rfc822-headers. Raw UTF-8 header values (RFC 6532) are
        # kept byte for byte in quoted-printable, so the DSN itself stays 7-bit.
        header_block = _header_block(original)
        if _is_8bit(header_block):
            body = _quoted_printable(header_block)
            head = [
                "Content-Description: Undelivered message headers",
                'Content-Type: text/rfc822-headers; charset="utf-8"',
                "Content-Transfer-Encoding: quoted-printable",
            ]
        else:
            body = header_block
            head = [
                "Content-Description: Undelivered message headers",
                "Content-Type: text/rfc822-headers",
                "Content-Transfer-Encoding: 7bit",
            ]
        return _lines(head) + b"\r\n" + body.rstrip(b"\r\n") + b"\r\n", False
    # RFC 2046 §5.2.1: message/rfc822 may only be 7bit, 8bit or binary.
    eight = _is_8bit(original)
    head = [
        "Content-Description: Undelivered message",
        "Content-Type: message/rfc822",
        f"Content-Transfer-Encoding: {'8bit' if eight else '7bit'}",
    ]
    body = original if original.endswith(b"\r\n") else original + b"\r\n"
    return _lines(head) + b"\r\n" + body, eight


# --- helpers --------------------------------------------------------------------------


def _header_block(original: bytes) -> bytes:
    """The header section of `original` (RFC 5322 §2.1), without the blank line."""
    end = original.find(b"\r\n\r\n")
    if original.startswith(b"\r\n"):
        return b""
    return original if end < 0 else original[: end + 2]


def _quoted_printable(data: bytes) -> bytes:
    """RFC 2045 §6.7 quoted-printable with CRLF lines (line breaks stay hard breaks)."""
    lines = _crlf(data).replace(b"\r\n", b"\n")
    return _crlf(quopri.encodestring(lines))


def _crlf(data: bytes) -> bytes:
    """Every line ending as CRLF (RFC 5322 §2.3), whatever it was."""
    return re.sub(rb"\r?\n|\r(?!\n)", b"\r\n", data)


def _is_8bit(data: bytes) -> bool:
    return any(byte > 127 for byte in data)


def _lines(lines: Iterable[str]) -> bytes:
    return b"".join(line.encode("utf-8") + b"\r\n" for line in lines)


def _delimiter(boundary: str) -> bytes:
    # RFC 2046 §5.1.1: the CRLF before "--" belongs to the delimiter.
    return f"\r\n--{boundary}\r\n".encode("ascii")


def _aware(stamp: dt.datetime) -> dt.datetime:
    """`stamp` with a zone (naive times in the spool are UTC)."""
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.UTC)


def _ascii(text: str) -> str:
    """DSN fields are US-ASCII (RFC 3464 §2.1.2): controls removed, others as "?"."""
    return "".join(
        ch if 32 <= ord(ch) < 127 else (" " if ch in "\t\r\n" else "?") for ch in text
    ).strip()


def _fold(field: str) -> str:
    """Fold a long field at spaces (RFC 5322 §2.2.3), so no line is far beyond 78."""
    if len(field) <= _FOLD_AT:
        return field
    lines: list[str] = []
    current = ""
    for word in field.split(" "):
        if current and len(current) + 1 + len(word) > _FOLD_AT:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    lines.append(current)
    return "\r\n ".join(lines)


def _xtext_decode(value: str) -> str:
    """Undo RFC 3461 §4 xtext ("+2B" is "+"); invalid UTF-8 becomes U+FFFD."""
    raw = _XTEXT.sub(lambda m: bytes([int(m.group(1), 16)]), value.encode("utf-8"))
    return raw.decode("utf-8", "replace")


def _orcpt(value: str) -> str:
    """RFC 3464 §2.3.1 Original-Recipient from the RFC 3461 §4.2 ORCPT parameter."""
    addr_type, sep, address = value.partition(";")
    if not sep:
        addr_type, address = "rfc822", value
    return f"{_ascii(addr_type)}; {_ascii(_xtext_decode(address.strip()))}"


def _address_field(address: str) -> str:
    """`rfc822; addr`, or for an internationalized address `utf-8; addr` with the
    non-ASCII characters written as \\x{HEX} (RFC 6533 §3, utf-8-addr-xtext)."""
    if address.isascii():
        return f"rfc822; {_ascii(address)}"
    encoded = "".join(
        ch if 33 <= ord(ch) < 127 and ch not in "\\+=" else f"\\x{{{ord(ch):X}}}" for ch in address
    )
    return f"utf-8; {encoded}"
