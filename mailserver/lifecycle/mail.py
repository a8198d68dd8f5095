"""The mails the sweep sends: a warning to a departing user, a report to the administrators.

Pure builders: values in, the message as bytes (CRLF lines) out, ready for the
spool. Both are marked `Auto-Submitted: auto-generated` (RFC 3834) and go out
with the null envelope sender, like a DSN, so no auto-reply or bounce loops back.
The warning has one part per language of `messages.languages` (English and Thai,
memo 6: it says whom to contact); the report is for operators, in English, with
a Thai summary line.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from policy.lifecycle import Orphan, ReportOrphans, WarnDeparting, describe_why
from policy.messages import DEFAULT_CONTACT, DEPARTURE_DATES, ENGLISH, THAI

_SUBJECT = {
    ENGLISH: "Your BMA e-mail account: {dates}. Back up your mail",
    THAI: "บัญชีอีเมลของท่าน: {dates} กรุณาสำรองอีเมล",
}

_WARNING = {
    ENGLISH: """\
Dear {name},

You are no longer BMA staff (since {separation_date}). Under the e-mail
service rules (memo clause 4.1) you can still read and back up the mail of
{address} for a short time ({days_text}):

    {dates}.

From the first day of the suspension you will no longer be able to log in.

Back up your mail before then, in any of these ways:

- A mail client (Thunderbird, Apple Mail, Outlook...) set up with IMAP
  (server {host}, port {port}, SSL/TLS): copy or drag every folder to a
  local folder ("Local Folders", "On My Computer").
- mbsync (isync): mirror every folder to a Maildir on your computer with a
  channel of "Patterns *" and `mbsync -a`.
- Outlook: File > Open & Export > Import/Export > Export to a file >
  Outlook Data File (.pst), with all folders and subfolders.
- Or ask the mail administrators to export the whole mailbox for you
  (they run `mailserver export`).

For help, contact {contact}.
""",
    THAI: """\
เรียน {name}

ท่านพ้นจากการเป็นบุคลากรของกรุงเทพมหานครแล้ว (ตั้งแต่วันที่ {separation_date})
ตามหลักเกณฑ์การให้บริการอีเมล ข้อ 4.1 ท่านยังสามารถอ่านและสำรองอีเมลของบัญชี
{address} ได้อีก {days} วัน

    {dates}

ตั้งแต่วันแรกที่ถูกระงับ ท่านจะไม่สามารถเข้าสู่ระบบได้อีก

กรุณาสำรองอีเมลของท่านก่อนวันดังกล่าว ด้วยวิธีใดวิธีหนึ่งต่อไปนี้

- โปรแกรมอีเมล (เช่น Thunderbird, Apple Mail, Outlook) ที่ตั้งค่าแบบ IMAP
  (เซิร์ฟเวอร์ {host} พอร์ต {port} แบบ SSL/TLS) แล้วคัดลอกทุกโฟลเดอร์
  ไปยังโฟลเดอร์ในเครื่อง (Local Folders)
- โปรแกรม mbsync (isync) คัดลอกทุกโฟลเดอร์มาเก็บเป็น Maildir ในเครื่อง
  (กำหนด Patterns * แล้วใช้คำสั่ง mbsync -a)
- Outlook: เลือก File > Open & Export > Import/Export > Export to a file >
  Outlook Data File (.pst) โดยเลือกทุกโฟลเดอร์
- หรือขอให้ผู้ดูแลระบบส่งออกกล่องจดหมายทั้งหมดให้ท่าน (คำสั่ง mailserver export)

หากต้องการความช่วยเหลือ กรุณาติดต่อ {contact}
""",
}


def warning_mail(
    warning: WarnDeparting,
    *,
    sender: str,
    languages: Sequence[str],
    contact: Mapping[str, str],
    imap_host: str,
    imap_port: int,
    now: dt.datetime,
) -> bytes:
    """The warning to a departing user: the last day of access, the first day of the
    suspension (the same words in the Subject and the body), and how to back up."""
    langs = [lang for lang in dict.fromkeys(languages) if lang in _WARNING] or [ENGLISH]
    params = {
        "name": warning.display_name or warning.address,
        "address": warning.address,
        "separation_date": warning.separation_date.isoformat(),
        "last_day": warning.last_day.isoformat(),
        "access_ends": warning.access_ends.isoformat(),
        "days": str(warning.days_left),
        "days_text": "1 day left" if warning.days_left == 1 else f"{warning.days_left} days left",
        "host": imap_host,
        "port": str(imap_port),
    }
    # The same words for the two days in the Subject, the body and the policy's refusals.
    dates = {lang: DEPARTURE_DATES[lang].format(**params) for lang in langs}
    parts = [
        _WARNING[lang].format(
            **params, dates=dates[lang], contact=contact.get(lang) or DEFAULT_CONTACT[lang]
        )
        for lang in langs
    ]
    subject = " / ".join(_SUBJECT[lang].format(dates=dates[lang]) for lang in langs)
    return _message(sender, warning.address, subject, "\n\n".join(parts), now)


def orphan_report_mail(
    report: ReportOrphans, *, sender: str, to: str, node: str, today: dt.date, now: dt.datetime
) -> bytes:
    """The administrators' report: each orphaned role mailbox, its unit, why, since when."""
    lines = [
        f"Role (unit) mailboxes without a responsible person, as of {today.isoformat()}",
        f"(lifecycle sweep on node {node}; memo clause 4.3).",
        "รายงานกล่องจดหมายของหน่วยงานที่ไม่มีผู้รับผิดชอบ (ข้อ 4.3)",
        "",
    ]
    if report.orphans:
        lines.append(f"Orphaned ({len(report.orphans)}): the unit must name a new responsible")
        lines.append("person (mailserver account set-responsible ROLE PERSON).")
        lines.append("")
        lines.extend(_orphan_lines(report.orphans))
    else:
        lines.append("No role mailbox is orphaned now.")
    if report.suspended:
        lines += ["", f"Suspended by this sweep, without notice ({len(report.suspended)}):", ""]
        lines.extend(_orphan_lines(report.suspended))
    if report.resolved:
        lines += ["", f"No longer orphaned since the last report ({len(report.resolved)}):", ""]
        lines.extend(f"  {login}" for login in report.resolved)
    subject = (
        f"Orphaned role mailboxes: {len(report.orphans)} orphaned, "
        f"{len(report.suspended)} suspended, {len(report.resolved)} resolved"
    )
    return _message(sender, to, subject, "\n".join(lines) + "\n", now)


def _orphan_lines(orphans: Sequence[Orphan]) -> list[str]:
    lines = []
    for orphan in orphans:
        since = orphan.since.isoformat() if orphan.since else f"unknown (seen {orphan.first_seen})"
        lines += [
            f"  {orphan.address}",
            f"    unit:        {orphan.unit or '-'}",
            f"    responsible: {orphan.responsible or '-'}",
            f"    why:         {describe_why(orphan)}",
            f"    since:       {since} ({orphan.days} days)",
        ]
    return lines


def _message(sender: str, to: str, subject: str, body: str, now: dt.datetime) -> bytes:
    message = EmailMessage(policy=SMTP)
    domain = sender.rpartition("@")[2] or "localhost"
    message["From"] = Address("Mail administrators", addr_spec=sender)
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now if now.tzinfo else now.replace(tzinfo=dt.UTC))
    message["Message-ID"] = f"<{uuid.uuid4().hex}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: do not answer automatically
    message.set_content(body, charset="utf-8")
    return message.as_bytes()
