"""Trace headers and header parsing for stored submissions."""

from __future__ import annotations

import datetime as dt
import email

from mailserver.smtp.delivery import added_message_id, parse_headers, trace_headers
from mailserver.smtp.replies import reply

NOW = dt.datetime(2026, 11, 25, 3, 0, tzinfo=dt.UTC)


def trace(content: bytes, **overrides: object) -> bytes:
    args = dict(
        helo="laptop",
        client_ip="192.0.2.7",
        hostname="mail.bangkok.go.th",
        queue_id="ABC123",
        tls_version="TLSv1.3",
        utf8=False,
        now=NOW,
        recipients=["bob@bangkok.go.th"],
    )
    args.update(overrides)
    return trace_headers(parse_headers(content), **args)  # type: ignore[arg-type]


def test_trace_parses_as_headers_and_names_the_client() -> None:
    content = b"From: a@b\r\nDate: x\r\nMessage-ID: <m@b>\r\n\r\nbody\r\n"
    headers = email.message_from_bytes(trace(content) + content)
    assert headers["Return-Path"] is None  # added at final delivery, by the queue
    received = " ".join(headers["Received"].split())
    assert received.startswith("from laptop ([192.0.2.7]) by mail.bangkok.go.th (mailserver)")
    assert "with ESMTPSA (TLSv1.3) id ABC123 for <bob@bangkok.go.th>;" in received
    assert headers.get_all("Message-ID") == ["<m@b>"]


def test_missing_date_and_message_id_are_added() -> None:
    added = trace(b"From: a@b\r\n\r\nbody\r\n")
    headers = email.message_from_bytes(added)
    assert headers["Date"] == "Wed, 25 Nov 2026 03:00:00 +0000"
    assert headers["Message-ID"].endswith("@mail.bangkok.go.th>")
    assert added_message_id(added) == headers["Message-ID"]


def test_client_text_cannot_inject_headers() -> None:
    added = trace(b"\r\n", helo="evil\r\nBcc: x", recipients=["a>\r\nX: y"])
    assert b"\r\nBcc:" not in added and b"\r\nX:" not in added


def test_header_parse_stops_at_the_body() -> None:
    headers = parse_headers(b"From: a@b\r\n\r\nFrom: body@line\r\n")
    assert headers.get_all("From") == ["a@b"]


def test_multiline_reply_repeats_the_code() -> None:
    assert reply(550, "5.7.1", ["one", "two"]) == "550-5.7.1 one\r\n550 5.7.1 two"
    assert reply(250, "2.0.0", ["ok\r\nsneaky"]) == "250 2.0.0 ok sneaky"
