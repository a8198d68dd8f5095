"""The test corpus (tests/corpus/) is what its script writes and holds what its README lists.

Each shape of message the README names has a detector here, built on Python's ``email``
package (compat32) and plain byte checks, not on our own MIME parser, so a corpus file
cannot pass for a shape just because our parser misreads it.
"""

from __future__ import annotations

import base64
import email
import email.errors
import email.policy
import quopri
import re
from collections.abc import Callable, Iterator
from email.message import Message
from email.utils import getaddresses
from pathlib import Path

import pytest

from tests.corpus import CORPUS, own_messages
from tests.corpus.make_corpus import build

README = CORPUS / "README.md"
_THAI = re.compile("[\u0e01-\u0e5b]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=")
_CODECS = {"tis-620": "tis-620", "windows-874": "cp874", "utf-8": "utf-8"}
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class Sample:
    """One corpus file, read three ways: raw bytes, header lines, ``email`` message."""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        match = re.search(rb"\r?\n\r?\n", raw)
        self.header = raw if match is None else raw[: match.start() + 1]
        self.message = email.message_from_bytes(raw, policy=email.policy.compat32)

    def header_lines(self) -> list[bytes]:
        """Physical lines of the top-level header, line ends removed."""
        return [line.rstrip(b"\r") for line in self.header.split(b"\n") if line]

    def fields(self) -> Iterator[tuple[str, str]]:
        """(lower-case name, raw value) of every field of every entity, folding kept."""
        for part in self.message.walk():
            for name, value in part.items():
                yield name.lower(), str(value)

    def leaves(self) -> Iterator[Message]:
        """Every non-multipart entity."""
        return (p for p in self.message.walk() if not p.is_multipart())


def _cte(part: Message) -> str:
    return str(part.get("content-transfer-encoding", "7bit")).strip().lower()


def _decoded_words(value: str) -> Iterator[tuple[str, str, str]]:
    """(charset, B or Q, decoded text) of each RFC 2047 encoded-word in a raw value."""
    for charset, encoding, text in _ENCODED_WORD.findall(value):
        try:
            if encoding.upper() == "B":
                raw = base64.b64decode(text, validate=True)
            else:
                raw = quopri.decodestring(text.replace("_", " ").encode(), header=True)
            codec = _CODECS.get(charset.lower(), charset)
            yield charset.lower(), encoding.upper(), raw.decode(codec)
        except (ValueError, LookupError):
            continue


def thai_in_header(charset: str, encoding: str) -> Callable[[Sample], bool]:
    def detect(sample: Sample) -> bool:
        return any(
            cs == charset and enc == encoding and _THAI.search(text)
            for _, value in sample.fields()
            for cs, enc, text in _decoded_words(value)
        )

    return detect


def thai_in_body(charset: str, cte: str) -> Callable[[Sample], bool]:
    def detect(sample: Sample) -> bool:
        for part in sample.leaves():
            if part.get_content_charset() != charset or _cte(part) != cte:
                continue
            payload = part.get_payload(decode=True)
            try:
                if isinstance(payload, bytes) and _THAI.search(payload.decode(_CODECS[charset])):
                    return True
            except UnicodeDecodeError:
                continue
        return False

    return detect


def encoded_word_in(field: str, *, display_name: bool = False) -> Callable[[Sample], bool]:
    def detect(sample: Sample) -> bool:
        for name, value in sample.fields():
            if name != field:
                continue
            if not display_name and _ENCODED_WORD.search(value):
                return True
            if display_name and any(
                _ENCODED_WORD.search(n) and "@" in a for n, a in getaddresses([value])
            ):
                return True
        return False

    return detect


def _encoded_word_filename(sample: Sample) -> bool:
    return any(
        _ENCODED_WORD.search(str(part.get_param("filename", "", "content-disposition")))
        for part in sample.leaves()
    )


def _rfc2231(pattern: str) -> Callable[[Sample], bool]:
    def detect(sample: Sample) -> bool:
        return any(
            re.search(pattern, value, re.DOTALL)
            for name, value in sample.fields()
            if name in ("content-type", "content-disposition")
        )

    return detect


def cte(name: str) -> Callable[[Sample], bool]:
    return lambda sample: any(_cte(part) == name for part in sample.leaves())


def _nested_mixed_alternative_related(sample: Sample) -> bool:
    def has(part: Message, chain: list[str]) -> bool:
        if part.get_content_type() == chain[0]:
            if len(chain) == 1:
                return True
            chain = chain[1:]
        return part.is_multipart() and any(has(p, chain) for p in part.get_payload())

    return has(sample.message, ["multipart/mixed", "multipart/alternative", "multipart/related"])


