"""Free disk space as a policy value: refuse mail early, before it cannot be stored.

A server that accepts a message it cannot write loses nothing (it answers 4xx and the
sender retries) but wastes the transfer, and a disk filled to the last block also stops
the queue, the store and the log. So, as Postfix's `queue_minfree`, the SMTP listeners
refuse a transaction while the spool's filesystem has less than `queue.min_free_bytes`
free, at MAIL FROM and again at DATA; and when MAIL FROM declares a size (RFC 1870
SIZE=), when the message would leave less than that. The answer is temporary:

- 452 (RFC 5321 §4.2.3 "insufficient system storage"; RFC 1870 §6.1: "452" for a
  temporary lack of room for the declared size) with 4.3.1 (RFC 3463 §3.4 X.3.1
  "Mail system full"), the code Postfix gives ("452 4.3.1 Insufficient system storage").

A write that fails for want of space anyway (ENOSPC, EDQUOT) gets the same codes with
its own reason, `storage_full`. Both are TEMPFAIL: nothing is lost, the sender retries.
"""

from __future__ import annotations

from policy import rules
from policy.model import Decision, Verdict


def storage_refusal(
    free_bytes: int, min_free_bytes: int, declared_size: int = 0
) -> Decision | None:
    """The refusal of a new message while `free_bytes` are free, or None to go ahead.

    Refused when fewer than `min_free_bytes` would be left after a message of
    `declared_size` bytes (0: not declared). `min_free_bytes` 0 turns the check off.
    """
    if min_free_bytes <= 0 or free_bytes - max(declared_size, 0) >= min_free_bytes:
        return None
    code, enhanced = rules.STORAGE_FULL
    params = {
        "free_bytes": str(free_bytes),
        "min_free_bytes": str(min_free_bytes),
        "size": str(declared_size),
    }
    return Decision(
        Verdict.TEMPFAIL, rules.RULE_STORAGE, rules.REASON_STORAGE_LOW, code, enhanced, params
    )


def storage_full() -> Decision:
    """A write failed because the filesystem is full (ENOSPC) or over its quota (EDQUOT):
    452 4.3.1, temporary; nothing half-written is kept."""
    code, enhanced = rules.STORAGE_FULL
    return Decision(Verdict.TEMPFAIL, rules.RULE_STORAGE, rules.REASON_STORAGE_FULL, code, enhanced)
