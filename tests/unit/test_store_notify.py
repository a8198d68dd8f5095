"""The change notifier: deliveries and sessions' changes wake the mailbox's watchers."""

from __future__ import annotations

import threading
from pathlib import Path

from mailserver.store.maildir import MaildirStore
from mailserver.store.mailstore import MailStore
from mailserver.store.notify import ChangeNotifier

ADDRESS = "nok@example.ac.th"
MSG = b"Subject: n\r\n\r\nn\r\n"


def test_publish_subscribe_unsubscribe() -> None:
    notifier = ChangeNotifier()
    calls: list[str] = []
    stop = notifier.subscribe("Nok@Example.ac.th", "inbox", lambda: calls.append("inbox"))
    notifier.subscribe(ADDRESS, "Sent", lambda: calls.append("sent"))

    def broken() -> None:
        raise RuntimeError("a bad callback must not stop the others")

    notifier.subscribe(ADDRESS, "INBOX", broken)
    notifier.publish(ADDRESS, "INBOX")
    notifier.publish("other@example.ac.th", "INBOX")
    assert calls == ["inbox"]
    stop()
    stop()  # idempotent
    notifier.publish(ADDRESS, "INBOX")
    notifier.publish(ADDRESS, "Sent")
    assert calls == ["inbox", "sent"]


def test_store_operations_publish(tmp_path: Path) -> None:
    store = MailStore(tmp_path, hostname="mx1")
    user = store.user(ADDRESS)
    user.ensure_created()
    counts = {"INBOX": 0, "Trash": 0}
    lock = threading.Lock()

    def waker(name: str):
        def wake() -> None:
            with lock:
                counts[name] += 1

        return wake

    for name in counts:
        store.notifier.subscribe(ADDRESS, name, waker(name))
    store.deliver(ADDRESS, MSG)
    assert counts == {"INBOX": 1, "Trash": 0}
    user.append("INBOX", MSG)
    assert counts["INBOX"] == 2
    view = user.open("INBOX")
    view.store_flags([1, 2], ["\\Deleted"], "+")
    assert counts["INBOX"] == 3
    view.expunge([1])
    assert counts["INBOX"] == 4
    view.copy([2], "Trash")
    assert counts == {"INBOX": 4, "Trash": 1}
    store.deliver(ADDRESS, MSG, mailbox="Trash")
    assert counts == {"INBOX": 4, "Trash": 2}


def test_maildir_store_delivery_notifies_when_given_a_notifier(tmp_path: Path) -> None:
    notifier = ChangeNotifier()
    woken = threading.Event()
    notifier.subscribe(ADDRESS, "INBOX", woken.set)
    MaildirStore(tmp_path, "mx1", notifier=notifier).deliver(ADDRESS, MSG)
    assert woken.is_set()
