"""The per-mailbox UID index, in the format of Dovecot's `dovecot-uidlist` (version 3).

    3 V1717000000 N4
    1 :1717000000.M1P2Q1.mx1,S=120,W=124
    3 :1717000001.M5P2Q2.mx1,S=88,W=91

Header: version 3, V = UIDVALIDITY, N = the next UID to assign. Each line maps a UID to
a message's basename (its file name up to ":2,"), so flags can change (renames) without
touching the index. Lines written by Dovecot carry extension fields before the ':'
("1 W124 :name"); they are read and dropped. Lines without ':' ("1 name") are read too.

The file is replaced atomically (tmp, fsync, rename, fsync dir) under the mailbox lock, so
a crash leaves the old index and UIDs are never renumbered; N only grows, so UIDs are never
reused (RFC 3501 §2.3.1.1). A new UIDVALIDITY comes from a per-account counter
(`mailserver-uidvalidity`, like Dovecot's `dovecot-uidvalidity`) so a mailbox deleted and
created again in the same second still gets a new one.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from pathlib import Path

from mailserver.durable import write_file_durably
from mailserver.store.locking import locked

UIDLIST_FILE = "dovecot-uidlist"
UIDVALIDITY_FILE = "mailserver-uidvalidity"


class CorruptUidList(ValueError):
    """The index cannot be parsed; the caller rebuilds it with a new UIDVALIDITY."""


@dataclass
class UidList:
    """UIDVALIDITY, next UID and basename -> UID, in ascending UID order."""

    uidvalidity: int
    uidnext: int
    uids: dict[str, int] = field(default_factory=dict)

    def add(self, basename: str) -> int:
        """Give a new message the next UID."""
        uid = self.uidnext
        self.uids[basename] = uid
        self.uidnext += 1
        return uid

    def serialise(self) -> bytes:
        """The file's content."""
        lines = [f"3 V{self.uidvalidity} N{self.uidnext}\n"]
        lines.extend(f"{uid} :{base}\n" for base, uid in self.uids.items())
        return "".join(lines).encode("utf-8", "surrogateescape")


def parse(data: bytes) -> UidList:
    """Parse the file; raise CorruptUidList for a header we cannot trust."""
    text = data.decode("utf-8", "surrogateescape")
    header, _, body = text.partition("\n")
    fields = header.split()
    if not fields or fields[0] != "3":
        raise CorruptUidList(f"unsupported uidlist header {header[:40]!r}")
    values = {f[0]: f[1:] for f in fields[1:] if f}
    try:
        uidlist = UidList(int(values["V"]), int(values["N"]))
    except (KeyError, ValueError) as exc:
        raise CorruptUidList(f"bad uidlist header {header[:40]!r}") from exc
    pairs: list[tuple[int, str]] = []
    for line in body.split("\n"):
        uid_text, _, rest = line.partition(" ")
        if not uid_text.isdigit() or not rest:
            continue  # a torn last line from a foreign appender; ours are never torn
        base = rest.partition(":")[2] if ":" in rest else rest
        pairs.append((int(uid_text), base))
    if any(a[0] >= b[0] for a, b in itertools.pairwise(pairs)):
        pairs.sort()
    for uid, base in pairs:
        uidlist.uids.setdefault(base, uid)
    if pairs:
        # Trust the entries over the header: never hand out a UID already given.
        uidlist.uidnext = max(uidlist.uidnext, pairs[-1][0] + 1)
    return uidlist


def read(mailbox_dir: Path) -> UidList | None:
    """The mailbox's index, None if it has none yet."""
    try:
        data = (mailbox_dir / UIDLIST_FILE).read_bytes()
    except FileNotFoundError:
        return None
    return parse(data)


def write(mailbox_dir: Path, uidlist: UidList) -> None:
    """Replace the index atomically; the caller holds the mailbox lock."""
    write_file_durably(mailbox_dir / UIDLIST_FILE, uidlist.serialise(), caller_holds_lock=True)


def allocate_uidvalidity(account_root: Path) -> int:
    """A UIDVALIDITY never given before in this account: max(now, last + 1), 32-bit."""
    counter = account_root / UIDVALIDITY_FILE
    with locked(account_root / (UIDVALIDITY_FILE + ".lock")):
        try:
            last = int(counter.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            last = 0
        value = max(int(time.time()), last + 1) % 2**32 or 1
        write_file_durably(counter, f"{value}\n".encode(), caller_holds_lock=True)
    return value
