"""Write the test corpus: every ``*.eml`` file under tests/corpus/ comes from this script.

The messages are written for these tests (none is copied from elsewhere): Thai mail in
TIS-620, windows-874 and UTF-8, RFC 2047 / RFC 2231 / RFC 6532 headers, every transfer
encoding of RFC 2045 §6, the MIME structures of RFC 2046, RFC 3464 delivery reports and the
broken shapes real mail arrives in.  README.md beside this file lists which file holds which
shape; tests/unit/test_corpus.py checks that list and that the committed files are exactly
what this script writes.

Run ``python -m tests.corpus.make_corpus`` from the repository root after changing a
definition, and commit the files it writes.  Everything here is deterministic (no clock,
no random boundaries), so running it twice gives the same bytes.
"""

from __future__ import annotations

import base64
import functools
import sys
from collections.abc import Callable
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
MESSAGES: dict[str, Callable[[], bytes]] = {}
_building: list[str] = []  # the file being built (it names the Message-ID)

# ---------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------


def message(name: str) -> Callable[[Callable[[], bytes]], Callable[[], bytes]]:
    """Register a function that returns the bytes of corpus file ``name``."""

    def register(build: Callable[[], bytes]) -> Callable[[], bytes]:
        MESSAGES[name] = build
        return build

    return register


def crlf(text: str, charset: str = "utf-8") -> bytes:
    """Text with "\\n" line ends as bytes with CRLF line ends (RFC 5322 §2.1)."""
    return text.encode(charset).replace(b"\n", b"\r\n")


def base64_lines(data: bytes) -> bytes:
    """Base64 in lines of 76 characters, each ended by CRLF (RFC 2045 §6.8)."""
    text = base64.b64encode(data)
    return b"".join(text[i : i + 76] + b"\r\n" for i in range(0, len(text), 76))


def quoted_printable(data: bytes) -> bytes:
    """Quoted-printable body (RFC 2045 §6.7): CRLF kept as line breaks, lines at most 76."""
    out: list[bytes] = []
    for line in data.replace(b"\r\n", b"\n").split(b"\n"):
        encoded = ""
        for i, octet in enumerate(line):
            last = i == len(line) - 1
            if (33 <= octet <= 126 and octet != 61) or (octet in (9, 32) and not last):
                encoded += chr(octet)
            else:
                encoded += f"={octet:02X}"
        while len(encoded) > 76:
            cut = 75
            while encoded[cut - 2 : cut - 1] == "=" or encoded[cut - 1 : cut] == "=":
                cut -= 1  # never split an =XX triplet
            out.append(encoded[:cut].encode() + b"=")
            encoded = encoded[cut:]
        out.append(encoded.encode())
    return b"\r\n".join(out)


_Q_SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")


def _q_word(data: bytes) -> str:
    """The Q encoding of RFC 2047 §4.2 with the phrase restrictions of §5(3)."""
    return "".join("_" if b == 32 else chr(b) if b in _Q_SAFE else f"={b:02X}" for b in data)


def encoded_words(text: str, charset: str, encoding: str = "B") -> str:
    """``text`` as RFC 2047 encoded-words of at most 75 characters (§2), whole characters
    in each word (§5), separated by folding whitespace (CRLF SP after the header builder)."""
    codec = {"windows-874": "cp874"}.get(charset.lower(), charset)
    words: list[str] = []
    chunk = ""
    for char in text:
        trial = chunk + char
        raw = trial.encode(codec)
        body = base64.b64encode(raw).decode() if encoding == "B" else _q_word(raw)
        if len(f"=?{charset}?{encoding}?{body}?=") > 75 and chunk:
            words.append(_word(chunk, charset, codec, encoding))
            chunk = char
        else:
            chunk = trial
    if chunk:
        words.append(_word(chunk, charset, codec, encoding))
    return "\n ".join(words)


def _word(text: str, charset: str, codec: str, encoding: str) -> str:
    raw = text.encode(codec)
    body = base64.b64encode(raw).decode() if encoding == "B" else _q_word(raw)
    return f"=?{charset}?{encoding}?{body}?="


def headers(*fields: str) -> bytes:
    """Header fields (folded continuation lines written as "\\n ") and the blank line."""
    return crlf("".join(f"{field}\n" for field in fields) + "\n")


def percent(text: str) -> str:
    """UTF-8 octets %-encoded for an RFC 2231 §4 extended parameter value."""
    return "".join(f"%{octet:02X}" for octet in text.encode())


def part(content_type: str, body: bytes, *extra: str, cte: str | None = None) -> bytes:
    """One MIME body part: its header fields, the blank line and the body."""
    fields = [f"Content-Type: {content_type}"]
    if cte:
        fields.append(f"Content-Transfer-Encoding: {cte}")
    return headers(*fields, *extra) + body


def multipart(
    boundary: str, parts: list[bytes], preamble: bytes = b"", epilogue: bytes = b""
) -> bytes:
    """A multipart body (RFC 2046 §5.1.1): preamble, delimited parts, close, epilogue."""
    delimiter = b"--" + boundary.encode()
    out = preamble
    for body in parts:
        out += delimiter + b"\r\n" + body.rstrip(b"\r\n") + b"\r\n"
    return out + delimiter + b"--\r\n" + epilogue


def mail(body: bytes, subject: str, **more: str) -> bytes:
    """A whole message: the usual top-level fields (see :func:`envelope`), then ``body``."""
    return headers(*envelope(subject, **more)) + body


def envelope(subject: str, **more: str) -> list[str]:
    """The usual top-level fields of a corpus message (values may be pre-encoded)."""
    fields = {
        "Date": "Mon, 15 Jan 2024 09:30:00 +0700",
        "From": "Somchai Jaidee <somchai.j@bangkok.go.th>",
        "To": "Somying Rakthai <somying.r@bangkok.go.th>",
        "Subject": subject,
        "Message-ID": f"<{hash_name(_building[-1] + subject):x}@corpus.bangkok.go.th>",
        "MIME-Version": "1.0",
    }
    for key, value in more.items():
        name = key.replace("_", "-")
        if value == "":
            fields.pop(name, None)
        else:
            fields[name] = value
    return [f"{name}: {value}" for name, value in fields.items()]


def hash_name(text: str) -> int:
    """A stable number for a Message-ID (Python's hash() is salted per process)."""
    value = 5381
    for octet in text.encode():
        value = (value * 33 + octet) % 2**40
    return value


