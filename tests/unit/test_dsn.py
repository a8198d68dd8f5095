"""Delivery status notifications (RFC 3464 in RFC 6522 multipart/report), read back
with Python's email package as a receiving mail client would."""

from __future__ import annotations

import datetime as dt
import email
import re
from dataclasses import replace
from email import policy
from email.message import EmailMessage, Message
from typing import Any

import pytest

from mailserver.queue import dsn
from mailserver.queue.model import GaveUp, QueuedMessage, Recipient, RecipientState

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
ARRIVED = NOW - dt.timedelta(hours=5)
ORIGINAL = (
    "From: สมชาย ใจดี <alice@bangkok.go.th>\r\n"
    "To: bob@remote.example\r\n"
    "Subject: รายงานประจำเดือน\r\n"
    "Message-ID: <orig-1@bangkok.go.th>\r\n"
    "\r\n"
    "เนื้อหาของจดหมาย BODY-MARKER\r\n"
).encode()


def message(**changes: Any) -> QueuedMessage:
    base = QueuedMessage(
        id="Q123",
        sender="alice@bangkok.go.th",
        recipients=(),
        received_at=ARRIVED,
        size=len(ORIGINAL),
        next_attempt=NOW,
        message_id="<orig-1@bangkok.go.th>",
    )
    return replace(base, **changes)


def failed(address: str = "bob@remote.example", **changes: Any) -> Recipient:
    base = Recipient(
        address=address,
        state=RecipientState.FAILED,
        attempts=1,
        last_code=550,
        last_text="5.1.1 <bob@remote.example>: Recipient address rejected: User unknown",
        last_attempt=NOW - dt.timedelta(minutes=1),
        remote_mta="mx1.remote.example",
    )
    return replace(base, **changes)


def delayed(address: str = "carol@slow.example", **changes: Any) -> Recipient:
    base = Recipient(
        address=address,
        attempts=3,
        last_code=451,
        last_text="4.3.0 Try again later",
        last_attempt=NOW - dt.timedelta(minutes=2),
        remote_mta="mx.slow.example",
    )
    return replace(base, **changes)


def build(
    msg: QueuedMessage | None = None,
    recipients: list[Recipient] | None = None,
    kind: dsn.Kind = "failure",
    original: bytes = ORIGINAL,
    **kwargs: Any,
) -> bytes:
    return dsn.build_dsn(
        msg or message(),
        recipients or [failed()],
        kind=kind,
        original=original,
        reporting_mta="mail.bangkok.go.th",
        postmaster="postmaster@mail.bangkok.go.th",
        now=NOW,
        **kwargs,
    )


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def status_blocks(report: EmailMessage) -> list[Message]:
    """The per-message block, then one block per recipient (RFC 3464 §2.1)."""
    part = report.get_payload()[1]
    assert part.get_content_type() == "message/delivery-status"
    return list(part.get_payload())


# --- structure ------------------------------------------------------------------------


def test_multipart_report_structure() -> None:
    raw = build()
    report = parse(raw)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = report.get_payload()
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert not report.defects
    assert all(not p.defects for p in parts)


def test_every_line_ends_in_crlf() -> None:
    raw = build(msg=message(dsn_ret="FULL"))
    assert b"\n" not in raw.replace(b"\r\n", b"")
    assert b"\r" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998


def test_top_level_headers() -> None:
    report = parse(build())
    assert report["From"].addresses[0].display_name == "Mail Delivery System"
    assert report["From"].addresses[0].addr_spec == "postmaster@mail.bangkok.go.th"
    assert report["To"].addresses[0].addr_spec == "alice@bangkok.go.th"
    assert report["Subject"] == "Undelivered Mail Returned to Sender"
    assert report["Auto-Submitted"] == "auto-replied"
    assert report["MIME-Version"] == "1.0"
    assert report["Message-ID"].startswith("<") and report["Message-ID"].endswith(">")
    assert report["Date"].datetime == NOW
    assert report["In-Reply-To"] == "<orig-1@bangkok.go.th>"


def test_delay_subject() -> None:
    report = parse(build(recipients=[delayed()], kind="delay"))
    assert report["Subject"] == "Delayed Mail (still being retried)"


def test_message_ids_are_unique() -> None:
    assert parse(build())["Message-ID"] != parse(build())["Message-ID"]


# --- the human-readable part ----------------------------------------------------------


def test_text_part_english_then_thai_with_diagnostic() -> None:
    part = parse(build()).get_payload()[0]
    assert part.get_content_charset() == "utf-8"
    assert part["Content-Transfer-Encoding"] == "quoted-printable"
    text = part.get_content()
    english = text.index("could not")
    thai = text.index("ไม่สามารถส่งจดหมายของท่าน")
    assert english < thai
    assert "bob@remote.example" in text
    assert "mx1.remote.example" in text
    assert "550 5.1.1 <bob@remote.example>: Recipient address rejected" in text


def test_delay_text_says_until_when() -> None:
    until = ARRIVED + dt.timedelta(days=5)
    raw = build(recipients=[delayed()], kind="delay", retry_until=until)
    text = parse(raw).get_payload()[0].get_content()
    stamp = email.utils.format_datetime(until)
    assert f"keep trying until {stamp}" in text
    assert f"ระบบจะพยายามส่งต่อไปจนถึง {stamp}" in text
    assert "4.3.0 Try again later" in text


def test_every_recipient_is_explained() -> None:
    recipients = [failed(), failed("dave@remote.example", last_text="5.2.2 Mailbox full")]
    text = parse(build(recipients=recipients)).get_payload()[0].get_content()
    assert "bob@remote.example" in text
    assert "dave@remote.example" in text
    assert "5.2.2 Mailbox full" in text


# --- message/delivery-status ----------------------------------------------------------


def test_per_message_fields() -> None:
    blocks = status_blocks(parse(build(msg=message(envid="QQ+2B314"))))
    per_message = blocks[0]
    assert per_message["Reporting-MTA"] == "dns; mail.bangkok.go.th"
    # RFC 3461 §4.4 ENVID is xtext: "+2B" is "+".
    assert per_message["Original-Envelope-Id"] == "QQ+314"
    assert per_message["Arrival-Date"] == email.utils.format_datetime(ARRIVED)


def test_no_envelope_id_without_envid() -> None:
    assert "Original-Envelope-Id" not in status_blocks(parse(build()))[0]


def test_per_recipient_fields_for_failure() -> None:
    recipient = failed(orcpt="rfc822;bob+2Bsales@remote.example")
    blocks = status_blocks(parse(build(recipients=[recipient])))
    assert len(blocks) == 2
    fields = blocks[1]
    assert fields["Original-Recipient"] == "rfc822; bob+sales@remote.example"
    assert fields["Final-Recipient"] == "rfc822; bob@remote.example"
    assert fields["Action"] == "failed"
    assert fields["Status"] == "5.1.1"
    assert fields["Remote-MTA"] == "dns; mx1.remote.example"
    assert fields["Diagnostic-Code"] == (
        "smtp; 550 5.1.1 <bob@remote.example>: Recipient address rejected: User unknown"
    )
    assert fields["Last-Attempt-Date"] == email.utils.format_datetime(recipient.last_attempt)
    assert "Will-Retry-Until" not in fields


def test_per_recipient_fields_for_delay() -> None:
    until = ARRIVED + dt.timedelta(days=5)
    raw = build(recipients=[delayed()], kind="delay", retry_until=until)
    fields = status_blocks(parse(raw))[1]
    assert fields["Action"] == "delayed"
    assert fields["Status"] == "4.3.0"
    assert fields["Will-Retry-Until"] == email.utils.format_datetime(until)
    assert "Original-Recipient" not in fields


def test_delay_default_retry_until_is_queue_lifetime() -> None:
    fields = status_blocks(parse(build(recipients=[delayed()], kind="delay")))[1]
    expected = ARRIVED + dt.timedelta(seconds=dsn.DEFAULT_RETRY_SECONDS)
    assert fields["Will-Retry-Until"] == email.utils.format_datetime(expected)


def test_one_block_per_recipient_in_order() -> None:
    recipients = [failed("a@remote.example"), failed("b@remote.example")]
    blocks = status_blocks(parse(build(recipients=recipients)))
    assert [b["Final-Recipient"] for b in blocks[1:]] == [
        "rfc822; a@remote.example",
        "rfc822; b@remote.example",
    ]


def test_no_remote_mta_when_unknown() -> None:
    recipient = failed(remote_mta="", last_text="5.1.2 remote.example: no such domain")
    fields = status_blocks(parse(build(recipients=[recipient])))[1]
    assert "Remote-MTA" not in fields
    assert fields["Status"] == "5.1.2"


def test_long_diagnostic_is_folded_and_unfolds_intact() -> None:
    text = "5.7.1 " + " ".join(["policy"] * 40)
    raw = build(recipients=[failed(last_text=text)])
    assert all(len(line) <= 100 for line in raw.split(b"\r\n"))
    fields = status_blocks(parse(raw))[1]
    assert fields["Diagnostic-Code"] == f"smtp; 550 {text}"


