"""``chat_map``'s bar in a notebook: done and failed rows, rate, ETA, tokens so far, and a Stop button.

It shows :class:`~.._progress.MapStats` snapshots only (counts and times: never a prompt, a reply or a key),
a few times a second (the map's main thread calls :meth:`show` every ``interval``, whatever the row rate).

The kernel reads the main shell's messages only between two cells or while an async cell awaits, never while a
plain cell runs. So a map run by a plain cell (on the main thread) has its Stop button's clicks handled on a kernel
subshell of their own (:mod:`._subshell`, ipykernel 7.4 and later); where the kernel cannot, the button is hidden
and the bar says how to stop instead: the notebook's interrupt (the stop square, or I I), which keeps every
finished row too. A map run off the main thread (``await asyncio.to_thread(chat_map, ...)``) needs no subshell:
the kernel reads clicks while the cell awaits.

When the map ends, the bar's output is replaced by a line of text (:func:`~.._progress.final_summary`: rows,
answered, failed, tokens - no time, no rate, no widget id) and its widgets are closed, so the notebook saves the
same output when a re-run replays every row from the answer cache (nbval compares them).
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]
from IPython.display import display

from .._progress import MapStats, final_summary, summary
from ._subshell import route_to_subshell

__all__ = ["MapProgressBar", "final_bundle"]


class MapProgressBar:
    """A progress bar, a one-line summary and a Stop button, displayed when made."""

    def __init__(self, *, show: bool = True) -> None:
        self.bar = w.IntProgress(value=0, min=0, max=1, bar_style="info", layout=w.Layout(width="40%"))
        self.label = w.Label("starting…")
        self.stop_button = w.Button(description="Stop", icon="stop", tooltip="send no more rows", disabled=True)
        self.stop_button.layout.width = "auto"
        self.hint = w.Label("interrupt the kernel to stop: finished rows are kept")
        self.hint.layout.display = "none"
        self.box = w.HBox([self.bar, self.label, self.stop_button, self.hint])
        self.box.add_class("jp-providers-map")
        self._stop: Callable[[], Any] | None = None
        self._unroute: Callable[[], None] | None = None  # ends the subshell that reads the clicks
        self.updates = 0
        self.stop_button.on_click(self._clicked)
        self._handle: Any = display(self.box, display_id=True) if show else None

    def on_stop(self, stop: object) -> None:
        if callable(stop):
            self._stop = stop
            self.stop_button.disabled = False
        if threading.current_thread() is threading.main_thread():  # a plain cell: a click would wait for its end
            # routed after the button's last change from this thread (a change sent from here resets the route)
            self._unroute = route_to_subshell(self.stop_button) if self._stop is not None else None
            if self._unroute is None:
                self.stop_button.layout.display = "none"
                self.hint.layout.display = None

    def _clicked(self, _button: Any = None) -> None:
        if self._stop is not None:
            self._stop()
            self.stop_button.disabled = True
            self.stop_button.description = "Stopping…"

    def show(self, s: MapStats) -> None:
        with self.box.hold_sync():
            self.bar.max = max(s.total, 1)
            self.bar.value = s.done
            self.bar.bar_style = "warning" if s.failed else "info"
            self.label.value = summary(s)
        self.updates += 1

    def close(self, s: MapStats) -> None:
        self.show(s)
        self.bar.bar_style = "danger" if s.failed == s.total and s.total else "warning" if s.failed else "success"
        if s.stopped and s.done < s.total:
            self.bar.bar_style = "warning"
        self.stop_button.layout.display = self.hint.layout.display = "none"
        if self._handle is not None:  # the live bar gives way to what a replayed re-run shows the same
            self._handle.update(final_bundle(s), raw=True)
            for widget in (self.box, self.bar, self.label, self.stop_button, self.hint):
                widget.close()
            self._handle = None
        if self._unroute is not None:
            self._unroute()
            self._unroute = None


def final_bundle(s: MapStats) -> dict[str, str]:
    """The output an ended map leaves in the notebook (our own counts: no server text in it)."""
    text = f"chat_map: {final_summary(s)}"
    return {"text/plain": text, "text/html": f'<div class="jp-providers-map-done">{html.escape(text)}</div>'}
