"""The queue with real peers: Postfix's smtp-sink as the remote MTA (through the smarthost
setting), retries, failure and delay DSNs, and the queue commands."""

from __future__ import annotations

import email
import email.policy
import smtplib
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from mailserver.queue.model import Recipient
from mailserver.queue.spool import Spool
from tests.integration.conftest import PASSWORD, MailServer, client_tls_context
from tests.unit.test_dsn import assert_codes_agree, status_blocks
from tests.waiting import wait_until

pytest_plugins = ["tests.integration.sink"]

ALICE, BOB = "alice@bangkok.go.th", "bob@bangkok.go.th"
REMOTE = "someone@example.net"


def outgoing(subject: str = "To the outside", to: str = REMOTE) -> bytes:
    msg = EmailMessage()
    msg["From"] = ALICE
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '-')}@bangkok.go.th>"
    msg.set_content("สวัสดีครับ — a message for another organisation.\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def submit(server: MailServer, content: bytes, to: list[str]) -> str:
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=10
    ) as smtp:
        smtp.login(ALICE, PASSWORD)
        smtp.ehlo()
        code, reply = smtp.mail(ALICE)
        assert code == 250, reply
        for rcpt in to:
            assert smtp.rcpt(rcpt)[0] == 250
        code, reply = smtp.data(content)
        assert code == 250, reply
        return reply.decode().rsplit(" ", 1)[-1]  # "Ok: queued as <id>"


def relay_server(make_server: Any, sink_port: int, **queue: Any) -> MailServer:
    server = make_server(
        relay={"smarthost": f"127.0.0.1:{sink_port}", "smarthost_require_tls": False},
        queue={"retry_initial_seconds": 1, "retry_max_seconds": 1, **queue},
    )
    server.add_account(ALICE)
    server.add_account(BOB)
    return server


def reports(server: MailServer, count: int = 1) -> list[email.message.EmailMessage]:
    paths = server.wait_for_mail(ALICE, count, timeout=15)
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in paths]


def test_remote_recipient_is_relayed_byte_for_byte(make_server: Any, make_sink: Any) -> None:
    sink = make_sink()
    server = relay_server(make_server, sink.port)
    sent = outgoing()
    queue_id = submit(server, sent, [REMOTE, BOB])
    (got,) = sink.wait_messages(1)
    assert got.content.endswith(sent)
    assert got.content.startswith(b"Received: from ")
    server.wait_for_mail(BOB)
    server.wait_for_empty_queue()
    delivered = [r for r in server.log_records() if r["event"] == "deliver"]
    assert {(r["recipients"][0], r["status"]) for r in delivered} == {
        (REMOTE, "delivered"),
        (BOB, "delivered"),
    }
    assert all(r["queue_id"] == queue_id for r in delivered)


def test_permanent_failure_bounces_to_the_sender(make_server: Any, make_sink: Any) -> None:
    sink = make_sink("-f", "RCPT")
    server = relay_server(make_server, sink.port)
    submit(server, outgoing("Rejected"), [REMOTE])
    (report,) = reports(server)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    status = report.get_payload()[1]
    assert status.get_content_type() == "message/delivery-status"
    text = status.as_string()
    assert f"Final-Recipient: rfc822; {REMOTE}" in text and "Action: failed" in text
    assert "Status: 5." in text
    assert_codes_agree(status_blocks(report)[1])
    assert report["Auto-Submitted"] == "auto-replied"
    assert "Subject: Rejected" in report.get_payload()[2].as_string()
    server.wait_for_empty_queue()
    bounce_line = [r for r in server.log_records() if r.get("status") == "bounced"]
    assert bounce_line and bounce_line[0]["recipients"] == [REMOTE]