def test_non_ascii_diagnostic_is_made_ascii() -> None:
    raw = build(recipients=[failed(last_text="5.1.1 ไม่มีผู้ใช้นี้")])
    fields = status_blocks(parse(raw))[1]
    assert fields["Diagnostic-Code"].isascii()
    assert fields["Diagnostic-Code"].startswith("smtp; 550 5.1.1 ")


def test_diagnostic_without_reply_code() -> None:
    recipient = failed(last_code=None, last_text="connection refused", remote_mta="")
    fields = status_blocks(parse(build(recipients=[recipient])))[1]
    assert fields["Diagnostic-Code"] == "X-mailserver; connection refused"
    assert fields["Status"] == "5.0.0"


def test_internationalized_final_recipient() -> None:
    recipient = failed("สมศรี@ตัวอย่าง.ไทย")
    fields = status_blocks(parse(build(recipients=[recipient])))[1]
    value = fields["Final-Recipient"]
    assert value.startswith("utf-8; ")
    assert value.isascii()
    assert "\\x{E2A}" in value  # ส, RFC 6533 utf-8-addr-xtext


@pytest.mark.parametrize(
    ("kind", "code", "text", "expected"),
    [
        ("failure", 550, "5.1.1 User unknown", "5.1.1"),
        ("failure", 550, "User unknown", "5.0.0"),
        ("failure", 554, "", "5.0.0"),
        ("failure", None, "", "5.0.0"),
        ("failure", 552, "5.2.2 Mailbox full", "5.2.2"),
        ("failure", 550, "Host said: 5.7.26 unauthenticated", "5.7.26"),
        # An expired message is reported with its RFC 3463 code, class 4.
        ("failure", 451, "4.4.7 Delivery time expired; last error: 4.4.1 refused", "4.4.7"),
        ("failure", 451, "try later", "4.0.0"),
        ("delay", 451, "4.3.0 Try again", "4.3.0"),
        ("delay", 421, "busy", "4.0.0"),
        ("delay", None, "", "4.0.0"),
        # A delayed recipient cannot carry a permanent status.
        ("delay", 550, "5.1.1 odd", "4.0.0"),
        ("failure", 550, "2.0.0 weird", "5.0.0"),
        ("failure", 550, "5.1.1.1 not a code", "5.0.0"),
        ("failure", 550, "5.001.010 padded", "5.1.10"),
        ("failure", 550, "rejected with 5.7.1.", "5.7.1"),
        # RFC 3463 §2: the class follows the reply code, whatever the text claims.
        ("failure", 550, "4.2.2 Mailbox full", "5.0.0"),
        ("failure", 451, "5.0.0 Returned to the sender", "4.0.0"),
        # No reply code (an error decided here): the text's class counts.
        ("failure", None, "4.4.1 connection refused", "4.4.1"),
    ],
)
def test_status_code(kind: dsn.Kind, code: int | None, text: str, expected: str) -> None:
    recipient = failed(last_code=code, last_text=text)
    assert dsn.status_code(recipient, kind) == expected


# Every kind of recipient the runner reports, and a few odd replies: (kind, recipient).
REPORTED: list[tuple[dsn.Kind, Recipient]] = [
    ("failure", failed()),
    ("failure", failed(last_code=None, last_text="connection refused", remote_mta="")),
    ("failure", failed(last_code=None, last_text="5.1.2 remote.example: no such domain")),
    ("failure", failed(last_code=550, last_text="4.2.2 odd remote")),
    # What `queue bounce` used to record: the last 451 with a 5.0.0 text of its own.
    ("failure", failed(last_code=451, last_text="5.0.0 Returned to the sender")),
    ("failure", delayed(state=RecipientState.FAILED, gave_up=GaveUp.EXPIRED)),
    ("failure", delayed(last_code=None, last_text="4.4.1 refused", gave_up=GaveUp.EXPIRED)),
    ("failure", delayed(last_code=None, last_text="", remote_mta="", gave_up=GaveUp.EXPIRED)),
    ("failure", delayed(state=RecipientState.FAILED, gave_up=GaveUp.ADMINISTRATOR)),
    ("failure", delayed(last_code=None, last_text="", remote_mta="", gave_up=GaveUp.ADMINISTRATOR)),
    ("delay", delayed()),
    ("delay", delayed(last_code=None, last_text="4.4.1 connection refused")),
    ("delay", delayed(last_code=550, last_text="5.1.1 odd")),
]


