"""The README's walkthrough, word for word, as a new user types it.

The commands are read out of README.md itself, so the README cannot drift from what
works: a clone root with `.venv/bin/mailserver`, `mailserver serve` with no settings
file (data under ./var), the two accounts added at the password prompt, swaks over
STARTTLS answering its own prompt, the message in Bob's Maildir, IMAP through
`openssl s_client`, then a suspension and its refusal in `logs tail -f`.

Only the port numbers are changed: the README's fixed ports (2587, 1993, ...) are
mapped to free ones through `MAILSERVER_CONFIG`, which holds nothing but the ports,
so a `make run` left running on the machine cannot collide with the test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.integration.conftest import free_port, require_tool
from tests.waiting import accepts_connections, wait_until

README = Path(__file__).resolve().parents[2] / "README.md"
REPO = README.parent
PASSWORDS = {
    "alice@bangkok.go.th": "alice's long password",
    "bob@bangkok.go.th": "bob's password 1",
}
# README's port table: the setting each default port belongs to.
PORT_SETTINGS = {
    2587: ("smtp", "submission_port"),
    2465: ("smtp", "submissions_port"),
    2525: ("mx", "port"),
    1143: ("imap", "port"),
    1993: ("imap", "tls_port"),
    1110: ("pop3", "port"),
    1995: ("pop3", "tls_port"),
}


def readme_blocks() -> list[list[str]]:
    """The shell blocks of the README, each as its commands (continuations joined, comments cut)."""
    blocks = re.findall(r"^```\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S)
    commands = []
    for block in blocks:
        joined = re.sub(r"\\\n\s*", " ", block)
        lines = [re.sub(r"\s+#.*$", "", line).strip() for line in joined.splitlines()]
        commands.append([line for line in lines if line])
    return commands


def block_starting(prefix: str) -> list[str]:
    for block in readme_blocks():
        if block and block[0].startswith(prefix):
            return block
    raise AssertionError(f"README has no block starting with {prefix!r}")


def readme_ports() -> set[int]:
    """Every port of the quick start's table (a new one must be mapped here too)."""
    table = README.read_text(encoding="utf-8").split("| port | what |")[1].split("\n\n")[0]
    return {int(port) for port in re.findall(r"^\| (\d+) \|", table, re.M)}


class Clone:
    """A directory laid out as the clone root a user types the README's commands in."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.ports = {default: free_port() for default in PORT_SETTINGS}
        settings: dict[str, dict[str, int]] = {}
        for default, (section, key) in PORT_SETTINGS.items():
            settings.setdefault(section, {})[key] = self.ports[default]
        lines = []
        for section, values in settings.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {value}" for key, value in values.items()]
        config = root.parent / "ports.toml"
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        # `.venv/bin/mailserver` as `make run` installs it, running this checkout's code.
        venv_bin = root / ".venv" / "bin"
        venv_bin.mkdir(parents=True)
        entry = venv_bin / "mailserver"
        entry.write_text(
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m mailserver.cli "$@"\n',
            encoding="utf-8",
        )
        entry.chmod(0o755)
        self.env = {
            **os.environ,
            "MAILSERVER_CONFIG": str(config),
            "PYTHONPATH": str(REPO),
            "TERM": "dumb",
        }

    def localise(self, command: str) -> str:
        """The README's command with each default port replaced by this clone's."""
        return re.sub(
            r"127\.0\.0\.1:(\d+)", lambda m: f"127.0.0.1:{self.ports[int(m[1])]}", command
        )

    def spawn(self, command: str) -> pexpect.spawn:
        return pexpect.spawn(
            "/bin/sh",
            ["-c", self.localise(command)],
            cwd=self.root,
            env=self.env,
            encoding="utf-8",
            timeout=30,
        )

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/bin/sh", "-c", self.localise(command)],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )


def listening(port: int, server: subprocess.Popen[bytes]) -> bool:
    assert server.poll() is None, "mailserver serve exited"
    return accepts_connections(port)


@pytest.fixture
def clone(tmp_path: Path) -> Iterator[Clone]:
    """`make run`'s server in a clone root: `mailserver serve`, no settings beyond the ports."""
    clone = Clone(tmp_path / "mailserver")
    server = subprocess.Popen(
        [str(clone.root / ".venv/bin/mailserver"), "serve"],
        cwd=clone.root,
        env=clone.env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "serve.stderr").open("wb"),
    )
    try:
        for port in clone.ports.values():
            wait_until(lambda p=port: listening(p, server), timeout=30, what=f"port {port}")
        yield clone
    finally:
        server.terminate()
        server.wait(30)


def answer_password(child: pexpect.spawn, password: str, prompts: int) -> str:
    for _ in range(prompts):
        child.expect("[Pp]assword: ")
        child.sendline(password)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    return child.before


def test_every_quick_start_port_is_mapped() -> None:
    assert readme_ports() == set(PORT_SETTINGS)


def test_readme_walkthrough_word_for_word(clone: Clone) -> None:
    require_tool("swaks")
    openssl = require_tool("openssl")
    add_alice, add_bob, swaks, ls = block_starting(".venv/bin/mailserver account add")

    for command in (add_alice, add_bob):
        login = shlex.split(command)[3]
        out = answer_password(clone.spawn(command), PASSWORDS[login], prompts=2)
        assert f"added {login}" in out

    out = answer_password(clone.spawn(swaks), PASSWORDS["alice@bangkok.go.th"], prompts=1)
    assert "250 " in out.split("DATA")[-1], out

    listing = wait_until(
        lambda: (done := clone.run(ls)).stdout.strip() and done,
        timeout=30,
        what="Bob's Maildir new/",
    )
    assert listing.returncode == 0

    # IMAP through openssl s_client, as the README says, with Bob's password for PASSWORD.
    match = re.search(r"`(openssl s_client [^`]+)`", README.read_text(encoding="utf-8"))
    assert match and match[1].split()[0] == "openssl"
    imap = clone.spawn(match[1].replace("openssl", shlex.quote(openssl), 1))
    imap.expect(r"\* OK")
    imap.sendline("a LOGIN bob@bangkok.go.th " + json.dumps(PASSWORDS["bob@bangkok.go.th"]))
    imap.expect(r"a OK")
    imap.sendline("b SELECT INBOX")
    imap.expect(r"\* 1 EXISTS")
    imap.expect(r"b OK")
    imap.sendline("c LOGOUT")
    imap.expect(pexpect.EOF)

    suspend, tail = block_starting(".venv/bin/mailserver account suspend")
    result = clone.run(suspend)
    assert result.returncode == 0, result.stderr
    watcher = clone.spawn(tail)
    try:
        # Alice tries to send again: refused, and the refusal shows in the tail.
        refused = clone.spawn(swaks)
        refused.expect("[Pp]assword: ")
        refused.sendline(PASSWORDS["alice@bangkok.go.th"])
        refused.expect(pexpect.EOF)
        refused.close()
        assert refused.exitstatus != 0
        # One aligned line: ... result, login, client, rule/reason (the suspension).
        watcher.expect(r"deny\s+alice@bangkok\.go\.th\s[^\r\n]*suspend")
    finally:
        watcher.terminate(force=True)
