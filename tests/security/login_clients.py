"""One login attempt per protocol and mechanism, each with a real client library.

Every attempt answers "accepted", "wrong-login" (the protocol's bad-credentials answer:
SMTP 535 5.7.8, IMAP NO [AUTHENTICATIONFAILED], POP3 -ERR [AUTH]) or the reply itself,
so tests can ask that a login fare the same on every protocol.
"""

from __future__ import annotations

import imaplib
import poplib
import smtplib
from base64 import b64encode
from collections.abc import Callable

from tests.integration.conftest import MailServer, client_tls_context
from tests.integration.leaks import sasl_plain

ACCEPTED, WRONG_LOGIN = "accepted", "wrong-login"
TIMEOUT = 10


def smtp_plain(server: MailServer, login: str, password: str) -> str:
    """SMTP AUTH PLAIN with an initial response (RFC 4954, RFC 4616), smtplib."""
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=TIMEOUT
    ) as smtp:
        smtp.ehlo()
        code, text = smtp.docmd("AUTH", "PLAIN " + sasl_plain(login, password))
    return _smtp_outcome(code, text)


def smtp_login(server: MailServer, login: str, password: str) -> str:
    """SMTP AUTH LOGIN (user name, then password, each base64), smtplib."""
    with smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions_port, context=client_tls_context(), timeout=TIMEOUT
    ) as smtp:
        smtp.ehlo()
        code, text = smtp.docmd("AUTH", "LOGIN " + _b64(login))
        if code == 334:
            code, text = smtp.docmd(_b64(password))
    return _smtp_outcome(code, text)


def imap_login(server: MailServer, login: str, password: str) -> str:
    """IMAP LOGIN (RFC 3501 §6.2.3) with both arguments quoted, imaplib."""

    def log_in(imap: imaplib.IMAP4_SSL) -> None:
        imap._encoding = "utf-8"  # a quoted string carries a UTF-8 login as it is sent
        imap.login(imap._quote(login), password)

    return _imap(server, log_in)


def imap_plain(server: MailServer, login: str, password: str) -> str:
    """IMAP AUTHENTICATE PLAIN (RFC 3501 §6.2.2, RFC 4616), imaplib."""
    credentials = f"\0{login}\0{password}".encode()
    return _imap(server, lambda imap: imap.authenticate("PLAIN", lambda _: credentials))


def pop3_user(server: MailServer, login: str, password: str) -> str:
    """POP3 USER and PASS (RFC 1939 §7), poplib."""
    return _pop3(server, lambda pop: (pop.user(login), pop.pass_(password)))


def pop3_plain(server: MailServer, login: str, password: str) -> str:
    """POP3 AUTH PLAIN with an initial response (RFC 5034), poplib."""
    return _pop3(server, lambda pop: pop._shortcmd("AUTH PLAIN " + sasl_plain(login, password)))


ATTEMPTS: dict[str, Callable[[MailServer, str, str], str]] = {
    "smtp-plain": smtp_plain,
    "smtp-login": smtp_login,
    "imap-login": imap_login,
    "imap-plain": imap_plain,
    "pop3-user": pop3_user,
    "pop3-plain": pop3_plain,
}


def _imap(server: MailServer, log_in: Callable[[imaplib.IMAP4_SSL], object]) -> str:
    """The outcome of `log_in` on a fresh implicit-TLS IMAP connection."""
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=client_tls_context())
    try:
        log_in(imap)
        return ACCEPTED
    except imaplib.IMAP4.error as exc:
        return WRONG_LOGIN if "[AUTHENTICATIONFAILED]" in str(exc) else str(exc)
    finally:
        imap.shutdown()


def _pop3(server: MailServer, log_in: Callable[[poplib.POP3_SSL], object]) -> str:
    """The outcome of `log_in` on a fresh implicit-TLS POP3 connection."""
    pop = poplib.POP3_SSL(
        "127.0.0.1", server.ports["pop3s"], context=client_tls_context(), timeout=TIMEOUT
    )
    try:
        log_in(pop)
        return ACCEPTED
    except poplib.error_proto as exc:
        text = exc.args[0].decode(errors="replace") if exc.args else ""
        return WRONG_LOGIN if text.startswith("-ERR [AUTH]") else text
    finally:
        pop.close()


def _b64(text: str) -> str:
    return b64encode(text.encode()).decode()


def _smtp_outcome(code: int, text: bytes) -> str:
    if code == 235:
        return ACCEPTED
    if code == 535 and text.startswith(b"5.7.8"):
        return WRONG_LOGIN
    return f"{code} {text.decode(errors='replace')}"