def assert_codes_agree(fields: Message) -> None:
    """RFC 3464 §2.3.3, §2.3.4, §2.3.6 with RFC 3463: Action, Status and Diagnostic-Code
    of one recipient block tell the same story."""
    action, status = fields["Action"], fields["Status"]
    assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status), status
    if action == "delayed":
        assert status.startswith("4."), (action, status)
    else:
        assert action == "failed" and status[0] in "45", (action, status)
    diagnostic = fields["Diagnostic-Code"]
    if diagnostic is not None and diagnostic.lower().startswith("smtp;"):
        reply_code = diagnostic.split(";", 1)[1].split()[0]
        assert reply_code[0] == status[0], (status, diagnostic)


@pytest.mark.parametrize(("kind", "recipient"), REPORTED)
def test_action_status_and_diagnostic_agree(kind: dsn.Kind, recipient: Recipient) -> None:
    (_, fields) = status_blocks(parse(build(recipients=[recipient], kind=kind)))
    assert_codes_agree(fields)


def test_all_recipients_in_one_dsn_agree() -> None:
    failures = [r for kind, r in REPORTED if kind == "failure"]
    addressed = [replace(r, address=f"r{n}@remote.example") for n, r in enumerate(failures)]
    blocks = status_blocks(parse(build(recipients=addressed)))
    assert len(blocks) == 1 + len(addressed)
    for fields in blocks[1:]:
        assert_codes_agree(fields)


def test_administrator_bounce_says_so_and_keeps_the_last_reply_in_the_text() -> None:
    recipient = delayed(state=RecipientState.FAILED, gave_up=GaveUp.ADMINISTRATOR)
    report = parse(build(recipients=[recipient]))
    fields = status_blocks(report)[1]
    assert fields["Action"] == "failed"
    assert fields["Status"] == "5.0.0"
    assert fields["Diagnostic-Code"] == (
        "X-mailserver; returned to the sender by the mail administrators"
    )
    assert "Remote-MTA" not in fields  # no remote server reported this status
    text = report.get_payload()[0].get_content()
    assert "Returned to the sender by the mail administrators." in text
    assert "ผู้ดูแลระบบส่งจดหมายคืนผู้ส่ง" in text
    assert "mx.slow.example said: 451 4.3.0 Try again later" in text


def test_expired_recipient_quotes_its_last_reply_as_is() -> None:
    recipient = delayed(state=RecipientState.FAILED, gave_up=GaveUp.EXPIRED)
    report = parse(build(recipients=[recipient]))
    fields = status_blocks(report)[1]
    assert fields["Status"] == "4.4.7"
    assert fields["Diagnostic-Code"] == "smtp; 451 4.3.0 Try again later"
    assert fields["Remote-MTA"] == "dns; mx.slow.example"
    assert fields["Last-Attempt-Date"] == email.utils.format_datetime(recipient.last_attempt)
    text = report.get_payload()[0].get_content()
    assert "Delivery time expired; the mail system gave up retrying." in text


def test_expired_without_any_reply_still_says_why() -> None:
    recipient = delayed(last_code=None, last_text="", remote_mta="", gave_up=GaveUp.EXPIRED)
    fields = status_blocks(parse(build(recipients=[recipient])))[1]
    assert fields["Status"] == "4.4.7"
    assert fields["Diagnostic-Code"] == (
        "X-mailserver; delivery time expired; the mail system gave up retrying"
    )


# --- the returned original ------------------------------------------------------------


def test_headers_only_by_default() -> None:
    report = parse(build())
    part = report.get_payload()[2]
    assert part.get_content_type() == "text/rfc822-headers"
    text = part.get_content()
    assert "Message-ID: <orig-1@bangkok.go.th>" in text
    assert "BODY-MARKER" not in text


def test_headers_only_with_ret_hdrs() -> None:
    part = parse(build(msg=message(dsn_ret="HDRS"))).get_payload()[2]
    assert part.get_content_type() == "text/rfc822-headers"
    assert "BODY-MARKER" not in part.get_content()


def test_thai_8bit_original_headers_survive() -> None:
    raw = build()
    part = parse(raw).get_payload()[2]
    text = part.get_content()
    assert "Subject: รายงานประจำเดือน" in text
    assert "From: สมชาย ใจดี <alice@bangkok.go.th>" in text
    # Quoted-printable keeps the DSN itself 7-bit.
    assert raw.isascii()


