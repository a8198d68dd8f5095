"""The no-password-in-any-log check that the test of every auth path runs: SMTP AUTH,
IMAP LOGIN and AUTHENTICATE, POP3 USER/PASS and AUTH (aiosmtpd's tests do the same
with `assert_nopassleak`).

A password leaks in other forms than the one typed: escaped by JSON or repr(),
quoted as IMAP sends it, percent-encoded, or in base64 as SASL carries it. So the
check looks for each of those forms in every file under the server's root (the policy
log and its rotated days, the spool, the store, the state files, the directory
database, whose argon2 hash never contains the password) and in what the server
printed on stdout and stderr.
"""

from __future__ import annotations

import base64
import gzip
import json
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import MailServer

# Passwords whose forms differ from their text: quotes and backslashes (IMAP quoting,
# JSON, repr), a space and "+/=%" (the URL and base64 alphabets); Thai, accented Latin,
# a symbol and an emoji (UTF-8, \u escapes, an IMAP literal). Each starts and ends with
# a word found nowhere else, so a password cut short, or escaped twice, still shows.
TRICKY_PASSWORDS = (
    pytest.param("Canary7Qz \"quoted\" and \\back\\slash + /=% 'single' Tail7Qz", id="quotes"),
    pytest.param("Canary8Xw รหัสผ่าน-ลับ Grüße €uro 😀 Tail8Xw", id="thai-utf8"),
)

# attempt(server, method, login, password): True if the server let the client in.
Attempt = Callable[[MailServer, str, str, str], bool]


def sasl_plain(login: str, password: str) -> str:
    """The base64 SASL PLAIN response (RFC 4616) with an empty authorisation identity."""
    return base64.b64encode(f"\0{login}\0{password}".encode()).decode()


def _base64_forms(secret: str, logins: Iterable[str]) -> list[str]:
    raw = [secret.encode()]
    for login in logins:
        raw += [f"\0{login}\0{secret}".encode(), f"{login}\0{login}\0{secret}".encode()]
    # Without the padding: a log that strips or splits it still matches.
    return [base64.b64encode(data).decode().rstrip("=") for data in raw]


def leak_forms(password: str, logins: Iterable[str]) -> set[bytes]:
    """Every form in which `password` (sent by or for `logins`) must not be found."""
    forms = [
        password,
        password.split()[0],  # the marker words: a password cut short or escaped twice
        password.split()[-1],
        json.dumps(password)[1:-1],  # \" \\ and \uXXXX escapes
        json.dumps(password, ensure_ascii=False)[1:-1],
        repr(password)[1:-1],
        repr(password.encode())[2:-1],  # b'...\xe0\xb8...'
        password.replace("\\", "\\\\").replace('"', '\\"'),  # an IMAP quoted string
        urllib.parse.quote(password),
        urllib.parse.quote_plus(password),
        *_base64_forms(password, logins),
    ]
    return {form.encode() for form in forms if form}


def _contents(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data  # a rotated day


def assert_no_password_in_any_log(server: MailServer, password: str, logins: Iterable[str]) -> None:
    """Stop the server (so every buffer is written), then assert that no form of
    `password` is in any file under its root: its data directory, stdout and stderr."""
    if server.process is not None and server.process.poll() is None:
        server.stop()
    written = sorted(p for p in server.root.rglob("*") if p.is_file())
    assert server.data_dir / "log" / "policy.log" in written
    assert server.stdout_path in written and server.stderr_path in written
    forms = leak_forms(password, logins)
    for path in written:
        data = _contents(path)
        for form in forms:
            assert form not in data, f"password leaked into {path} as {form!r}"


def assert_no_leak_on_any_attempt(
    make_server: Callable[..., MailServer],
    login: str,
    password: str,
    methods: Iterable[str],
    attempt: Attempt,
    event: str,
) -> list[dict[str, Any]]:
    """On a server that writes its diagnostics at DEBUG (the most it ever says), give
    `login` the `password`; log in by each method with it (let in), with a wrong one,
    as an unknown user and, once suspended, with it again (each refused). Then
    assert_no_password_in_any_log, and that each attempt is an `event` line of the
    policy log (so the check read real login lines); those lines."""
    server = make_server(log={"level": "DEBUG"})
    server.add_account(login, password=password)
    unknown = "nobody@" + login.partition("@")[2]
    methods = list(methods)
    right, wrong = (login, password, True), (login, password + "-wrong", False)
    for method in methods:
        for who, secret, let_in in (right, wrong, (unknown, password, False)):
            assert attempt(server, method, who, secret) is let_in, (method, who, secret)
    server.cli("account", "suspend", login, "--reason", "password leak test")
    for method in methods:
        assert attempt(server, method, login, password) is False, (method, "suspended")
    assert_no_password_in_any_log(server, password, [login, unknown])
    lines = [r for r in server.log_records() if r["event"] == event]
    assert len(lines) == 4 * len(methods)
    return lines
