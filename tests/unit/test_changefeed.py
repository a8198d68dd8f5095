"""The change feed's bookkeeping: which logins changed, from successive directory answers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailserver.changefeed import ChangeTracker
from mailserver.directory import EntryChange

T0 = datetime(2026, 11, 25, 8, 0, 0, tzinfo=UTC)
WINDOW = timedelta(seconds=300)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_first_answer_reports_every_entry_and_looks_back_a_window() -> None:
    tracker = ChangeTracker(T0, WINDOW)
    assert tracker.since() == T0 - WINDOW
    changed = tracker.changed(
        [EntryChange("Alice@x.th", "r1", at(1)), EntryChange("bob@x.th", "r1", at(2))]
    )
    assert changed == ["alice@x.th", "bob@x.th"]
    assert tracker.since() == at(2) - WINDOW


def test_an_entry_seen_again_unchanged_is_not_reported_twice() -> None:
    tracker = ChangeTracker(T0, WINDOW)
    tracker.changed([EntryChange("alice@x.th", "r1", at(1))])
    assert tracker.changed([EntryChange("alice@x.th", "r1", at(1))]) == []


def test_a_new_revision_in_the_same_second_is_reported() -> None:
    tracker = ChangeTracker(T0, WINDOW)
    tracker.changed([EntryChange("alice@x.th", "csn-1", at(1))])
    assert tracker.changed([EntryChange("alice@x.th", "csn-2", at(1))]) == ["alice@x.th"]


def test_a_late_replica_write_older_than_the_newest_is_still_caught() -> None:
    tracker = ChangeTracker(T0, WINDOW)
    tracker.changed([EntryChange("alice@x.th", "a1", at(100))])
    # bob's change carries an older timestamp (written on a lagging replica) but is
    # inside the window the next poll looks at.
    assert tracker.since() <= at(40)
    assert tracker.changed([EntryChange("bob@x.th", "b1", at(40))]) == ["bob@x.th"]


def test_entries_older_than_the_window_are_forgotten() -> None:
    tracker = ChangeTracker(T0, WINDOW)
    tracker.changed([EntryChange("alice@x.th", "a1", at(1))])
    tracker.changed([EntryChange("bob@x.th", "b1", at(1000))])
    assert "alice@x.th" not in tracker._known
    assert "bob@x.th" in tracker._known


def test_one_login_changed_twice_in_one_answer_is_reported_once() -> None:
    tracker = ChangeTracker(T0, WINDOW)
    changed = tracker.changed(
        [EntryChange("alice@x.th", "a1", at(1)), EntryChange("alice@x.th", "a2", at(2))]
    )
    assert changed == ["alice@x.th"]
