"""The departure warning mail (mailserver/lifecycle/mail.py): the Subject and the body name
the same two days, the last day of access and the first day of the suspension, as the
policy's calendar computes them, in every language."""

from __future__ import annotations

import email
import re
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.policy import default

import pytest

from mailserver.lifecycle.mail import warning_mail
from policy.lifecycle import LifecycleRules, SweepState, WarnDeparting, plan_sweep
from policy.messages import ENGLISH, THAI
from policy.model import Account, AccountStatus
from policy.rules import departure_window, last_day_of_access
from policy.settings import PolicySettings

SETTINGS = PolicySettings()
# Separated on 30 November: the window's end clamps to the end of February (2027 is no
# leap year), so a re-computation that gets the month arithmetic wrong shows here.
SEPARATED = date(2026, 11, 30)
TODAY = date(2027, 2, 21)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# How each language labels the two days (the words of policy.messages.DEPARTURE_DATES).
LABELS = {
    ENGLISH: ("last day of access {}", "suspended from {}"),
    THAI: ("ใช้งานได้ถึงวันที่ {} (วันสุดท้าย)", "ระงับการใช้งานตั้งแต่วันที่ {}"),
}


def the_warning() -> WarnDeparting:
    """The warning the planner itself proposes for a user separated on SEPARATED."""
    account = Account(
        login="somchai@bangkok.go.th",
        address="somchai@bangkok.go.th",
        display_name="Somchai",
        status=AccountStatus.DEPARTED,
        separation_date=SEPARATED,
    )
    plan = plan_sweep([account], TODAY, SETTINGS, LifecycleRules(), SweepState())
    (warning,) = [a for a in plan.actions if isinstance(a, WarnDeparting)]
    return warning


def render(languages: tuple[str, ...]) -> EmailMessage:
    raw = warning_mail(
        the_warning(),
        sender="postmaster@bangkok.go.th",
        languages=languages,
        contact={},
        imap_host="mail.bangkok.go.th",
        imap_port=993,
        now=datetime(2027, 2, 21, 9, 0, tzinfo=UTC),
    )
    message = email.message_from_bytes(raw, policy=default)
    assert isinstance(message, EmailMessage)
    return message


@pytest.mark.parametrize("language", [ENGLISH, THAI])
def test_subject_and_body_name_the_same_two_days(language: str) -> None:
    suspended_from = departure_window(SEPARATED, SETTINGS)
    last_day = last_day_of_access(suspended_from)
    assert (last_day, suspended_from) == (date(2027, 2, 27), date(2027, 2, 28))
    message = render((language,))
    subject, body = str(message["Subject"]), message.get_content()
    last_label, suspended_label = LABELS[language]
    for text in (subject, body):
        assert last_label.format(last_day.isoformat()) in text
        assert suspended_label.format(suspended_from.isoformat()) in text
    # No other day creeps in: the Subject names exactly these two, the body also the
    # separation date.
    assert set(ISO_DATE.findall(subject)) == {last_day.isoformat(), suspended_from.isoformat()}
    assert set(ISO_DATE.findall(body)) == {
        SEPARATED.isoformat(),
        last_day.isoformat(),
        suspended_from.isoformat(),
    }


def test_both_languages_in_one_mail_agree() -> None:
    message = render((THAI, ENGLISH))
    subject, body = str(message["Subject"]), message.get_content()
    suspended_from = departure_window(SEPARATED, SETTINGS)
    both = {last_day_of_access(suspended_from).isoformat(), suspended_from.isoformat()}
    thai_subject, english_subject = subject.split(" / ")
    assert set(ISO_DATE.findall(thai_subject)) == both
    assert set(ISO_DATE.findall(english_subject)) == both
    assert body.index("เรียน Somchai") < body.index("Dear Somchai")
