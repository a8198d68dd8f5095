"""Whole-client scenarios: mbsync two-way sync and the leaver's backup, neomutt reading."""

from __future__ import annotations

import datetime as dt
import mailbox
import shlex
import subprocess
from pathlib import Path

from tests.integration.conftest import PASSWORD, MailServer, require_tool
from tests.integration.test_imap_messages import BOB, imap_client, send, thai_message


def mbsync_config(
    server: MailServer,
    local: Path,
    *,
    channel: str = "Create Both\nExpunge Both",
) -> Path:
    """An mbsync setup for BOB: every folder, over implicit TLS; `channel` holds the
    channel's sync options (default: two-way, creating and expunging on both sides)."""
    config = server.root / "mbsyncrc"
    config.write_text(
        f"""IMAPAccount test
Host 127.0.0.1
Port {server.imaps_port}
User {BOB}
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {server.data_dir / "certs" / "server.crt"}

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel backup
Far :remote:
Near :local:
Patterns *
{channel}
SyncState *
"""
    )
    return config


def run_mbsync(config: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    mbsync = require_tool("mbsync")
    result = subprocess.run(
        [mbsync, "-c", str(config), "-a"], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_mbsync_backup_of_a_departed_account(server: MailServer, tmp_path: Path) -> None:
    """Memo 4.1: a leaver backs up every folder during the grace window."""
    for n in range(3):
        send(server, thai_message(subject=f"backup {n}"))
    client = imap_client(server)
    client.create_folder("Projects")
    client.append("Projects", thai_message(subject="in a folder"))
    client.logout()
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    server.cli("account", "depart", BOB, "--date", yesterday.isoformat())
    local = tmp_path / "backup"
    local.mkdir()
    run_mbsync(mbsync_config(server, local))
    inbox = mailbox.Maildir(local / "INBOX", create=False)
    subjects = sorted(str(m["Subject"]) for m in inbox)
    assert subjects == ["backup 0", "backup 1", "backup 2"]
    projects = mailbox.Maildir(local / "Projects", create=False)
    assert [str(m["Subject"]) for m in projects] == ["in a folder"]


def test_mbsync_two_way_sync(server: MailServer, tmp_path: Path) -> None:
    send(server, thai_message(subject="from the server"))
    local = tmp_path / "sync"
    local.mkdir()
    config = mbsync_config(server, local)
    run_mbsync(config)
    inbox = mailbox.Maildir(local / "INBOX", create=False)
    (key,) = inbox.keys()
    # Local changes go up: mark read and add a message to Drafts.
    message = inbox[key]
    message.add_flag("S")
    inbox[key] = message
    drafts = mailbox.Maildir(local / "Drafts", create=False)
    draft = mailbox.MaildirMessage(thai_message(subject="local draft"))
    draft.set_subdir("cur")
    drafts.add(draft)
    run_mbsync(config)
    client = imap_client(server)
    client.select_folder("INBOX")
    (uid,) = client.search("ALL")
    assert b"\\Seen" in client.get_flags([uid])[uid]
    client.select_folder("Drafts")
    assert len(client.search("ALL")) == 1
    client.logout()


def test_neomutt_reads_a_message_in_batch_mode(server: MailServer, tmp_path: Path) -> None:
    neomutt = require_tool("neomutt")
    send(server, thai_message(subject="for neomutt"))
    muttrc = tmp_path / "muttrc"
    muttrc.write_text(
        f"""set folder="imaps://{BOB}@127.0.0.1:{server.imaps_port}/"
set imap_pass="{PASSWORD}"
set spoolfile="+INBOX"
set ssl_verify_host=no
set certificate_file="{tmp_path / "certs"}"
set ssl_starttls=no
set header_cache=""
set message_cachedir=""
"""
    )
    # Trust the generated certificate the way an operator would: pin it in the cert file.
    (tmp_path / "certs").write_bytes((server.data_dir / "certs" / "server.crt").read_bytes())
    output = tmp_path / "out.txt"
    # neomutt needs a terminal (without one it switches to sending mail): `script` gives it a
    # pseudo-terminal; the pushed keys pipe the first message to a file and quit.
    command = shlex.join(
        [
            neomutt,
            "-n",
            "-F",
            str(muttrc),
            "-e",
            f"push '<pipe-message>cat > {output}<enter><exit>'",
        ]
    )
    result = subprocess.run(
        [require_tool("script"), "-qec", command, "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env={"TERM": "xterm", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert output.exists(), result.stdout + result.stderr
    assert "Subject: for neomutt" in output.read_text(errors="replace")
