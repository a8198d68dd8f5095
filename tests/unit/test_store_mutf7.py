"""Modified UTF-7 (RFC 3501 §5.1.3): known vectors, round trips, strict decoding."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailserver import mutf7


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("INBOX", "INBOX"),
        ("a&b", "a&-b"),
        ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 §5.1.3
        ("Entwürfe", "Entw&APw-rfe"),
        ("จดหมาย", "&DggOFA4rDiEOMg4i-"),
    ],
)
def test_vectors(text: str, encoded: str) -> None:
    assert mutf7.encode(text) == encoded
    assert mutf7.decode(encoded) == text


@pytest.mark.parametrize("text", ["จดหมาย", "รายงาน", "ผี", "ü", "😀", "日本語"])
def test_base64_runs_agree_with_python_utf7(text: str) -> None:
    # For a run of non-ASCII, UTF-7 (RFC 2152) differs only in '+' for '&', '/' for ','.
    expected = text.encode("utf-7").decode("ascii").replace("+", "&").replace("/", ",")
    assert mutf7.encode(text) == expected


@given(st.text())
def test_round_trip(text: str) -> None:
    assert mutf7.decode(mutf7.encode(text)) == text


@pytest.mark.parametrize(
    "bad",
    [
        "&Jjo",  # unterminated
        "&AGE-",  # "a" encoded: must be direct
        "&Jjo-&Jjo-",  # two adjacent runs: must be one
        "&Jj!-",  # bad alphabet
        "&U/BTFw-",  # '/' instead of ','
        "ก",  # raw non-ASCII
    ],
)
def test_non_canonical_forms_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        mutf7.decode(bad)
