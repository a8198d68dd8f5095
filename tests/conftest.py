"""Suite-wide guard: the tests write only to their temp directories, never into the checkout.

A test that runs the CLI or the server with the checkout as its working directory and
the default settings would create `./var` (a data directory, a directory database, a
policy log) beside the code, and a later `make run` would start on that stray data.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
# What running Python and its tools leaves behind by design.
TOOL_CACHES = ("__pycache__", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache")


def untracked_paths() -> set[str] | None:
    """Untracked and ignored paths of the checkout (directories collapsed); None outside git."""
    git = shutil.which("git")
    if git is None or not (CHECKOUT / ".git").exists():
        return None
    result = subprocess.run(
        [git, "status", "--porcelain", "--ignored=matching", "--untracked-files=normal"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=True,
    )
    paths = {line[3:] for line in result.stdout.splitlines() if line[:2] in ("??", "!!")}
    return {p for p in paths if not any(part in TOOL_CACHES for part in Path(p).parts)}


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean() -> Iterator[None]:
    before = untracked_paths()
    yield
    after = untracked_paths()
    if before is not None and after is not None:
        created = sorted(after - before)
        assert not created, f"the tests wrote into the checkout: {created}"
