"""When the storage policy (policy/storage.py) refuses new mail for want of disk space:
below `queue.min_free_bytes`, or below it once a declared SIZE is taken (RFC 1870 §6.1),
always 452 4.3.1 (RFC 3463 X.3.1 "Mail system full"), a temporary failure."""

from __future__ import annotations

import errno

import pytest

from mailserver.diskspace import out_of_space
from policy import rules
from policy.messages import render_line, reply_text
from policy.model import Verdict
from policy.storage import storage_full, storage_refusal

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("free", "minimum", "size", "refused"),
    [
        (200 * MIB, 100 * MIB, 0, False),  # plenty
        (100 * MIB, 100 * MIB, 0, False),  # exactly the minimum is still enough
        (100 * MIB - 1, 100 * MIB, 0, True),  # one byte short
        (0, 100 * MIB, 0, True),  # full
        (150 * MIB, 100 * MIB, 50 * MIB, False),  # the declared message just fits
        (150 * MIB, 100 * MIB, 50 * MIB + 1, True),  # one byte more does not
        (120 * MIB, 100 * MIB, 30 * MIB, True),  # room now, not after the message
        (0, 0, 10 * MIB, False),  # min_free_bytes 0 turns the check off
        (5 * MIB, 1 * MIB, -1, False),  # a nonsense size counts as undeclared
    ],
)
def test_storage_refusal(free: int, minimum: int, size: int, refused: bool) -> None:
    decision = storage_refusal(free, minimum, size)
    if not refused:
        assert decision is None
        return
    assert decision is not None
    assert decision.verdict is Verdict.TEMPFAIL
    assert (decision.rule_id, decision.reason) == (rules.RULE_STORAGE, rules.REASON_STORAGE_LOW)
    assert (decision.smtp_code, decision.enhanced_code) == (452, "4.3.1")
    assert decision.params["free_bytes"] == str(free)
    assert decision.params["min_free_bytes"] == str(minimum)


def test_storage_full_is_a_temporary_452_4_3_1() -> None:
    decision = storage_full()
    assert decision.verdict is Verdict.TEMPFAIL
    assert (decision.rule_id, decision.reason) == (rules.RULE_STORAGE, rules.REASON_STORAGE_FULL)
    assert (decision.smtp_code, decision.enhanced_code) == (452, "4.3.1")


@pytest.mark.parametrize("decision", [storage_full(), storage_refusal(0, 1)])
def test_texts(decision: object) -> None:
    """Peers get Postfix's words; users a line in each language saying to retry later."""
    assert reply_text(decision) == "Insufficient system storage"  # type: ignore[arg-type]
    english = render_line(decision, "en", {})  # type: ignore[arg-type]
    assert "disk space" in english and "try again later" in english
    assert english.isascii()
    assert "กรุณาลองใหม่" in render_line(decision, "th", {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "full"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        (OSError(errno.EIO, "Input/output error"), False),
        (PermissionError(errno.EACCES, "Permission denied"), False),
        (ValueError("not an OSError"), False),
    ],
)
def test_out_of_space(error: BaseException, full: bool) -> None:
    assert out_of_space(error) is full