def test_ascii_headers_sent_as_7bit() -> None:
    original = b"From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n"
    part = parse(build(original=original)).get_payload()[2]
    assert part["Content-Transfer-Encoding"] == "7bit"
    assert part.get_content().splitlines() == ["From: a@b.example", "Subject: hi"]


def test_full_return_with_ret_full() -> None:
    raw = build(msg=message(dsn_ret="FULL"))
    report = parse(raw)
    part = report.get_payload()[2]
    assert part.get_content_type() == "message/rfc822"
    returned = part.get_content()
    assert returned["Message-ID"] == "<orig-1@bangkok.go.th>"
    assert returned["Subject"] == "รายงานประจำเดือน"
    assert "BODY-MARKER" in returned.get_content()
    # RFC 2046 §5.2.1: message/rfc822 is 8bit when the original is.
    assert part["Content-Transfer-Encoding"] == "8bit"
    assert report["Content-Transfer-Encoding"] == "8bit"
    assert ORIGINAL in raw


def test_full_return_of_7bit_original_keeps_dsn_7bit() -> None:
    original = b"From: a@b.example\r\nSubject: hi\r\n\r\nBODY-MARKER\r\n"
    raw = build(msg=message(dsn_ret="full"), original=original)
    part = parse(raw).get_payload()[2]
    assert part.get_content_type() == "message/rfc822"
    assert part["Content-Transfer-Encoding"] == "7bit"
    assert raw.isascii()


def test_full_return_capped_at_size() -> None:
    big = ORIGINAL + b"x" * 2000 + b"\r\n"
    raw = build(msg=message(dsn_ret="FULL"), original=big, max_return_bytes=1000)
    report = parse(raw)
    part = report.get_payload()[2]
    assert part.get_content_type() == "text/rfc822-headers"
    assert "BODY-MARKER" not in part.get_content()
    assert b"x" * 100 not in raw
    text = report.get_payload()[0].get_content()
    assert "too large to return in full" in text
    assert "ใหญ่เกินกว่าจะส่งคืนทั้งฉบับ" in text


def test_default_cap_is_one_mebibyte() -> None:
    assert dsn.DEFAULT_MAX_RETURN_BYTES == 1024 * 1024
    body = b"y" * 76 + b"\r\n"
    big = ORIGINAL + body * (dsn.DEFAULT_MAX_RETURN_BYTES // len(body) + 1)
    part = parse(build(msg=message(dsn_ret="FULL"), original=big)).get_payload()[2]
    assert part.get_content_type() == "text/rfc822-headers"


def test_bare_lf_original_is_normalised() -> None:
    original = b"From: a@b.example\nSubject: lf\n\nbody\n"
    raw = build(msg=message(dsn_ret="FULL"), original=original)
    assert b"Subject: lf\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_original_without_body() -> None:
    original = b"From: a@b.example\r\nSubject: only headers\r\n"
    part = parse(build(original=original)).get_payload()[2]
    assert "Subject: only headers" in part.get_content()


# --- who gets a DSN -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("notify", "failure", "delay", "success"),
    [
        ((), True, True, False),
        (("NEVER",), False, False, False),
        (("FAILURE",), True, False, False),
        (("DELAY",), False, True, False),
        (("SUCCESS",), False, False, True),
        (("SUCCESS", "FAILURE"), True, False, True),
        (("failure", "delay"), True, True, False),
        (("FAILURE", "DELAY", "SUCCESS"), True, True, True),
    ],
)
def test_should_notify(notify: tuple[str, ...], failure: bool, delay: bool, success: bool) -> None:
    recipient = failed(notify=notify)
    assert dsn.should_notify(recipient, "failure") is failure
    assert dsn.should_notify(recipient, "delay") is delay
    assert dsn.should_notify(recipient, "success") is success


def test_no_dsn_for_the_null_sender() -> None:
    assert dsn.dsn_allowed(message()) is True
    assert dsn.dsn_allowed(message(sender="")) is False
    assert dsn.dsn_allowed(message(sender="<>")) is False


def test_build_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        build(kind="success")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        dsn.build_dsn(
            message(),
            [],
            kind="failure",
            original=ORIGINAL,
            reporting_mta="m",
            postmaster="p@m",
            now=NOW,
        )


def test_naive_times_are_utc() -> None:
    naive = ARRIVED.replace(tzinfo=None)
    raw = build(msg=message(received_at=naive))
    assert status_blocks(parse(raw))[0]["Arrival-Date"].endswith("+0000")
