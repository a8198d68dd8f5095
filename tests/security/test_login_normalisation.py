"""One login, one meaning: every protocol normalises a login the same way (over the wire).

Attack class: account confusion through login spelling. A login spelled with a Unicode
compatibility character (KELVIN SIGN U+212A for K, fullwidth letters) once logged in as
the ASCII account on SMTP and IMAP, and a trailing space was trimmed by SMTP AUTH but
refused by IMAP. The rules (mailserver/logins.py, docs/security.md "Logins"): ASCII
letters fold to lower case; nothing else is mapped; whitespace and control characters
are refused; a refused login gets the same answer as a wrong password.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import PASSWORD, MailServer
from tests.security.login_clients import ACCEPTED, ATTEMPTS, WRONG_LOGIN

pytestmark = pytest.mark.integration

KANYA = "kanya@bangkok.go.th"

# (the login as typed, the outcome every protocol must give with the right password)
SPELLINGS = [
    pytest.param(KANYA, ACCEPTED, id="as-stored"),
    pytest.param("KANYA@Bangkok.GO.TH", ACCEPTED, id="uppercase"),
    pytest.param("\u212aanya@bangkok.go.th", WRONG_LOGIN, id="kelvin-sign"),
    pytest.param("kanya@bang\u212aok.go.th", WRONG_LOGIN, id="kelvin-sign-in-domain"),
    pytest.param("\uff4b\uff41\uff4e\uff59\uff41@bangkok.go.th", WRONG_LOGIN, id="fullwidth"),
    pytest.param(KANYA + " ", WRONG_LOGIN, id="trailing-space"),
    pytest.param(" " + KANYA, WRONG_LOGIN, id="leading-space"),
    pytest.param("kanya@bangkok.go.th.", WRONG_LOGIN, id="trailing-dot"),
]


@pytest.fixture
def kanya(make_server) -> MailServer:
    server = make_server()
    server.add_account(KANYA)
    return server


@pytest.mark.parametrize(("typed", "expected"), SPELLINGS)
def test_a_spelling_fares_the_same_on_every_protocol(
    kanya: MailServer, typed: str, expected: str
) -> None:
    outcomes = {name: attempt(kanya, typed, PASSWORD) for name, attempt in ATTEMPTS.items()}
    assert outcomes == dict.fromkeys(ATTEMPTS, expected)


@pytest.mark.parametrize("control", ["\t", "\x7f", "\x1b"], ids=["tab", "del", "esc"])
def test_a_control_character_is_refused_on_every_protocol(kanya: MailServer, control: str) -> None:
    # Refused everywhere; how depends on the protocol's own grammar: POP3 refuses the
    # command line itself (RFC 1939 §3 lines carry no control characters), the others
    # answer it as a wrong login.
    outcomes = {
        name: attempt(kanya, KANYA + control, PASSWORD) for name, attempt in ATTEMPTS.items()
    }
    assert ACCEPTED not in outcomes.values(), outcomes
    assert {o for n, o in outcomes.items() if n != "pop3-user"} == {WRONG_LOGIN}


def test_a_refused_spelling_is_answered_like_an_unknown_user(kanya: MailServer) -> None:
    # Same answer as an unknown login and as a wrong password: the spelling rules do not
    # tell whether kanya exists.
    for name, attempt in ATTEMPTS.items():
        unknown = attempt(kanya, "nobody@bangkok.go.th", PASSWORD)
        wrong = attempt(kanya, KANYA, "not the password")
        kelvin = attempt(kanya, "\u212aanya@bangkok.go.th", PASSWORD)
        assert unknown == wrong == kelvin == WRONG_LOGIN, name


def test_the_policy_log_keeps_the_login_as_typed(kanya: MailServer) -> None:
    # Operators see what was sent (the audit trail), and that no account was matched.
    ATTEMPTS["imap-plain"](kanya, "\u212aanya@bangkok.go.th", PASSWORD)
    records = kanya.wait_for_log(
        lambda r: r.get("event") == "login" and r.get("login") == "\u212aanya@bangkok.go.th"
    )
    login = next(r for r in records if r.get("login") == "\u212aanya@bangkok.go.th")
    assert login.get("account") is None
    assert login["reason"] == "bad_credentials"


def test_the_cli_takes_the_same_spellings(kanya: MailServer) -> None:
    # The admin CLI normalises as the servers do: an uppercase login names kanya, a
    # KELVIN-SIGN one names nobody (it is refused, never mapped).
    shown = kanya.cli("account", "show", "KANYA@Bangkok.GO.TH")
    assert KANYA in shown.stdout
    refused = kanya.cli("account", "show", "\u212aanya@bangkok.go.th", check=False)
    assert refused.returncode != 0
    assert KANYA not in refused.stdout
