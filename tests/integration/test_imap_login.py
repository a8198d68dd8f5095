"""IMAP connection and login commands with real clients: imaplib, imapclient, aioimaplib."""

from __future__ import annotations

import base64
import datetime as dt
import imaplib
import time
from typing import Any

import aioimaplib
import imapclient
import pytest

from tests.integration.conftest import PASSWORD, MailServer, client_tls_context
from tests.integration.leaks import TRICKY_PASSWORDS, assert_no_leak_on_any_attempt

ALICE, BOB = "alice@bangkok.go.th", "bob@bangkok.go.th"


def starttls_client(server: MailServer) -> imaplib.IMAP4:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    imap.starttls(ssl_context=client_tls_context())
    return imap


def test_login_disabled_before_starttls(server: MailServer) -> None:
    imap = imaplib.IMAP4("127.0.0.1", server.imap_port, timeout=10)
    assert "LOGINDISABLED" in imap.capabilities and "STARTTLS" in imap.capabilities
    assert not any(c.startswith("AUTH=") for c in imap.capabilities)
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        imap.login(ALICE, PASSWORD)
    imap.starttls(ssl_context=client_tls_context())
    imap.capabilities = imap.capability()[1][0].decode().split()
    assert "AUTH=PLAIN" in imap.capabilities and "LOGINDISABLED" not in imap.capabilities
    typ, _ = imap.login(ALICE, PASSWORD)
    assert typ == "OK"
    imap.logout()
    records = server.wait_for_log(lambda r: r["event"] == "logout")
    events = [(r["event"], r.get("result")) for r in records if r.get("protocol") == "imap"]
    assert ("login", "allow") in events and ("logout", None) in events


def test_implicit_tls_with_imapclient_authenticate_plain(server: MailServer) -> None:
    client = imapclient.IMAPClient(
        "127.0.0.1", port=server.imaps_port, ssl=True, ssl_context=client_tls_context()
    )
    client.plain_login(ALICE, PASSWORD)
    assert client.select_folder("INBOX")[b"EXISTS"] == 0
    client.logout()


async def test_aioimaplib_login_and_select(server: MailServer) -> None:
    client = aioimaplib.IMAP4_SSL(
        host="127.0.0.1", port=server.imaps_port, ssl_context=client_tls_context()
    )
    await client.wait_hello_from_server()
    response = await client.login(ALICE, PASSWORD)
    assert response.result == "OK"
    response = await client.select("INBOX")
    assert response.result == "OK"
    await client.logout()


@pytest.mark.parametrize("login", [ALICE, "nobody@bangkok.go.th"])
def test_wrong_password_and_unknown_user_look_alike(server: MailServer, login: str) -> None:
    imap = starttls_client(server)
    with pytest.raises(imaplib.IMAP4.error) as refused:
        imap.login(login, "wrong password")
    assert "AUTHENTICATIONFAILED" in str(refused.value)
    record = [r for r in server.log_records() if r["event"] == "login"][-1]
    assert record["result"] == "deny" and record["reason"] == "bad_credentials"


@pytest.mark.parametrize(
    ("command", "extra", "reason"),
    [
        ("suspend", ["--reason", "compromised"], "account_suspended"),
        ("lock", ["--reason", "phishing"], "account_locked"),
        ("depart", ["--date", "2020-01-31"], "departed_expired"),
    ],
)
def test_disabled_accounts_cannot_log_in(server: MailServer, command, extra, reason) -> None:
    server.cli("account", command, ALICE, *extra)
    imap = starttls_client(server)
    with pytest.raises(imaplib.IMAP4.error) as refused:
        imap.login(ALICE, PASSWORD)
    assert "CONTACTADMIN" in str(refused.value)
    record = [r for r in server.log_records() if r["event"] == "login"][-1]
    assert (record["result"], record["reason"]) == ("deny", reason)


