"""Coalesce a fast stream of small updates into a few display updates per second."""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """``tick()`` after each piece calls ``flush`` at most once per ``interval``; ``done()`` flushes the rest.

    A 10,000-piece reply read in 5 s produces about 20 flushes, not 10,000.
    """

    def __init__(
        self, flush: Callable[[], None], interval: float = 0.25, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._flush = flush
        self.interval = interval
        self._clock = clock
        self._last = clock() - interval  # the first piece shows at once
        self._pending = False
        self.flushes = 0

    def tick(self) -> None:
        self._pending = True
        now = self._clock()
        if now - self._last >= self.interval:
            self._do(now)

    def done(self) -> None:
        if self._pending:
            self._do(self._clock())

    def _do(self, now: float) -> None:
        self._last = now
        self._pending = False
        self.flushes += 1
        self._flush()
