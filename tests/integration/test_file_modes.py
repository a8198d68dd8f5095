"""The data directory stays private under a umask of 022 (docs/security.md, "File permissions").

The fixture runs the server and the CLI with umask 022, under which a file created
with the default mode is readable by every local user.
"""

from __future__ import annotations

import imaplib
import stat
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from tests.integration.conftest import (
    PASSWORD,
    SERVER_UMASK,
    MailServer,
    checkout_env,
    client_tls_context,
)

BOB = "bob@bangkok.go.th"
CLI = [sys.executable, "-m", "mailserver.cli"]


def test_nothing_under_the_data_dir_is_open_to_group_or_others(server: MailServer) -> None:
    """After a send, its delivery and an IMAP login that reads it, every file and directory
    the server made (password hashes, policy log, spool, mail, TLS key) is its user's alone."""
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = "alice@bangkok.go.th", BOB, "modes"
    mail.set_content("private\n")
    server.submit(mail.as_bytes(), to=BOB)
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    imap.starttls(ssl_context=client_tls_context())
    imap.login(BOB, PASSWORD)
    imap.select("INBOX")
    assert imap.fetch("1", "(BODY[])")[0] == "OK"
    imap.logout()
    server.wait_for_log(lambda r: r["event"] == "logout" and r.get("protocol") == "imap")

    data = server.data_dir
    modes = {
        str(path.relative_to(data)): stat.S_IMODE(path.lstat().st_mode)
        for path in [data, *data.rglob("*")]
    }
    maildir = "mail/bangkok.go.th/bob/Maildir"
    for made in (
        ".",
        "directory.sqlite3",
        "directory.sqlite3-wal",
        "directory.sqlite3-shm",
        "log",
        "log/policy.log",
        "queue",
        "queue/messages",
        "certs/server.key",
        "certs/server.crt",
        "mail",
        "mail/bangkok.go.th",
        maildir,
        f"{maildir}/cur",
    ):
        assert made in modes, f"{made} was not created"
    assert [p for p in modes if p.startswith(f"{maildir}/cur/")], "the message is not in cur/"
    open_to_others = {path: oct(mode) for path, mode in modes.items() if mode & 0o077}
    assert open_to_others == {}


def test_the_data_directory_a_first_account_add_creates_is_private(tmp_path: Path) -> None:
    """`account add` before any `serve` creates the data directory (and its missing
    parents): under umask 022 they are 0700 and the password database 0600."""
    data = tmp_path / "srv" / "data"
    config = tmp_path / "mailserver.toml"
    config.write_text(
        f'[server]\ndata_dir = "{data}"\nhostname = "mail.test.example"\n'
        "[auth]\nargon2_memory_kib = 1024\nargon2_time_cost = 1\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [*CLI, "--config", str(config), "account", "add", BOB, "--password-stdin"],
        input=PASSWORD,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=checkout_env(),
        umask=SERVER_UMASK,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    modes = {
        str(path.relative_to(tmp_path)): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in [tmp_path / "srv", *(tmp_path / "srv").rglob("*")]
    }
    assert modes["srv"] == modes["srv/data"] == "0o700"
    assert modes["srv/data/directory.sqlite3"] == "0o600"
    assert {path: mode for path, mode in modes.items() if int(mode, 8) & 0o077} == {}
