"""``chat_map``'s bar in a notebook: done and failed rows, rate, ETA, tokens so far, and a Stop button.

It shows :class:`~.._progress.MapStats` snapshots only (counts and times: never a prompt, a reply or a key),
a few times a second (the map's main thread calls :meth:`show` every ``interval``, whatever the row rate).

The Stop button stops the map when the kernel reads the click: ipykernel reads a widget's messages between
two cells (or while an async cell awaits), not while a plain cell runs - there the notebook's interrupt
(the stop square, or I I) stops the map at once, keeping every finished row.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w  # type: ignore[import-untyped]
from IPython.display import display

from .._progress import MapStats, summary

__all__ = ["MapProgressBar"]


class MapProgressBar:
    """A progress bar, a one-line summary and a Stop button, displayed when made."""

    def __init__(self, *, show: bool = True) -> None:
        self.bar = w.IntProgress(value=0, min=0, max=1, bar_style="info", layout=w.Layout(width="40%"))
        self.label = w.Label("starting…")
        self.stop_button = w.Button(description="Stop", icon="stop", tooltip="send no more rows", disabled=True)
        self.stop_button.layout.width = "auto"
        self.box = w.HBox([self.bar, self.label, self.stop_button])
        self.box.add_class("jp-providers-map")
        self._stop: Callable[[], Any] | None = None
        self.updates = 0
        self.stop_button.on_click(self._clicked)
        if show:
            display(self.box)

    def on_stop(self, stop: object) -> None:
        if callable(stop):
            self._stop = stop
            self.stop_button.disabled = False

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
        self.stop_button.layout.display = "none"
