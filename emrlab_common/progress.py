"""A one-line progress display for terminals; silent when output is not a terminal.

    with ProgressLine("put words.txt", total_bytes) as progress:
        progress.advance(len(chunk))

The line is redrawn at most `REDRAWS_PER_SECOND` times, so progress costs
nothing measurable even when called for every packet.
"""

from __future__ import annotations

import sys
import time

from emrlab_common.config import format_size

REDRAWS_PER_SECOND = 8
BAR_WIDTH = 24


class ProgressLine:
    def __init__(self, label: str, total: int, stream=None, enabled: bool | None = None):
        self.label = label
        self.total = max(total, 0)
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.done = 0
        self.started = time.monotonic()
        self._last_draw = 0.0

    def advance(self, amount: int) -> None:
        self.done += amount
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= 1 / REDRAWS_PER_SECOND:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(BAR_WIDTH * min(fraction, 1.0))
        rate = self.done / max(now - self.started, 1e-6)
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stream.write(f"\r{self.label} [{bar}] {fraction:6.1%} {format_size(rate)}B/s ")
        self.stream.flush()

    def __enter__(self) -> ProgressLine:
        return self

    def __exit__(self, *exception) -> None:
        if self.enabled and self._last_draw:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
