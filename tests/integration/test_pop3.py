"""POP3 against the real server with Python's poplib: STLS and implicit TLS, USER/PASS and
AUTH PLAIN, STAT/LIST/UIDL/TOP/RETR of mail delivered by SMTP, DELE/RSET/QUIT, the policy
(suspended, departed in grace, kicked), the maildrop lock, bad input, and the policy log."""

from __future__ import annotations

import datetime as dt
import poplib
from collections.abc import Callable
from email.message import EmailMessage

import pytest

from tests.integration.conftest import PASSWORD, MailServer, client_tls_context
from tests.integration.leaks import (
    TRICKY_PASSWORDS,
    assert_no_leak_on_any_attempt,
    sasl_plain,
)
from tests.waiting import wait_until

ALICE, BOB = "alice@bangkok.go.th", "bob@bangkok.go.th"


def message(n: int, body: str = "hello") -> bytes:
    msg = EmailMessage()
    msg["From"] = ALICE
    msg["To"] = BOB
    msg["Subject"] = f"message {n}"
    msg["Message-ID"] = f"<pop3-{n}@bangkok.go.th>"
    msg.set_content(body)
    return msg.as_bytes().replace(b"\n", b"\r\n")


def send(server: MailServer, content: bytes, to: str = BOB) -> None:
    server.submit(content, to)


def plain_client(server: MailServer) -> poplib.POP3:
    """A POP3 client on the plain port, upgraded with STLS (RFC 2595 §4)."""
    pop = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=10)
    pop.stls(context=client_tls_context())
    return pop


def tls_client(server: MailServer, login: str | None = BOB) -> poplib.POP3_SSL:
    """A POP3 client over implicit TLS, logged in as `login` unless it is None."""
    pop = poplib.POP3_SSL(
        "127.0.0.1", server.ports["pop3s"], context=client_tls_context(), timeout=10
    )
    if login is not None:
        pop.user(login)
        pop.pass_(PASSWORD)
    return pop


def events(server: MailServer, name: str) -> list[dict]:
    return [r for r in server.log_records() if r["event"] == name and r.get("protocol") == "pop3"]


def test_stat_list_uidl_top_retr_of_delivered_mail(server: MailServer) -> None:
    sent = [message(1, "first\n.leading dot\n..two dots\n"), message(2, "second")]
    for content in sent:
        send(server, content)
    pop = plain_client(server)
    pop.user(BOB)
    assert pop.pass_(PASSWORD).startswith(b"+OK")
    count, octets = pop.stat()
    _, listing, _ = pop.list()
    sizes = [int(line.split()[1]) for line in listing]
    assert count == 2 and octets == sum(sizes)
    assert pop.list(2).split()[1:] == listing[1].split()
    _, uidls, _ = pop.uidl()
    assert [line.split()[0] for line in uidls] == [b"1", b"2"]
    assert len({line.split()[1] for line in uidls}) == 2
    assert pop.uidl(1).split()[1:] == uidls[0].split()
    for number, content in enumerate(sent, 1):
        _, lines, size = pop.retr(number)
        whole = b"\r\n".join(lines) + b"\r\n"
        assert whole.endswith(content)  # trace headers first, then exactly what was sent
        assert size == sizes[number - 1]
    _, head, _ = pop.top(1, 0)
    assert b"Subject: message 1" in head and head[-1] == b""
    _, head_and_one, _ = pop.top(1, 1)
    assert head_and_one[len(head)] == b"first"
    assert pop.quit().startswith(b"+OK")
    retrs = events(server, "retr")
    assert len(retrs) == 2 and all(r["login"] == BOB and r["size"] > 0 for r in retrs)


def test_dele_and_quit_remove_rset_undoes(server: MailServer) -> None:
    for n in range(3):
        send(server, message(n))
    pop = tls_client(server)
    _, uidls, _ = pop.uidl()
    pop.dele(1)
    pop.rset()
    pop.dele(2)
    with pytest.raises(poplib.error_proto, match="deleted"):
        pop.retr(2)
    assert pop.stat()[0] == 2
    pop.quit()
    pop = tls_client(server)
    _, after, _ = pop.uidl()
    kept = [line.split()[1] for line in after]
    assert kept == [uidls[0].split()[1], uidls[2].split()[1]]
    pop.quit()


