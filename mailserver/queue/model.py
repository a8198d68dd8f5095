"""What the queue knows about one accepted message and each of its recipients.

Values only: the spool stores them as JSON next to the message file, the
runner changes them as deliveries succeed or fail.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any


class RecipientState(StrEnum):
    PENDING = "pending"  # not yet delivered; retried until it is, or until it expires
    DELIVERED = "delivered"  # success recorded: never delivered again
    FAILED = "failed"  # permanent failure (or expired): bounced to the sender


class GaveUp(StrEnum):
    """Why the queue itself failed a recipient that no server refused.

    The recipient's `last_code` / `last_text` keep the last real reply (a 4xx, or an
    error decided here), so the DSN can quote it; the give-up decides the Status.
    """

    EXPIRED = "expired"  # the queue lifetime ran out (RFC 3463 4.4.7)
    ADMINISTRATOR = "administrator"  # `mailserver queue bounce`


@dataclass(frozen=True)
class Recipient:
    address: str
    state: RecipientState = RecipientState.PENDING
    attempts: int = 0
    # The last reply or error, for the log, `queue show` and DSNs (RFC 3464 Diagnostic-Code).
    last_code: int | None = None
    last_text: str = ""
    last_attempt: dt.datetime | None = None
    # Remote host that gave the last answer (RFC 3464 Remote-MTA).
    remote_mta: str = ""
    # DSN options from RCPT TO (RFC 3461): NOTIFY list and ORCPT.
    notify: tuple[str, ...] = ()
    orcpt: str = ""
    # Set when the queue gave up on its own (expiry, an administrator's bounce).
    gave_up: GaveUp | None = None

    @property
    def final(self) -> bool:
        return self.state is not RecipientState.PENDING

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2].lower()


@dataclass(frozen=True)
class QueuedMessage:
    """The envelope of a message in the spool, with per-recipient state."""

    id: str
    sender: str  # "" is the null sender (bounces): never bounced again
    recipients: tuple[Recipient, ...]
    received_at: dt.datetime
    size: int
    next_attempt: dt.datetime
    message_id: str = ""
    # Where it came from, for the log and DSNs: "submission" (login) or "mx" (client IP).
    origin: str = "submission"
    login: str = ""
    client_ip: str = ""
    # RFC 3461: RET=FULL|HDRS and ENVID from MAIL FROM.
    dsn_ret: str = ""
    envid: str = ""
    delay_notified: bool = False
    frozen: bool = False  # held by an operator: not retried until released
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def pending(self) -> tuple[Recipient, ...]:
        return tuple(r for r in self.recipients if not r.final)

    @property
    def done(self) -> bool:
        return all(r.final for r in self.recipients)

    def with_recipient(self, updated: Recipient) -> QueuedMessage:
        """A copy with the recipient of the same address replaced."""
        recipients = tuple(updated if r.address == updated.address else r for r in self.recipients)
        return replace(self, recipients=recipients)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("received_at", "next_attempt"):
            data[key] = getattr(self, key).isoformat()
        for recipient in data["recipients"]:
            stamp = recipient["last_attempt"]
            recipient["last_attempt"] = stamp.isoformat() if stamp else None
            recipient["notify"] = list(recipient["notify"])
            if recipient["gave_up"] is None:
                del recipient["gave_up"]  # envelopes stay as they were for most recipients
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> QueuedMessage:
        recipients = tuple(
            Recipient(
                **{
                    **r,
                    "state": RecipientState(r["state"]),
                    "notify": tuple(r.get("notify", ())),
                    "gave_up": GaveUp(r["gave_up"]) if r.get("gave_up") else None,
                    "last_attempt": dt.datetime.fromisoformat(r["last_attempt"])
                    if r.get("last_attempt")
                    else None,
                }
            )
            for r in data["recipients"]
        )
        return cls(
            **{
                **data,
                "recipients": recipients,
                "received_at": dt.datetime.fromisoformat(data["received_at"]),
                "next_attempt": dt.datetime.fromisoformat(data["next_attempt"]),
            }
        )
