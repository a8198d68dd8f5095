"""LIST and LSUB mailbox patterns (RFC 3501 §6.3.8), matched without backtracking.

`*` matches any run of characters, the hierarchy delimiter included; `%` matches
any run that holds no delimiter; every other character matches itself, except
that a pattern starting with `INBOX` matches that prefix without regard to
(ASCII) case (RFC 3501 §5.1: INBOX is case-insensitive).

A pattern used to become a regular expression, and Python's backtracking engine
needs time exponential in the number of wildcards for a pattern such as
`*a*a*a*a*a*a*a*a*b` against a long name that does not match: one client could
hold the event loop for seconds. This matcher instead carries the set of pattern
positions the name read so far can have reached (a Thompson-style simulation,
the guarantee Dovecot's imap-match gives): every character of the name is read
exactly once and moves the whole set at once, as a bit mask with one bit per
position. A match is len(name) steps of a few integer operations on
len(pattern) + 1 bits: O(n·m) bit work, done word by word in C.

Two shortcuts keep m small for hostile input: a run of wildcards is one wildcard
(`*` if it holds one, else `%`), and a pattern with more literal characters than
the name has cannot match it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ANY = "*"
ANY_BUT_DELIMITER = "%"
WILDCARDS = (ANY, ANY_BUT_DELIMITER)
INBOX = "INBOX"


def collapse_wildcards(pattern: str) -> str:
    """Each run of wildcards as one: `*` if the run holds a `*`, else `%`."""
    out: list[str] = []
    for char in pattern:
        if char in WILDCARDS and out and out[-1] in WILDCARDS:
            out[-1] = ANY if ANY in (char, out[-1]) else ANY_BUT_DELIMITER
        else:
            out.append(char)
    return "".join(out)


@dataclass(frozen=True)
class ListPattern:
    """A compiled `reference + pattern` of LIST/LSUB; `matches` tests one mailbox name."""

    tokens: str
    delimiter: str
    inbox_prefix: bool
    _any: int = field(init=False, repr=False)
    _any_but_delimiter: int = field(init=False, repr=False)
    _literal: dict[str, int] = field(init=False, repr=False)
    _literals: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", collapse_wildcards(self.tokens))
        # Bit i stands for "the name read so far ends where token i begins".
        any_mask = any_but = 0
        literal: dict[str, int] = {}
        for position, token in enumerate(self.tokens):
            bit = 1 << position
            if token == ANY:
                any_mask |= bit
            elif token == ANY_BUT_DELIMITER:
                any_but |= bit
            elif self.inbox_prefix and position < len(INBOX):
                for spelling in {token.upper(), token.lower()}:
                    literal[spelling] = literal.get(spelling, 0) | bit
            else:
                literal[token] = literal.get(token, 0) | bit
        object.__setattr__(self, "_any", any_mask)
        object.__setattr__(self, "_any_but_delimiter", any_but)
        object.__setattr__(self, "_literal", literal)
        literals = sum(1 for token in self.tokens if token not in WILDCARDS)
        object.__setattr__(self, "_literals", literals)

    @classmethod
    def compile(cls, reference: str, pattern: str, delimiter: str) -> ListPattern:
        """RFC 3501 §6.3.8: the reference and the pattern are joined, then matched whole."""
        full = reference + pattern
        return cls(full, delimiter, full.upper().startswith(INBOX))

    def matches(self, name: str) -> bool:
        """Whether `name` (the whole of it) matches the pattern."""
        return self.match_counting(name)[0]

    def match_counting(self, name: str) -> tuple[bool, int]:
        """The match result and the number of steps it took.

        A step reads one character of the name and moves every reached position at
        once (a few operations on a mask of len(tokens) + 1 bits); nothing is ever
        read twice, so the steps never exceed len(name).
        """
        if self._literals > len(name):
            return False, 0
        wildcards = self._any | self._any_but_delimiter
        reached = self._close(1, wildcards)
        steps = 0
        for char in name:
            steps += 1
            following = (reached & self._literal.get(char, 0)) << 1 | (reached & self._any)
            if char != self.delimiter:
                following |= reached & self._any_but_delimiter
            reached = self._close(following, wildcards)
            if not reached:
                return False, steps
        return bool(reached >> len(self.tokens) & 1), steps

    @staticmethod
    def _close(reached: int, wildcards: int) -> int:
        """A wildcard also matches nothing: reaching it reaches the position after it.

        Wildcards never follow each other (`collapse_wildcards`), so one shift is enough.
        """
        return reached | (reached & wildcards) << 1
