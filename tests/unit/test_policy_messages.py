"""User-facing messages: English and Thai, one line each, saying whom to contact."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from policy import bad_credentials, decide, directory_unavailable, rules
from policy.engine import relay_denied, too_many_recipients, unknown_recipient
from policy.messages import TEMPLATES, render, render_one_line, reply_text
from policy.model import Account, AccountStatus, Action, Decision, Request, Service, Verdict

CONTACT = {"en": "the Database Section, tel. 08 1619 9209", "th": "ฝ่ายฐานข้อมูล โทร. 08 1619 9209"}
NOW = datetime(2026, 6, 15, tzinfo=UTC)
USER = Account(login="somchai", address="somchai@bangkok.go.th", unit="finance")
THAI_CHARS = range(0x0E00, 0x0E80)


def has_thai(text: str) -> bool:
    return any(ord(c) in THAI_CHARS for c in text)


def sample_decisions() -> list[Decision]:
    """One decision per reason code and verdict the engine produces."""
    departed = replace(USER, status=AccountStatus.DEPARTED, separation_date=date(2026, 5, 1))
    return [
        decide(USER, Request(Action.LOGIN, Service.IMAP), NOW),
        decide(departed, Request(Action.LOGIN, Service.IMAP), NOW),
        decide(departed, Request(Action.SEND, Service.SMTP), NOW),
        decide(
            replace(departed, separation_date=date(2025, 1, 1)),
            Request(Action.LOGIN, Service.IMAP),
            NOW,
        ),
        decide(
            replace(USER, status=AccountStatus.PENDING), Request(Action.LOGIN, Service.IMAP), NOW
        ),
        decide(
            replace(USER, status=AccountStatus.LOCKED, status_reason="phishing"),
            Request(Action.LOGIN, Service.IMAP),
            NOW,
        ),
        decide(
            replace(USER, status=AccountStatus.SUSPENDED, status_reason="ใช้งานผิดวัตถุประสงค์"),
            Request(Action.SEND, Service.SMTP),
            NOW,
        ),
        decide(
            replace(USER, status=AccountStatus.CLOSED), Request(Action.LOGIN, Service.IMAP), NOW
        ),
        decide(replace(USER, imap_enabled=False), Request(Action.LOGIN, Service.POP3), NOW),
        decide(USER, Request(Action.SEND, Service.SMTP, sender=""), NOW),
        decide(USER, Request(Action.SEND, Service.SMTP, sender="mayor@bangkok.go.th"), NOW),
        decide(USER, Request(Action.SEND, Service.SMTP, header_from=("mayor@bangkok.go.th",)), NOW),
        rules.deny(
            rules.SEND_DISABLED,
            rules.RULE_SENDER,
            rules.REASON_ROLE_DISABLED,
            {"address": "finance@bangkok.go.th"},
        ),
        rules.allow(
            Action.LOGIN,
            rules.RULE_ROLE_ORPHANED,
            rules.REASON_ROLE_ORPHANED,
            {"mailbox": "finance@bangkok.go.th"},
        ),
        rules.deny(
            rules.LOGIN_DISABLED,
            rules.RULE_ROLE_ORPHANED,
            rules.REASON_ROLE_ORPHANED,
            {"mailbox": "finance@bangkok.go.th"},
        ),
        bad_credentials(),
        directory_unavailable(Action.LOGIN),
        Decision(Verdict.DENY, "future-rule", "something_new", 550, "5.7.1"),
    ]


DECISIONS = sample_decisions()


@pytest.mark.parametrize("decision", DECISIONS, ids=[f"{d.reason}-{d.verdict}" for d in DECISIONS])
def test_render_both_languages(decision: Decision) -> None:
    english, thai = render(decision, ("en", "th"), CONTACT)
    assert english.isascii()
    for line in (english, thai):
        assert "\r" not in line and "\n" not in line
        assert "{" not in line and "}" not in line
    assert english.endswith("For help, contact the Database Section, tel. 08 1619 9209.")
    assert thai.endswith("กรุณาติดต่อ ฝ่ายฐานข้อมูล โทร. 08 1619 9209")
    assert has_thai(thai)


def test_every_reason_code_has_a_template_in_every_language() -> None:
    reasons = {v for k, v in vars(rules).items() if k.startswith("REASON_")}
    for templates in TEMPLATES.values():
        assert reasons <= set(templates)
    assert set(TEMPLATES["en"]) == set(TEMPLATES["th"])


def test_order_follows_the_languages_given() -> None:
    decision = bad_credentials()
    thai, english = render(decision, ("th", "en"), CONTACT)
    assert has_thai(thai) and english.startswith("Wrong username or password.")
    assert render(decision, ("en",), CONTACT) == [english]
    assert render(decision, (), CONTACT) == []


def test_departed_grace_shows_dates_in_iso_form() -> None:
    decision = DECISIONS[1]
    english, thai = render(decision, ("en", "th"), CONTACT)
    for line in (english, thai):
        assert "2026-05-01" in line  # separation date
        assert "2026-07-31" in line  # last day access is allowed
        assert "2026-08-01" in line  # access ends
    assert "read and back up your mail" in english
    assert "send" not in english
    denied_english, denied_thai = render(DECISIONS[2], ("en", "th"), CONTACT)
    assert "can no longer send mail" in denied_english
    assert "ไม่สามารถส่งอีเมลได้" in denied_thai


def test_status_reason_is_shown_where_the_language_can_show_it() -> None:
    english, thai = render(DECISIONS[5], ("en", "th"), CONTACT)
    assert "(reason: phishing)" in english and "phishing" in thai
    english, thai = render(DECISIONS[6], ("en", "th"), CONTACT)  # Thai reason text
    assert "reason" not in english and "?" not in english
    assert "ใช้งานผิดวัตถุประสงค์" in thai


def test_params_cannot_inject_lines() -> None:
    account = replace(USER, status=AccountStatus.SUSPENDED, status_reason="x\r\n250 OK\x00")
    decision = decide(account, Request(Action.LOGIN, Service.IMAP), NOW)
    for line in render(decision, ("en", "th"), {"en": "ops\r\nX", "th": "ทีม\nY"}):
        assert "\r" not in line and "\n" not in line and "\x00" not in line


def test_sender_messages_name_the_address() -> None:
    english, thai = render(DECISIONS[10], ("en", "th"), CONTACT)
    assert "mayor@bangkok.go.th" in english and "mayor@bangkok.go.th" in thai


def test_missing_or_unusable_contact_falls_back_to_the_default() -> None:
    english, thai = render(bad_credentials(), ("en", "th"), {})
    assert english.endswith("contact the Database Section mail administrators.")
    assert thai.endswith("ผู้ดูแลระบบ ฝ่ายฐานข้อมูล")
    (english,) = render(bad_credentials(), ("en",), {"en": "ผู้ดูแล"})
    assert english.isascii() and "Database Section" in english


def test_unknown_language_falls_back_to_english_and_tags_are_normalised() -> None:
    fr, th = render(bad_credentials(), ("fr", "th-TH"), CONTACT)
    assert fr.startswith("Wrong username or password.")
    assert has_thai(th)


@pytest.mark.parametrize(
    ("decision", "text"),
    [
        (
            rules.deny(rules.MAILBOX_UNKNOWN, rules.RULE_CLOSED, rules.REASON_CLOSED),
            "No such user here",
        ),
        (
            rules.deny(rules.MAILBOX_DISABLED, rules.RULE_SUSPENDED, rules.REASON_SUSPENDED),
            "Mailbox disabled, not accepting messages",
        ),
        (bad_credentials(), "Authentication credentials invalid"),
        (directory_unavailable(Action.RECEIVE), "Temporary system problem, try again later"),
        (rules.allow(Action.RECEIVE), "OK"),
    ],
)
def test_reply_text_for_peers(decision: Decision, text: str) -> None:
    assert reply_text(decision) == text


@pytest.mark.parametrize("languages", [("en", "th"), ("th", "en")])
def test_one_line_holds_every_language_in_order(languages: tuple[str, str]) -> None:
    suspended = decide(
        replace(USER, status=AccountStatus.SUSPENDED, status_reason="compromised"),
        Request(Action.LOGIN, Service.IMAP),
        NOW,
    )
    lines = render(suspended, languages, CONTACT)
    line = render_one_line(suspended, languages, CONTACT)
    assert line == " / ".join(lines)
    assert line.index(lines[0]) < line.index(lines[1])
    assert "\r" not in line and "\n" not in line


def test_one_line_without_languages_is_english() -> None:
    assert render_one_line(bad_credentials(), (), CONTACT).startswith("Wrong username")


def test_peer_texts_for_the_envelope() -> None:
    assert reply_text(relay_denied("x@example.com")).startswith("Relaying denied")
    assert reply_text(too_many_recipients(50)) == "Too many recipients (at most 50 per message)"
    assert reply_text(unknown_recipient("x@bangkok.go.th")) == "No such user here"
