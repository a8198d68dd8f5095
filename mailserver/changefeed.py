"""The change feed: every node notices account changes made in the directory by anyone.

A suspension made with `ldapmodify`, another node's CLI or the HR system's
own tool never reaches our control socket. So every `directory.change_poll_seconds`
the server asks the directory for the entries written since a moment
(`Directory.changed_since`: modifyTimestamp on LDAP, the `updated` column on
SQLite) and tells the node's `AccountWatch` about each changed login: the
credential cache forgets it, live IMAP/POP3 sessions re-judge it at once (and
are closed with BYE when refused), and SMTP sessions re-judge it before their
next command.

Timestamps come from the directory servers' clocks and replicas apply writes
late, so each poll looks back `directory.change_window_seconds` before the
newest timestamp seen, and `ChangeTracker` reports an entry only when its
revision differs from the one it already reported. Entries deleted from the
directory do not show up here; live sessions still notice them at their
periodic re-check (`imap.account_recheck_seconds`, `smtp.account_staleness_seconds`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from mailserver.directory import Directory, DirectoryUnavailable, EntryChange

log = logging.getLogger(__name__)


class ChangeTracker:
    """Which logins changed, from the answers to successive `changed_since` polls.

    Pure: the caller asks `since()` where to look from, polls the directory, and hands
    the answer to `changed()`, which returns each login whose entry is new or has a new
    revision since the last poll.
    """

    def __init__(self, start: datetime, window: timedelta) -> None:
        self.window = window
        self.newest = start  # the newest modification seen (directory clock)
        self._known: dict[str, tuple[str, datetime]] = {}  # login -> (revision, modified)

    def since(self) -> datetime:
        return self.newest - self.window

    def changed(self, entries: Iterable[EntryChange]) -> list[str]:
        changed: list[str] = []
        for entry in entries:
            login = entry.login.lower()
            known = self._known.get(login)
            if known is None or known[0] != entry.revision or known[1] != entry.modified:
                changed.append(login)
            self._known[login] = (entry.revision, entry.modified)
            self.newest = max(self.newest, entry.modified)
        horizon = self.since()
        self._known = {k: v for k, v in self._known.items() if v[1] >= horizon}
        return list(dict.fromkeys(changed))


class ChangeFeed:
    """Polls the directory and reports each changed login to `on_change`."""

    def __init__(
        self,
        directory: Directory,
        on_change: Callable[[str], int],
        *,
        interval: float,
        window: float,
        start: datetime,
        write_log: Callable[..., object],
    ) -> None:
        self.directory = directory
        self.on_change = on_change
        self.interval = interval
        self.tracker = ChangeTracker(start, timedelta(seconds=window))
        self.write_log = write_log
        self.failing = False

    async def poll(self, *, report: bool = True) -> list[str]:
        """One poll; the logins reported. DirectoryUnavailable propagates.

        With `report=False` the answer only becomes what later polls compare with (at
        start, when no session can be affected yet)."""
        entries = await self.directory.changed_since(self.tracker.since())
        logins = self.tracker.changed(entries)
        if not report:
            return []
        for login in logins:
            sessions = self.on_change(login)
            self.write_log("directory-change", account=login, sessions_notified=sessions)
        return logins

    async def run(self) -> None:
        """Poll every `interval` seconds until cancelled; an outage is logged once."""
        baseline = True
        while True:
            try:
                await self.poll(report=not baseline)
            except DirectoryUnavailable as exc:
                if not self.failing:
                    log.warning("change feed: %s", exc)
                    self.write_log(
                        "directory", result="tempfail", state="unavailable", detail=str(exc)
                    )
                self.failing = True
            except Exception:  # the feed must outlive any single bad answer
                log.exception("change feed: poll failed")
            else:
                if self.failing:
                    self.write_log("directory", result="allow", state="recovered")
                self.failing = False
            baseline = False  # only the poll at start, before any session exists
            await asyncio.sleep(self.interval)
