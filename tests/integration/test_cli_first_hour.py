"""The traps of an administrator's first hour with `mailserver`, each closed.

Every test runs the real command as a subprocess in a temporary directory: where the
settings are found, no silent empty data directory, the hints and warnings `serve`
and `check-config` give, `| head`, and how a leaver is listed.
"""

from __future__ import annotations

import errno
import os
import pty
import shlex
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mailserver.config_source import ENV_VAR, SYSTEM_FILE
from policy.rules import departure_window
from policy.settings import PolicySettings
from tests.integration.conftest import PASSWORD, MailServer, checkout_env

BOB = "bob@bangkok.go.th"
CLI = [sys.executable, "-m", "mailserver.cli"]
FAST_HASHES = "[auth]\nargon2_memory_kib = 1024\nargon2_time_cost = 1\n"


def run(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    input: str | None = None,
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """This checkout's `mailserver ARGS` in `cwd`, with MAILSERVER_CONFIG only when `env`
    sets it."""
    environ = {k: v for k, v in checkout_env().items() if k != ENV_VAR} | (env or {})
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE} | popen
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=environ, input=input, text=True, timeout=60, **options
    )


def settings_in(directory: Path, data_dir: Path, extra: str = "") -> Path:
    """A mailserver.toml in `directory` keeping its data in `data_dir`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "mailserver.toml"
    path.write_text(
        f'[server]\ndata_dir = "{data_dir}"\nhostname = "mail.test.example"\n{extra}' + FAST_HASHES,
        encoding="utf-8",
    )
    return path


def add(login: str, *, cwd: Path, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    options = ["--config", str(config)] if config else []
    result = run(*options, "account", "add", login, "--password-stdin", cwd=cwd, input=PASSWORD)
    assert result.returncode == 0, result.stderr
    return result


def utc_today() -> date:
    return datetime.now(UTC).date()


# --- 1. the wrong directory ---------------------------------------------------------------

ADMIN_COMMANDS = [
    ("account", "list"),
    ("account", "show", BOB),
    ("account", "depart", BOB, "--date", "2026-01-15"),
    ("queue", "list"),
    ("queue", "stats"),
    ("logs", "tail"),
    ("lifecycle", "sweep"),
    ("export", BOB, "--format", "mbox", "-o", "bob.tar.gz"),
]


@pytest.mark.parametrize("command", ADMIN_COMMANDS, ids=" ".join)
def test_in_a_directory_without_settings_a_command_refuses_and_creates_nothing(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # A machine with a system-wide settings file is not "without settings": the CLI
    # rightly reads that file, so this test can only be run where there is none.
    assert not SYSTEM_FILE.exists(), f"run the suite on a machine without {SYSTEM_FILE}"
    result = run(*command, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert f"the data directory {tmp_path / 'var'} does not exist" in line
    assert "built-in defaults" in line and "--config" in line and ENV_VAR in line
    assert list(tmp_path.iterdir()) == []


def test_settings_in_the_working_directory_are_found_and_said(tmp_path: Path) -> None:
    here, data = tmp_path / "srv", tmp_path / "data"
    config = settings_in(here, data)
    first = add(BOB, cwd=here)
    assert first.stderr.splitlines() == [
        f"mailserver: using {config} (from the working directory);"
        f" creating the data directory {data}"
    ]
    listed = run("account", "list", cwd=here)
    assert listed.returncode == 0 and listed.stdout.split()[:3] == [BOB, "person", "active"]
    assert listed.stderr.splitlines() == [
        f"mailserver: using {config} (from the working directory); data directory {data}"
    ]
    assert add("carol@bangkok.go.th", cwd=here).stderr.count("creating") == 0


def test_the_environment_variable_names_the_settings_from_anywhere(tmp_path: Path) -> None:
    config = settings_in(tmp_path / "etc", tmp_path / "data")
    add(BOB, cwd=tmp_path, config=config)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    listed = run("account", "list", cwd=elsewhere, env={ENV_VAR: str(config)})
    assert listed.returncode == 0 and BOB in listed.stdout
    assert f"using {config} (from {ENV_VAR})" in listed.stderr
    typo = run("account", "list", cwd=elsewhere, env={ENV_VAR: str(tmp_path / "typo.toml")})
    assert (
        typo.returncode == 1 and "cannot read" in typo.stderr and f"from {ENV_VAR}" in typo.stderr
    )
    assert list(elsewhere.iterdir()) == []


def test_with_config_named_the_output_is_the_answer_alone(tmp_path: Path) -> None:
    """Scripts name the file: then stderr stays empty and stdout holds only the rows."""
    config = settings_in(tmp_path / "etc", tmp_path / "data")
    first = add(BOB, cwd=tmp_path, config=config)
    assert f"creating the data directory {tmp_path / 'data'}" in first.stderr
    listed = run("--config", str(config), "account", "list", cwd=tmp_path)
    assert listed.stderr == ""
    assert listed.stdout.splitlines()[0].split()[:3] == [BOB, "person", "active"]


def test_a_missing_data_directory_is_refused_even_with_config(tmp_path: Path) -> None:
    config = settings_in(tmp_path / "etc", tmp_path / "gone")
    result = run("--config", str(config), "queue", "list", cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert f"{tmp_path / 'gone'} does not exist; settings: {config}" in result.stderr
    assert not (tmp_path / "gone").exists()


# --- 2. serve's first-account hint --------------------------------------------------------


def test_the_first_account_hint_is_a_command_that_works_from_there(make_server: Any) -> None:
    server: MailServer = make_server(server={"local_domains": ["example.org"]})
    server.stop()
    report = server.stdout().splitlines()
    (hint,) = [line.strip() for line in report if " account add " in line]
    assert hint.endswith(" account add alice@example.org")
    assert f"--config {server.config}" in hint
    done = subprocess.run(
        [*shlex.split(hint), "--password-stdin"],
        cwd=server.root,
        env=checkout_env(),
        input=PASSWORD,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "added alice@example.org (active)\n"


# --- 3. a host name without a dot ---------------------------------------------------------


def test_check_config_warns_of_a_host_name_without_a_dot(tmp_path: Path) -> None:
    config = tmp_path / "m.toml"
    config.write_text('[server]\nhostname = "localhost"\n', encoding="utf-8")
    result = run("check-config", str(config), cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == f"{config}: ok\n"
    (warning,) = result.stderr.splitlines()
    assert warning.startswith(f"{config}: warning: server.hostname: 'localhost'")
    assert '[server] hostname = "mail.' in warning


def test_serve_warns_of_a_host_name_without_a_dot(make_server: Any) -> None:
    server: MailServer = make_server(server={"hostname": "mailhost"})
    server.stop()
    stderr = server.stderr_path.read_text()
    assert "mailserver: warning: server.hostname: 'mailhost' is not a fully qualified" in stderr
    assert 'hostname = "mail.' in stderr


# --- 4. files the settings name -----------------------------------------------------------


def test_a_missing_password_file_stops_check_config_and_serve_with_one_line(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "ldap.secret"
    config = settings_in(
        tmp_path,
        tmp_path / "var",
        '[directory]\nbackend = "ldap"\nldap_urls = ["ldap://127.0.0.1:1"]\n'
        "ldap_allow_cleartext = true\n"  # loopback: the one place cleartext is allowed
        f'ldap_base = "dc=bangkok,dc=go,dc=th"\nldap_bind_password_file = "{secret}"\n',
    )
    checked = run("check-config", cwd=tmp_path)
    assert checked.returncode == 1 and checked.stdout == ""
    assert checked.stderr == (
        f"{config}: directory.ldap_bind_password_file: {secret}: no such file\n"
    )
    served = run("--config", str(config), "serve", cwd=tmp_path)
    assert served.returncode == 1
    assert served.stderr == (
        f"mailserver: directory.ldap_bind_password_file: {secret}: no such file\n"
    )
    secret.write_text("s3cret\n")
    assert run("check-config", cwd=tmp_path).returncode == 0


# --- 5. `| head` ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [
        ("account", "list"),
        ("account", "show", BOB),
        ("queue", "stats"),
        ("logs", "tail"),
        ("lifecycle", "sweep", "--dry-run"),
        ("--help",),
    ],
    ids=" ".join,
)
def test_a_reader_that_went_away_ends_the_command_quietly(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    config = settings_in(tmp_path, tmp_path / "var")
    add(BOB, cwd=tmp_path, config=config)
    read_end, write_end = os.pipe()
    os.close(read_end)  # `head` has exited before we write
    try:
        result = run("--config", str(config), *command, cwd=tmp_path, stdout=write_end)
    finally:
        os.close(write_end)
    assert result.stderr == ""
    # 128 + SIGPIPE, as `yes | head` reports. For --help, argparse of Python 3.11.4 and
    # later drops the write error itself (0); before, our flush meets it (141).
    assert result.returncode in ((0, 141) if command == ("--help",) else (141,))


# --- 6. a leaver with a separation date still ahead ----------------------------------------


def test_a_future_separation_lists_as_active_with_its_dates(tmp_path: Path) -> None:
    """From `account depart --date` or the HR feed, a date ahead means still staff."""
    config = settings_in(tmp_path, tmp_path / "var")
    carol, dave = "carol@bangkok.go.th", "dave@bangkok.go.th"
    for login in (BOB, carol, dave):
        add(login, cwd=tmp_path, config=config)
    leaves = utc_today() + timedelta(days=20)
    left = utc_today() - timedelta(days=10)
    ends = {d: departure_window(d, PolicySettings()).isoformat() for d in (leaves, left)}

    def cli(*args: str) -> str:
        result = run("--config", str(config), *args, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        return result.stdout

    told = cli("account", "depart", BOB, "--date", leaves.isoformat())
    assert (
        told
        == f"{BOB} is now active (leaves {leaves}); departed from then, grace ends {ends[leaves]}\n"
    )
    feed = tmp_path / "hr.csv"
    feed.write_text(f"login,date,kind\n{carol},{leaves},resign\n", encoding="utf-8")
    cli("lifecycle", "apply", str(feed))
    told = cli("account", "depart", dave, "--date", left.isoformat())
    assert told == f"{dave} is now departed (separated {left}, grace ends {ends[left]})\n"

    for login in (BOB, carol):
        shown = cli("account", "show", login)
        assert f"status:           active (leaves {leaves})\n" in shown
        assert f"grace ends:       {ends[leaves]}\n" in shown
    rows = [line.split() for line in cli("account", "list").splitlines()]
    still_staff = ["person", "active", "(leaves", f"{leaves})", str(leaves), ends[leaves]]
    assert rows == [
        [BOB, *still_staff],
        [carol, *still_staff, "HR", "feed:", "resign"],
        [dave, "person", "departed", str(left), ends[left]],
    ]


def test_account_list_has_a_header_on_a_terminal_only(tmp_path: Path) -> None:
    config = settings_in(tmp_path, tmp_path / "var")
    add(BOB, cwd=tmp_path, config=config)
    piped = run("--config", str(config), "account", "list", cwd=tmp_path)
    assert piped.stdout.split()[0] == BOB
    controller, terminal = pty.openpty()
    try:
        result = run("--config", str(config), "account", "list", cwd=tmp_path, stdout=terminal)
        os.close(terminal)
        shown = _read_all(controller)
    finally:
        os.close(controller)
    assert result.returncode == 0
    header, row = shown.splitlines()
    assert header.split() == ["LOGIN", "KIND", "STATUS", "SEPARATION", "GRACE", "ENDS"]
    assert row.split()[0] == BOB


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError as exc:  # the terminal's other end is closed: all read
            if exc.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()
