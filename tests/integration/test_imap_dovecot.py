"""Differential test against Dovecot, the reference IMAP server on Debian.

Every message of the corpus (tests/corpus/, and the directory MAILSERVER_EXTRA_CORPUS
names when it is set) is APPENDed to both servers; ENVELOPE, BODYSTRUCTURE, BODY[section]
and BINARY[part] responses are compared byte for byte, status included.  A difference is
either our bug or a choice backed by the RFC, written down in `ACCEPTED` with the reason
and the exact bytes that differ, so an accepted difference cannot hide another one.

Only the wire form is normalised: quoted string or literal (RFC 3501 §4.3), and literal8
or literal for data without NUL (RFC 3516 §4.3), are the server's choice; the text after
a NO response code is free text.  BINARY.SIZE is not compared: Dovecot 2.3's figure for
base64 text parts is not the length of its own BINARY answer.
"""

from __future__ import annotations

import imaplib
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.corpus import Corpus, corpora
from tests.integration.conftest import PASSWORD, MailServer, client_tls_context
from tests.integration.dovecot import PASSWORD as DOVECOT_PASSWORD
from tests.integration.dovecot import Dovecot, dovecot  # noqa: F401 (fixture)

BOB = "bob@bangkok.go.th"
ITEMS = (
    "ENVELOPE",
    "BODYSTRUCTURE",
    "BODY[HEADER]",
    "BODY[TEXT]",
    "BODY[1]",
    "BODY[1.MIME]",
    "BODY[2]",
    "BODY[2.MIME]",
    "BODY[3]",
    "BODY[3.MIME]",
    "BODY[4]",
    "BODY[4.MIME]",
    "BODY[1.1]",
    "BODY[1.2]",
    "BODY[1.2.1]",
    "BODY[1.2.2.MIME]",
    "BODY[2.HEADER]",
    "BODY[2.TEXT]",
    "BODY[2.1]",
    "BODY[2.2]",
    "BODY[3.HEADER]",
    "BODY[HEADER.FIELDS (FROM TO SUBJECT)]",
    "BODY[HEADER.FIELDS.NOT (RECEIVED DATE)]",
    "BINARY[1]",
    "BINARY[2]",
    "BINARY[3]",
    "BINARY[4]",
)


@dataclass(frozen=True)
class Accepted:
    """Why our answer differs, and how: each (Dovecot's bytes, ours) pair, replaced in
    Dovecot's answer, must give ours exactly.  No pairs: the whole answer differs."""

    reason: str
    replacements: tuple[tuple[bytes, bytes], ...] = ()


_RFC2045_DEFAULT = (
    "RFC 2045 §5.2: a syntactically invalid Content-Type is to be taken as the default "
    "text/plain; charset=us-ascii, which is what we report; Dovecot echoes the broken "
    "type with an empty subtype, which no client can display."
)
_LENIENT_DECODING = (
    "RFC 2045 §6.8 tells base64 decoders to ignore characters outside the alphabet and "
    "§6.7 asks quoted-printable decoders to be robust (an '=' not followed by two hex "
    "digits is kept as it is), so we decode what can be decoded; Dovecot refuses the "
    "whole part with NO [PARSE]."
)
_DELIMITER_LINE_BREAK = (
    "RFC 2046 §5.1.1: the line break before a delimiter belongs to the delimiter. An "
    "encapsulated message that is only a header, its blank line right before the next "
    "delimiter, therefore ends without that blank line; Dovecot leaves it out of the "
    "message's HEADER too but counts it in the part: 2 octets and 1 line more."
)
_HEADER_ONLY_PART = (
    (b"NIL NIL NIL NIL) 3 NIL", b"NIL NIL NIL NIL) 2 NIL"),
    (b'"7bit" 60 (', b'"7bit" 58 ('),
)
_HEADER_ONLY_CONTENT = ((b"attachment\r\n\r\n)", b"attachment\r\n)"),)