def test_dropped_connection_deletes_nothing(server: MailServer) -> None:
    send(server, message(1))
    pop = tls_client(server)
    pop.dele(1)
    pop.close()  # no QUIT: RFC 1939 §6, no UPDATE state
    wait_until(lambda: len(events(server, "logout")) == 1)
    pop = tls_client(server)
    assert pop.stat()[0] == 1
    pop.quit()


def test_maildrop_is_a_snapshot_at_login(server: MailServer) -> None:
    send(server, message(1))
    pop = tls_client(server)
    send(server, message(2))
    assert pop.stat()[0] == 1
    pop.quit()
    pop = tls_client(server)
    assert pop.stat()[0] == 2
    pop.quit()


def test_uidls_survive_a_restart(server: MailServer) -> None:
    for n in range(2):
        send(server, message(n))
    pop = tls_client(server)
    before = pop.uidl()[1]
    pop.quit()
    server.stop()
    server.start()
    pop = tls_client(server)
    assert pop.uidl()[1] == before
    pop.quit()


def test_retr_does_not_mark_seen(server: MailServer) -> None:
    import imaplib

    send(server, message(1))
    pop = tls_client(server)
    pop.retr(1)
    pop.quit()
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=client_tls_context())
    imap.login(BOB, PASSWORD)
    imap.select("INBOX")
    _, data = imap.fetch("1", "(FLAGS)")
    assert b"\\Seen" not in data[0]
    imap.logout()


def test_credentials_refused_before_stls(server: MailServer) -> None:
    pop = poplib.POP3("127.0.0.1", server.ports["pop3"], timeout=10)
    caps = pop.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\].*STLS"):
        pop.user(BOB)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop._shortcmd("AUTH PLAIN " + sasl_plain(BOB, PASSWORD))
    pop.stls(context=client_tls_context())
    caps = pop.capa()
    assert "STLS" not in caps and "USER" in caps and caps["SASL"] == ["PLAIN"]
    pop.user(BOB)
    assert pop.pass_(PASSWORD).startswith(b"+OK")
    pop.quit()


def test_auth_plain_with_initial_response_and_with_continuation(server: MailServer) -> None:
    pop = tls_client(server, login=None)
    assert pop._shortcmd("AUTH PLAIN " + sasl_plain(BOB, PASSWORD)).startswith(b"+OK")
    assert pop.stat() == (0, 0)
    pop.quit()
    pop = tls_client(server, login=None)
    pop._putcmd("AUTH PLAIN")
    assert pop._getline()[0] == b"+ "
    pop._putcmd(sasl_plain(BOB, PASSWORD))
    assert pop._getresp().startswith(b"+OK")
    pop.quit()


def test_wrong_password_is_refused_with_auth_code(server: MailServer) -> None:
    pop = tls_client(server, login=None)
    pop.user(BOB)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.pass_("wrong password")
    record = events(server, "login")[-1]
    assert (record["result"], record["reason"]) == ("deny", "bad_credentials")
    pop.user(BOB)  # back in AUTHORIZATION, a new attempt works
    assert pop.pass_(PASSWORD).startswith(b"+OK")
    pop.quit()


def test_suspended_account_is_refused_with_auth_code(server: MailServer) -> None:
    server.cli("account", "suspend", BOB, "--reason", "compromised")
    pop = tls_client(server, login=None)
    pop.user(BOB)
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\].*suspended"):
        pop.pass_(PASSWORD)
    record = events(server, "login")[-1]
    assert (record["result"], record["reason"]) == ("deny", "account_suspended")
    pop.quit()


def test_departed_user_in_grace_is_told_when_access_ends(server: MailServer) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    server.cli("account", "depart", BOB, "--date", yesterday.isoformat())
    send(server, message(1))
    pop = tls_client(server, login=None)
    pop.user(BOB)
    reply = pop.pass_(PASSWORD)
    record = events(server, "login")[-1]
    assert record["result"] == "allow" and record["reason"] == "departed_grace"
    assert reply.startswith(b"+OK") and b"back up" in reply
    assert record["access_ends"].encode() in reply
    assert pop.retr(1)[0].startswith(b"+OK")  # memo 4.1: leavers back up their mail
    pop.quit()


