"""What a map's progress display shows (:class:`MapStats`), and the text bar a terminal gets.

The notebook's bar is ``widgets/map_progress.py``; both take the same snapshots, a few times a second.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import IO, Protocol

__all__ = ["MapProgress", "MapStats", "TextBar", "final_summary", "in_notebook", "summary"]


@dataclass(frozen=True)
class MapStats:
    """A snapshot of a running map (no prompt, no reply, no key: counts and times only)."""

    total: int
    done: int = 0  # rows ended: answered or failed
    failed: int = 0
    in_flight: int = 0
    limit: int = 0  # the adaptive concurrency limit now
    elapsed_s: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    #: why the map stopped early ("stopped", "max_tokens_total reached"), or "" while it runs / when it finished
    stopped: str = ""
    finished: bool = False

    @property
    def rate(self) -> float:
        """Rows ended per second so far."""
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the rate so far (None before the first row ends)."""
        if self.finished or self.stopped:
            return 0.0
        return (self.total - self.done) / self.rate if self.rate > 0 else None


class MapProgress(Protocol):
    """A progress display: ``show`` a few times a second, ``close`` once at the end (both with a snapshot).

    ``on_stop`` is given the map's stop function (a display with a Stop button calls it)."""

    def on_stop(self, stop: object) -> None: ...
    def show(self, s: MapStats) -> None: ...
    def close(self, s: MapStats) -> None: ...


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    m, s = divmod(seconds, 60)
    return f"{m} min {s:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def summary(s: MapStats) -> str:
    """``120/1,000 · 3 failed · 12.5 rows/s · ETA 1 min 10 s · 45,210 tokens``"""
    bits = [f"{s.done:,}/{s.total:,}"]
    if s.failed:
        bits.append(f"{s.failed:,} failed")
    bits.append(f"{s.rate:.1f} rows/s")
    if s.stopped:
        bits.append(f"{s.stopped} after {_duration(s.elapsed_s)}")
    elif s.finished:
        bits.append(f"done in {_duration(s.elapsed_s)}")
    else:
        bits.append(f"ETA {_duration(s.eta_s)}")
    bits.append(f"{s.input_tokens + s.output_tokens:,} tokens")
    return " · ".join(bits)


def final_summary(s: MapStats) -> str:
    """``1,000 rows · 997 answered · 3 failed · 45,210 tokens``: what a notebook keeps of an ended map - only what a
    re-run replayed from the answer cache shows the same (no time, no rate), so its saved output is the same."""
    bits = [f"{s.total:,} rows", f"{s.done - s.failed:,} answered"]
    if s.failed:
        bits.append(f"{s.failed:,} failed")
    if s.done < s.total:
        bits.append(f"{s.total - s.done:,} not answered ({s.stopped or 'stopped'})")
    bits.append(f"{s.input_tokens + s.output_tokens:,} tokens")
    return " · ".join(bits)


class TextBar:
    """One line on stderr, rewritten in place: ``[#####-----] 120/1,000 · ...``."""

    width = 24

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.updates = 0

    def on_stop(self, stop: object) -> None:
        pass  # Ctrl-C stops a map in a terminal

    def _line(self, s: MapStats) -> str:
        filled = self.width * s.done // s.total if s.total else self.width
        return f"\r[{'#' * filled}{'-' * (self.width - filled)}] {summary(s)}\x1b[K"

    def show(self, s: MapStats) -> None:
        self.stream.write(self._line(s))
        self.stream.flush()
        self.updates += 1

    def close(self, s: MapStats) -> None:
        self.stream.write(self._line(s) + "\n")
        self.stream.flush()


def in_notebook() -> bool:
    """True under a kernel that shows rich output (a notebook), as ``%%chat`` decides, with a kernel to carry a
    widget's messages (a terminal IPython has none); IPython is looked at only when something imported it already."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    return type(getattr(shell, "display_pub", None)).__name__ != "DisplayPublisher"
