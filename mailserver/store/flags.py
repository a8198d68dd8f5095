"""Flags in Maildir file names and keywords in `dovecot-keywords`.

A message's flags live in its file name after ":2," (the Maildir "info"), one
letter each, in ASCII order: D=\\Draft F=\\Flagged P=$Forwarded (Maildir's
"passed") R=\\Answered S=\\Seen T=\\Deleted. Lowercase letters are keywords:
'a' is line 0 of `dovecot-keywords` ("0 $Junk"), 'b' line 1, ... so at most 26
keywords per mailbox, as in Dovecot. \\Recent is never stored: it is session
state (RFC 3501 §2.3.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mailserver.durable import write_file_durably
from mailserver.store.errors import InvalidFlag

INFO_SEP = ":2,"
KEYWORDS_FILE = "dovecot-keywords"
RECENT = "\\Recent"

LETTER_TO_FLAG = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "P": "$Forwarded",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}
_FLAG_TO_LETTER = {flag.lower(): letter for letter, flag in LETTER_TO_FLAG.items()}
SYSTEM_FLAGS = frozenset(f for f in LETTER_TO_FLAG.values() if f.startswith("\\"))

# RFC 3501 §9: flag-keyword = atom; atom-specials are "(){ %*]\"\\" and CTLs.
_ATOM_SPECIALS = frozenset('(){ %*]"\\')


def canonical_flag(flag: str) -> str | None:
    """The stored spelling of a client's flag; None for \\Recent, which cannot be set."""
    lower = flag.lower()
    if lower == RECENT.lower():
        return None
    letter = _FLAG_TO_LETTER.get(lower)
    if letter is not None:
        return LETTER_TO_FLAG[letter]
    if flag.startswith("\\"):
        raise InvalidFlag(f"unknown system flag {flag!r}")
    if not flag or any(c in _ATOM_SPECIALS or not 0x20 < ord(c) < 0x7F for c in flag):
        raise InvalidFlag(f"{flag!r} is not a keyword atom")
    return flag


class Keywords:
    """The mailbox's keyword table (`dovecot-keywords`: "<index> <name>" per line).

    Keywords compare case-insensitively (RFC 3501 §2.3.2), the first spelling stored wins.
    """

    def __init__(self, names: list[str | None]) -> None:
        self.names = names
        self._index = {n.lower(): i for i, n in enumerate(names) if n is not None}
        self.dirty = False

    @classmethod
    def load(cls, mailbox_dir: Path) -> Keywords:
        """Read the table; a missing file is an empty table, bad lines are skipped."""
        names: list[str | None] = []
        try:
            text = (mailbox_dir / KEYWORDS_FILE).read_text("utf-8", errors="replace")
        except FileNotFoundError:
            return cls(names)
        for line in text.splitlines():
            index, _, name = line.partition(" ")
            if index.isdigit() and name and int(index) < 26:
                i = int(index)
                names.extend([None] * (i + 1 - len(names)))
                names[i] = name
        return cls(names)

    def save(self, mailbox_dir: Path) -> None:
        """Write the table atomically (the caller holds the mailbox lock)."""
        lines = "".join(f"{i} {n}\n" for i, n in enumerate(self.names) if n is not None)
        write_file_durably(mailbox_dir / KEYWORDS_FILE, lines.encode(), caller_holds_lock=True)
        self.dirty = False

    def name(self, letter: str) -> str | None:
        """The keyword for a lowercase letter, None when the table has no such entry."""
        i = ord(letter) - ord("a")
        return self.names[i] if 0 <= i < len(self.names) else None

    def letter(self, keyword: str) -> str:
        """The letter of `keyword`, adding it to the table (dirty) if new."""
        i = self._index.get(keyword.lower())
        if i is None:
            if None in self.names:
                i = self.names.index(None)
                self.names[i] = keyword
            elif len(self.names) < 26:
                i = len(self.names)
                self.names.append(keyword)
            else:
                raise InvalidFlag("this mailbox already has 26 keywords, the Maildir limit")
            self._index[keyword.lower()] = i
            self.dirty = True
        return chr(ord("a") + i)

    def known(self, keyword: str) -> str | None:
        """The stored spelling of a keyword already in the table."""
        i = self._index.get(keyword.lower())
        return None if i is None else self.names[i]


def decode_letters(letters: str, keywords: Keywords) -> frozenset[str]:
    """Flags named by the info letters; letters nobody defined are ignored."""
    flags = []
    for letter in letters:
        flag = LETTER_TO_FLAG.get(letter) or (keywords.name(letter) if letter.islower() else None)
        if flag is not None:
            flags.append(flag)
    return frozenset(flags)


def encode_letters(flags: Iterable[str], keywords: Keywords, old_letters: str = "") -> str:
    """Info letters for `flags` (canonical spellings), keeping unknown letters of `old_letters`.

    Letters neither we nor the keyword table know (another MUA's extension) are kept, so a
    flag change never drops information we do not understand.
    """
    letters = {
        c
        for c in old_letters
        if c not in LETTER_TO_FLAG and not (c.islower() and keywords.name(c) is not None)
    }
    for flag in flags:
        letter = _FLAG_TO_LETTER.get(flag.lower())
        letters.add(letter if letter is not None else keywords.letter(flag))
    return "".join(sorted(letters))


def split_name(filename: str) -> tuple[str, str]:
    """(basename, info letters) of a Maildir file name; letters are "" without ":2,"."""
    base, sep, info = filename.partition(":")
    if sep and info.startswith("2,"):
        return base, info[2:]
    return base, ""