# Thai text written for the corpus: a meeting notice of a city department.
MEETING = "เชิญประชุมคณะกรรมการพิจารณางบประมาณ ครั้งที่ 3/2567"
LETTER = (
    "เรียน ผู้อำนวยการทุกสำนัก\n"
    "\n"
    "ด้วยกองคลังขอเชิญประชุมคณะกรรมการพิจารณางบประมาณ ครั้งที่ 3/2567\n"
    "ในวันจันทร์ที่ 15 มกราคม 2567 เวลา 09.30 น.\n"
    "ณ ห้องประชุม 2 ศาลาว่าการกรุงเทพมหานคร\n"
    "\n"
    "จึงเรียนมาเพื่อโปรดทราบและเข้าร่วมประชุมโดยพร้อมเพรียงกัน\n"
    "\n"
    "สมชาย ใจดี\n"
    "กองคลัง สำนักการคลัง\n"
)
# windows-874 has typographic quotes, an ellipsis and the euro sign that TIS-620 lacks.
LETTER_874 = LETTER.replace("งบประมาณ ครั้งที่", "“งบประมาณ” ครั้งที่") + "ค่าใช้จ่าย 1,500 € …\n"
SOMCHAI = "สมชาย ใจดี"
SOMYING = "สมหญิง รักไทย"
FINANCE = "กองคลัง"
HR = "ฝ่ายบุคคล"
ATTACHMENT_NAME = "รายงานการประชุม ครั้งที่ 3.pdf"
FAKE_PDF = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n"
    + bytes(range(256))
    + b"\n%%EOF\n"
)
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def thai(charset: str, text: str = LETTER) -> bytes:
    """``text`` in a Thai charset label, CRLF line ends."""
    codec = {"windows-874": "cp874"}.get(charset.lower(), charset)
    return crlf(text, codec)


# ---------------------------------------------------------------------------
# thai/: each Thai charset in each header and body encoding
# ---------------------------------------------------------------------------


def _thai_body(charset: str, cte: str) -> bytes:
    raw = thai(charset, LETTER_874 if charset == "windows-874" else LETTER)
    if cte == "base64":
        return base64_lines(raw)
    if cte == "quoted-printable":
        return quoted_printable(raw)
    return raw


def _thai_message(charset: str, cte: str, header_encoding: str, **more: str) -> bytes:
    subject = encoded_words(MEETING, charset, header_encoding)
    fields = envelope(
        subject,
        From=f"{encoded_words(SOMCHAI, charset, header_encoding)} <somchai.j@bangkok.go.th>",
        **more,
    )
    fields += [f"Content-Type: text/plain; charset={charset}", f"Content-Transfer-Encoding: {cte}"]
    return headers(*fields) + _thai_body(charset, cte)


# Each Thai charset label in each body encoding, its header words in B or Q (RFC 2047 §4);
# ISO-8859-11 is TIS-620 plus NBSP, a third label for the same octets.
THAI_VARIANTS: list[tuple[str, str, str, str, dict[str, str]]] = [
    ("thai/tis620_qp.eml", "TIS-620", "quoted-printable", "B", {}),
    ("thai/tis620_base64.eml", "tis-620", "base64", "Q", {}),
    (
        "thai/tis620_8bit.eml",
        "TIS-620",
        "8bit",
        "Q",
        {"To": f"{encoded_words(SOMYING, 'TIS-620', 'B')} <somying.r@bangkok.go.th>"},
    ),
    ("thai/windows874_qp.eml", "windows-874", "quoted-printable", "Q", {}),
    ("thai/windows874_base64.eml", "windows-874", "base64", "B", {}),
    (
        "thai/windows874_8bit.eml",
        "windows-874",
        "8bit",
        "B",
        {"Cc": f"{encoded_words(FINANCE, 'windows-874', 'Q')} <finance@bangkok.go.th>"},
    ),
    ("thai/utf8_qp.eml", "UTF-8", "quoted-printable", "Q", {}),
    ("thai/utf8_base64.eml", "utf-8", "base64", "B", {}),
    ("thai/utf8_8bit.eml", "utf-8", "8bit", "B", {}),
    ("thai/iso8859_11_8bit.eml", "iso-8859-11", "8bit", "B", {}),
]
for _name, _charset, _cte, _words, _more in THAI_VARIANTS:
    message(_name)(functools.partial(_thai_message, _charset, _cte, _words, **_more))


@message("thai/alternative_two_charsets.eml")
def _() -> bytes:
    """A Subject of encoded-words in three charsets; text in TIS-620, HTML in UTF-8."""
    subject = (
        encoded_words("ประชุม ", "TIS-620", "B")
        + "\n "
        + encoded_words("งบประมาณ ", "windows-874", "Q")
        + "\n "
        + encoded_words("2567", "UTF-8", "B")
    )
    html = (
        '<html><head><meta charset="utf-8"></head><body>\n<p>'
        + LETTER.replace("\n\n", "</p>\n<p>").replace("\n", "<br>\n")
        + "</p>\n</body></html>\n"
    )
    body = multipart(
        "alt-th-2567",
        [
            part(
                "text/plain; charset=TIS-620",
                quoted_printable(thai("tis-620")),
                cte="quoted-printable",
            ),
            part("text/html; charset=UTF-8", base64_lines(crlf(html)), cte="base64"),
        ],
        preamble=b"This is a multi-part message in MIME format.\r\n",
    )
    return mail(body, subject, Content_Type='multipart/alternative; boundary="alt-th-2567"')


@message("thai/html_windows874_qp.eml")
def _() -> bytes:
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-874">'
        "</head>\n<body><p>" + LETTER_874.replace("\n", "<br>\n") + "</p></body></html>\n"
    )
    return mail(
        quoted_printable(crlf(html, "cp874")),
        encoded_words("ประกาศ " + HR, "windows-874", "B"),
        Content_Type="text/html; charset=windows-874",
        Content_Transfer_Encoding="quoted-printable",
    )


# ---------------------------------------------------------------------------
# headers/: encoded-words, RFC 2231 parameters, RFC 6532, long and odd fields
# ---------------------------------------------------------------------------


@message("headers/encoded_words_everywhere.eml")
def _() -> bytes:
    """An encoded-word in every field that may hold one (RFC 2047 §5)."""
    fields = envelope(
        encoded_words(MEETING, "UTF-8", "B"),
        From=f"{encoded_words(SOMCHAI, 'UTF-8', 'B')} <somchai.j@bangkok.go.th>",
        To=(
            f"{encoded_words(SOMYING, 'UTF-8', 'Q')} <somying.r@bangkok.go.th>,\n"
            f" {encoded_words('ผู้อำนวยการ', 'TIS-620', 'B')} <director@bangkok.go.th>"
        ),
        Cc=f"{encoded_words(FINANCE, 'windows-874', 'Q')} <finance@bangkok.go.th>",
        Reply_To=f"{encoded_words(HR, 'UTF-8', 'Q')} <hr@bangkok.go.th>",
        Sender=f"{encoded_words('เลขานุการ', 'UTF-8', 'B')} <secretary@bangkok.go.th>",
        Comments=encoded_words("ส่งจากระบบสารบรรณ", "UTF-8", "Q"),
        Keywords=f"{encoded_words('งบประมาณ', 'UTF-8', 'B')}, budget",
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="8bit",
    )
    fields.append(f"Content-Description: {encoded_words('หนังสือเชิญ', 'UTF-8', 'Q')}")
    return headers(*fields) + crlf(LETTER)


