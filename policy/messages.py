"""User-facing texts for each reason code, in English and Thai (memo 6, design principle 5).

`render` gives one line per language, each ending by saying how to reach the
administrators. Lines never contain CR or LF (they go into SMTP replies and IMAP
responses), and English lines are pure ASCII so they are safe in any SMTP reply.
`reply_text` gives a short, generic text for peers that are not our users (e.g. the
sender of a message to a disabled mailbox), who must not learn why it is disabled.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping

from policy import rules
from policy.model import Decision, Verdict

ENGLISH = "en"
THAI = "th"

# Memo 4.1: the two days that end a departed user's window, worded once per language for
# every text that names them (refusals here, the sweep's warning mail): the last day the
# account can be used, and the first day of its suspension (`rules.departure_window`).
DEPARTURE_DATES = {
    ENGLISH: "last day of access {last_day}, suspended from {access_ends}",
    THAI: "ใช้งานได้ถึงวันที่ {last_day} (วันสุดท้าย) ระงับการใช้งานตั้งแต่วันที่ {access_ends}",
}

# Keys are reason codes; "<reason>.deny" overrides the text when the verdict is not ALLOW.
TEMPLATES: dict[str, dict[str, str]] = {
    ENGLISH: {
        rules.REASON_OK: "Access granted.",
        rules.REASON_PENDING: (
            "Your account has not been approved yet, so it cannot be used for e-mail."
        ),
        rules.REASON_DEPARTED_GRACE: (
            "You are no longer BMA staff (since {separation_date}): you can still read and "
            "back up your mail; " + DEPARTURE_DATES[ENGLISH] + "."
        ),
        rules.REASON_DEPARTED_GRACE + ".deny": (
            "You are no longer BMA staff (since {separation_date}), so this account can no "
            "longer send mail; you can still read and back up your mail; "
            + DEPARTURE_DATES[ENGLISH]
            + "."
        ),
        rules.REASON_DEPARTED_EXPIRED: (
            "Your account has been suspended because you are no longer BMA staff{separation_part}."
        ),
        rules.REASON_LOCKED: (
            "Your account has been suspended on every BMA system for security reasons{reason_part}."
        ),
        rules.REASON_SUSPENDED: "Your account has been suspended{reason_part}.",
        rules.REASON_CLOSED: "Your account has been closed{reason_part}.",
        rules.REASON_ROLE_ORPHANED: (
            "The person responsible for the unit mailbox {mailbox} has moved or no longer "
            "holds that duty; the unit must name a new responsible person."
        ),
        rules.REASON_ROLE_ORPHANED + ".deny": (
            "The unit mailbox {mailbox} has been suspended because it has no responsible "
            "person; the unit must name a new responsible person."
        ),
        rules.REASON_ROLE_DISABLED: "The mailbox {address} cannot send mail at present.",
        rules.REASON_SENDER_NOT_OWNED: "You are not allowed to send mail as {address}.",
        rules.REASON_NULL_SENDER: (
            "Mail you send must carry a sender address; an empty sender is not allowed."
        ),
        rules.REASON_HEADER_FROM_NOT_OWNED: (
            "You are not allowed to use {address} in the From: field."
        ),
        rules.REASON_SERVICE_DISABLED: "Your account is not allowed to use {service}.",
        rules.REASON_BAD_CREDENTIALS: "Wrong username or password.",
        rules.REASON_MAILBOX_ELSEWHERE: (
            "Your mailbox is on the server {host}: set your mail program to read mail from {host}."
        ),
        rules.REASON_DIRECTORY_UNAVAILABLE: (
            "The account service is temporarily unavailable; please try again later."
        ),
        rules.REASON_UNKNOWN_RECIPIENT: "There is no mailbox {address} here.",
        rules.REASON_RECIPIENT_SYNTAX: "{address} is not a complete e-mail address.",
        rules.REASON_REMOTE_NOT_ENABLED: (
            "This server does not yet deliver to other domains ({address}); try again later."
        ),
        rules.REASON_TOO_MANY_RECIPIENTS: (
            "A message may have at most {limit} recipients; send it in several parts."
        ),
        rules.REASON_DEPARTED_READ_ONLY: (
            "You are no longer BMA staff: this account can only read and back up mail now,"
            " not store new messages."
        ),
        rules.REASON_RELAY: "Mail to {address} is delivered to the other organisation.",
        rules.REASON_RELAY_DENIED: (
            "This server accepts mail only for its own domains, not for {address}."
        ),
        rules.REASON_SENDER_SYNTAX: "The sender address {address} needs a domain.",
        rules.REASON_HELO_INVALID: (
            "The name your server gave ({helo}) is neither a domain name nor an address literal."
        ),
        rules.REASON_HELO_NOT_FQDN: (
            "The name your server gave ({helo}) is not a fully-qualified domain name."
        ),
        rules.REASON_HELO_OWN_NAME: "The name your server gave ({helo}) is this server's own name.",
        rules.REASON_STORAGE_LOW: (
            "The mail server is short of disk space and cannot take mail now; "
            "please try again later."
        ),
        rules.REASON_STORAGE_FULL: (
            "The mail server ran out of disk space and did not store this message; "
            "please try again later."
        ),
        rules.REASON_CONNECTIONS_PER_ADDRESS: (
            "Too many connections from your address are open; close some and try again."
        ),
        rules.REASON_CONNECTIONS_IN_ALL: (
            "The mail server has too many connections open; please try again later."
        ),
        "_reason_part": " (reason: {reason})",
        "_separation_part": " (since {separation_date})",
        "_contact": " For help, contact {contact}.",
        "_unknown": "Your request was refused ({code}).",
    },
    THAI: {
        rules.REASON_OK: "อนุญาตให้เข้าใช้งาน",
        rules.REASON_PENDING: "บัญชีของท่านยังไม่ได้รับการอนุมัติ จึงยังไม่สามารถใช้งานอีเมลได้",
        rules.REASON_DEPARTED_GRACE: (
            "ท่านพ้นจากการเป็นบุคลากรของกรุงเทพมหานครแล้ว (ตั้งแต่วันที่ {separation_date}) "
            "ท่านยังสามารถอ่านและสำรองอีเมลได้ " + DEPARTURE_DATES[THAI]
        ),
        rules.REASON_DEPARTED_GRACE + ".deny": (
            "ท่านพ้นจากการเป็นบุคลากรของกรุงเทพมหานครแล้ว (ตั้งแต่วันที่ {separation_date}) "
            "บัญชีนี้จึงไม่สามารถส่งอีเมลได้ ท่านยังสามารถอ่านและสำรองอีเมลได้ " + DEPARTURE_DATES[THAI]
        ),
        rules.REASON_DEPARTED_EXPIRED: (
            "บัญชีของท่านถูกระงับการใช้งาน เนื่องจากท่านพ้นจากการเป็นบุคลากรของกรุงเทพมหานครแล้ว{separation_part}"
        ),
        rules.REASON_LOCKED: (
            "บัญชีของท่านถูกระงับการใช้งานในทุกระบบของกรุงเทพมหานครด้วยเหตุผลด้านความปลอดภัย{reason_part}"
        ),
        rules.REASON_SUSPENDED: "บัญชีของท่านถูกระงับการใช้งาน{reason_part}",
        rules.REASON_CLOSED: "บัญชีของท่านถูกปิดแล้ว{reason_part}",
        rules.REASON_ROLE_ORPHANED: (
            "ผู้รับผิดชอบกล่องจดหมายของหน่วยงาน {mailbox} ได้ย้ายหรือพ้นจากหน้าที่นี้แล้ว "
            "หน่วยงานต้องแจ้งชื่อผู้รับผิดชอบคนใหม่"
        ),
        rules.REASON_ROLE_ORPHANED + ".deny": (
            "กล่องจดหมายของหน่วยงาน {mailbox} ถูกระงับการใช้งาน เนื่องจากไม่มีผู้รับผิดชอบ "
            "หน่วยงานต้องแจ้งชื่อผู้รับผิดชอบคนใหม่"
        ),
        rules.REASON_ROLE_DISABLED: "กล่องจดหมาย {address} ไม่สามารถส่งอีเมลได้ในขณะนี้",
        rules.REASON_SENDER_NOT_OWNED: "ท่านไม่มีสิทธิ์ส่งอีเมลในนามของ {address}",
        rules.REASON_NULL_SENDER: "อีเมลที่ท่านส่งต้องระบุที่อยู่ผู้ส่ง ไม่อนุญาตให้ใช้ที่อยู่ผู้ส่งว่าง",
        rules.REASON_HEADER_FROM_NOT_OWNED: ("ท่านไม่มีสิทธิ์ใช้ที่อยู่ {address} ในช่องผู้ส่ง (From:)"),
        rules.REASON_SERVICE_DISABLED: "บัญชีของท่านไม่ได้รับอนุญาตให้ใช้บริการ {service}",
        rules.REASON_BAD_CREDENTIALS: "ชื่อผู้ใช้หรือรหัสผ่านไม่ถูกต้อง",
        rules.REASON_MAILBOX_ELSEWHERE: (
            "กล่องจดหมายของท่านอยู่ที่เซิร์ฟเวอร์ {host} กรุณาตั้งค่าโปรแกรมอีเมลให้อ่านอีเมลจาก {host}"
        ),
        rules.REASON_DIRECTORY_UNAVAILABLE: ("ระบบบัญชีผู้ใช้ขัดข้องชั่วคราว กรุณาลองใหม่อีกครั้งภายหลัง"),
        rules.REASON_UNKNOWN_RECIPIENT: "ไม่มีกล่องจดหมาย {address} ในระบบนี้",
        rules.REASON_RECIPIENT_SYNTAX: "{address} ไม่ใช่ที่อยู่อีเมลที่สมบูรณ์",
        rules.REASON_REMOTE_NOT_ENABLED: (
            "ระบบนี้ยังไม่ส่งอีเมลไปยังโดเมนอื่น ({address}) กรุณาลองใหม่อีกครั้งภายหลัง"
        ),
        rules.REASON_TOO_MANY_RECIPIENTS: ("อีเมลหนึ่งฉบับมีผู้รับได้ไม่เกิน {limit} ราย กรุณาแบ่งส่งเป็นหลายฉบับ"),
        rules.REASON_DEPARTED_READ_ONLY: (
            "ท่านพ้นจากการเป็นบุคลากรของกรุงเทพมหานครแล้ว บัญชีนี้จึงอ่านและสำรองอีเมลได้เท่านั้น"
            " ไม่สามารถจัดเก็บจดหมายใหม่ได้"
        ),
        rules.REASON_RELAY: "อีเมลถึง {address} จะถูกส่งต่อไปยังหน่วยงานปลายทาง",
        rules.REASON_RELAY_DENIED: "เซิร์ฟเวอร์นี้รับอีเมลเฉพาะโดเมนของตนเอง ไม่รับอีเมลถึง {address}",
        rules.REASON_SENDER_SYNTAX: "ที่อยู่ผู้ส่ง {address} ต้องมีโดเมน",
        rules.REASON_HELO_INVALID: (
            "ชื่อที่เซิร์ฟเวอร์ของท่านแจ้ง ({helo}) ไม่ใช่ชื่อโดเมนหรือที่อยู่ IP ในวงเล็บที่ถูกต้อง"
        ),
        rules.REASON_HELO_NOT_FQDN: "ชื่อที่เซิร์ฟเวอร์ของท่านแจ้ง ({helo}) ไม่ใช่ชื่อโดเมนแบบเต็ม",
        rules.REASON_HELO_OWN_NAME: "ชื่อที่เซิร์ฟเวอร์ของท่านแจ้ง ({helo}) เป็นชื่อของเซิร์ฟเวอร์นี้เอง",
        rules.REASON_STORAGE_LOW: (
            "เซิร์ฟเวอร์อีเมลมีพื้นที่จัดเก็บไม่เพียงพอ จึงยังรับอีเมลไม่ได้ในขณะนี้ กรุณาลองใหม่อีกครั้งภายหลัง"
        ),
        rules.REASON_STORAGE_FULL: (
            "พื้นที่จัดเก็บของเซิร์ฟเวอร์อีเมลเต็ม อีเมลฉบับนี้จึงยังไม่ถูกบันทึก กรุณาลองใหม่อีกครั้งภายหลัง"
        ),
        rules.REASON_CONNECTIONS_PER_ADDRESS: (
            "มีการเชื่อมต่อจากที่อยู่ของท่านมากเกินไป กรุณาปิดการเชื่อมต่อบางส่วนแล้วลองใหม่"
        ),
        rules.REASON_CONNECTIONS_IN_ALL: ("เซิร์ฟเวอร์อีเมลมีการเชื่อมต่อมากเกินไป กรุณาลองใหม่อีกครั้งภายหลัง"),
        "_reason_part": " (เหตุผล: {reason})",
        "_separation_part": " (ตั้งแต่วันที่ {separation_date})",
        "_contact": " หากต้องการความช่วยเหลือ กรุณาติดต่อ {contact}",
        "_unknown": "คำขอของท่านถูกปฏิเสธ ({code})",
    },
}

DEFAULT_CONTACT = {
    ENGLISH: "the Database Section mail administrators",
    THAI: "ผู้ดูแลระบบ ฝ่ายฐานข้อมูล",
}

# Texts for SMTP peers that are about the peer's own request (nothing about our users),
# by reason code; ASCII. The wording of the HELO ones is Postfix's.
PEER_TEXTS = {
    rules.REASON_HELO_INVALID: "Helo command rejected: Invalid name",
    rules.REASON_HELO_NOT_FQDN: "Helo command rejected: need fully-qualified hostname",
    rules.REASON_HELO_OWN_NAME: "Helo command rejected: that is this server's own name",
    rules.REASON_RELAY_DENIED: (
        "Relaying denied: this server accepts mail only for its own domains"
    ),
    rules.REASON_RECIPIENT_SYNTAX: "Bad recipient address",
    rules.REASON_SENDER_SYNTAX: "The sender address needs a domain",
    rules.REASON_TOO_MANY_RECIPIENTS: "Too many recipients (at most {limit} per message)",
    # Postfix's words for its queue_minfree refusal.
    rules.REASON_STORAGE_LOW: "Insufficient system storage",
    rules.REASON_STORAGE_FULL: "Insufficient system storage",
    # Said before any login, so short and the same in every protocol (policy/connections.py).
    rules.REASON_CONNECTIONS_PER_ADDRESS: "Too many connections from your address",
    rules.REASON_CONNECTIONS_IN_ALL: "Too many connections",
}

# Generic texts for SMTP peers, by enhanced status code (RFC 3463).
REPLY_TEXTS = {
    "5.1.1": "No such user here",
    "5.2.1": "Mailbox disabled, not accepting messages",
    "5.7.1": "Sender address rejected",
    "5.7.8": "Authentication credentials invalid",
    "5.7.13": "User account disabled",
    "4.7.0": "Temporary authentication failure, try again later",
    "4.3.0": "Temporary system problem, try again later",
    "4.3.1": "Insufficient system storage",
}


def _clean(text: str, ascii_only: bool) -> str:
    """One line of text: control characters become spaces; non-ASCII becomes "?" if asked."""
    text = "".join(" " if unicodedata.category(c)[0] == "C" else c for c in text)
    if ascii_only:
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
        text = "".join(c if c.isascii() else "?" for c in text)
    return " ".join(text.split())


def _fits(text: str, ascii_only: bool) -> bool:
    """Whether `text` survives cleaning without losing characters to "?"."""
    cleaned = _clean(text, ascii_only)
    return bool(cleaned) and cleaned.count("?") == text.count("?")


def _language(tag: str) -> str:
    primary = tag.lower().replace("_", "-").split("-")[0]
    return primary if primary in TEMPLATES else ENGLISH


def _template_key(decision: Decision, templates: Mapping[str, str]) -> str:
    if decision.verdict is not Verdict.ALLOW and decision.reason + ".deny" in templates:
        return decision.reason + ".deny"
    return decision.reason if decision.reason in templates else "_unknown"


def _params(decision: Decision, templates: Mapping[str, str], ascii_only: bool) -> dict[str, str]:
    params = {k: _clean(v, ascii_only) for k, v in decision.params.items()}
    if decision.access_ends is not None:
        params.setdefault("access_ends", decision.access_ends.isoformat())
    params["code"] = f"{decision.smtp_code} {decision.enhanced_code}"
    reason = decision.params.get("reason", "")
    # A reason the line cannot show faithfully (Thai text in an ASCII line) is left out.
    params["reason_part"] = (
        templates["_reason_part"].format(reason=params["reason"])
        if _fits(reason, ascii_only)
        else ""
    )
    params["separation_part"] = (
        templates["_separation_part"].format(separation_date=params["separation_date"])
        if params.get("separation_date")
        else ""
    )
    return params


def _format(template: str, params: Mapping[str, str]) -> str:
    """`str.format` that leaves an unknown field as empty text instead of raising."""
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    return template.format(**{name: params.get(name, "") for name in fields})


def render_line(decision: Decision, language: str, contact: Mapping[str, str]) -> str:
    """The message for `decision` in one language, ending with whom to contact."""
    lang = _language(language)
    templates = TEMPLATES[lang]
    ascii_only = lang == ENGLISH
    body = _format(
        templates[_template_key(decision, templates)], _params(decision, templates, ascii_only)
    )
    who = _clean(contact.get(lang) or DEFAULT_CONTACT[lang], ascii_only)
    if not who.strip("? "):
        who = DEFAULT_CONTACT[lang]
    return _clean(body + templates["_contact"].format(contact=who), ascii_only)


def render(decision: Decision, languages: tuple[str, ...], contact: Mapping[str, str]) -> list[str]:
    """One line per language, in the order given, for the user the decision concerns.

    Unknown languages fall back to English. Lines hold no CR or LF; English lines are
    pure ASCII. Dates appear in ISO form (YYYY-MM-DD).
    """
    return [render_line(decision, language, contact) for language in languages]


def render_one_line(
    decision: Decision, languages: tuple[str, ...], contact: Mapping[str, str]
) -> str:
    """Every language's line of `render` on one line, joined by " / ", in the order given
    (English when none is configured).

    For texts that cannot hold CRLF and are all some clients show: IMAP's tagged NO and
    BYE (RFC 3501 resp-text; webmail such as Roundcube shows only the tagged text).
    """
    return " / ".join(render(decision, languages or (ENGLISH,), contact))


def reply_text(decision: Decision) -> str:
    """A short generic ASCII text for an SMTP reply to a peer that is not the user."""
    if decision.reason in PEER_TEXTS:
        params = {k: _clean(v, ascii_only=True) for k, v in decision.params.items()}
        return _format(PEER_TEXTS[decision.reason], params)
    return REPLY_TEXTS.get(decision.enhanced_code, "OK" if decision.allowed else "Refused")