def test_temporary_failure_is_retried_then_expires_with_a_dsn(
    make_server: Any, make_sink: Any
) -> None:
    sink = make_sink("-r", "RCPT")
    server = relay_server(make_server, sink.port, max_age_seconds=4, delay_warning_seconds=0)
    queue_id = submit(server, outgoing("Deferred"), [REMOTE])
    listed = server.cli("queue", "list").stdout
    assert queue_id in listed and "1/1 pending" in listed

    def retried() -> bool:
        return sum(r.get("status") == "deferred" for r in server.log_records()) >= 2

    wait_until(retried, 15, what="two deferrals")
    (report,) = reports(server)
    (_, fields) = status_blocks(report)
    assert_codes_agree(fields)
    assert (fields["Action"], fields["Status"]) == ("failed", "4.4.7")  # expired
    assert fields["Diagnostic-Code"].startswith("smtp; 450 ")  # smtp-sink's reply, as is
    server.wait_for_empty_queue()


def test_delay_warning_while_still_retrying(make_server: Any, make_sink: Any) -> None:
    sink = make_sink("-r", "RCPT")
    server = relay_server(make_server, sink.port, delay_warning_seconds=1)
    queue_id = submit(server, outgoing("Slow"), [REMOTE])
    (report,) = reports(server)
    status = report.get_payload()[1].as_string()
    assert "Action: delayed" in status and "Will-Retry-Until:" in status
    assert_codes_agree(status_blocks(report)[1])
    assert queue_id in server.queued()  # still being retried
    shown = server.cli("queue", "show", queue_id).stdout
    assert REMOTE in shown and "pending" in shown


def test_no_dsn_for_a_bounce(make_server: Any, make_sink: Any) -> None:
    """A failed null-sender message (itself a DSN) is dropped, never bounced: no loops."""
    sink = make_sink("-f", "RCPT")
    server = relay_server(make_server, sink.port)
    spool = Spool(server.data_dir / "queue")
    import datetime as dt

    bounce = spool.enqueue(
        "", [Recipient(REMOTE)], outgoing("A bounce"), now=dt.datetime.now(dt.UTC)
    )
    server.cli("queue", "retry", bounce.id)
    server.wait_for_empty_queue()
    assert server.maildir_messages(ALICE) == []
    assert not any(r["event"] == "dsn" for r in server.log_records())


def test_queue_bounce_and_delete_commands(make_server: Any, make_sink: Any) -> None:
    sink = make_sink("-r", "RCPT")
    server = relay_server(
        make_server, sink.port, retry_initial_seconds=3600, retry_max_seconds=3600
    )
    first = submit(server, outgoing("Bounce me"), [REMOTE])
    second = submit(server, outgoing("Delete me"), [REMOTE])
    wait_until(lambda: "attempts=1" in server.cli("queue", "show", first).stdout)
    server.cli("queue", "bounce", first, "--actor", "somchai")
    (report,) = reports(server)
    assert "Subject: Bounce me" in report.get_payload()[2].as_string()
    # RFC 3464 / RFC 3463: the smtp-sink's last 4xx is not passed off as the reason for a
    # permanent failure; the DSN says an administrator returned the message.
    (_, fields) = status_blocks(report)
    assert_codes_agree(fields)
    assert (fields["Action"], fields["Status"]) == ("failed", "5.0.0")
    assert fields["Diagnostic-Code"] == (
        "X-mailserver; returned to the sender by the mail administrators"
    )
    text = report.get_payload()[0].get_content()
    assert "Returned to the sender by the mail administrators." in text
    assert " said: 450 " in text  # the last real reply, for the sender's information
    server.cli("queue", "delete", second)
    server.wait_for_empty_queue()
    actions = [(r["action"], r["actor"]) for r in server.log_records() if r["event"] == "admin"]
    assert ("queue-bounce", "somchai") in actions
    assert any(a == "queue-delete" for a, _ in actions)
    stats = server.cli("queue", "stats").stdout
    assert "0 messages" in stats and "status deferred" in stats
    (first_stats, *_) = [r for r in server.log_records() if r["event"] == "queue-stats"]
    assert first_stats["size"] == 0  # logged at start, before anything was queued


def test_spool_survives_a_restart(make_server: Any, make_sink: Any, tmp_path: Path) -> None:
    sink = make_sink("-r", "RCPT")
    server = relay_server(
        make_server, sink.port, retry_initial_seconds=3600, retry_max_seconds=3600
    )
    queue_id = submit(server, outgoing("Keep me"), [REMOTE])
    server.stop()
    assert queue_id in server.queued()
    server.start()
    assert queue_id in server.cli("queue", "list").stdout