def test_suspension_kicks_a_live_session(server: MailServer) -> None:
    pop = tls_client(server)
    assert pop.stat() == (0, 0)
    server.cli("account", "suspend", BOB, "--reason", "compromised")
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        pop.stat()
    kick = events(server, "kick")[-1]
    assert kick["login"] == BOB and kick["reason"] == "account_suspended"


def test_second_session_of_a_maildrop_is_in_use(server: MailServer) -> None:
    first = tls_client(server)
    second = tls_client(server, login=None)
    second.user(BOB)
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        second.pass_(PASSWORD)
    first.quit()
    second.user(BOB)
    assert second.pass_(PASSWORD).startswith(b"+OK")
    second.quit()


def test_garbage_and_over_long_lines_get_err_and_the_session_continues(
    server: MailServer,
) -> None:
    pop = tls_client(server, login=None)
    for line in ("FROB", "STAT", "RETR 1", "USER", "PASS secret", "APOP bob 0123"):
        with pytest.raises(poplib.error_proto):
            pop._shortcmd(line)
    pop.sock.sendall(b"\x00\xff\xfe binary\r\n")
    with pytest.raises(poplib.error_proto):
        pop._getresp()
    with pytest.raises(poplib.error_proto, match="too long"):
        pop._shortcmd("NOOP " + "x" * 5000)
    pop.user(BOB)
    pop.pass_(PASSWORD)
    for line in ("RETR 0", "RETR 1", "RETR x", "TOP 1", "LIST -1", "USER bob"):
        with pytest.raises(poplib.error_proto):
            pop._shortcmd(line)
    assert pop.noop().startswith(b"+OK")
    pop.quit()


def test_policy_log_has_the_session(server: MailServer) -> None:
    send(server, message(1))
    pop = plain_client(server)
    pop.user(BOB)
    pop.pass_(PASSWORD)
    pop.retr(1)
    pop.quit()
    (login,) = events(server, "login")
    assert login["rule"] and login["result"] == "allow" and login["tls"]
    ended = server.wait_for_log(  # the server writes it after the client has gone
        lambda r: r["event"] == "disconnect" and r.get("session") == login["session"]
    )
    names = [r["event"] for r in ended if r.get("session") == login["session"]]
    assert names == ["connect", "login", "retr", "logout", "disconnect"]


POP3_LOGIN_METHODS = ("USER/PASS", "AUTH PLAIN", "AUTH PLAIN after a challenge")


def pop3_login(server: MailServer, method: str, login: str, password: str) -> bool:
    """One login over implicit TLS with poplib (it sends UTF-8): USER and PASS, or AUTH
    PLAIN with the initial response or after the `+` (RFC 5034); True on +OK."""
    pop = tls_client(server, login=None)
    try:
        if method == "USER/PASS":
            pop.user(login)
            pop.pass_(password)
        elif method == "AUTH PLAIN":
            pop._shortcmd("AUTH PLAIN " + sasl_plain(login, password))
        else:
            pop._putcmd("AUTH PLAIN")
            assert pop._getline()[0] == b"+ "
            pop._shortcmd(sasl_plain(login, password))
    except poplib.error_proto:
        return False
    finally:
        pop.quit()
    return True


@pytest.mark.parametrize("secret", TRICKY_PASSWORDS)
def test_no_password_in_any_log(make_server: Callable[..., MailServer], secret: str) -> None:
    """Every way to log in: right, wrong, unknown user, suspended; then every log."""
    assert_no_leak_on_any_attempt(make_server, BOB, secret, POP3_LOGIN_METHODS, pop3_login, "login")


def test_idle_session_is_closed(make_server: Callable[..., MailServer]) -> None:
    server = make_server(pop3={"idle_timeout_seconds": 0.5})
    server.add_account(BOB)
    pop = tls_client(server)
    assert pop.file.readline().startswith(b"-ERR")  # blocks until the server gives up
    assert pop.file.readline() == b""
    wait_until(lambda: events(server, "timeout"))
