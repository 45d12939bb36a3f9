"""The ``%providers`` tables (the providers, ``usage``): HTML for notebooks, aligned text for terminals. No IPython
here; every cell goes through :mod:`._render` (escaped HTML, terminal-safe text)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._render import HTML_CLASSES, terminal_text, text_html

if TYPE_CHECKING:
    from .store import Provider, ProviderStore

__all__ = ["ProvidersTable", "Table"]

COLUMNS = ("name", "type", "enabled", "address (exact URL called)", "models", "key", "last verify")


def _row(store: ProviderStore, p: Provider) -> list[str]:
    try:
        preview = store.endpoint_preview(p.name)
    except (ValueError, KeyError) as exc:
        preview = f"({exc})"
    if not p.verify_tls:
        preview += "  [TLS verification OFF]"
    v = p.last_verification
    verdict = "-" if v is None else str(v).splitlines()[0]  # the verdict; the capabilities are the models'
    flags = "yes" if p.enabled else "no"
    if p.readonly:
        flags += " (admin)"
    notes = [(m.id, "; ".join(n for n in (m.context_note, m.capability_summary) if n)) for m in p.models]
    models = ", ".join(f"{i} ({n})" if n else i for i, n in notes)
    return [p.name, p.type, flags, preview, models or "-", p.key_label, verdict]


class Table:
    """Rows of text cells under ``columns``; ``empty`` is what shows when there is no row."""

    columns: tuple[str, ...] = ()
    empty = ""

    def __init__(self, rows: list[list[str]]) -> None:
        self.rows = rows

    def __repr__(self) -> str:
        if not self.rows:
            return self.empty
        table = [list(self.columns), *self.rows]
        widths = [min(max(len(r[i]) for r in table), 60) for i in range(len(self.columns))]
        lines = []
        for r in table:
            cells = [(c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(r, widths, strict=True)]
            lines.append("  ".join(cells).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths))
        return terminal_text("\n".join(lines))

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<p class='{HTML_CLASSES}'>{text_html(repr(self))}</p>"
        head = "".join(f"<th style='text-align:left'>{text_html(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{text_html(c)}</td>" for c in r) + "</tr>" for r in self.rows
        )
        table = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        return f"<table class='jp-providers-table {HTML_CLASSES}'>{table}</table>"


class ProvidersTable(Table):
    """A snapshot of the store that displays as a table."""

    columns = COLUMNS
    empty = "No providers yet: %providers add NAME --type openai --url http://localhost:8000/"

    def __init__(self, store: ProviderStore) -> None:
        super().__init__([_row(store, p) for p in store])
