"""The throttle that coalesces a streamed reply into a few updates a second (a fake clock; real time for the timer)."""

from __future__ import annotations

import threading
import time

from jupyter_providers._throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_coalesces_ticks_to_one_flush_per_interval() -> None:
    clock, flushed = Clock(), []
    t = Throttle(lambda: flushed.append(clock.now), 0.25, clock)
    for _ in range(10):  # 10 pieces in 0.09 s: the first shows at once, the others wait
        t.tick()
        clock.now += 0.01
    assert flushed == [100.0]
    clock.now = 100.3
    t.tick()
    assert len(flushed) == 2
    t.done()  # nothing pending: no flush
    assert t.flushes == 2


def test_done_flushes_what_is_pending() -> None:
    clock, flushed = Clock(), []
    t = Throttle(lambda: flushed.append(1), 0.25, clock)
    t.tick()
    t.tick()
    t.done()
    assert flushed == [1, 1]


def test_without_trailing_a_last_piece_waits_for_the_next_tick() -> None:
    flushed: list[float] = []
    t = Throttle(lambda: flushed.append(time.monotonic()), 0.05)
    t.tick()
    t.tick()  # pending
    time.sleep(0.2)
    assert len(flushed) == 1


def test_trailing_shows_a_last_piece_after_the_interval_from_a_timer() -> None:
    shown = threading.Event()
    flushed: list[str] = []

    def flush() -> None:
        flushed.append(threading.current_thread().name)
        if len(flushed) == 2:
            shown.set()

    t = Throttle(flush, 0.05, trailing=True)
    t.tick()
    t.tick()  # pending, and no piece follows (a stalled stream)
    assert shown.wait(5) and len(flushed) == 2
    assert flushed[1] != threading.current_thread().name  # from the timer
    time.sleep(0.1)
    assert len(flushed) == 2  # one late flush, not a repeating timer


def test_cancel_drops_the_pending_flush_and_the_timer() -> None:
    flushed: list[int] = []
    t = Throttle(lambda: flushed.append(1), 0.05, trailing=True)
    t.tick()
    t.tick()
    t.cancel()
    time.sleep(0.15)
    t.done()
    assert flushed == [1]
