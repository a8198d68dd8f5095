"""A full disk: mail is refused early and temporarily, nothing half-written stays, and
nothing accepted is lost.

The server's data directory is on a real, small filesystem (a tmpfs of a few MiB) that
a filler file brings to just below or above `queue.min_free_bytes`. Expected, as
Postfix's `queue_minfree`: `452 4.3.1` (RFC 3463 X.3.1 "Mail system full") at MAIL FROM
and at DATA while space is low, and at MAIL FROM for a SIZE= that would not leave it
(RFC 1870 §6.1); a message that does not fit gets `452 4.3.1` at the end of DATA and the
spool holds nothing of it; the session goes on; IMAP APPEND gets NO [UNAVAILABLE]
(RFC 5530); a local delivery that cannot be written stays queued and is retried.

Mounting needs root. The test machines (CI) run as root: there a failed mount fails the
test; elsewhere the tests are skipped.
"""

from __future__ import annotations

import imaplib
import os
import smtplib
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailserver.diskspace import free_bytes
from tests.integration.conftest import PASSWORD, MailServer, client_tls_context

MIB = 1024 * 1024
DISK_SIZE = 12 * MIB
MIN_FREE = 2 * MIB
ALICE = "alice@bangkok.go.th"
BOB = "bob@bangkok.go.th"
PEER = "mx.example.org"  # a peer MX's HELO name (the MX checks it)


def cannot_mount(why: str) -> None:
    """Fail: `make test` runs as root (it installs the peers), so a small disk can be mounted."""
    pytest.fail(f"the disk-full tests need a tmpfs mount (run make test as root): {why}")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_SIZE bytes, unmounted after the test (after the server stopped:
    request it before `make_server`)."""
    if os.geteuid() != 0:
        cannot_mount("mounting a small filesystem needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        cannot_mount(f"mount -t tmpfs failed: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture
def start_on_disk(small_disk: Path, make_server: Any) -> Callable[..., MailServer]:
    """Factory: a server with alice and bob whose data directory is the small disk."""

    def start(**sections: dict[str, Any]) -> MailServer:
        queue = {"min_free_bytes": MIN_FREE, **sections.pop("queue", {})}
        mail: MailServer = make_server(
            server={"data_dir": str(small_disk)}, queue=queue, **sections
        )
        # The fixture's helpers (policy log, spool, Maildirs) look under root/var.
        (mail.root / "var").symlink_to(small_disk)
        mail.add_account(ALICE)
        mail.add_account(BOB)
        return mail

    return start


@pytest.fixture
def disk_server(start_on_disk: Callable[..., MailServer]) -> MailServer:
    return start_on_disk()


def leave_free(disk: Path, wanted: int) -> None:
    """Resize the filler file so that about `wanted` bytes of `disk` stay free."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    size = free_bytes(disk) - wanted
    if size > 0:
        with filler.open("wb") as f:
            os.posix_fallocate(f.fileno(), 0, size)
    assert abs(free_bytes(disk) - wanted) < 64 * 1024


