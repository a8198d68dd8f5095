"""Reading back the archives `mailserver export` writes, on every Python 3.11."""

from __future__ import annotations

import tarfile
from pathlib import Path


def extract_archive(archive: Path, into: Path) -> None:
    """Unpack a .tar.gz export into `into`, refusing members that would land outside it.

    tarfile's `filter="data"` does that from Python 3.11.4; Debian 12 ships 3.11.2, where
    the same check is made here before extracting.
    """
    with tarfile.open(archive, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(into, filter="data")
            return
        root = into.resolve()
        for member in tar.getmembers():
            target = (root / member.name).resolve()
            if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
                raise tarfile.ExtractError(f"unsafe member in the archive: {member.name}")
        tar.extractall(into)
