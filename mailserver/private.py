"""Files and directories that only the server's own user may open.

The data directory holds password hashes (`directory.sqlite3`), the traffic
records of the policy log (kept for the Computer Crime Act), mail, the spool
and the TLS key: nothing another local user should read. Their modes are given
when they are created, never left to the process umask (under the usual 022
every file would be readable by every local user): directories 0700, files
0600. The umask can only take bits away from these, never add them.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600


def make_dirs(path: Path) -> None:
    """`mkdir -p` whose every new directory is 0700 (`Path.mkdir(parents=True)` gives the
    parents it creates the umask's mode); existing ones are left as they are."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=DIRECTORY_MODE)


def open_fd(path: Path, flags: int) -> int:
    """`os.open` with O_CREAT: a file created now is 0600."""
    return os.open(path, flags | os.O_CREAT, FILE_MODE)


def create_file(path: Path) -> None:
    """Create `path` empty with mode 0600 unless it exists (its mode is then kept)."""
    os.close(open_fd(path, os.O_WRONLY))
