"""The ``%providers`` table: HTML for notebooks, aligned text for terminals. No IPython here."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._render import HTML_CLASSES, terminal_text, text_html

if TYPE_CHECKING:
    from .store import Provider, ProviderStore

__all__ = ["ProvidersTable"]

COLUMNS = ("name", "type", "enabled", "address (exact URL called)", "models", "key", "last verify")


def _row(store: ProviderStore, p: Provider) -> list[str]:
    try:
        preview = store.endpoint_preview(p.name)
    except (ValueError, KeyError) as exc:
        preview = f"({exc})"
    if not p.verify_tls:
        preview += "  [TLS verification OFF]"
    v = p.last_verification
    verdict = "-" if v is None else str(v)
    flags = "yes" if p.enabled else "no"
    if p.readonly:
        flags += " (admin)"
    models = ", ".join(f"{m.id} ({m.context_note})" if m.context_note else m.id for m in p.models)
    return [p.name, p.type, flags, preview, models or "-", p.key_label, verdict]


class ProvidersTable:
    """A snapshot of the store that displays as a table."""

    def __init__(self, store: ProviderStore) -> None:
        self.rows = [_row(store, p) for p in store]

    def __repr__(self) -> str:
        if not self.rows:
            return "No providers yet: %providers add NAME --type openai --url http://localhost:8000/"
        table = [list(COLUMNS), *self.rows]
        widths = [min(max(len(r[i]) for r in table), 60) for i in range(len(COLUMNS))]
        lines = []
        for r in table:
            cells = [(c if len(c) <= w else c[: w - 1] + "…").ljust(w) for c, w in zip(r, widths, strict=True)]
            lines.append("  ".join(cells).rstrip())
        lines.insert(1, "  ".join("-" * w for w in widths))
        return terminal_text("\n".join(lines))

    def _repr_html_(self) -> str:
        if not self.rows:
            return f"<p class='{HTML_CLASSES}'>{text_html(repr(self))}</p>"
        head = "".join(f"<th style='text-align:left'>{text_html(c)}</th>" for c in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{text_html(c)}</td>" for c in r) + "</tr>" for r in self.rows
        )
        table = f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
        return f"<table class='jp-providers-table {HTML_CLASSES}'>{table}</table>"
