"""A real Dovecot IMAP server for differential tests, started in a temp dir on a free port."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import free_port, require_tool
from tests.waiting import accepts_connections, wait_until

PASSWORD = "dovecot-test-password"


class Dovecot:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.config = root / "dovecot.conf"
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        # Mail is owned by an unprivileged user: Dovecot refuses mail access as root.
        nobody = pwd.getpwnam("nobody")
        home = self.root / "home"
        home.mkdir(parents=True)
        os.chown(home, nobody.pw_uid, nobody.pw_gid)
        for sub in ("run", "state"):
            (self.root / sub).mkdir()
        self.config.write_text(
            f"""
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
info_log_path = {self.root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:~/Maildir
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home={home}/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""
        )

    def start(self) -> None:
        dovecot = require_tool("dovecot")
        self.write_config()
        self.process = subprocess.Popen(
            [dovecot, "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        process = self.process

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"dovecot exited with {process.returncode}")
            return accepts_connections(self.port)

        try:
            wait_until(listening, 15, 0.05, what="dovecot to listen")
        except (RuntimeError, AssertionError):
            log = self.root / "dovecot.log"
            text = log.read_text() if log.exists() else ""
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"dovecot did not start: {err}{text}") from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    # Not under pytest's tmp_path: its parents are private to root, and Dovecot's mail
    # processes run as `nobody`, who must reach the mail directory.
    root = Path(tempfile.mkdtemp(prefix="dovecot-test-"))
    os.chmod(root, 0o755)
    server = Dovecot(root)
    server.start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)