@message("headers/encoded_words_malformed.eml")
def _() -> bytes:
    """Encoded-words the way broken mailers write them; readers must survive each."""
    return mail(
        crlf("Encoded-words inside quotes and glued to text.\n"),
        "=?UTF-8?B?4Lib4Lij4Liw4LiK4Li44Lih?=next-to-text =?UTF-8?Q?no_end "
        "=?utf-8?B?!!!not-base64!!!?= =?UTF-8?B??= =?x-unknown?Q?=E0=B8=81?=",
        From='"=?UTF-8?B?4Liq4Lih4LiK4Liy4Lii?=" <quoted.word@bangkok.go.th>',
        To="=?UTF-8?B?4Liq4Lih4Lir4LiN4Li04LiH?=@bangkok.go.th",
        Content_Type="text/plain; charset=us-ascii",
    )


@message("headers/rfc2231_parameters.eml")
def _() -> bytes:
    """RFC 2231 §3 continuations, §4 charset/language, §4.1 both, in several parts."""
    name = percent(ATTACHMENT_NAME)
    half = name.index("%", len(name) // 2)  # split between two encoded octets
    body = multipart(
        "rfc2231-params",
        [
            part("text/plain; charset=utf-8", crlf("ไฟล์แนบตามรายการ\n"), cte="8bit"),
            part(
                f"application/pdf; name*=UTF-8''{name}",
                base64_lines(FAKE_PDF),
                f"Content-Disposition: attachment; filename*=UTF-8'th'{name}",
                cte="base64",
            ),
            part(
                "application/pdf",
                base64_lines(FAKE_PDF[:64]),
                f"Content-Disposition: attachment;\n filename*0*=utf-8''{name[:half]};\n"
                f" filename*1*={name[half:]}",
                cte="base64",
            ),
            part(
                "text/plain; charset=us-ascii",
                crlf("continued, not encoded\n"),
                'Content-Disposition: inline; filename*1="-annual-report.txt";\n'
                ' filename*0="budget-2567"; size=23',
            ),
        ],
    )
    return mail(
        body,
        encoded_words("เอกสารแนบ", "UTF-8", "B"),
        Content_Type='multipart/mixed; boundary="rfc2231-params"',
    )


@message("headers/encoded_word_filenames.eml")
def _() -> bytes:
    """Filenames as RFC 2047 words (not allowed in parameters, RFC 2047 §5, but common)."""
    b_name = encoded_words(ATTACHMENT_NAME, "UTF-8", "B").replace("\n ", "")
    q_name = encoded_words("สรุป.txt", "TIS-620", "Q")
    body = multipart(
        "ew-filenames",
        [
            part("text/plain; charset=utf-8", crlf("แนบไฟล์สองไฟล์\n"), cte="8bit"),
            part(
                f'application/pdf; name="{b_name}"',
                base64_lines(FAKE_PDF),
                f'Content-Disposition: attachment; filename="{b_name}"',
                cte="base64",
            ),
            part(
                f"text/plain; charset=TIS-620; name={q_name}",
                base64_lines(thai("tis-620", "สรุปผลการประชุม\n")),
                f"Content-Disposition: attachment; filename={q_name}",
                cte="base64",
            ),
        ],
    )
    return mail(body, "filenames", Content_Type="multipart/mixed; boundary=ew-filenames")


@message("headers/rfc6532_utf8_headers.eml")
def _() -> bytes:
    """Raw UTF-8 in header fields and addresses (RFC 6532 §3)."""
    fields = envelope(
        MEETING,
        From=f"{SOMCHAI} <สมชาย@กรุงเทพมหานคร.ไทย>",
        To=f'"{SOMYING}" <somying.r@bangkok.go.th>, ผู้อำนวยการ@bangkok.go.th',
        Cc=f"{FINANCE}: คลัง1@bangkok.go.th, คลัง2@bangkok.go.th;",
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="8bit",
    )
    fields.append("Thread-Topic: งบประมาณ")
    return headers(*fields) + crlf(LETTER)


@message("headers/iso8859_1.eml")
def _() -> bytes:
    fields = envelope(
        "=?ISO-8859-1?Q?R=E9union_=E0_Bangkok?=",
        From="=?iso-8859-1?Q?Ren=E9_M=FCller?= <rene@example.fr>",
        Content_Type="text/plain; charset=ISO-8859-1",
        Content_Transfer_Encoding="quoted-printable",
    )
    text = "Chère collègue,\n\nla réunion aura lieu à Bangkok, naïvement prévue en été.\n"
    return headers(*fields) + quoted_printable(crlf(text, "latin-1"))


@message("headers/iso8859_1_raw_8bit.eml")
def _() -> bytes:
    """Latin-1 octets in the header itself (neither RFC 2047 nor RFC 6532)."""
    fields = envelope(
        "Réunion à Bangkok",
        From="René Müller <rene@example.fr>",
        Content_Type="text/plain; charset=iso-8859-1",
        Content_Transfer_Encoding="8bit",
    )
    return crlf("\n".join(fields) + "\n\nCafé crème, s'il vous plaît.\n", "latin-1")


@message("headers/long_folded.eml")
def _() -> bytes:
    """Fields far longer than 998 octets (RFC 5322 §2.1.1), each line folded below 78."""
    references = "\n ".join(f"<thread-{n:03d}.2567@mail.bangkok.go.th>" for n in range(40))
    recipients = ",\n ".join(f"staff{n:02d} <staff{n:02d}@bangkok.go.th>" for n in range(40))
    subject = encoded_words(MEETING + " " + LETTER.replace("\n", " ") * 2, "UTF-8", "B")
    return mail(
        crlf("Long folded fields above.\n"),
        subject,
        To=recipients,
        References=references,
        In_Reply_To="<thread-039.2567@mail.bangkok.go.th>",
        Content_Type="text/plain; charset=us-ascii",
    )


@message("headers/long_unfolded.eml")
def _() -> bytes:
    """Lines over the 998-octet limit of RFC 5322 §2.1.1, never folded."""
    fields = envelope(
        "Unfolded " + "subject " * 140,
        To=", ".join(f"staff{n:02d}@bangkok.go.th" for n in range(50)),
        Content_Type="text/plain; charset=us-ascii",
    )
    fields.append("X-Long-Token: " + "A" * 1200)
    body = "A body line of 1100 octets follows.\n" + "0123456789" * 110 + "\n"
    return headers(*fields) + crlf(body)


@message("headers/line_without_colon.eml")
def _() -> bytes:
    """A header line that is no field at all (RFC 5322 §3.6.8 needs a colon)."""
    fields = envelope("a line without a colon", Content_Type="text/plain; charset=us-ascii")
    fields.insert(3, "This line is not a header field")
    return headers(*fields) + crlf("The header has a line with no colon.\n")


@message("headers/utf8_bom.eml")
def _() -> bytes:
    """A UTF-8 byte order mark before the first field, as some Windows tools save mail."""
    fields = envelope(
        encoded_words(MEETING, "UTF-8", "B"),
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="8bit",
    )
    return b"\xef\xbb\xbf" + headers(*fields) + crlf(LETTER)


@message("headers/mbox_from_line.eml")
def _() -> bytes:
    """An mbox "From " separator left at the top of a saved message."""
    fields = envelope("saved from an mbox", Content_Type="text/plain; charset=us-ascii")
    return (
        b"From somchai.j@bangkok.go.th Mon Jan 15 09:30:00 2024\r\n"
        + headers(*fields)
        + crlf("The first line above is an mbox separator.\n")
    )


@message("headers/repeated_and_empty_fields.eml")
def _() -> bytes:
    """Fields given twice, and empty Sender / Reply-To / Cc (RFC 3501 §7.4.2 defaults)."""
    fields = [
        "Date: Mon, 15 Jan 2024 09:30:00 +0700",
        "From: First <first@bangkok.go.th>",
        "From: Second <second@bangkok.go.th>",
        "Sender:",
        "Reply-To: ",
        "To: somying.r@bangkok.go.th",
        "Cc:",
        "Subject: first subject",
        "Subject: second subject",
        "In-Reply-To:",
        "Message-ID: <one@bangkok.go.th>",
        "Message-ID: <two@bangkok.go.th>",
        "X-Empty:",
    ]
    return headers(*fields) + crlf("Repeated fields.\n")


@message("headers/address_syntax.eml")
def _() -> bytes:
    """Groups, routes, comments, quoted local parts and domain literals (RFC 5322 §3.4, §4.4)."""
    return mail(
        crlf("Address syntax.\n"),
        "address syntax",
        From='"Jaidee, Somchai" <somchai.j@bangkok.go.th> (Finance)',
        Sender="secretary@bangkok.go.th (The Secretary)",
        To="Committee: ann@bangkok.go.th, Bob <bob@bangkok.go.th>;,\n"
        ' "john..doe"@example.com, <@relay.example.net,@hop.example:route@example.org>',
        Cc="undisclosed-recipients:;",
        Bcc="admin@[192.0.2.10], Mary Smith, @nodomain, <broken@",
        Content_Type="text/plain; charset=us-ascii",
    )


@message("headers/field_name_variants.eml")
def _() -> bytes:
    """Space before the colon (obsolete syntax, RFC 5322 §4.5) and case-mixed names."""
    fields = [
        "date: Mon, 15 Jan 2024 09:30:00 +0700",
        "FROM: somchai.j@bangkok.go.th",
        "Subject : space before the colon",
        "tO: somying.r@bangkok.go.th",
        "mime-version: 1.0",
        'cONTENT-tYPE: TEXT/Plain; CHARSET="US-ASCII"; Format=Flowed',
        "content-transfer-encoding: 7BIT",
    ]
    return headers(*fields) + crlf("Odd field names.\n")


@message("headers/header_only_with_blank_line.eml")
def _() -> bytes:
    """A header and the blank line, then nothing (a message with an empty body)."""
    return headers(*envelope("header and blank line only"))


@message("headers/header_only_no_blank_line.eml")
def _() -> bytes:
    """A header with no blank line and no body (RFC 5322 §3.5 makes the body optional)."""
    return crlf("\n".join(envelope("header only, no blank line")) + "\n")


@message("headers/header_only_no_final_newline.eml")
def _() -> bytes:
    """A header whose last field is not even ended by CRLF."""
    return crlf("\n".join(envelope("header only, no line end")))


# ---------------------------------------------------------------------------
# encodings/: the transfer encodings of RFC 2045 §6, valid and not
# ---------------------------------------------------------------------------


@message("encodings/base64_attachment.eml")
def _() -> bytes:
    body = multipart(
        "b64-attach",
        [
            part("text/plain; charset=utf-8", base64_lines(crlf(LETTER)), cte="base64"),
            part(
                'application/pdf; name="report.pdf"',
                base64_lines(FAKE_PDF),
                'Content-Disposition: attachment; filename="report.pdf"',
                cte="base64",
            ),
        ],
    )
    return mail(body, "report attached", Content_Type="multipart/mixed; boundary=b64-attach")


@message("encodings/base64_sloppy.eml")
def _() -> bytes:
    """Base64 with long lines, missing padding, spaces and junk characters (RFC 2045 §6.8
    says decoders ignore characters outside the alphabet)."""
    clean = base64.b64encode(thai("utf-8")).decode()
    sloppy = clean[:200] + "\n" + clean[200:400] + " \t\n" + clean[400:-2].rstrip("=") + "!*\n"
    return mail(
        crlf(sloppy),
        "sloppy base64",
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="BASE64",
    )


@message("encodings/quoted_printable_edges.eml")
def _() -> bytes:
    """Soft line breaks, =3D, lower-case hex, a bare '=' and trailing spaces (RFC 2045 §6.7)."""
    text = (
        "A soft line break joins th=\n"
        "ese words; =3D is an equals sign.\n"
        "Lower-case hex =e0=b8=81 is not canonical.\n"
        "A bare = sign and =ZZ are invalid.\n"
        "Trailing spaces are transport padding.   \n"
        "Ends with a soft break=\n"
    )
    return mail(
        crlf(text),
        "quoted-printable edges",
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="Quoted-Printable",
    )


@message("encodings/quoted_printable_padding.eml")
def _() -> bytes:
    """Valid quoted-printable with white space a transport added at line ends, which a
    decoder deletes (RFC 2045 §6.7 rule 3), also on a line after a soft line break."""
    text = "first line   \nsoft break=\n \t\nafter the padded line\t\n=E0=B8=81 =\n  \n"
    return mail(
        crlf(text),
        "quoted-printable padding",
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="quoted-printable",
    )


@message("encodings/8bit_utf8.eml")
def _() -> bytes:
    return mail(
        crlf(LETTER + "emoji: 🙏 ✉️\n"),
        "8bit utf-8 body",
        Content_Type="text/plain; charset=utf-8; format=flowed",
        Content_Transfer_Encoding="8bit",
    )


@message("encodings/binary_part_with_nul.eml")
def _() -> bytes:
    """A binary part (RFC 2045 §6.2, RFC 3030) holding NUL octets and bare CR."""
    blob = b"\x00\x00\x00\x01binary\x00data\rwith a bare CR\x00\xff\xfe\x80" * 4
    body = multipart(
        "binary-nul",
        [
            part("text/plain; charset=us-ascii", crlf("The attachment is binary.\n")),
            part(
                "application/octet-stream",
                blob,
                'Content-Disposition: attachment; filename="blob.bin"',
                cte="binary",
            ),
        ],
    )
    return mail(body, "binary part with NUL", Content_Type='multipart/mixed; boundary="binary-nul"')


@message("encodings/binary_top_level.eml")
def _() -> bytes:
    return mail(
        b"\x00\x01\x02 binary payload \x00\xff\r\n",
        "binary single part",
        Content_Type="application/octet-stream",
        Content_Transfer_Encoding="binary",
        Content_Disposition="attachment; filename=data.bin",
    )


@message("encodings/unusual_transfer_encodings.eml")
def _() -> bytes:
    """Unknown (x-uuencode), invalid ("quoted printable", "8-bit") and empty encodings."""
    uu = crlf("begin 644 note.txt\n%:&5L;&\\*\n`\nend\n")
    body = multipart(
        "odd-cte",
        [
            part("text/plain; charset=us-ascii", uu, cte="x-uuencode"),
            part(
                "text/plain; charset=us-ascii", crlf("two words=20here\n"), cte="quoted printable"
            ),
            part("text/plain; charset=utf-8", crlf("ข้อความ 8-bit\n"), cte="8-bit"),
            part(
                "text/plain; charset=us-ascii",
                crlf("empty encoding\n"),
                "Content-Transfer-Encoding:",
            ),
            part(
                "text/plain; charset=us-ascii", crlf("semicolon=20after\n"), cte="quoted-printable;"
            ),
            part("text/html; charset=us-ascii", crlf("<p>type as encoding</p>\n"), cte="text/html"),
        ],
    )
    return mail(body, "unusual encodings", Content_Type="multipart/mixed; boundary=odd-cte")


# ---------------------------------------------------------------------------
# structure/: RFC 2046 multiparts, message/rfc822, RFC 3464 reports
# ---------------------------------------------------------------------------


def _forwarded_inner() -> bytes:
    inner_body = multipart(
        "inner-alt",
        [
            part(
                "text/plain; charset=TIS-620",
                quoted_printable(thai("tis-620")),
                cte="quoted-printable",
            ),
            part("text/html; charset=utf-8", crlf("<p>ประชุม</p>\n"), cte="8bit"),
        ],
    )
    return mail(
        inner_body,
        encoded_words(MEETING, "TIS-620", "B"),
        From=f"{encoded_words(FINANCE, 'TIS-620', 'Q')} <finance@bangkok.go.th>",
        Date="Fri, 12 Jan 2024 16:05:00 +0700",
        Content_Type="multipart/alternative; boundary=inner-alt",
    )


@message("structure/mixed_alternative_related.eml")
def _() -> bytes:
    """multipart/mixed > alternative > related (RFC 2387): the shape of a modern HTML mail."""
    html = '<html><body><p>ผังห้องประชุม</p><img src="cid:room-plan@bangkok.go.th"></body></html>\n'
    related = headers(
        'Content-Type: multipart/related; boundary="rel"; type="text/html"'
    ) + multipart(
        "rel",
        [
            part("text/html; charset=utf-8", quoted_printable(crlf(html)), cte="quoted-printable"),
            part(
                'image/png; name="plan.png"',
                base64_lines(PNG),
                "Content-ID: <room-plan@bangkok.go.th>",
                'Content-Disposition: inline; filename="plan.png"',
                cte="base64",
            ),
        ],
    )
    alternative = headers('Content-Type: multipart/alternative; boundary="alt"') + multipart(
        "alt",
        [part("text/plain; charset=utf-8", base64_lines(crlf(LETTER)), cte="base64"), related],
    )
    body = multipart(
        "mixed",
        [
            alternative,
            part(
                "application/pdf",
                base64_lines(FAKE_PDF),
                f"Content-Disposition: attachment;\n filename*=utf-8''{percent(ATTACHMENT_NAME)}",
                cte="base64",
            ),
        ],
        preamble=b"This is a multi-part message in MIME format.\r\n\r\n",
    )
    return mail(
        body, encoded_words(MEETING, "UTF-8", "B"), Content_Type='multipart/mixed; boundary="mixed"'
    )


@message("structure/message_rfc822.eml")
def _() -> bytes:
    body = multipart(
        "fwd",
        [
            part("text/plain; charset=utf-8", crlf("ส่งต่อตามที่ขอครับ\n"), cte="8bit"),
            part("message/rfc822", _forwarded_inner(), "Content-Disposition: inline"),
        ],
    )
    return mail(
        body,
        "Fwd: " + encoded_words(MEETING, "TIS-620", "B"),
        Content_Type="multipart/mixed; boundary=fwd",
    )


@message("structure/message_rfc822_base64.eml")
def _() -> bytes:
    """message/rfc822 sent base64-encoded, which RFC 2046 §5.2.1 forbids."""
    body = multipart(
        "fwd64",
        [
            part("text/plain; charset=us-ascii", crlf("Forwarded, encoded.\n")),
            part(
                'message/rfc822; name="forwarded.eml"',
                base64_lines(_forwarded_inner()),
                'Content-Disposition: attachment; filename="forwarded.eml"',
                cte="base64",
            ),
        ],
    )
    return mail(body, "forwarded as base64", Content_Type="multipart/mixed; boundary=fwd64")


@message("structure/message_rfc822_nested.eml")
def _() -> bytes:
    """A forward of a forward: message/rfc822 inside message/rfc822."""
    middle = headers(
        *envelope(
            "Fwd: inner",
            Date="Sat, 13 Jan 2024 10:00:00 +0700",
            Content_Type="multipart/mixed; boundary=middle",
        )
    ) + multipart(
        "middle",
        [
            part("text/plain; charset=us-ascii", crlf("middle note\n")),
            part("message/rfc822", _forwarded_inner()),
        ],
    )
    body = multipart(
        "outer",
        [
            part("text/plain; charset=us-ascii", crlf("outer note\n")),
            part("message/rfc822", middle),
        ],
    )
    return mail(body, "Fwd: Fwd: inner", Content_Type="multipart/mixed; boundary=outer")


@message("structure/message_rfc822_top_level.eml")
def _() -> bytes:
    """A message whose whole body is one encapsulated message (no multipart around it)."""
    return mail(_forwarded_inner(), "a message that is a message", Content_Type="message/rfc822")


@message("structure/message_rfc822_header_only.eml")
def _() -> bytes:
    """An encapsulated message that is only a header: its blank line is the line break the
    next delimiter takes (RFC 2046 §5.1.1), so the header ends without one."""
    inner = headers("From: ann@bangkok.go.th", "Subject: header-only attachment")
    body = (
        b"--hdr-only\r\n"
        + part("text/plain; charset=us-ascii", crlf("The attachment has no body.\n"))
        + b"--hdr-only\r\n"
        + headers("Content-Type: message/rfc822")
        + inner
        + b"--hdr-only\r\n"
        + headers("Content-Type: text/plain; charset=us-ascii")
        + b"--hdr-only--\r\n"
    )
    return mail(body, "header-only attachment", Content_Type="multipart/mixed; boundary=hdr-only")


@message("structure/digest.eml")
def _() -> bytes:
    """multipart/digest: parts default to message/rfc822 (RFC 2046 §5.1.5)."""
    first = headers(
        "From: ann@bangkok.go.th",
        "Subject: digest item one",
        "Content-Type: text/plain; charset=us-ascii",
    ) + crlf("first item\n")
    second = headers(
        "From: bob@bangkok.go.th", f"Subject: {encoded_words('รายการที่สอง', 'UTF-8', 'B')}"
    ) + crlf("second item\n")
    body = multipart(
        "digest",
        [
            headers() + first,
            headers() + second,
            part("text/plain; charset=us-ascii", crlf("explicit text part\n")),
        ],
        preamble=b"Digest of the staff list.\r\n",
    )
    return mail(body, "staff digest", Content_Type="multipart/digest; boundary=digest")


def _dsn_body(boundary: str, original: bytes, original_type: str, statuses: list[str]) -> bytes:
    human = (
        "This is the mail system at host mx1.bangkok.go.th.\nระบบไม่สามารถส่งจดหมายของท่านถึงผู้รับได้\n"
    )
    machine = (
        "Reporting-MTA: dns; mx1.bangkok.go.th\nArrival-Date: Mon, 15 Jan 2024 09:30:00 +0700\n"
    )
    for recipient, action, status, code in (s.split("|") for s in statuses):
        machine += (
            f"\nFinal-Recipient: rfc822; {recipient}\nAction: {action}\nStatus: {status}\n"
            f"Diagnostic-Code: smtp; {code}\n"
        )
    return multipart(
        boundary,
        [
            part(
                "text/plain; charset=utf-8",
                crlf(human),
                "Content-Description: Notification",
                cte="8bit",
            ),
            part("message/delivery-status", crlf(machine), "Content-Description: Delivery report"),
            part(original_type, original, "Content-Description: Undelivered Message"),
        ],
    )


@message("structure/report_dsn_headers.eml")
def _() -> bytes:
    """An RFC 3464 delivery report returning only the original header (text/rfc822-headers)."""
    original = headers(*envelope(encoded_words(MEETING, "UTF-8", "B"), To="nobody@example.com"))
    body = _dsn_body(
        "dsn-1",
        original,
        "text/rfc822-headers",
        ["nobody@example.com|failed|5.1.1|550 5.1.1 <nobody@example.com>: user unknown"],
    )
    fields = envelope(
        "Undelivered Mail Returned to Sender",
        From="MAILER-DAEMON@mx1.bangkok.go.th (Mail Delivery System)",
        To="somchai.j@bangkok.go.th",
        Content_Type='multipart/report; report-type=delivery-status;\n boundary="dsn-1"',
    )
    fields.insert(0, "Return-Path: <>")
    return headers(*fields) + body


@message("structure/report_dsn_full_message.eml")
def _() -> bytes:
    """A delivery report for two recipients that returns the full original (message/rfc822)."""
    body = _dsn_body(
        "dsn-2",
        _forwarded_inner(),
        "message/rfc822",
        [
            "a@example.com|failed|5.2.2|552 5.2.2 mailbox full",
            "b@example.com|delayed|4.4.1|421 4.4.1 connection timed out",
        ],
    )
    return mail(
        body,
        "Delivery Status Notification",
        From="MAILER-DAEMON@mx1.bangkok.go.th",
        Content_Type="multipart/report; report-type=delivery-status; boundary=dsn-2",
    )


@message("structure/signed.eml")
def _() -> bytes:
    """multipart/signed (RFC 1847): parameters with and without quotes."""
    signature = crlf(
        "-----BEGIN PGP SIGNATURE-----\n\niQEzBAEBCAAdFiEE\n=abcd\n-----END PGP SIGNATURE-----\n"
    )
    body = multipart(
        "signed-1",
        [
            part("text/plain; charset=utf-8", crlf("ข้อความที่ลงนาม\n"), cte="8bit"),
            part(
                'application/pgp-signature; name="signature.asc"',
                signature,
                "Content-Description: OpenPGP digital signature",
            ),
        ],
    )
    return mail(
        body,
        "signed",
        Content_Type='multipart/signed; micalg=pgp-sha256;\n protocol="application/pgp-signature";'
        ' boundary="signed-1"',
    )


@message("structure/empty_parts.eml")
def _() -> bytes:
    """A part with nothing at all, one with a header and no body, one with a blank body."""
    body = (
        b"--empty\r\n"
        b"--empty\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n"
        b"--empty\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"--empty\r\n\r\n"
        b"--empty\r\n"
        b"Content-Type: text/plain\r\n\r\nlast part has text\r\n"
        b"--empty--\r\n"
    )
    return mail(body, "empty parts", Content_Type="multipart/mixed; boundary=empty")


@message("structure/content_type_missing.eml")
def _() -> bytes:
    """MIME-Version without Content-Type (RFC 2045 §5.2 default), and a part without one."""
    inner = multipart(
        "no-ct",
        [
            headers("Content-Transfer-Encoding: quoted-printable")
            + crlf("default text/plain=20part\n"),
            part("text/plain; charset=utf-8", crlf("ส่วนที่สอง\n"), cte="8bit"),
        ],
    )
    top = headers(*envelope("no content-type")) + crlf("A MIME message without Content-Type.\n")
    body = multipart(
        "outer-no-ct",
        [
            part("message/rfc822", top),
            headers("Content-Type: multipart/mixed; boundary=no-ct") + inner,
        ],
    )
    return mail(
        body, "part without content-type", Content_Type="multipart/mixed; boundary=outer-no-ct"
    )


@message("structure/content_type_invalid.eml")
def _() -> bytes:
    """Content-Type values that are not type/subtype (RFC 2045 §5.2 says: text/plain)."""
    body = multipart(
        "bad-ct",
        [
            part("text", crlf("type without subtype\n")),
            part("; charset=utf-8", crlf("only parameters\n")),
            part("text/plain charset=utf-8", crlf("no semicolon\n")),
            part("/html", crlf("subtype without type\n")),
            part("application/x-something-unknown; foo=bar", crlf("unknown type\n")),
            part("text/plain; charset=utf-8; charset=tis-620", crlf("two charsets\n")),
        ],
    )
    return mail(body, "invalid content types", Content_Type="multipart/mixed; boundary=bad-ct")


@message("structure/content_type_invalid_top_level.eml")
def _() -> bytes:
    return mail(
        crlf("The top-level Content-Type is garbage.\n"),
        "invalid top-level content type",
        Content_Type="garbage",
    )


@message("structure/unknown_charset.eml")
def _() -> bytes:
    """Charset labels nobody registered (RFC 2046 §4.1.2 lets readers show them raw)."""
    body = multipart(
        "unknown-cs",
        [
            part("text/plain; charset=x-unknown", crlf(LETTER), cte="8bit"),
            part(
                'text/plain; charset="x-user-defined"',
                quoted_printable(thai("tis-620")),
                cte="quoted-printable",
            ),
        ],
    )
    return mail(
        body,
        "=?x-unknown?Q?=E0=B8=81=E0=B8=82?= unknown charset",
        Content_Type="multipart/mixed; boundary=unknown-cs",
    )


@message("structure/all_content_fields.eml")
def _() -> bytes:
    """Every body field BODYSTRUCTURE reports: id, description, md5, disposition with
    parameters, language (RFC 3282) and location (RFC 2557)."""
    body = multipart(
        "fields",
        [
            part(
                "text/plain; charset=utf-8; format=flowed; delsp=yes",
                crlf(LETTER),
                "Content-ID: <letter@bangkok.go.th>",
                f"Content-Description: {encoded_words('หนังสือเชิญประชุม', 'UTF-8', 'B')}",
                "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==",
                'Content-Disposition: inline; filename="letter.txt";\n'
                ' creation-date="Mon, 15 Jan 2024 09:00:00 +0700"; size=512',
                "Content-Language: th, en (English too)",
                "Content-Location: https://intranet.bangkok.go.th/letters/3-2567.txt",
                cte="8bit",
            ),
            part(
                "image/png",
                base64_lines(PNG),
                "Content-Language: th",
                "Content-Location: plan.png",
                "Content-Disposition: INLINE",
                cte="base64",
            ),
        ],
    )
    return mail(
        body,
        "all content fields",
        Content_Type="multipart/mixed; boundary=fields",
        Content_Language="th",
        Content_Location="https://intranet.bangkok.go.th/letters/",
    )


@message("structure/html_only.eml")
def _() -> bytes:
    html = "<html><body><h1>ประกาศ</h1><p>" + LETTER.replace("\n", "<br>") + "</p></body></html>\n"
    return mail(
        base64_lines(crlf(html)),
        encoded_words("ประกาศ", "UTF-8", "Q"),
        Content_Type='text/html; charset="utf-8"',
        Content_Transfer_Encoding="base64",
    )


@message("structure/attachment_only.eml")
def _() -> bytes:
    return mail(
        base64_lines(PNG),
        "scan",
        Content_Type='image/png; name="scan.png"',
        Content_Transfer_Encoding="base64",
        Content_Disposition='attachment; filename="scan.png"',
    )


@message("structure/deep_nesting.eml")
def _() -> bytes:
    """Eight levels of multipart/mixed, each with a text part beside the next level."""
    body = part("text/plain; charset=us-ascii", crlf("deepest\n"))
    for level in range(8, 0, -1):
        body = headers(f"Content-Type: multipart/mixed; boundary=level-{level}") + multipart(
            f"level-{level}", [part("text/plain; charset=us-ascii", crlf(f"level {level}\n")), body]
        )
    return mail(
        multipart("top", [body]), "deep nesting", Content_Type="multipart/mixed; boundary=top"
    )


# ---------------------------------------------------------------------------
# boundaries/: delimiters missing, misplaced or odd (RFC 2046 §5.1.1)
# ---------------------------------------------------------------------------


@message("boundaries/missing_close_delimiter.eml")
def _() -> bytes:
    body = multipart(
        "open-end", [part("text/plain", crlf("one\n")), part("text/plain", crlf("two\n"))]
    )
    body = body[: body.rindex(b"--open-end--")]
    return mail(body, "no close delimiter", Content_Type="multipart/mixed; boundary=open-end")


@message("boundaries/inner_close_missing.eml")
def _() -> bytes:
    """The inner multipart is never closed; the outer delimiter ends it."""
    inner = headers("Content-Type: multipart/alternative; boundary=b-inner") + (
        b"--b-inner\r\n\r\nA\r\n--b-inner\r\nContent-Type: text/html\r\n\r\n<b>B</b>\r\n"
    )
    body = multipart("b", [inner, part("text/plain", crlf("after the inner part\n"))])
    return mail(body, "inner close missing", Content_Type="multipart/mixed; boundary=b")


@message("boundaries/boundary_never_appears.eml")
def _() -> bytes:
    return mail(
        crlf(
            "--other-boundary\nContent-Type: text/plain\n\n"
            "no delimiter of ours\n--other-boundary--\n"
        ),
        "boundary never appears",
        Content_Type='multipart/mixed; boundary="not-used-anywhere"',
    )


@message("boundaries/multipart_without_boundary.eml")
def _() -> bytes:
    return mail(
        crlf("--\nContent-Type: text/plain\n\nno boundary parameter\n"),
        "multipart with no boundary parameter",
        Content_Type="multipart/alternative",
    )


@message("boundaries/preamble_and_epilogue.eml")
def _() -> bytes:
    """Text before the first and after the close delimiter, with delimiter look-alikes."""
    preamble = crlf(
        "This is a multi-part message in MIME format.\n"
        "--pre is not our boundary\n"
        "-- pe-boundary with a space is not one either\n\n"
    )
    epilogue = crlf("Epilogue text.\n--pe-boundary--\nafter a second close delimiter\n")
    body = multipart(
        "pe-boundary",
        [part("text/plain", crlf("first\n")), part("text/plain", crlf("second\n"))],
        preamble=preamble,
        epilogue=epilogue,
    )
    return mail(body, "preamble and epilogue", Content_Type="multipart/mixed; boundary=pe-boundary")


@message("boundaries/quoted_odd_characters.eml")
def _() -> bytes:
    """A quoted boundary using every bchar of RFC 2046 §5.1.1, space included."""
    boundary = "=_?:()'+,-./ odd = boundary"
    body = multipart(
        boundary, [part("text/plain", crlf("odd one\n")), part("text/plain", crlf("odd two\n"))]
    )
    return mail(body, "odd boundary", Content_Type=f'multipart/mixed;\n boundary="{boundary}"')


@message("boundaries/unquoted_specials.eml")
def _() -> bytes:
    """An unquoted boundary with '=' in it, as some mailers write (not a valid token)."""
    boundary = "----=_NextPart_000_0001_01DA4789.2567"
    body = multipart(
        boundary, [part("text/plain", crlf("plain\n")), part("text/html", crlf("<p>html</p>\n"))]
    )
    return mail(
        body,
        "unquoted boundary with specials",
        Content_Type=f"multipart/alternative; boundary={boundary}",
    )


@message("boundaries/similar_boundaries.eml")
def _() -> bytes:
    """Nested boundaries where one is a prefix of the other, and transport padding after a
    delimiter (RFC 2046 §5.1.1)."""
    inner = headers("Content-Type: multipart/alternative; boundary=part") + multipart(
        "part",
        [part("text/plain", crlf("inner plain\n")), part("text/html", crlf("<p>inner</p>\n"))],
    )
    body = (
        b"--part-outer   \r\n"
        + inner
        + b"--part-outer\t\r\n"
        + part("text/plain", crlf("outer second\n"))
        + b"\r\n--part-outer-- trailing words\r\n"
    )
    return mail(body, "similar boundaries", Content_Type="multipart/mixed; boundary=part-outer")


@message("boundaries/case_and_whitespace.eml")
def _() -> bytes:
    """Boundary parameter in upper case, folded, with a comment (RFC 2045 §5.1)."""
    body = multipart(
        "CaseSensitive", [part("text/plain", crlf("one\n")), part("text/plain", crlf("two\n"))]
    )
    body += crlf("--casesensitive\nnot a delimiter: boundaries are case-sensitive\n")
    return mail(
        body,
        "boundary case",
        Content_Type=(
            'Multipart/Mixed;\n\tBOUNDARY = "CaseSensitive" (a comment);\n\tcharset=us-ascii'
        ),
    )


@message("boundaries/delimiter_inside_part_header.eml")
def _() -> bytes:
    """A delimiter before a part's header has ended: the part is cut short there."""
    body = (
        b"--cut\r\nContent-Type: text/plain\r\nX-Cut: here\r\n"
        b"--cut\r\nContent-Type: text/plain\r\n\r\nnext part\r\n--cut--\r\n"
    )
    return mail(body, "delimiter inside a header", Content_Type="multipart/mixed; boundary=cut")


# ---------------------------------------------------------------------------
# lineends/: LF-only, mixed and missing line ends
# ---------------------------------------------------------------------------


@message("lineends/lf_only_plain.eml")
def _() -> bytes:
    fields = envelope(
        encoded_words(MEETING, "UTF-8", "B"),
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="8bit",
    )
    return ("\n".join(fields) + "\n\n" + LETTER).encode()


@message("lineends/lf_only_multipart.eml")
def _() -> bytes:
    crlf_form = MESSAGES["structure/mixed_alternative_related.eml"]()
    return crlf_form.replace(b"\r\n", b"\n")


@message("lineends/lf_only_header_only.eml")
def _() -> bytes:
    return ("\n".join(envelope("lf header only")) + "\n").encode()


@message("lineends/mixed_line_ends.eml")
def _() -> bytes:
    """CRLF in the header, LF and CRLF mixed in the body, a bare CR inside a line."""
    return mail(
        b"crlf line\r\nlf line\nanother crlf\r\nbare\rcr inside\r\n",
        "mixed line ends",
        Content_Type="text/plain; charset=us-ascii",
    )


@message("lineends/no_final_newline.eml")
def _() -> bytes:
    return mail(
        crlf(LETTER.rstrip("\n")),
        "no final newline",
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="8bit",
    )


# ---------------------------------------------------------------------------
# plain/: ordinary mail
# ---------------------------------------------------------------------------


@message("plain/simple_ascii.eml")
def _() -> bytes:
    return mail(
        crlf("Do you think we can meet at 3:30 tomorrow?\n"),
        "afternoon meeting",
        Content_Type="text/plain; charset=us-ascii",
    )


@message("plain/no_mime_version.eml")
def _() -> bytes:
    """An RFC 5322 message with no MIME fields at all."""
    return mail(crlf("Plain RFC 5322 text, no MIME-Version.\n"), "no mime", MIME_Version="")


@message("plain/reply_thread.eml")
def _() -> bytes:
    fields = envelope(
        "Re: " + encoded_words(MEETING, "UTF-8", "B"),
        In_Reply_To="<meeting-3-2567@bangkok.go.th>",
        References="<meeting-1-2567@bangkok.go.th> <meeting-3-2567@bangkok.go.th>",
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="quoted-printable",
    )
    text = "รับทราบครับ\n\n> " + LETTER.replace("\n", "\n> ").rstrip("> ") + "\n"
    return headers(*fields) + quoted_printable(crlf(text))


@message("plain/dots_and_from_lines.eml")
def _() -> bytes:
    """Lines SMTP must dot-stuff (RFC 5321 §4.5.2) and mbox must quote (From_ lines)."""
    fields = envelope("dots and From lines", Content_Type="text/plain; charset=us-ascii")
    text = (
        ".\n..\n.leading dot\nFrom the start of a line\n>From already quoted\n From with a space\n"
    )
    return headers(*fields) + crlf(text)


@message("plain/long_body_lines.eml")
def _() -> bytes:
    return mail(
        crlf(("ก" * 600) + "\n" + ("x" * 2000) + "\n"),
        "long body lines",
        Content_Type="text/plain; charset=utf-8",
        Content_Transfer_Encoding="8bit",
    )


@message("plain/date_and_id_oddities.eml")
def _() -> bytes:
    return mail(
        crlf("Date and ids that do not follow RFC 5322.\n"),
        "odd date",
        Date="15 Jan 2024 9:30 GMT+7 (ICT)",
        Message_ID="no-angle-brackets@bangkok.go.th",
        In_Reply_To="<a@b> (comment) <c@d>",
        Content_Type="text/plain; charset=us-ascii",
    )


# ---------------------------------------------------------------------------


def build() -> dict[str, bytes]:
    """Every corpus file: relative path -> bytes."""
    out = {}
    for name, make in sorted(MESSAGES.items()):
        _building.append(name)
        out[name] = make()
        _building.pop()
    return out


def write(root: Path = CORPUS) -> list[Path]:
    """Write the corpus under ``root``; return the paths written."""
    written = []
    for name, data in build().items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else CORPUS):
        print(written_path)
