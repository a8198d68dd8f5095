"""SMTP reply text: one place that turns codes and message lines into a wire reply."""

from __future__ import annotations

from collections.abc import Sequence

from policy.messages import reply_text
from policy.model import Decision


def reply(code: int, enhanced: str, lines: Sequence[str]) -> str:
    """A (possibly multi-line) reply, RFC 5321 4.2.1, each line carrying the enhanced code.

    aiosmtpd's push() adds the final CRLF.
    """
    texts = [" ".join(line.split()) for line in lines] or [""]
    out = [f"{code}-{enhanced} {text}" for text in texts[:-1]]
    out.append(f"{code} {enhanced} {texts[-1]}")
    return "\r\n".join(out)


def peer_reply(decision: Decision) -> str:
    """The reply to another server (the MX's peers): the decision's codes and the short
    generic text of `policy.messages.reply_text`, never our users' business."""
    return reply(decision.smtp_code, decision.enhanced_code, [reply_text(decision)])