def _message_rfc822(sample: Sample) -> bool:
    return any(
        p.get_content_type() == "message/rfc822" and isinstance(p.get_payload(), list)
        for p in sample.message.walk()
    )


def _message_rfc822_base64(sample: Sample) -> bool:
    return any(
        p.get_content_type() == "message/rfc822" and _cte(p) == "base64"
        for p in sample.message.walk()
    )


def _dsn(sample: Sample) -> bool:
    top = sample.message
    return (
        top.get_content_type() == "multipart/report"
        and top.get_param("report-type") == "delivery-status"
        and any(p.get_content_type() == "message/delivery-status" for p in top.walk())
    )


def _header_only_with_blank_line(sample: Sample) -> bool:
    match = re.search(rb"\r?\n\r?\n", sample.raw)
    return match is not None and match.end() == len(sample.raw) and match.start() > 0


def _header_only_no_blank_line(sample: Sample) -> bool:
    return re.search(rb"\n\r?\n", sample.raw) is None and b":" in sample.raw


def _line_without_colon(sample: Sample) -> bool:
    field = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")  # RFC 5322 §3.6.8, §4.5
    return any(
        line[:1] not in (b" ", b"\t") and not field.match(line) for line in sample.header_lines()
    )


def _nul_in_binary_part(sample: Sample) -> bool:
    return any(
        _cte(p) == "binary" and b"\x00" in (p.get_payload(decode=True) or b"")
        for p in sample.leaves()
    )


def _long_folded_header(sample: Sample) -> bool:
    for _, value in sample.fields():
        lines = value.split("\n")
        if len(lines) > 1 and len(value) > 998 and max(map(len, lines)) <= 998:
            return True
    return False


def _long_unfolded_header(sample: Sample) -> bool:
    return any(len(line) > 998 for line in sample.header_lines())


def _defect(kind: type[email.errors.MessageDefect]) -> Callable[[Sample], bool]:
    return lambda sample: any(isinstance(d, kind) for p in sample.message.walk() for d in p.defects)


def _preamble_and_epilogue(sample: Sample) -> bool:
    return any(
        (p.preamble or "").strip() and (p.epilogue or "").strip()
        for p in sample.message.walk()
        if p.is_multipart()
    )


def _boundary_odd(sample: Sample) -> bool:
    for part in sample.message.walk():
        boundary = part.get_boundary()
        raw = str(part.get("content-type", ""))
        if boundary and " " in boundary and not _TOKEN.fullmatch(boundary):
            return f'"{boundary}"' in raw
    return False


def _empty_part(sample: Sample) -> bool:
    return any(
        p.get_payload() == ""
        for top in sample.message.walk()
        if top.get_content_maintype() == "multipart"
        for p in top.get_payload()
    )


def _lf_only(sample: Sample) -> bool:
    return b"\n" in sample.raw and b"\r" not in sample.raw


def _rfc6532(sample: Sample) -> bool:
    try:
        text = sample.header.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return bool(re.search("^(From|To|Subject):.*[\u0e01-\u0e5b]", text, re.MULTILINE))


def _content_type_missing(sample: Sample) -> bool:
    top = sample.message
    if "mime-version" in top and "content-type" not in top:
        return True
    return any(
        "content-type" not in p
        for m in top.walk()
        if m.is_multipart() and m.get_content_type() != "multipart/digest"
        for p in m.get_payload()
    )


def _content_type_invalid(sample: Sample) -> bool:
    valid = re.compile(rf"\s*{_TOKEN.pattern}\s*/\s*{_TOKEN.pattern}\s*(;|\(|$)")
    return any(not valid.match(value) for name, value in sample.fields() if name == "content-type")


def charset_label(label: str) -> Callable[[Sample], bool]:
    def detect(sample: Sample) -> bool:
        if any(p.get_content_charset() == label for p in sample.message.walk()):
            return True
        return any(cs.lower() == label for _, v in sample.fields() for cs in _charsets(v))

    return detect


def _charsets(value: str) -> list[str]:
    return [charset for charset, _, _ in _ENCODED_WORD.findall(value)]