# Test case id (corpus:file) and item -> why our answer may differ from Dovecot's, and how.
# The "extra:" entries are for the fixtures of the Ruby mail library (mikel/mail), the
# real-world corpus MAILSERVER_EXTRA_CORPUS is meant for (docs/architecture.md, Testing).
ACCEPTED: dict[tuple[str, str], Accepted] = {
    ("own:structure/content_type_invalid.eml", "BODYSTRUCTURE"): Accepted(
        _RFC2045_DEFAULT,
        (
            (b'("text" "" (', b'("text" "plain" ('),
            *(
                (
                    b'("" "" NIL NIL NIL "7bit" %d NIL' % size,
                    b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" %d 0 NIL' % size,
                )
                for size in (12, 15, 20)
            ),
        ),
    ),
    ("own:structure/content_type_invalid_top_level.eml", "BODYSTRUCTURE"): Accepted(
        _RFC2045_DEFAULT,
        (
            (
                b'("garbage" "" NIL NIL NIL "7bit" 40 NIL',
                b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 40 1 NIL',
            ),
        ),
    ),
    ("own:structure/message_rfc822_base64.eml", "BODYSTRUCTURE"): Accepted(
        "RFC 2046 §5.1.1: the line break before a delimiter belongs to the delimiter, so the "
        "base64-encoded message/rfc822 part (which §5.2.1 forbids) ends before it. Dovecot "
        "reads the base64 text as the header of the encapsulated message and counts the "
        "line break in the part: 2 octets and 1 line more.",
        (
            (b'"base64" 1868 ', b'"base64" 1866 '),
            (b"0 0 NIL NIL NIL NIL) 24 ", b"0 0 NIL NIL NIL NIL) 23 "),
        ),
    ),
    ("own:structure/message_rfc822_base64.eml", "BODY[2]"): Accepted(
        "RFC 2046 §5.1.1, as for its BODYSTRUCTURE: the part's content ends before the line "
        "break that precedes the close delimiter; Dovecot includes that line break.",
        ((b"=\r\n)", b"=)"),),
    ),
    ("own:structure/message_rfc822_base64.eml", "BINARY[2]"): Accepted(
        "RFC 3516 §4.2: BINARY is the content with its Content-Transfer-Encoding removed; we "
        "decode the base64, Dovecot returns the encoded text unchanged."
    ),
    ("own:structure/message_rfc822_header_only.eml", "BODYSTRUCTURE"): Accepted(
        _DELIMITER_LINE_BREAK, _HEADER_ONLY_PART
    ),
    ("own:structure/message_rfc822_header_only.eml", "BODY[2]"): Accepted(
        _DELIMITER_LINE_BREAK, _HEADER_ONLY_CONTENT
    ),
    ("own:structure/message_rfc822_header_only.eml", "BINARY[2]"): Accepted(
        _DELIMITER_LINE_BREAK, _HEADER_ONLY_CONTENT
    ),
    ("own:encodings/base64_sloppy.eml", "BINARY[1]"): Accepted(_LENIENT_DECODING),
    ("own:encodings/quoted_printable_edges.eml", "BINARY[1]"): Accepted(_LENIENT_DECODING),
    ("extra:error_emails/content_transfer_encoding_with_semi_colon.eml", "BINARY[2]"): (
        Accepted(_LENIENT_DECODING)
    ),
    ("extra:attachment_emails/attachment_message_rfc822_inline_image.eml", "BODYSTRUCTURE"): (
        Accepted(
            _DELIMITER_LINE_BREAK,
            (
                (b'"7bit" 1853 (', b'"7bit" 1851 ('),
                (b"NIL NIL NIL) 37 NIL", b"NIL NIL NIL) 36 NIL"),
            ),
        )
    ),
    ("extra:attachment_emails/attachment_message_rfc822_inline_image.eml", "BODY[2]"): Accepted(
        _DELIMITER_LINE_BREAK, ((b"textdrive.com\r\n\r\n)", b"textdrive.com\r\n)"),)
    ),
    ("extra:attachment_emails/attachment_message_rfc822_inline_image.eml", "BINARY[2]"): (
        Accepted(_DELIMITER_LINE_BREAK, ((b"textdrive.com\r\n\r\n)", b"textdrive.com\r\n)"),))
    ),
}


def corpus_messages(corpus: Corpus) -> list[Path]:
    # Empty files are skipped: both servers refuse a zero-byte APPEND.
    return [p for p in corpus.messages() if p.stat().st_size > 0]