def test_departed_user_in_grace_sees_an_alert(server: MailServer) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    server.cli("account", "depart", ALICE, "--date", yesterday.isoformat())
    imap = starttls_client(server)
    typ, _ = imap.login(ALICE, PASSWORD)
    assert typ == "OK"
    alerts = [line for line in imap.untagged_responses.get("OK", []) if b"[ALERT]" in line]
    assert alerts and any(b"back up" in line for line in alerts)
    assert imap.select("INBOX")[0] == "OK"
    imap.logout()


def test_authenticate_login_mechanism_with_challenges(server: MailServer) -> None:
    imap = starttls_client(server)
    answers = iter([ALICE.encode(), PASSWORD.encode()])
    typ, _ = imap.authenticate("LOGIN", lambda _challenge: next(answers))
    assert typ == "OK"
    imap.logout()


def test_commands_in_the_wrong_state_get_bad(server: MailServer) -> None:
    from tests.integration.test_imap_bad_input import Raw

    raw = Raw(server)
    assert b"t BAD" in raw.command(b"FETCH 1 (FLAGS)")
    assert b"t BAD" in raw.command(b"SELECT INBOX")
    raw.command(f'LOGIN {ALICE} "{PASSWORD}"'.encode())
    assert b"t BAD" in raw.command(b"FETCH 1 (FLAGS)")
    assert b"t BAD" in raw.command(b"LOGIN a b")
    reply = raw.command(b"NAMESPACE")
    assert b'* NAMESPACE (("" "/")) NIL NIL' in reply and b"t OK" in reply


# --- refusals carry every configured language in the text webmail shows ----------------------

SUSPENDED_EN = "Your account has been suspended (reason: compromised)."
SUSPENDED_TH = "บัญชีของท่านถูกระงับการใช้งาน (เหตุผล: compromised)"
DEPARTED_EN = "Your account has been suspended because you are no longer BMA staff"
DEPARTED_TH = "บัญชีของท่านถูกระงับการใช้งาน เนื่องจากท่านพ้นจากการเป็นบุคลากรของกรุงเทพมหานครแล้ว"


@pytest.fixture(params=[("en", "th"), ("th", "en")], ids=["en-th", "th-en"])
def bilingual(request: pytest.FixtureRequest, make_server: Any) -> MailServer:
    """A server with Thai and English configured (in both orders), with alice and bob."""
    mail = make_server(messages={"languages": list(request.param)})
    mail.add_account(ALICE)
    mail.add_account(BOB)
    return mail


def refusal_text(error: BaseException) -> str:
    """The text of imaplib's refusal: the tagged response's bytes, as UTF-8."""
    (raw,) = error.args
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


@pytest.mark.parametrize(
    ("command", "extra", "english", "thai"),
    [
        ("suspend", ["--reason", "compromised"], SUSPENDED_EN, SUSPENDED_TH),
        ("depart", ["--date", "2020-01-31"], DEPARTED_EN, DEPARTED_TH),
    ],
    ids=["suspended", "departed"],
)
def test_refused_login_names_every_language_in_the_tagged_no(
    bilingual: MailServer, command: str, extra: list[str], english: str, thai: str
) -> None:
    bilingual.cli("account", command, ALICE, *extra)
    imap = starttls_client(bilingual)
    with pytest.raises(imaplib.IMAP4.error) as refused:
        imap.login(ALICE, PASSWORD)
    text = refusal_text(refused.value)
    assert text.startswith("[CONTACTADMIN] ")
    assert english in text and thai in text
    assert " / " in text and "\r" not in text and "\n" not in text
    # Desktop clients still get one [ALERT] line per language.
    alerts = [line.decode() for line in imap.untagged_responses.get("OK", [])]
    assert any(english in a for a in alerts) and any(thai in a for a in alerts)


def test_wrong_password_and_suspension_are_worded_alike(bilingual: MailServer) -> None:
    imap = starttls_client(bilingual)
    with pytest.raises(imaplib.IMAP4.error) as refused:
        imap.login(ALICE, "wrong password")
    text = refusal_text(refused.value)
    assert "Wrong username or password." in text and "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง" in text


