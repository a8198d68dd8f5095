"""In-process change notification: deliveries and sessions publish, IDLE sessions wake.

The notifier only says "look again": the woken session calls `MailboxView.refresh()`
to find out what changed, so a lost or duplicated wake-up is harmless. Changes made
by another process (another node's SMTP delivery) are not seen here; the IMAP layer
also polls while idling.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

_log = logging.getLogger(__name__)


class ChangeNotifier:
    """Thread-safe registry of per-mailbox callbacks.

    Callbacks run in the publisher's thread (an SMTP delivery, a `to_thread` worker),
    so they must be cheap and thread-safe: `loop.call_soon_threadsafe(event.set)`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[tuple[str, str], dict[int, Callable[[], None]]] = {}
        self._next_token = 0

    @staticmethod
    def _key(address: str, mailbox: str) -> tuple[str, str]:
        # INBOX is case-insensitive (RFC 3501 §5.1); other names are case-sensitive.
        return address.lower(), "INBOX" if mailbox.upper() == "INBOX" else mailbox

    def subscribe(
        self, address: str, mailbox: str, callback: Callable[[], None]
    ) -> Callable[[], None]:
        """Call `callback()` whenever the mailbox changes; return the function that unsubscribes."""
        key = self._key(address, mailbox)
        with self._lock:
            token = self._next_token
            self._next_token += 1
            self._subscribers.setdefault(key, {})[token] = callback

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._subscribers.get(key)
                if callbacks is not None:
                    callbacks.pop(token, None)
                    if not callbacks:
                        del self._subscribers[key]

        return unsubscribe

    def publish(self, address: str, mailbox: str) -> None:
        """Wake every subscriber of the mailbox; a failing callback is logged, never raised."""
        with self._lock:
            callbacks = list(self._subscribers.get(self._key(address, mailbox), {}).values())
        for callback in callbacks:
            try:
                callback()
            except Exception:
                _log.exception("change callback failed for %s %s", address, mailbox)