def normalise(raw: bytes) -> bytes:
    """Line ends as CRLF, as IMAP sends them."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def fetch_all(imap: imaplib.IMAP4, count: int) -> dict[tuple[int, str], bytes]:
    """Each item of each message: the status and the answer as one byte string."""
    out = {}
    for seq in range(1, count + 1):
        for item in ITEMS:
            typ, data = imap.fetch(str(seq), f"({item})")
            if typ != "OK":
                # The text after the response code is free text (RFC 3501 §7.1).
                code = re.match(rb"\[[^\]]*\]", data[0] or b"")
                out[(seq, item)] = typ.encode() + b" " + (code.group() if code else b"")
                continue
            # Dovecot follows a failed BINARY with an unsolicited "n FETCH (UID n)".
            answers = [e for e in data if e and not _unsolicited_uid(e)]
            out[(seq, item)] = b"OK " + b"".join(_flatten(e) for e in answers)
    return out


def _unsolicited_uid(entry: bytes | tuple[bytes, bytes]) -> bool:
    return isinstance(entry, bytes) and re.fullmatch(rb"\d+ \(UID \d+\)", entry) is not None


def _flatten(entry: bytes | tuple[bytes, bytes]) -> bytes:
    """imaplib splits literals off: put them back in one canonical form.

    Quoted string or literal is the server's choice (RFC 3501 §4.3); a literal that
    could have been quoted is compared as the quoted string.  A literal8 is only needed
    for data with NUL (RFC 3516 §4.3), so without NUL it is compared as a literal.
    """
    if not isinstance(entry, tuple):
        return entry
    head, literal = entry
    marker = re.search(rb"(~?)\{\d+\}$", head)
    assert marker is not None, head
    head = head[: marker.start()] + (marker.group(1) if b"\x00" in literal else b"")
    if re.search(rb"[\r\n\x00]", literal):
        return head + b"{}" + literal
    return head + b'"' + re.sub(rb'(["\\])', rb"\\\1", literal) + b'"'


def load(imap: imaplib.IMAP4, messages: list[Path]) -> None:
    for path in messages:
        typ, data = imap.append("INBOX", None, None, normalise(path.read_bytes()))
        assert typ == "OK", (path, data)
    imap.select("INBOX")


def explained(expected: bytes, got: bytes | None, accepted: Accepted) -> bool:
    """Does the accepted difference account for all of it?"""
    if not accepted.replacements:
        return True
    for dovecot_bytes, ours in accepted.replacements:
        if dovecot_bytes not in expected:
            return False  # stale: Dovecot's answer changed, look again
        expected = expected.replace(dovecot_bytes, ours)
    return expected == got


@pytest.mark.parametrize("corpus", corpora(), ids=lambda c: c.name)
def test_fetch_responses_match_dovecot(
    server: MailServer,
    dovecot: Dovecot,  # noqa: F811
    corpus: Corpus,
) -> None:
    messages = corpus_messages(corpus)
    ours = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=client_tls_context())
    ours.login(BOB, PASSWORD)
    reference = imaplib.IMAP4("127.0.0.1", dovecot.port)
    reference.login("bob", DOVECOT_PASSWORD)
    load(ours, messages)
    load(reference, messages)
    got = fetch_all(ours, len(messages))
    want = fetch_all(reference, len(messages))
    differences = []
    names = [corpus.case_id(path) for path in messages]
    unused = {key for key in ACCEPTED if key[0] in names}
    for (seq, item), expected in want.items():
        name = names[seq - 1]
        ours_text = got.get((seq, item))
        if ours_text == expected:
            continue
        accepted = ACCEPTED.get((name, item))
        if accepted is not None and explained(expected, ours_text, accepted):
            unused.discard((name, item))
            continue
        ours_text = ours_text or b""
        pairs = enumerate(zip(expected, ours_text, strict=False))
        at = next((i for i, (a, b) in pairs if a != b), min(len(expected), len(ours_text)))
        start = max(0, at - 80)
        differences.append(
            f"{name} {item} (from byte {at})\n  dovecot: "
            f"{expected[start : start + 240]!r}\n  ours:    "
            f"{ours_text[start : start + 240]!r}"
        )
    ours.logout()
    reference.logout()
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences[:30])
    assert not unused, f"accepted differences that no longer occur: {sorted(unused)}"