def test_kicked_session_bye_names_every_language(bilingual: MailServer) -> None:
    imap = starttls_client(bilingual)
    assert imap.login(ALICE, PASSWORD)[0] == "OK"
    assert imap.select("INBOX")[0] == "OK"
    bilingual.cli("account", "suspend", ALICE, "--reason", "compromised")
    bilingual.wait_for_log(lambda r: r["event"] == "admin")
    deadline = time.monotonic() + 10
    with pytest.raises(imaplib.IMAP4.abort):
        while time.monotonic() < deadline:  # until the server re-judges the session
            imap.noop()
    (bye,) = imap.untagged_responses["BYE"]
    text = bye.decode("utf-8")
    assert SUSPENDED_EN in text and SUSPENDED_TH in text and " / " in text


def test_departed_append_refusal_names_every_language(bilingual: MailServer) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    bilingual.cli("account", "depart", ALICE, "--date", yesterday.isoformat())
    imap = starttls_client(bilingual)
    assert imap.login(ALICE, PASSWORD)[0] == "OK"
    message = b"From: alice@bangkok.go.th\r\nSubject: keep\r\n\r\nbody\r\n"
    typ, data = imap.append("INBOX", None, None, message)
    assert typ == "NO"
    text = data[-1].decode("utf-8")
    assert text.startswith("[NOPERM] ")
    assert "this account can only read and back up mail now" in text
    assert "บัญชีนี้จึงอ่านและสำรองอีเมลได้เท่านั้น" in text
    imap.logout()


IMAP_LOGIN_METHODS = (
    "LOGIN",
    "AUTHENTICATE PLAIN",
    "AUTHENTICATE PLAIN SASL-IR",
    "AUTHENTICATE LOGIN",
    "AUTHENTICATE LOGIN SASL-IR",
)


def imap_login(server: MailServer, method: str, login: str, password: str) -> bool:
    """One login over STARTTLS with imaplib; True on the tagged OK.

    LOGIN sends an ASCII password as a quoted string (\\" and \\\\ escaped, RFC 3501 §4.3)
    and any other in a literal; AUTHENTICATE answers the `+` challenges, or with SASL-IR
    (RFC 4959) sends the first response on the command line."""
    imap = starttls_client(server)
    plain = f"\0{login}\0{password}".encode()
    steps: dict[str, tuple[str, bytes | None, list[bytes]]] = {
        "AUTHENTICATE PLAIN": ("PLAIN", None, [plain]),
        "AUTHENTICATE PLAIN SASL-IR": ("PLAIN", plain, []),
        "AUTHENTICATE LOGIN": ("LOGIN", None, [login.encode(), password.encode()]),
        "AUTHENTICATE LOGIN SASL-IR": ("LOGIN", login.encode(), [password.encode()]),
    }
    if method == "LOGIN" and password.isascii():
        args = ["LOGIN", imap._quote(login), imap._quote(password)]
    elif method == "LOGIN":
        imap.literal = password.encode()  # imaplib sends it as the last argument
        args = ["LOGIN", imap._quote(login)]
    else:
        mechanism, initial, answers = steps[method]
        replies = iter(answers)
        # How imaplib's authenticate() answers challenges, with the initial response added.
        imap.literal = imaplib._Authenticator(lambda _challenge: next(replies)).process
        args = ["AUTHENTICATE", mechanism]
        if initial is not None:
            args.append(base64.b64encode(initial).decode())
    typ, _ = imap._simple_command(*args)
    imap.logout()
    assert typ in ("OK", "NO"), typ
    return typ == "OK"


@pytest.mark.parametrize("secret", TRICKY_PASSWORDS)
def test_no_password_in_any_log(make_server, secret: str) -> None:
    """Every way to log in: right, wrong, unknown user, suspended; then every log."""
    methods = IMAP_LOGIN_METHODS
    logins = assert_no_leak_on_any_attempt(make_server, ALICE, secret, methods, imap_login, "login")
    assert {r["mechanism"] for r in logins} == {"LOGIN", "PLAIN"}
