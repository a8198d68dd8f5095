"""The knobs of the policy, as plain values handed to `decide` (never read from a file here)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class InboundAction(StrEnum):
    """What happens to mail addressed to a suspended or closed account."""

    ACCEPT = "accept"  # deliver; nothing is lost
    REJECT_DISABLED = "reject-disabled"  # 550 5.2.1 mailbox disabled
    REJECT_UNKNOWN = "reject-unknown"  # 550 5.1.1 as if the address did not exist


class OrphanAction(StrEnum):
    """What happens to a role mailbox whose responsible person is gone (memo 4.3)."""

    REPORT = "report"  # log and report only
    REFUSE = "refuse"  # refuse login and send once orphaned for `orphan_refuse_after_days`


@dataclass(frozen=True, slots=True)
class PolicySettings:
    # Memo 4.1: a departed user keeps read access for this many calendar months.
    departed_grace_months: int = 3
    departed_can_send: bool = False
    inbound_suspended: InboundAction = InboundAction.ACCEPT
    inbound_closed: InboundAction = InboundAction.REJECT_UNKNOWN
    orphan_action: OrphanAction = OrphanAction.REPORT
    orphan_refuse_after_days: int = 30