def message(size: int, subject: str = "disk test") -> bytes:
    """A message of about `size` bytes, in lines of 76 characters."""
    head = f"From: {ALICE}\r\nTo: {BOB}\r\nSubject: {subject}\r\n\r\n".encode()
    line = b"x" * 76 + b"\r\n"
    return head + line * max(1, (size - len(head)) // len(line))


def submission(mail: MailServer) -> smtplib.SMTP_SSL:
    smtp = smtplib.SMTP_SSL(
        "127.0.0.1", mail.submissions_port, context=client_tls_context(), timeout=20
    )
    smtp.login(ALICE, PASSWORD)
    return smtp


def inbound(mail: MailServer) -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", mail.ports["mx"], local_hostname=PEER, timeout=20)
    smtp.ehlo()
    return smtp


def connect(mail: MailServer, listener: str) -> smtplib.SMTP:
    """A session with alice logged in on submission, or a peer's session on the MX."""
    return submission(mail) if listener == "submission" else inbound(mail)


def send_data(smtp: smtplib.SMTP) -> None:
    """RCPT TO bob and a small message, after a MAIL FROM the server took."""
    assert smtp.rcpt(BOB)[0] == 250
    assert smtp.data(message(2000))[0] == 250


def spool_files(mail: MailServer) -> list[Path]:
    queue = mail.data_dir / "queue"
    return [p for sub in ("messages", "envelopes", "tmp") for p in (queue / sub).iterdir()]


def assert_storage_refusal(reply: tuple[int, bytes], peer: bool) -> None:
    code, text = reply
    assert code == 452, reply
    assert text.startswith(b"4.3.1 "), reply
    if peer:
        assert text == b"4.3.1 Insufficient system storage"
    else:
        assert b"disk space" in text and b"try again later" in text


@pytest.mark.parametrize("listener", ["submission", "mx"])
def test_mail_from_is_refused_while_space_is_below_the_minimum(
    disk_server: MailServer, small_disk: Path, listener: str
) -> None:
    leave_free(small_disk, MIN_FREE // 2)
    with connect(disk_server, listener) as smtp:
        assert_storage_refusal(smtp.mail(ALICE), peer=listener == "mx")
        # The operator sees why in the policy log.
        records = disk_server.wait_for_log(
            lambda r: r["event"] == "mail" and r.get("reason") == "storage_low"
        )
        refused = next(r for r in records if r.get("reason") == "storage_low")
        assert refused["code"] == "452 4.3.1" and refused["result"] == "tempfail"
        assert refused["free_bytes"] < MIN_FREE == refused["min_free_bytes"]
        # Space freed: the same session sends.
        (small_disk / "filler").unlink()
        assert smtp.mail(ALICE)[0] == 250
        send_data(smtp)
    disk_server.wait_for_mail(BOB)


@pytest.mark.parametrize("listener", ["submission", "mx"])
def test_a_declared_size_that_would_not_leave_the_minimum_is_refused_at_mail_from(
    disk_server: MailServer, small_disk: Path, listener: str
) -> None:
    leave_free(small_disk, MIN_FREE + MIB)
    with connect(disk_server, listener) as smtp:
        assert_storage_refusal(smtp.mail(ALICE, [f"SIZE={2 * MIB}"]), peer=listener == "mx")
        assert smtp.mail(ALICE, [f"SIZE={MIB // 2}"])[0] == 250


def test_data_is_refused_when_space_runs_low_after_rcpt(
    disk_server: MailServer, small_disk: Path
) -> None:
    with submission(disk_server) as smtp:
        assert smtp.mail(ALICE)[0] == 250
        assert smtp.rcpt(BOB)[0] == 250
        leave_free(small_disk, MIN_FREE // 2)
        assert_storage_refusal(smtp.docmd("DATA"), peer=False)
        # The transaction is still there: with space again, DATA goes through.
        (small_disk / "filler").unlink()
        assert smtp.data(message(2000))[0] == 250
    disk_server.wait_for_mail(BOB)


@pytest.mark.parametrize("listener", ["submission", "mx"])
def test_a_message_larger_than_the_space_left_gets_452_and_leaves_nothing_in_the_spool(
    disk_server: MailServer, small_disk: Path, listener: str
) -> None:
    leave_free(small_disk, MIN_FREE + MIB)  # above the minimum: MAIL and DATA are accepted
    with connect(disk_server, listener) as smtp:
        # No SIZE= (smtplib's sendmail would declare it, and MAIL FROM would be refused).
        assert smtp.mail(ALICE)[0] == 250
        assert smtp.rcpt(BOB)[0] == 250
        reply = smtp.data(message(4 * MIB))  # more than is free
        assert_storage_refusal(reply, peer=listener == "mx")
        assert spool_files(disk_server) == []
        disk_server.wait_for_log(
            lambda r: r["event"] == "data" and r.get("reason") == "storage_full"
        )
        # Not 451 4.3.0 and not the end of the session: after RSET the next one is accepted.
        assert smtp.rset()[0] == 250
        smtp.sendmail(ALICE, [BOB], message(2000, "after the full disk"))
    (delivered,) = disk_server.wait_for_mail(BOB)
    assert b"after the full disk" in delivered.read_bytes()


def test_a_local_delivery_that_hits_a_full_disk_stays_queued_and_is_retried(
    start_on_disk: Callable[..., MailServer], small_disk: Path
) -> None:
    # No early refusal: the spool takes the message, the Maildir copy does not fit.
    mail = start_on_disk(
        queue={"min_free_bytes": 0, "retry_initial_seconds": 1, "retry_max_seconds": 1}
    )
    leave_free(small_disk, 3 * MIB)
    with submission(mail) as smtp:
        smtp.sendmail(ALICE, [BOB], message(2 * MIB))
    mail.wait_for_log(
        lambda r: r["event"] == "deliver" and r.get("code") == 452 and r["status"] == "deferred",
        timeout=10,
    )
    assert mail.maildir_messages(BOB) == []
    assert len(mail.queued()) == 1
    tmp = mail.data_dir / "mail" / "bangkok.go.th" / "bob" / "Maildir" / "tmp"
    assert list(tmp.iterdir()) == []  # the half-written copy is gone
    (small_disk / "filler").unlink()
    mail.wait_for_mail(BOB, timeout=15)
    mail.wait_for_empty_queue()


def test_imap_append_that_does_not_fit_gets_no_unavailable(
    disk_server: MailServer, small_disk: Path
) -> None:
    leave_free(small_disk, MIN_FREE + MIB)
    imap = imaplib.IMAP4_SSL("127.0.0.1", disk_server.imaps_port, ssl_context=client_tls_context())
    try:
        imap.login(BOB, PASSWORD)
        status, data = imap.append("INBOX", None, None, message(4 * MIB))
        assert status == "NO", data
        assert data[0].startswith(b"[UNAVAILABLE] "), data
        assert b"disk space" in data[0]
        maildir = disk_server.data_dir / "mail" / "bangkok.go.th" / "bob" / "Maildir"
        assert [p for sub in ("tmp", "new", "cur") for p in (maildir / sub).iterdir()] == []
        status, data = imap.append("INBOX", None, None, message(2000))
        assert status == "OK", data
    finally:
        imap.logout()
