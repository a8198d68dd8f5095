"""The facts about disk space the storage policy (`policy/storage.py`) decides on.

`free_bytes` is one statvfs(2) call (about a microsecond, no disk access): cheap enough
to ask at every MAIL FROM and DATA, as Postfix's smtpd does for `queue_minfree`, so no
cache can make the answer stale. It counts the blocks available to unprivileged users
(`f_bavail`), not those the filesystem reserves for root. `out_of_space` tells a failed
write for want of space (ENOSPC, or EDQUOT on a filesystem with quotas) from other
I/O errors, so that it gets 452 4.3.1 ("Mail system full", RFC 3463 X.3.1).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

OUT_OF_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT})


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the filesystem that holds `path`."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


def out_of_space(error: BaseException) -> bool:
    """Whether `error` is a write that failed because the filesystem is full."""
    return isinstance(error, OSError) and error.errno in OUT_OF_SPACE