# The shapes the corpus must hold (README.md, "Shapes and where they are").
DETECTORS: dict[str, Callable[[Sample], bool]] = {
    **{
        f"thai-{name}-header-{enc.lower()}": thai_in_header(charset, enc)
        for name, charset in (("tis620", "tis-620"), ("windows874", "windows-874"))
        for enc in ("B", "Q")
    },
    "thai-utf8-header-b": thai_in_header("utf-8", "B"),
    "thai-utf8-header-q": thai_in_header("utf-8", "Q"),
    **{
        f"thai-{name}-body-{short}": thai_in_body(charset, cte_name)
        for name, charset in (
            ("tis620", "tis-620"),
            ("windows874", "windows-874"),
            ("utf8", "utf-8"),
        )
        for short, cte_name in (("qp", "quoted-printable"), ("base64", "base64"), ("8bit", "8bit"))
    },
    "encoded-word-subject": encoded_word_in("subject"),
    "encoded-word-from": encoded_word_in("from", display_name=True),
    "encoded-word-to": encoded_word_in("to", display_name=True),
    "encoded-word-cc": encoded_word_in("cc", display_name=True),
    "encoded-word-reply-to": encoded_word_in("reply-to", display_name=True),
    "encoded-word-comments": encoded_word_in("comments"),
    "encoded-word-filename": _encoded_word_filename,
    "rfc2231-parameter": _rfc2231(r"\w\*=[\w-]*'[\w-]*'"),
    "rfc2231-continuation": _rfc2231(r"\w\*0\*?=.*\w\*1\*?="),
    "cte-base64": cte("base64"),
    "cte-quoted-printable": cte("quoted-printable"),
    "cte-8bit": cte("8bit"),
    "cte-binary": cte("binary"),
    "nested-mixed-alternative-related": _nested_mixed_alternative_related,
    "message-rfc822": _message_rfc822,
    "message-rfc822-base64": _message_rfc822_base64,
    "multipart-report-dsn": _dsn,
    "header-only-with-blank-line": _header_only_with_blank_line,
    "header-only-no-blank-line": _header_only_no_blank_line,
    "header-line-without-colon": _line_without_colon,
    "utf8-bom": lambda sample: sample.raw.startswith(b"\xef\xbb\xbf"),
    "nul-in-binary-part": _nul_in_binary_part,
    "long-folded-header": _long_folded_header,
    "long-unfolded-header": _long_unfolded_header,
    "missing-close-delimiter": _defect(email.errors.CloseBoundaryNotFoundDefect),
    "boundary-never-appears": _defect(email.errors.StartBoundaryNotFoundDefect),
    "preamble-and-epilogue": _preamble_and_epilogue,
    "boundary-quoted-odd-characters": _boundary_odd,
    "empty-part": _empty_part,
    "lf-only": _lf_only,
    "rfc6532-utf8-header": _rfc6532,
    "content-type-missing": _content_type_missing,
    "content-type-invalid": _content_type_invalid,
    "unknown-charset": charset_label("x-unknown"),
    "iso-8859-1": charset_label("iso-8859-1"),
}


def manifest() -> dict[str, list[str]]:
    """README.md's table: shape -> the files said to hold it."""
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| [^|]+ \| (.+) \|$", README.read_text(), re.M)
    return {shape: re.findall(r"`([^`]+\.eml)`", files) for shape, files in rows}


def test_the_readme_lists_every_required_shape() -> None:
    assert sorted(manifest()) == sorted(DETECTORS)


@pytest.mark.parametrize(("shape", "name"), [(s, n) for s, ns in manifest().items() for n in ns])
def test_each_listed_file_holds_its_shape(shape: str, name: str) -> None:
    path = CORPUS / name
    assert path.is_file(), f"{name} is listed for {shape} but does not exist"
    assert DETECTORS[shape](Sample(path.read_bytes())), f"{name} does not hold {shape}"


def test_a_detector_rejects_a_file_without_its_shape() -> None:
    """The detectors can fail: an ordinary message holds none of the odd shapes."""
    plain = Sample((CORPUS / "plain" / "simple_ascii.eml").read_bytes())
    assert [shape for shape, detect in DETECTORS.items() if detect(plain)] == []


def test_the_committed_files_are_what_the_script_writes() -> None:
    expected = build()
    committed = {p.relative_to(CORPUS).as_posix(): p.read_bytes() for p in own_messages()}
    assert sorted(committed) == sorted(expected), "run python -m tests.corpus.make_corpus"
    stale = [name for name, data in expected.items() if committed[name] != data]
    assert stale == [], f"run python -m tests.corpus.make_corpus: {stale} differ"


def test_there_are_enough_messages_to_mean_something() -> None:
    assert len(own_messages()) >= 60
    assert all(Path(p).stat().st_size > 0 for p in own_messages())
