"""LIST and LSUB mailbox patterns (RFC 3501 §6.3.8), matched in O(n·m) steps.

`*` matches any run of characters, the hierarchy delimiter included; `%` matches
any run that holds no delimiter; every other character matches itself, except
that a pattern starting with `INBOX` matches that prefix without regard to case
(RFC 3501 §5.1: INBOX is case-insensitive).

A pattern used to become a regular expression, and Python's backtracking engine
needs time exponential in the number of wildcards for a pattern such as
`*a*a*a*a*a*a*a*a*b` against a long name that does not match: one client could
hold the event loop for seconds. This matcher instead advances the set of
pattern positions that the name read so far can have reached (a
Thompson-style simulation, the guarantee Dovecot's imap-match gives): each
character of the name looks at each pattern position at most once, so a match
costs at most (len(name) + 1) * (2 * len(pattern) + 1) steps whatever the pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

ANY = "*"
ANY_BUT_DELIMITER = "%"
INBOX = "INBOX"


@dataclass(frozen=True)
class ListPattern:
    """A compiled `reference + pattern` of LIST/LSUB; `matches` tests one mailbox name."""

    tokens: str
    delimiter: str
    inbox_prefix: bool

    @classmethod
    def compile(cls, reference: str, pattern: str, delimiter: str) -> ListPattern:
        """RFC 3501 §6.3.8: the reference and the pattern are joined, then matched whole."""
        full = reference + pattern
        return cls(full, delimiter, full.upper().startswith(INBOX))

    def matches(self, name: str) -> bool:
        """Whether `name` (the whole of it) matches the pattern."""
        return self.match_counting(name)[0]

    def match_counting(self, name: str) -> tuple[bool, int]:
        """The match result and the number of steps (position checks) it took.

        The step count is what bounds the work: never above
        (len(name) + 1) * (2 * len(tokens) + 1).
        """
        tokens, steps = self.tokens, 0
        # `reached[i]`: the name read so far can end where pattern position i begins.
        reached = self._close([True] + [False] * len(tokens))
        steps += len(reached)
        for char in name:
            following = [False] * (len(tokens) + 1)
            for position, token in enumerate(tokens):
                steps += 1
                if not reached[position]:
                    continue
                if token == ANY or (token == ANY_BUT_DELIMITER and char != self.delimiter):
                    following[position] = True
                elif self._same(token, char, position):
                    following[position + 1] = True
            reached = self._close(following)
            steps += len(reached)
            if not any(reached):
                return False, steps
        return reached[-1], steps

    def _close(self, reached: list[bool]) -> list[bool]:
        """A wildcard also matches nothing: reaching it reaches the position after it."""
        for position, token in enumerate(self.tokens):
            if reached[position] and token in (ANY, ANY_BUT_DELIMITER):
                reached[position + 1] = True
        return reached

    def _same(self, token: str, char: str, position: int) -> bool:
        # The INBOX prefix holds no wildcard: its positions meet the name's first characters.
        if self.inbox_prefix and position < len(INBOX):
            return token.upper() == char.upper() and char.isascii()
        return token == char
