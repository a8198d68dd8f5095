"""The login normaliser (mailserver/logins.py): its rules by example, and its properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailserver.directory import DirectoryError
from mailserver.directory.values import valid_login
from mailserver.logins import MAX_LOGIN, normal_login

THAI_DOMAIN = "\u0e15\u0e31\u0e27\u0e2d\u0e22\u0e48\u0e32\u0e07.th"  # ตัวอย่าง.th


@pytest.mark.parametrize(
    ("typed", "normal"),
    [
        ("kanya@bangkok.go.th", "kanya@bangkok.go.th"),
        ("KANYA@Bangkok.GO.TH", "kanya@bangkok.go.th"),
        ("somchai.k", "somchai.k"),  # a bare uid is a login too (LDAP)
        ("o'brien+mail@bangkok.go.th", "o'brien+mail@bangkok.go.th"),
        (f"kanya@{THAI_DOMAIN}", "kanya@xn--72c1a1bt4awk9o.th"),  # IDNA A-label
        ("kanya@XN--72C1A1BT4AWK9O.th", "kanya@xn--72c1a1bt4awk9o.th"),
        # Refused, never mapped:
        ("\u212aanya@bangkok.go.th", None),  # KELVIN SIGN
        ("kanya@bang\u212aok.go.th", None),
        ("\uff4banya@bangkok.go.th", None),  # fullwidth k
        ("kanya@bangkok\u3002go.th", None),  # ideographic full stop
        ("\ufb01sh@bangkok.go.th", None),  # fi ligature
        ("kanya@fa\u00df.de", None),  # IDNA 2003 would map ß to ss
        ("\u0e01\u0e19\u0e01@bangkok.go.th", None),  # non-ASCII local part
        # Whitespace is never trimmed:
        ("kanya@bangkok.go.th ", None),
        (" kanya@bangkok.go.th", None),
        ("kan ya@bangkok.go.th", None),
        ("kanya@bangkok.go.th\u00a0", None),
        # Control characters:
        ("kanya\x00@bangkok.go.th", None),
        ("kanya@bangkok.go.th\r\n", None),
        ("kanya\x7f", None),
        # Shape:
        ("", None),
        ("@bangkok.go.th", None),
        ("kanya@", None),
        ("kanya@bangkok.go.th.", None),
        ("kanya@bangkok..go.th", None),
        ("a@b@bangkok.go.th", None),
        ("x" * (MAX_LOGIN + 1), None),
    ],
)
def test_rules(typed: str, normal: str | None) -> None:
    assert normal_login(typed) == normal


def test_not_text_is_not_a_login() -> None:
    assert normal_login(None) is None
    assert normal_login(b"kanya") is None


def test_lone_surrogates_are_refused() -> None:
    assert normal_login("kanya\udcff@bangkok.go.th") is None
    assert normal_login("kanya@bang\udcffkok.go.th") is None


logins = st.text() | st.from_regex(r"[A-Za-z0-9._'+-]{1,20}@[A-Za-z0-9.-]{1,20}", fullmatch=True)


@given(logins)
def test_never_raises_and_is_idempotent(typed: str) -> None:
    normal = normal_login(typed)
    if normal is not None:
        assert normal_login(normal) == normal


@given(logins)
def test_output_is_ascii_lower_case_without_spaces(typed: str) -> None:
    normal = normal_login(typed)
    if normal is not None:
        assert normal.isascii() and normal.isprintable()
        assert normal == normal.lower() and not any(c.isspace() for c in normal)
        assert len(normal) <= MAX_LOGIN


@given(logins)
def test_output_is_what_the_directory_stores(typed: str) -> None:
    normal = normal_login(typed)
    if normal is None:
        with pytest.raises(DirectoryError):
            valid_login(typed)
    else:
        assert valid_login(typed) == normal


@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1))
def test_a_non_ascii_local_part_is_never_another_users_login(typed: str) -> None:
    # Whatever the Unicode, a local part that is not ASCII as typed never becomes one.
    local = typed.partition("@")[0]
    if not local.isascii():
        assert normal_login(typed) is None
