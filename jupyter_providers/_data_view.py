"""A structured reply's value (``reply.data``) as a small table: HTML for notebooks, aligned text for terminals.

Every value is the model's, so every cell goes through the one safe path (:func:`~._render.text_html`,
:func:`~._render.terminal_text`). No IPython here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from typing import Any

from ._render import HTML_CLASSES, terminal_text, text_html

__all__ = ["DataTable", "as_plain"]

MAX_ROWS = 50  # a longer list shows its first rows and says how many there are
MAX_CELL = 200  # characters of one cell


def as_plain(value: Any) -> Any:
    """``value`` as plain JSON-like data: a dataclass or pydantic model as a dict, an enum as its value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if hasattr(value, "model_dump") and callable(value.model_dump):  # a pydantic model
        return as_plain(value.model_dump())
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): as_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


class DataTable:
    """A snapshot of a value that displays as a table: an object as field | value rows, a list of objects as one
    row each (columns: their fields), anything else as one cell."""

    def __init__(self, value: Any) -> None:
        plain = as_plain(value)
        self.more = 0
        if isinstance(plain, list) and plain and all(isinstance(v, dict) for v in plain):
            self.columns = list(dict.fromkeys(k for v in plain for k in v))
            self.more = max(len(plain) - MAX_ROWS, 0)
            self.rows = [[_cell(v.get(c, "")) for c in self.columns] for v in plain[:MAX_ROWS]]
        elif isinstance(plain, dict):
            self.columns = ["field", "value"]
            self.rows = [[_cell(k), _cell(v)] for k, v in plain.items()]
        else:
            self.columns = ["value"]
            self.rows = [[_cell(plain)]]

    def _footer(self) -> str:
        return f"… and {self.more} more rows" if self.more else ""

    def __repr__(self) -> str:
        table = [self.columns, *self.rows]
        widths = [min(max(len(r[i]) for r in table), 60) for i in range(len(self.columns))]
        lines = ["  ".join(c[:w].ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return terminal_text("\n".join([*lines, self._footer()]).rstrip())

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{text_html(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{text_html(c)}</td>" for c in r) + "</tr>" for r in self.rows
        )
        foot = f"<caption style='caption-side:bottom'>{text_html(self._footer())}</caption>" if self.more else ""
        table = f"{foot}<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        return f"<table class='jp-providers-data {HTML_CLASSES}'>{table}</table>"
