"""Differential test against Dovecot, the reference IMAP server on Debian.

Every message of the shared corpus is APPENDed to both servers; ENVELOPE,
BODYSTRUCTURE and BODY[section] responses are compared byte for byte. A
difference is either our bug or a choice backed by the RFC, written down in
`ACCEPTED` with the reason.
"""

from __future__ import annotations

import imaplib
import re
from pathlib import Path

import pytest

from tests.integration.conftest import PASSWORD, MailServer, client_tls_context
from tests.integration.dovecot import PASSWORD as DOVECOT_PASSWORD
from tests.integration.dovecot import Dovecot, dovecot  # noqa: F401 (fixture)

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "mikel-mail"
BOB = "bob@bangkok.go.th"
ITEMS = ("ENVELOPE", "BODYSTRUCTURE", "BODY[HEADER]", "BODY[TEXT]", "BODY[1]", "BODY[1.MIME]")

# (corpus file, item) -> why our answer may differ from Dovecot's.
ACCEPTED: dict[tuple[str, str], str] = {}


def corpus_messages() -> list[Path]:
    if not CORPUS.is_dir():
        pytest.fail(f"the shared corpus is missing at {CORPUS}")
    # Empty files are skipped: both servers refuse a zero-byte APPEND.
    return sorted(
        p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE" and p.stat().st_size > 0
    )


def normalise(raw: bytes) -> bytes:
    """Line ends as CRLF, as IMAP sends them."""
    return re.sub(rb"(?<!\r)\n", b"\r\n", raw)


def fetch_all(imap: imaplib.IMAP4, count: int) -> dict[tuple[int, str], bytes]:
    """Each item of each message, as one byte string (literals joined back in)."""
    out = {}
    for seq in range(1, count + 1):
        for item in ITEMS:
            typ, data = imap.fetch(str(seq), f"({item})")
            assert typ == "OK", (seq, item, data)
            out[(seq, item)] = b"".join(_flatten(entry) for entry in data)
    return out


def _flatten(entry: bytes | tuple[bytes, bytes]) -> bytes:
    """imaplib splits literals off: put them back in one canonical form.

    Quoted string or literal is the server's choice (RFC 3501 §4.3); a literal that
    could have been quoted is compared as the quoted string.
    """
    if not isinstance(entry, tuple):
        return entry
    head, literal = entry
    head = re.sub(rb"\{\d+\}$", b"", head)
    if re.search(rb"[\r\n\x00]", literal):
        return head + b"{}" + literal
    return head + b'"' + re.sub(rb'(["\\])', rb"\\\1", literal) + b'"'


def load(imap: imaplib.IMAP4, messages: list[Path]) -> None:
    for path in messages:
        typ, data = imap.append("INBOX", None, None, normalise(path.read_bytes()))
        assert typ == "OK", (path, data)
    imap.select("INBOX")


def test_fetch_responses_match_dovecot(server: MailServer, dovecot: Dovecot) -> None:  # noqa: F811
    messages = corpus_messages()
    ours = imaplib.IMAP4_SSL("127.0.0.1", server.imaps_port, ssl_context=client_tls_context())
    ours.login(BOB, PASSWORD)
    reference = imaplib.IMAP4("127.0.0.1", dovecot.port)
    reference.login("bob", DOVECOT_PASSWORD)
    load(ours, messages)
    load(reference, messages)
    got = fetch_all(ours, len(messages))
    want = fetch_all(reference, len(messages))
    differences = []
    for (seq, item), expected in want.items():
        name = messages[seq - 1].relative_to(CORPUS).as_posix()
        if (name, item) in ACCEPTED:
            continue
        if got.get((seq, item)) != expected:
            ours_text = got.get((seq, item), b"")
            pairs = enumerate(zip(expected, ours_text, strict=False))
            at = next((i for i, (a, b) in pairs if a != b), 0)
            start = max(0, at - 80)
            differences.append(
                f"{name} {item} (from byte {at})\n  dovecot: "
                f"{expected[start : start + 240]!r}\n  ours:    "
                f"{ours_text[start : start + 240]!r}"
            )
    ours.logout()
    reference.logout()
    assert not differences, f"{len(differences)} differences:\n" + "\n".join(differences[:15])
