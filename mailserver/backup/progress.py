"""A one-line progress bar for long admin commands: messages done / total and bytes.

Drawn on a terminal only (`Progress.for_stream` gives a silent one otherwise), redrawn
at most every `interval` seconds, erased by `finish`.
"""

from __future__ import annotations

import time
from typing import TextIO

MIB = 1024 * 1024


class Progress:
    """Counts messages and bytes; `draw` rewrites the line on `stream` when enabled."""

    def __init__(
        self, stream: TextIO | None, total: int, total_bytes: int, *, interval: float = 0.1
    ) -> None:
        self.stream = stream
        self.total = total
        self.total_bytes = total_bytes
        self.done = 0
        self.bytes = 0
        self.interval = interval
        self._drawn = 0.0
        self._width = 0

    @classmethod
    def for_stream(cls, stream: TextIO | None, total: int, total_bytes: int) -> Progress:
        """A bar on `stream` if it is a terminal, else a silent counter."""
        tty = stream is not None and hasattr(stream, "isatty") and stream.isatty()
        return cls(stream if tty else None, total, total_bytes)

    def advance(self, messages: int, size: int) -> None:
        self.done += messages
        self.bytes += size
        now = time.monotonic()
        if self.stream is not None and now - self._drawn >= self.interval:
            self._drawn = now
            self.draw()

    def line(self, width: int = 30) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = min(width, int(fraction * width))
        bar = "#" * filled + "-" * (width - filled)
        return (
            f"[{bar}] {self.done}/{self.total} messages, "
            f"{self.bytes / MIB:.1f}/{self.total_bytes / MIB:.1f} MiB"
        )

    def draw(self) -> None:
        if self.stream is None:
            return
        text = self.line()
        self.stream.write("\r" + text.ljust(self._width))
        self.stream.flush()
        self._width = len(text)

    def finish(self) -> None:
        """Erase the bar, so the summary line that follows starts clean."""
        if self.stream is not None and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0
