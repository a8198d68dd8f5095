"""Storage used by an account: the sum of its messages' RFC822.SIZE (W= in the names).

Listing every folder for each APPEND would be slow for big accounts, so each folder's
total is cached with the mtimes of its new/ and cur/ and recomputed only when they
change (or changed too recently to trust, as in `mailbox.py`). Only names are listed;
a foreign file without W= costs one stat (its size on disk stands in).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from mailserver.store.files import sizes
from mailserver.store.flags import split_name

_SETTLE_NS = 2_000_000_000


class UsageCache:
    """Per-folder byte totals, thread-safe; one per `UserStore`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals: dict[Path, tuple[tuple[int, int], int]] = {}

    def used(self, folders: Iterable[Path]) -> int:
        """Bytes used by the messages of `folders` (each a Maildir with new/ and cur/)."""
        total = 0
        seen: dict[Path, tuple[tuple[int, int], int]] = {}
        with self._lock:
            for folder in folders:
                try:
                    stamps = (
                        os.stat(folder / "new").st_mtime_ns,
                        os.stat(folder / "cur").st_mtime_ns,
                    )
                except FileNotFoundError:
                    continue
                cached = self._totals.get(folder)
                if cached is not None and cached[0] == stamps:
                    size = cached[1]
                else:
                    size = _folder_size(folder)
                if time.time_ns() - max(stamps) > _SETTLE_NS:
                    seen[folder] = (stamps, size)
                total += size
            self._totals = seen
        return total


def _folder_size(folder: Path) -> int:
    total = 0
    for sub in ("new", "cur"):
        try:
            iterator = os.scandir(folder / sub)
        except FileNotFoundError:
            continue
        with iterator:
            for dirent in iterator:
                if dirent.name.startswith("."):
                    continue
                virtual = sizes(split_name(dirent.name)[0])[1]
                if virtual is None:
                    try:
                        virtual = dirent.stat().st_size
                    except FileNotFoundError:
                        continue
                total += virtual
    return total
