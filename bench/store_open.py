"""Opening a big mailbox: how long `UserStore.open` takes for N messages (figures only).

Builds a throw-away account whose INBOX has --messages files in cur/ (written directly,
names with S=/W= and flags, as Dovecot would leave them), then times, in one process:

  first open    no index yet: scan, stat every file (INTERNALDATE), write dovecot-uidlist
  reopen        index on disk, this process's caches warm (a second session), the
                directory changed in the last 2 s, so it is listed again
  reopen settled  the same once the directory is older than the settle window
  cold reopen   a fresh process would see: caches dropped, index parsed, every file stat'ed
  refresh       an idle session's refresh with nothing changed (cached, or rescanned
                while the directory mtime is within the settle window)
  status        STATUS on the same mailbox

Reference: `os.listdir` of cur/ alone, the floor of any scan.

    .venv/bin/python bench/store_open.py [--messages 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mailserver.store import mailbox as mailbox_module
from mailserver.store.mailstore import MailStore

ADDRESS = "bench@example.ac.th"


def build(root: Path, count: int) -> MailStore:
    """An INBOX of `count` small messages, a third of them \\Seen."""
    store = MailStore(root, hostname="bench")
    user = store.user(ADDRESS)
    user.list_mailboxes()  # creates the Maildir
    cur = user.maildir / "cur"
    body = b"Subject: bench\n\nhello\n"
    base_time = 1_700_000_000
    for i in range(count):
        flags = "S" if i % 3 == 0 else ""
        name = f"{base_time + i}.M{i}P1Q{i}.bench,S={len(body)},W={len(body) + 3}:2,{flags}"
        fd = os.open(cur / name, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, body)
        os.close(fd)
    return store


def timed(label: str, func: Callable[[], object], rounds: int) -> None:
    best = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    print(f"{label:<16} {best * 1000:9.1f} ms (best of {rounds})")


def drop_caches() -> None:
    for state in list(mailbox_module._states.values()):
        state.snapshot = state.last = state.stamps = state.uidlist = state.keywords = None
        state.uidlist_id = state.keywords_id = None
        state.files = {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="store-open-") as tmp:
        started = time.perf_counter()
        store = build(Path(tmp), args.messages)
        print(f"{args.messages} messages written in {time.perf_counter() - started:.1f} s")
        user = store.user(ADDRESS)
        cur = user.maildir / "cur"
        timed("listdir (ref)", lambda: os.listdir(cur), args.rounds)
        started = time.perf_counter()
        view = user.open("INBOX")
        print(f"{'first open':<16} {(time.perf_counter() - started) * 1000:9.1f} ms")
        assert len(view.messages) == args.messages
        timed("reopen", lambda: user.open("INBOX"), args.rounds)
        time.sleep(2.1)  # past the settle window: the cached snapshot is trusted
        timed("reopen settled", lambda: user.open("INBOX"), args.rounds)

        def cold() -> None:
            drop_caches()
            user.open("INBOX")

        timed("cold reopen", cold, args.rounds)
        timed("refresh", view.refresh, args.rounds)
        timed("status", lambda: user.status("INBOX"), args.rounds)
        size = (user.maildir / "dovecot-uidlist").stat().st_size
        print(f"dovecot-uidlist: {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
