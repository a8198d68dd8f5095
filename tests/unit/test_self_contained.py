"""The tests carry their own data: nothing under tests/ reaches outside the repository.

A clone anywhere must run the suite, so no file under tests/ may name an absolute path
into the machine the project was first built on, nor climb out of the checkout to a
sibling ``shared`` directory.  This file names both patterns, so it skips itself.
"""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
# The two names are spelled in pieces so that this file does not hold what it looks for.
WORK, SHARED = b"/wo" + b"rk", b"sha" + b"red"
OUTSIDE = re.compile(
    rb"(?<![\w:/.-])" + WORK + rb"(?:/|\b)"  # an absolute path into the first machine's tree
    rb"|\.\./" + SHARED + rb"\b"  # a relative climb to the sibling directory
    rb"|parents\[\d+\]\s*/\s*[\"']" + SHARED + rb"[\"']"  # the same, built with pathlib
)


def test_no_file_under_tests_points_outside_the_repository() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*")):
        if not path.is_file() or path == Path(__file__).resolve():
            continue
        if "__pycache__" in path.parts or path.suffix == ".pyc":
            continue  # compiled files hold the path they were compiled at
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(TESTS)}:{number}: {line.strip()[:100]!r}")
    assert offenders == []


def test_the_pattern_catches_what_it_is_meant_to() -> None:
    for bad in (
        b'Path("' + WORK + b"/" + SHARED + b'/corpus")',
        b"'../" + SHARED + b"/x'",
        b"cd " + WORK,
        b'Path(__file__).parents[3] / "' + SHARED + b'" / "corpus"',
    ):
        assert OUTSIDE.search(bad), bad
    for fine in (
        b"https://example.com" + WORK + b"/x",
        b"tests/corpus" + WORK + b".eml",
        WORK + b"space",
    ):
        assert not OUTSIDE.search(fine), fine
