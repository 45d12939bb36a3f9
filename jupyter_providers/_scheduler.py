"""The scheduler of a map: rows sent by a few threads under an adaptive limit, retried, stopped, within a budget.

- The limit starts at ``concurrency``, halves on a 429 (once per round: 429s of requests sent before the last
  cut do not cut it again) and grows back by one after ``limit`` successes in a row, up to ``concurrency``.
- A transient failure (rate limit, server error, timeout, connection) sends the row again after its wait:
  the server's ``retry-after`` for a 429, else exponential backoff; a row waiting holds no thread and no slot.
  After ``retries`` retries, or for any other error, the row ends with that error.
- ``budget`` (tokens): a row is sent only if the tokens used so far, those reserved by the rows in flight and
  its own estimate fit; else it waits for the rows in flight, and when none is left the map stops there.
- ``stop()`` (the Stop button) sends nothing more and waits for the rows in flight; Ctrl-C returns at once.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._progress import MapProgress, MapStats
from ._settings import settings
from ._types import Usage
from .errors import (
    CostLimitError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
)

__all__ = ["Outcome", "Scheduler", "is_transient"]

NOT_RUN = "not run (stopped)"
IN_FLIGHT = "stopped (its request was in flight; the answer was not kept)"
BUDGET = "max_tokens_total reached"
OVER_BUDGET = f"not run ({BUDGET})"


def is_transient(exc: BaseException) -> bool:
    """Worth sending again: a rate limit (not an exhausted quota), a server error, a timeout, no connection."""
    if isinstance(exc, QuotaExceededError):
        return False
    return isinstance(exc, RateLimitError | ServerError | ProviderTimeoutError | ProviderConnectionError)


@dataclass(frozen=True)
class Outcome:
    """How one row ended: its reply (text, data, usage, latency) or its error, and how many requests it took."""

    text: str | None = None
    data: Any = None
    error: str | None = None
    latency_s: float | None = None
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0
    replayed: bool = False  # answered from the answer cache: no request was sent


@dataclass
class _Job:
    row: int
    attempt: int  # 0 for the first request
    epoch: int = 0  # the limit's cut count when sent
    reserved: int = 0
    last_error: str = ""


class Scheduler:
    """Runs ``send(row)`` for each row (``send`` returns an :class:`Outcome` or raises a ProviderError)."""

    def __init__(
        self,
        n: int,
        send: Callable[[int], Outcome],
        *,
        concurrency: int,
        retries: int,
        estimate: Callable[[int, float], int],
        budget: int | None = None,
        interval: float = 0.25,
        ended: Mapping[int, Outcome] | None = None,
    ) -> None:
        """``ended``: rows that are over before the map starts (not to be sent), and how they ended."""
        self.n, self._send, self.max = n, send, concurrency
        self.retries, self._estimate, self.budget, self.interval = retries, estimate, budget, interval
        self.limit = concurrency
        self.outcomes: list[Outcome | None] = [None] * n
        for row, outcome in (ended or {}).items():
            self.outcomes[row] = outcome
        self._waiting: list[tuple[float, int, _Job]] = []  # (ready at, row, job): rows to send again
        self._flying: dict[int, _Job] = {}
        self._cond = threading.Condition()
        self._all_done = threading.Event()
        self._pending: deque[int] = deque(i for i, o in enumerate(self.outcomes) if o is None)
        self._epoch = self._successes = 0
        self._done = n - len(self._pending)
        self._failed = sum(o is not None and o.error is not None for o in self.outcomes)
        self._used = self._reserved = self._in_tokens = self._out_tokens = self._answered_out = 0
        self._answered = 0
        self.stopped = ""  # why sending stopped early
        self._closed = False  # the result was taken: late answers are dropped
        self._started = time.monotonic()
        self.requests = 0
        if self._done >= n:
            self._all_done.set()

    # -- the limit and the queue (all under self._cond) ------------------------------------------------------
    def _next(self) -> _Job | None:
        with self._cond:
            while True:
                if self.stopped or self._done >= self.n:
                    return None
                now = time.monotonic()
                timeout: float | None = None
                if len(self._flying) < self.limit:
                    job: _Job | None = None
                    if self._waiting and self._waiting[0][0] <= now:
                        job = self._waiting[0][2]
                    elif self._pending:
                        job = _Job(self._pending[0], 0)
                    if job is not None:
                        mean_out = self._answered_out / self._answered if self._answered else 0.0
                        cost = self._estimate(job.row, mean_out)
                        fits = self.budget is None or self._used + self._reserved + cost <= self.budget
                        if fits:
                            if job.attempt:
                                heapq.heappop(self._waiting)
                            else:
                                self._pending.popleft()
                            job.epoch, job.reserved = self._epoch, cost
                            self._reserved += cost
                            self._flying[job.row] = job
                            self.requests += 1
                            return job
                        if not self._flying:  # nothing in flight can give tokens back: stop here
                            self._stop(BUDGET)
                            return None
                    if self._waiting:
                        timeout = max(self._waiting[0][0] - now, 0.001)
                self._cond.wait(timeout)

    def _end(self, job: _Job, outcome: Outcome) -> None:
        """Under the lock: the row is over (answered or failed for good)."""
        if self.outcomes[job.row] is None:
            self.outcomes[job.row] = outcome
            self._done += 1
            self._failed += outcome.error is not None
        if self._done >= self.n:
            self._all_done.set()

    def _landed(self, job: _Job, outcome: Outcome) -> None:
        with self._cond:
            self._flying.pop(job.row, None)
            self._reserved -= job.reserved
            u = outcome.usage
            spent = (u.input_tokens or 0) + (u.output_tokens or 0)
            self._used += spent if u.input_tokens is not None or u.output_tokens is not None else job.reserved
            self._in_tokens += u.input_tokens or 0
            self._out_tokens += u.output_tokens or 0
            if not self._closed:
                if outcome.error is None:
                    self._answered += 1
                    self._answered_out += u.output_tokens or 0
                    self._successes += 1
                    if self._successes >= self.limit and self.limit < self.max:
                        self.limit += 1
                        self._successes = 0
                self._end(job, outcome)
            self._cond.notify_all()

    def _failed_try(self, job: _Job, exc: ProviderError) -> None:
        with self._cond:
            self._flying.pop(job.row, None)
            self._reserved -= job.reserved
            message = str(exc)
            if self._closed:
                return
            wait: float | None = None
            if is_transient(exc) and job.attempt < self.retries:
                if isinstance(exc, RateLimitError):
                    if job.epoch == self._epoch:  # one cut per round, however many 429s it brings
                        self.limit = max(1, self.limit // 2)
                        self._epoch += 1
                    self._successes = 0
                    hint = exc.retry_after
                    if hint is None:
                        wait = _backoff(job.attempt)
                    elif hint <= settings.map_max_retry_after:  # a batch waits out a per-minute limit
                        wait = hint
                else:
                    wait = _backoff(job.attempt)
            if wait is None:
                sent = not isinstance(exc, CostLimitError)  # refused over max_cost: nothing was sent
                self._end(job, Outcome(error=message, attempts=job.attempt + sent))
            else:
                retry = _Job(job.row, job.attempt + 1, last_error=message)
                heapq.heappush(self._waiting, (time.monotonic() + wait, job.row, retry))
            self._cond.notify_all()

    def _stop(self, why: str) -> None:
        if not self.stopped:
            self.stopped = why
        self._cond.notify_all()
        self._all_done.set()

    def stop(self, why: str = "stopped") -> None:
        """Send nothing more (thread-safe: the Stop button); the rows in flight finish."""
        with self._cond:
            self._stop(why)

    # -- running ---------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._next()) is not None:
            try:
                outcome = self._send(job.row)
            except ProviderError as exc:
                self._failed_try(job, exc)
            except Exception as exc:  # a bug in one row is that row's error, not the end of the map
                self._landed(job, Outcome(error=f"{type(exc).__name__}: {exc}", attempts=job.attempt + 1))
            else:
                self._landed(job, _with_attempts(outcome, job.attempt + 1))

    def stats(self) -> MapStats:
        with self._cond:
            return MapStats(
                self.n, self._done, self._failed, len(self._flying), self.limit, time.monotonic() - self._started,
                self._in_tokens, self._out_tokens, self.stopped, self._done >= self.n,
            )  # fmt: skip

    def run(self, progress: MapProgress | None = None) -> list[Outcome]:
        """Send every row; return their outcomes in row order, whatever stopped the map (Ctrl-C included)."""
        if progress is not None:
            progress.on_stop(self.stop)
        workers = [threading.Thread(target=self._work, daemon=True) for _ in range(min(self.max, self.n))]
        for w in workers:
            w.start()
        try:
            while not self._all_done.wait(self.interval):
                if progress is not None:
                    progress.show(self.stats())
            while self._flying and self._done < self.n:  # stopped: the rows in flight may still land
                if progress is not None:
                    progress.show(self.stats())
                with self._cond:
                    self._cond.wait(self.interval)
        except KeyboardInterrupt:
            self.stop()
        return self._close(progress)

    def _close(self, progress: MapProgress | None) -> list[Outcome]:
        with self._cond:
            self._closed = True
            if self._done < self.n:
                self._stop(self.stopped or "stopped")
            for i, o in enumerate(self.outcomes):
                if o is None:
                    job = self._flying.get(i)
                    waiting = next((j for _, row, j in self._waiting if row == i), None)
                    if job is not None:
                        why = IN_FLIGHT
                    elif waiting is not None:
                        why = f"{self.stopped or 'stopped'} before a retry; the last error: {waiting.last_error}"
                    else:
                        why = OVER_BUDGET if self.stopped == BUDGET else NOT_RUN
                    self.outcomes[i] = Outcome(error=why)
            stats = MapStats(
                self.n, self._done, self._failed, len(self._flying), self.limit, time.monotonic() - self._started,
                self._in_tokens, self._out_tokens, self.stopped, not self.stopped,
            )  # fmt: skip
        if progress is not None:
            progress.close(stats)
        return [o for o in self.outcomes if o is not None]


def _backoff(attempt: int) -> float:
    base: float = min(settings.backoff * (2**attempt), settings.max_backoff)
    return base * (0.75 + random.random() / 2)


def _with_attempts(o: Outcome, attempts: int) -> Outcome:
    return Outcome(o.text, o.data, o.error, o.latency_s, o.usage, 0 if o.replayed else attempts, o.replayed)
