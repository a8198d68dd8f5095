"""The message corpus the tests read: our own files, plus an optional extra directory.

The ``*.eml`` files here are written by ``make_corpus.py`` and committed (README.md says
which file holds which shape of message).  ``MAILSERVER_EXTRA_CORPUS`` may name a further
directory of ``*.eml`` files (a real-world corpus kept outside the repository): when it is
set, the differential FETCH test and the MIME parser test also run over those files; when
it is unset, those extra cases are simply not generated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent
EXTRA_CORPUS_VARIABLE = "MAILSERVER_EXTRA_CORPUS"


@dataclass(frozen=True)
class Corpus:
    """A directory of messages and the name its test cases carry."""

    name: str
    root: Path

    def messages(self) -> list[Path]:
        """Every ``*.eml`` file under the directory, in a stable order."""
        return sorted(self.root.rglob("*.eml"))

    def case_id(self, path: Path) -> str:
        """A test id for one of its messages: the corpus name and the relative path."""
        return f"{self.name}:{path.relative_to(self.root).as_posix()}"


OWN = Corpus("own", CORPUS)


def extra_corpus() -> Corpus | None:
    """The directory ``MAILSERVER_EXTRA_CORPUS`` names, or None when it is unset.

    A variable that names no directory is a mistake worth stopping for, not a quiet skip.
    """
    value = os.environ.get(EXTRA_CORPUS_VARIABLE)
    if not value:
        return None
    root = Path(value).resolve()
    if not root.is_dir():
        raise RuntimeError(f"{EXTRA_CORPUS_VARIABLE}={value} is not a directory")
    return Corpus("extra", root)


def corpora() -> list[Corpus]:
    """Our corpus, then the extra one when the variable is set."""
    extra = extra_corpus()
    return [OWN] if extra is None else [OWN, extra]


def own_messages() -> list[Path]:
    """The files of our own corpus."""
    return OWN.messages()
