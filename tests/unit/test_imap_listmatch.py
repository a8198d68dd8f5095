"""LIST/LSUB pattern matching (RFC 3501 §6.3.8): the cases of the RFC, agreement with
the regular expression the server used before, and a bounded step count."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailserver.imap.listmatch import ListPattern, collapse_wildcards

DELIMITER = "/"


def matches(reference: str, pattern: str, name: str) -> bool:
    return ListPattern.compile(reference, pattern, DELIMITER).matches(name)


def regex_reference(reference: str, pattern: str) -> re.Pattern[str]:
    """The translation the server used before: each wildcard became a regex group."""
    full = reference + pattern
    regex = "".join(
        ".*" if c == "*" else f"[^{re.escape(DELIMITER)}]*" if c == "%" else re.escape(c)
        for c in full
    )
    if full.upper().startswith("INBOX"):
        regex = "(?i:INBOX)" + regex[len(re.escape("INBOX")) :]
    return re.compile(f"^{regex}$")


RFC_CASES = [
    # (reference, pattern, name, matches)
    ("", "*", "INBOX", True),
    ("", "*", "Work/Projects/2026", True),
    ("", "%", "Work", True),
    ("", "%", "Work/Projects", False),  # % stops at the hierarchy delimiter
    ("", "Work/%", "Work/Projects", True),
    ("", "Work/%", "Work/Projects/2026", False),
    ("", "Work/*", "Work/Projects/2026", True),
    ("", "Work/*", "Work", False),
    ("", "Work*", "Work", True),  # a wildcard matches nothing too
    ("", "W%k", "Work", True),
    ("", "%/%", "Work/Projects", True),
    ("", "%/%", "Work", False),
    ("", "*s", "Work/Projects", True),
    ("", "%s", "Work/Projects", False),
    ("Work/", "%", "Work/Projects", True),  # the reference is prefixed to the pattern
    ("Work/", "%", "Projects", False),
    ("Work/", "*", "Work/Projects/2026", True),
    ("", "inbox", "INBOX", True),  # INBOX is case-insensitive (RFC 3501 §5.1)
    ("", "InBoX", "INBOX", True),
    ("", "INBOX", "inbox", True),
    ("", "inbox/%", "INBOX/Sub", True),
    ("", "inb%", "INBOX", False),  # only a pattern spelling out INBOX ignores case
    ("", "work", "Work", False),  # other names are case-sensitive
    ("", "Sent", "Sent", True),
    ("", "Sent", "Sent Items", False),  # the whole name must match
    ("", "Sent", "My Sent", False),
    ("", "ส่ง", "ส่ง", True),  # non-ASCII names match character by character
    ("", "%", "ส่ง/ก", False),
    ("", "", "INBOX", False),
]


@pytest.mark.parametrize(("reference", "pattern", "name", "expected"), RFC_CASES)
def test_rfc3501_list_patterns(reference: str, pattern: str, name: str, expected: bool) -> None:
    assert matches(reference, pattern, name) is expected


NAME_CHARS = st.sampled_from("abAB/xInboxINBOXé ก")
PATTERN_CHARS = st.sampled_from("abAB/xInboxINBOXé ก*%")


@settings(max_examples=600, deadline=None)
@given(
    reference=st.text(PATTERN_CHARS, max_size=4),
    pattern=st.text(PATTERN_CHARS, max_size=8),
    name=st.text(NAME_CHARS, max_size=10),
)
def test_agrees_with_the_regex_translation(reference: str, pattern: str, name: str) -> None:
    expected = bool(regex_reference(reference, pattern).match(name))
    assert matches(reference, pattern, name) is expected


@settings(max_examples=300, deadline=None)
@given(
    pattern=st.sampled_from(["INBOX", "inbox", "INBOX/", "InBox*", "inbox%"]),
    name=st.text(NAME_CHARS, max_size=10).map(lambda rest: "inbox" + rest),
)
def test_agrees_on_inbox_prefixes(pattern: str, name: str) -> None:
    expected = bool(regex_reference("", pattern).match(name))
    assert matches("", pattern, name) is expected


PATHOLOGICAL = [
    "*a*a*a*a*a*a*a*a*a*b",
    "%a%a%a%a%a%a%a%a%a%b",
    "*a%a*a%a*a%a*a%a*a%b",
    "*%*%*%*%*%*%*%*%*%*%b",
]


@pytest.mark.parametrize("pattern", PATHOLOGICAL)
def test_pathological_patterns_take_bounded_steps(pattern: str) -> None:
    name = "a" * 64  # never matches: no "b"; a backtracking engine tries every split
    compiled = ListPattern.compile("", pattern, DELIMITER)
    matched, steps = compiled.match_counting(name)
    assert not matched
    assert steps <= len(name)  # each character of the name is read once, never again


def test_step_count_grows_linearly_with_the_name() -> None:
    compiled = ListPattern.compile("", "*a*a*a*a*a*a*a*a*a*b", DELIMITER)
    _, short = compiled.match_counting("a" * 60)
    _, long = compiled.match_counting("a" * 600)
    assert long <= 11 * short  # ten times the name: about ten times the steps


def test_a_pattern_with_more_literals_than_the_name_is_refused_without_reading_it() -> None:
    compiled = ListPattern.compile("", "*a" * 30_000 + "b", DELIMITER)
    assert compiled.match_counting("a" * 255) == (False, 0)


def test_runs_of_wildcards_count_as_one() -> None:
    assert collapse_wildcards("a**b%%c*%d%*e") == "a*b%c*d*e"
    assert ListPattern.compile("", "%%%%", DELIMITER).tokens == "%"
    assert not matches("", "%%%%", "a/b")
    assert matches("", "%*%", "a/b")


def test_a_pathological_pattern_still_matches_correctly() -> None:
    compiled = ListPattern.compile("", "*a*a*a*a*a*a*a*a*a*b", DELIMITER)
    assert compiled.matches("a" * 60 + "b")
    assert not compiled.matches("a" * 8 + "b")  # nine a's needed
