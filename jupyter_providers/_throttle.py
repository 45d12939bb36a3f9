"""Coalesce a fast stream of small updates into a few display updates per second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["Throttle"]


class Throttle:
    """``tick()`` after each piece calls ``flush`` at most once per ``interval``; ``done()`` flushes the rest.

    A 10,000-piece reply read in 5 s produces about 20 flushes, not 10,000. With ``trailing=True``
    a piece that arrives just after a flush is shown at the end of the interval even if no other
    piece follows (a model that pauses, a stalled stream), by a timer thread: ``flush`` must then
    be safe to call from another thread. Calls to ``flush`` never overlap.
    """

    def __init__(
        self,
        flush: Callable[[], None],
        interval: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
        *,
        trailing: bool = False,
    ) -> None:
        self._flush = flush
        self.interval = interval
        self._clock = clock
        self._last = clock() - interval  # the first piece shows at once
        self._pending = False
        self._trailing = trailing
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self.flushes = 0

    def tick(self) -> None:
        with self._lock:
            self._pending = True
            now = self._clock()
            wait = self.interval - (now - self._last)
            if wait <= 0:
                self._do(now)
            elif self._trailing and self._timer is None:
                self._timer = threading.Timer(wait, self._late)
                self._timer.daemon = True
                self._timer.start()

    def done(self) -> None:
        """Flush what is pending now, and stop the timer."""
        with self._lock:
            self._stop_timer()
            if self._pending:
                self._do(self._clock())

    def cancel(self) -> None:
        """Forget what is pending and stop the timer (the caller shows the end itself)."""
        with self._lock:
            self._stop_timer()
            self._pending = False

    def _late(self) -> None:
        with self._lock:
            self._timer = None
            if self._pending:
                self._do(self._clock())

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _do(self, now: float) -> None:
        self._last = now
        self._pending = False
        self.flushes += 1
        self._flush()
