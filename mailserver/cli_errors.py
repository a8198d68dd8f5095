"""How every `mailserver` command reports a failure: one line on stderr, an exit status.

An operator's mistake is one line, `mailserver: ...`, never a traceback, and the exit
status says what happened (POSIX shell conventions): 1 a failure, 2 a usage mistake,
130 interrupted (128 + SIGINT), 141 the reader of stdout went away (128 + SIGPIPE, as
`yes | head` reports). The commands in cli.py, backup/ and lifecycle/ all report
through `fail`, so the wording and the status are the same everywhere.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
# `mailserver account list | head`: head exits, our next write fails with EPIPE. Exit as
# a program killed by SIGPIPE would, so `set -o pipefail` scripts see the output was cut.
EXIT_BROKEN_PIPE = 141


class CliError(Exception):
    """A mistake the operator can fix; printed as one line."""


def fail(message: str, stream: TextIO | None = None) -> int:
    """Print `mailserver: message` on stderr (or `stream`); return the failure status."""
    print(f"mailserver: {message}", file=stream or sys.stderr)
    return EXIT_ERROR


def notice(message: str) -> None:
    """One informational line on stderr (never stdout, which scripts parse)."""
    print(f"mailserver: {message}", file=sys.stderr)


def stdout_closed() -> int:
    """After a BrokenPipeError: point stdout at /dev/null, so the interpreter's final
    flush does not fail a second time (and print "Exception ignored"); return 141."""
    try:
        target = sys.stdout.fileno()
    except (OSError, ValueError):  # not a real file (e.g. captured): nothing to redirect
        return EXIT_BROKEN_PIPE
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, target)
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE
