"""The durable spool: every accepted message is on disk, fsynced, before its 250.

Layout under the spool directory:

    messages/<id>        the message as received (CRLF wire form), written once
    envelopes/<id>.json  the envelope with per-recipient state, replaced atomically
    tmp/                 files being written

A message is enqueued by writing the data file, then the envelope, each via
tmp/ + fsync + rename + fsync of the directory; the envelope's rename is the
commit point. A data file without an envelope is debris from a crash before
the 250 and is removed at start. Updates replace the envelope the same way, so
a crash leaves either the old or the new state, never a torn one; a recipient
recorded as delivered is never delivered again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from mailserver import private
from mailserver.durable import fsync_dir, write_file_durably
from mailserver.queue.model import QueuedMessage, Recipient

log = logging.getLogger(__name__)


class SpoolError(Exception):
    """The spool cannot do what was asked (message unknown, disk error)."""


def new_queue_id() -> str:
    """Sortable by time, unique: 10 hex digits of milliseconds + 6 random."""
    return f"{int(time.time() * 1000):010X}{secrets.token_hex(3).upper()}"


class Spool:
    """Durable storage of queued messages. Methods block: call them off the event loop."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.messages = directory / "messages"
        self.envelopes = directory / "envelopes"
        self.tmp = directory / "tmp"
        for sub in (self.messages, self.envelopes, self.tmp):
            private.make_dirs(sub)
        self._lock = threading.Lock()

    # --- writing ---------------------------------------------------------------

    def enqueue(
        self,
        sender: str,
        recipients: Iterable[Recipient],
        content: bytes,
        *,
        now: dt.datetime,
        **meta: object,
    ) -> QueuedMessage:
        """Store a message durably and return its envelope; only then may 250 be sent."""
        queue_id = new_queue_id()
        message = QueuedMessage(
            id=queue_id,
            sender=sender,
            recipients=tuple(recipients),
            received_at=now,
            size=len(content),
            next_attempt=now,
            **meta,  # type: ignore[arg-type]
        )
        if not message.recipients:
            raise SpoolError("a message needs at least one recipient")
        data = self.messages / queue_id
        try:
            self._write(data, content)
            self._write_envelope(message)
        except BaseException:
            # Not accepted (the client gets a 4xx): nothing of it stays to be delivered,
            # and a full disk gets its space back at once.
            (self.envelopes / f"{queue_id}.json").unlink(missing_ok=True)
            data.unlink(missing_ok=True)
            raise
        return message

    def update(self, message: QueuedMessage) -> None:
        """Replace the stored envelope (atomic; durable when this returns)."""
        if not (self.messages / message.id).exists():
            raise SpoolError(f"no message {message.id} in the queue")
        self._write_envelope(message)

    def remove(self, queue_id: str) -> None:
        """Forget a message: envelope first (the commit point), then its data."""
        with self._lock:
            (self.envelopes / f"{queue_id}.json").unlink(missing_ok=True)
            fsync_dir(self.envelopes)
            (self.messages / queue_id).unlink(missing_ok=True)

    # --- reading ---------------------------------------------------------------

    def load(self, queue_id: str) -> QueuedMessage:
        path = self.envelopes / f"{queue_id}.json"
        try:
            return QueuedMessage.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise SpoolError(f"no message {queue_id} in the queue") from None
        except (ValueError, KeyError, TypeError) as exc:
            raise SpoolError(f"envelope of {queue_id} is unreadable: {exc}") from None

    def content(self, queue_id: str) -> bytes:
        try:
            return (self.messages / queue_id).read_bytes()
        except FileNotFoundError:
            raise SpoolError(f"no message {queue_id} in the queue") from None

    def ids(self) -> list[str]:
        """Every queued message id, oldest first."""
        return sorted(p.name[: -len(".json")] for p in self.envelopes.glob("*.json"))

    def all(self) -> Iterator[QueuedMessage]:
        for queue_id in self.ids():
            try:
                yield self.load(queue_id)
            except SpoolError as exc:
                log.error("%s", exc)

    def recover(self) -> int:
        """At start: remove debris of crashes (tmp files, data without envelope)."""
        removed = 0
        for path in self.tmp.iterdir():
            path.unlink(missing_ok=True)
            removed += 1
        committed = set(self.ids())
        for path in self.messages.iterdir():
            if path.name not in committed:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # --- plumbing --------------------------------------------------------------

    def _write_envelope(self, message: QueuedMessage) -> None:
        data = json.dumps(message.to_json(), ensure_ascii=False, sort_keys=True).encode()
        self._write(self.envelopes / f"{message.id}.json", data)

    def _write(self, target: Path, data: bytes) -> None:
        # Through tmp/ (so that `recover` clears what a crash left), with a temporary
        # name of its own: the runner and the CLI may update one envelope at once.
        write_file_durably(target, data, tmp_dir=self.tmp)
