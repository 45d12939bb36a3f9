"""The models of one provider: add ids, edit display name and group, delete, fetch the server's list."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w  # type: ignore[import-untyped]

from .._fields import check_price
from .._metering import money
from ..errors import InvalidValueError
from ._common import Job, button, close_tree, error_text, esc, message_html, set_visible

if TYPE_CHECKING:
    from ..store import Model, Provider, ProviderStore

__all__ = ["ModelsEditor"]

_TIGHT = {"description_width": "initial"}
#: the most fetched ids shown as checkboxes at once: a server may list thousands; the filter narrows them
PAGE = 50


def _prices(input_text: str | None, output_text: str | None) -> tuple[float | None, float | None]:
    """The price fields' texts as numbers (``""``: none); a text that is not a number is a one-line error."""
    out: list[float | None] = []
    for side, text in (("input", input_text), ("output", output_text)):
        text = (text or "").strip().removeprefix("$")
        try:
            value = float(text) if text else None
        except ValueError:
            raise InvalidValueError(f"{side}: {text!r} is not a number; give the price of a million tokens") from None
        out.append(None if value is None else check_price(side, value))
    return out[0], out[1]


class ModelsEditor:
    """The "Models" section of the provider panel; ``box`` is the widget to show.

    Models are listed by group (``Model.group_name``); "Fetch from server" lists the server's ids
    as checkboxes with a filter (the first :data:`PAGE` that match: a server may list thousands),
    and "Add selected" adds the ticked ones, shown or not.
    """

    def __init__(self, store: ProviderStore, job: Job) -> None:
        self.store = store
        self.job = job
        self.name: str | None = None
        self._shown: tuple[Model, ...] | None = None
        self._readonly = False
        self._editing: str | None = None
        self._lock = threading.RLock()
        #: model id -> the widgets of its row, as shown now
        self.rows: dict[str, Any] = {}
        #: the ids the server offers, and those ticked (whether the filter shows them or not)
        self.offered: list[str] = []
        self.cut = False
        self.ticked: set[str] = set()

        self.input = w.Text(placeholder="model id(s), comma-separated", layout=w.Layout(width="260px"))
        self.input.add_class("jp-providers-model-input")
        self.add_button = button("Add", "jp-providers-model-add", tooltip="Add these model ids")
        self.add_button.on_click(lambda _b: self.add_from_input())
        self.error = w.HTML().add_class("jp-providers-model-error")
        self.list = w.VBox().add_class("jp-providers-model-list")
        self.empty = w.HTML("<i>No model yet: add ids above or fetch them from the server.</i>")
        self.empty.add_class("jp-providers-muted")

        self.fetch_button = button("Fetch from server", "jp-providers-fetch", icon="download")
        self.fetch_button.on_click(lambda _b: self.fetch())
        self.fetch_status = w.HTML().add_class("jp-providers-fetch-status")
        self.filter = w.Text(placeholder="filter", layout=w.Layout(width="260px"))
        self.filter.add_class("jp-providers-fetch-filter")
        self.filter.observe(lambda _c: self._apply_filter(), names="value")
        self.choices = w.VBox(layout=w.Layout(max_height="220px", overflow="auto"))
        self.choices.add_class("jp-providers-fetch-list")
        self.fetch_add = button("Add selected", "jp-providers-fetch-add", style="primary")
        self.fetch_add.on_click(lambda _b: self.add_selected())
        self.fetch_close = button("Close", "jp-providers-fetch-close")
        self.fetch_close.on_click(lambda _b: self._close_fetch())
        self.fetch_box = w.VBox(
            [self.filter, self.choices, w.HBox([self.fetch_add, self.fetch_close])],
            layout=w.Layout(display="none"),
        ).add_class("jp-providers-fetch-box")

        self.box = w.VBox(
            [
                w.HBox([self.input, self.add_button, self.fetch_button]),
                self.error,
                self.empty,
                self.list,
                self.fetch_status,
                self.fetch_box,
            ]
        ).add_class("jp-providers-models")

    # -- showing --------------------------------------------------------------------------------
    def show(self, p: Provider | None) -> None:
        """Show ``p``'s models (rows are rebuilt only when the models changed)."""
        with self._lock:
            if p is None or p.name != self.name:
                self.name = p.name if p is not None else None
                self._shown = None
                self._editing = None
                self.error.value = ""
                self.input.value = ""
                if not self.job.running:
                    self.fetch_status.value = ""
                    self._close_fetch()
            if p is None:
                return
            readonly = p.readonly
            for x in (self.input, self.add_button, self.fetch_add):
                x.disabled = readonly
            if p.models != self._shown or readonly != self._readonly:
                self._shown, self._readonly = p.models, readonly
                self._rebuild(p)
            if self.offered:
                self._apply_filter()

    def _rebuild(self, p: Provider) -> None:
        old = self.list.children
        groups: dict[str, list[Model]] = {}
        for m in p.models:
            groups.setdefault(m.group_name, []).append(m)
        children: list[Any] = []
        self.rows = {}
        for group, models in groups.items():
            children.append(w.HTML(esc(group)).add_class("jp-providers-group"))
            for m in models:
                row = self._edit_row(m) if m.id == self._editing else self._row(m, p.readonly)
                self.rows[m.id] = row
                children.append(row)
        self.list.children = children
        set_visible(self.empty, not p.models)
        for widget in old:
            close_tree(widget)

    def _row(self, m: Model, readonly: bool) -> Any:
        label = f"<b>{esc(m.display_name)}</b>"
        if m.name:
            label += f' <span class="jp-providers-note">{esc(m.id)}</span>'
        if m.context_note:
            label += f' <span class="jp-providers-note jp-providers-model-context">{esc(m.context_note)}</span>'
        if m.capability_summary:  # what verify(..., capabilities=True) found (or set_capabilities said)
            caps = esc(m.capability_summary)
            label += f' <span class="jp-providers-note jp-providers-model-capabilities">{caps}</span>'
        if m.input_price is not None and m.output_price is not None:
            price = f"{money(m.input_price)} in / {money(m.output_price)} out per M tokens"
            label += f' <span class="jp-providers-note jp-providers-model-price">{esc(price)}</span>'
        name = w.HTML(label, layout=w.Layout(flex="1 1 auto")).add_class("jp-providers-model-name")
        edit = button("", "jp-providers-model-edit", tooltip=f"Edit {m.id}", icon="pencil")
        edit.on_click(lambda _b: self._start_edit(m.id))
        delete = button("", "jp-providers-model-delete", tooltip=f"Delete {m.id}", icon="trash")
        delete.on_click(lambda _b: self.delete(m.id))
        edit.disabled = delete.disabled = readonly
        row = w.HBox([name, edit, delete], layout=w.Layout(width="100%", align_items="center"))
        return row.add_class("jp-providers-model-row")

    def _edit_row(self, m: Model) -> Any:
        display = w.Text(
            value=m.name, placeholder=m.id, description="Name", layout=w.Layout(width="220px"), style=_TIGHT
        )
        display.add_class("jp-providers-model-display")
        group = w.Text(
            value=m.group, placeholder=m.group_name, description="Group", layout=w.Layout(width="200px"), style=_TIGHT
        )
        group.add_class("jp-providers-model-group")
        prices = [
            w.Text(
                value="" if v is None else f"{v:g}", placeholder="no price", description=label,
                tooltip=f"price of a million {side} tokens", layout=w.Layout(width="150px"), style=_TIGHT,
            ).add_class(f"jp-providers-model-{side}-price")
            for side, label, v in (("input", "In $/M", m.input_price), ("output", "Out $/M", m.output_price))
        ]  # fmt: skip
        save = button("Save", "jp-providers-model-save", style="primary")
        save.on_click(lambda _b: self.save_edit(m.id, display.value, group.value, prices[0].value, prices[1].value))
        cancel = button("Cancel", "jp-providers-model-cancel")
        cancel.on_click(lambda _b: self._start_edit(None))
        row = w.HBox([display, group, *prices, save, cancel], layout=w.Layout(flex_flow="row wrap"))
        return row.add_class("jp-providers-model-editing")

    def _start_edit(self, model_id: str | None) -> None:
        with self._lock:
            self._editing = model_id
            p = self.store.get(self.name) if self.name else None
            if p is not None:
                self._rebuild(p)

    # -- changing -------------------------------------------------------------------------------
    def _do(self, action: Any) -> bool:
        try:
            action()
        except Exception as exc:
            self.error.value = message_html(error_text(exc))
            return False
        self.error.value = ""
        return True

    def add_from_input(self) -> None:
        """Add the ids typed in the input (comma-separated); the input is cleared when they were added."""
        name, text = self.name, self.input.value
        if name is not None and self._do(lambda: self.store.add_models(name, text)):
            self.input.value = ""

    def save_edit(
        self,
        model_id: str,
        display_name: str,
        group: str,
        input_price: str | None = None,
        output_price: str | None = None,
    ) -> None:
        """Save the edited name and group, and the prices per million tokens when given (both empty: no price)."""
        name = self.name
        if name is None:
            return
        self._editing = None

        def save() -> None:
            prices = None if input_price is None and output_price is None else _prices(input_price, output_price)
            self.store.update_model(name, model_id, display_name=display_name, group=group)
            if prices is not None:
                self.store.set_price(name, model_id, input=prices[0], output=prices[1])

        if not self._do(save):
            self._editing = model_id

    def delete(self, model_id: str) -> None:
        name = self.name
        if name is not None:
            self._do(lambda: self.store.remove_model(name, model_id))

    # -- fetching the server's list -------------------------------------------------------------
    def fetch(self) -> None:
        """List the server's models in the background; ``ProvidersPanel.wait()`` waits for it."""
        name = self.name
        if name is None or self.job.running:
            return
        self.fetch_button.disabled = True
        self.fetch_button.icon = "spinner spin"
        self.fetch_status.value = message_html(f"Fetching the models of {name}…", "busy")
        self.job.start(lambda: self._fetch(name))

    def _fetch(self, name: str) -> None:
        try:
            ids = self.store.fetch_models(name)
        except Exception as exc:
            if self.name == name:
                self.fetch_status.value = message_html(error_text(exc))
            return
        finally:
            self.fetch_button.icon = "download"
            self.fetch_button.disabled = False
        with self._lock:
            if self.name != name:
                return
            self.offered, self.cut, self.ticked = list(ids), bool(getattr(ids, "cut", False)), set()
            self.filter.value = ""
            self._apply_filter()
            set_visible(self.fetch_box, True)

    def _added(self) -> set[str]:
        p = self.store.get(self.name) if self.name else None
        return set(p.model_ids) if p is not None else set()

    def _box(self, model_id: str, have: set[str]) -> Any:
        added = model_id in have
        cb = w.Checkbox(
            value=added or model_id in self.ticked, description=model_id, disabled=added, indent=False,
            layout=w.Layout(width="auto"),
        )  # fmt: skip
        cb.observe(lambda c: self._tick(model_id, bool(c["new"])), names="value")
        return cb.add_class("jp-providers-fetch-choice")

    def _tick(self, model_id: str, on: bool) -> None:
        (self.ticked.add if on else self.ticked.discard)(model_id)

    def _apply_filter(self) -> None:
        """Show the first :data:`PAGE` offered ids that match the filter, each a checkbox."""
        needle = self.filter.value.strip().lower()
        matching = [m for m in self.offered if needle in m.lower()] if needle else self.offered
        have = self._added()
        old = self.choices.children
        self.choices.children = [self._box(m, have) for m in matching[:PAGE]]
        for widget in old:
            close_tree(widget)
        if not self.offered:
            return
        added = sum(m in have for m in self.offered)
        n = len(self.offered)
        offers = f"more than {n:,} models (the first {n:,} are listed)" if self.cut else f"{n} models"
        shown = f"{len(matching)} shown"
        if len(matching) > PAGE:
            shown = f"{len(matching)} match, the first {PAGE} shown: type to narrow"
        self.fetch_status.value = message_html(f"The server offers {offers} ({added} already added); {shown}.", "muted")

    def add_selected(self) -> None:
        """Add the ticked server models (whether or not the filter shows them now)."""
        have = self._added()
        chosen = [m for m in self.offered if m in self.ticked and m not in have]
        name = self.name
        if name is None:
            return
        if not chosen:
            self.error.value = message_html("tick at least one model to add")
            return
        if self._do(lambda: self.store.add_models(name, *chosen)):
            self.ticked -= set(chosen)

    def _close_fetch(self) -> None:
        set_visible(self.fetch_box, False)
        self.offered, self.cut, self.ticked = [], False, set()
        old, self.choices.children = self.choices.children, ()
        for widget in old:
            close_tree(widget)
        if not self.job.running:
            self.fetch_status.value = ""
