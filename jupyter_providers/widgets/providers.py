"""The provider manager: the list with enable switches, "+ Add", and the selected provider's settings.

Live-bound to the store: a change made from Python, the ``%providers`` magic or another
panel shows here at once, and every change made here goes through the store.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import ipywidgets as w  # type: ignore[import-untyped]

from .._adding import from_detection, with_notes
from .._doctor import fix_address, without_key
from .._render import HTML_CLASSES
from .._secret import Secret
from ..adapters import TYPES
from ..presets import PRESETS
from ..store import PROVIDER_TYPES, get_store
from ._common import Job, button, close_tree, error_text, esc, message_html, set_visible, style_widget
from ._detail import ProviderDetail

if TYPE_CHECKING:
    from .._types import Detection
    from ..store import Provider, ProviderStore

__all__ = ["ProvidersPanel"]


class _Row:
    """One provider in the list: its name (click to select), type and enable switch."""

    def __init__(self, panel: ProvidersPanel, name: str) -> None:
        self.name = name
        self.select = button(name, "jp-providers-row-name", tooltip=f"Show {name}")
        self.select.layout = w.Layout(flex="1 1 auto", width="auto", justify_content="flex-start")
        self.select.on_click(lambda _b: panel.select(name))
        self.type = w.HTML(layout=w.Layout(width="auto")).add_class("jp-providers-row-type")
        self.enabled = w.Checkbox(indent=False, layout=w.Layout(width="24px"), tooltip="enabled")
        self.enabled.add_class("jp-providers-enable")
        self.enabled.observe(lambda c: panel.set_enabled(name, c["new"]), names="value")
        self.box = w.HBox(
            [self.select, self.type, self.enabled], layout=w.Layout(align_items="center", width="100%")
        ).add_class("jp-providers-row")

    def show(self, p: Provider, selected: bool) -> None:
        label = p.spec.label + (" · admin" if p.readonly else "")
        self.type.value = esc(label)
        self.enabled.value = p.enabled
        self.enabled.disabled = p.readonly
        self.enabled.tooltip = "enabled" if p.enabled else "disabled"
        if selected:
            self.box.add_class("jp-providers-selected")
        else:
            self.box.remove_class("jp-providers-selected")


class ProvidersPanel(w.VBox):  # type: ignore[misc]
    """Manage the providers of a store (the kernel's shared one by default).

    >>> from jupyter_providers.widgets import ProvidersPanel
    >>> ProvidersPanel()            # doctest: +SKIP

    Verify and fetch run in background threads; :meth:`wait` waits for them. :meth:`close`
    stops listening to the store.
    """

    def __init__(self, store: ProviderStore | None = None, *, selected: str | None = None) -> None:
        self.store = store if store is not None else get_store()
        self._lock = threading.RLock()
        self._rows: dict[str, _Row] = {}
        self.selected: str | None = None
        self.jobs = (Job("jupyter-providers verify"), Job("jupyter-providers fetch"), Job("jupyter-providers detect"))
        #: a key pasted in the Add form's address (``?key=``): taken out of the field at once, kept here only
        self._url_key: Secret | None = None
        self._found: Detection | None = None

        self.rows = w.VBox().add_class("jp-providers-rows")
        self.empty = w.HTML(message_html("No provider yet: press + Add.", "muted"))
        self.add_button = button("+ Add", "jp-providers-add", tooltip="Add a provider")
        self.add_button.on_click(lambda _b: self.open_form(True))
        self.add_name = w.Text(placeholder="name, e.g. vLLM", layout=w.Layout(width="200px"))
        self.add_name.add_class("jp-providers-add-name")
        self.add_type = w.Dropdown(
            options=[(TYPES[t].label, t) for t in PROVIDER_TYPES], value="openai", layout=w.Layout(width="200px")
        ).add_class("jp-providers-add-type")
        self.add_preset = w.Dropdown(
            options=[("Preset: none (pick a type)", ""), *((f"Preset: {p.label}", p.name) for p in PRESETS.values())],
            value="",
            layout=w.Layout(width="200px"),
        ).add_class("jp-providers-add-preset")
        self.add_preset.observe(lambda c: self._preset_chosen(c["new"]), names="value")
        self.add_url = w.Text(placeholder="address, e.g. http://localhost:8000", layout=w.Layout(width="200px"))
        self.add_url.add_class("jp-providers-add-url")
        self.add_url.observe(lambda c: self._url_typed(c["new"]), names="value")
        self.add_detect = button("Detect", "jp-providers-add-detect", tooltip="Ask the address what it serves")
        self.add_detect.on_click(lambda _b: self.detect())
        self.add_found = w.HTML().add_class("jp-providers-add-found")
        self.add_confirm = button("Add", "jp-providers-add-confirm", style="primary")
        self.add_confirm.on_click(lambda _b: self.add())
        self.add_cancel = button("Cancel", "jp-providers-add-cancel")
        self.add_cancel.on_click(lambda _b: self.open_form(False))
        self.add_error = w.HTML().add_class("jp-providers-add-error")
        self.add_form = w.VBox(
            [
                self.add_name,
                self.add_preset,
                self.add_url,
                w.HBox([self.add_detect]),
                self.add_type,
                self.add_found,
                w.HBox([self.add_confirm, self.add_cancel]),
                self.add_error,
            ],
            layout=w.Layout(display="none", width="100%"),
        ).add_class("jp-providers-add-form")
        self.message = w.HTML().add_class("jp-providers-message")
        title = w.HTML("Providers").add_class("jp-providers-title")
        left = w.VBox(
            [title, self.rows, self.empty, self.add_button, self.add_form, self.message],
            layout=w.Layout(width="260px", min_width="220px"),
        ).add_class("jp-providers-list")
        self.detail = ProviderDetail(self.store, self.jobs[0], self.jobs[1])
        super().__init__(
            [style_widget(), w.HBox([left, self.detail.box], layout=w.Layout(width="100%"))],
            layout=w.Layout(width="100%"),
        )
        self.add_class("jp-providers-root")
        for cls in HTML_CLASSES.split():  # no TeX typesetting of server text
            self.add_class(cls)
        self.add_class("jp-providers-panel")
        self._unsubscribe = self.store.on_change(lambda _event, _name: self.refresh())
        self.refresh(select=selected)

    # -- showing --------------------------------------------------------------------------------
    def refresh(self, select: str | None = None) -> None:
        """Show the store as it is now (called on every store change)."""
        with self._lock:
            providers = {p.name: p for p in self.store}
            if select is not None and select in providers:
                self.selected = select
            elif self.selected not in providers:
                self.selected = next(iter(providers), None)
            for name in [n for n in self._rows if n not in providers]:
                close_tree(self._rows.pop(name).box)
            for name, p in providers.items():
                row = self._rows.get(name)
                if row is None:
                    row = self._rows[name] = _Row(self, name)
                row.show(p, name == self.selected)
            boxes = tuple(self._rows[n].box for n in providers)
            if boxes != tuple(self.rows.children):
                self.rows.children = boxes
            set_visible(self.empty, not providers)
            self.detail.show(providers.get(self.selected) if self.selected else None)

    def select(self, name: str) -> None:
        """Show provider ``name`` in the detail pane."""
        self.refresh(select=name)

    # -- changing -------------------------------------------------------------------------------
    def open_form(self, show: bool) -> None:
        set_visible(self.add_form, show)
        set_visible(self.add_button, not show)
        if not show:
            self.add_name.value = ""
            self.add_error.value = ""
            self.add_preset.value = ""
            self.add_url.value = self.add_found.value = ""
            self._url_key = self._found = None

    def _preset_chosen(self, name: str) -> None:
        """A preset decides the type (and names the provider, unless a name was typed)."""
        chosen = PRESETS.get(name)
        self.add_type.disabled = chosen is not None
        if chosen is not None:
            self.add_type.value = chosen.type
            if not self.add_name.value.strip():
                self.add_name.value = chosen.label.split(" (")[0]

    def _url_typed(self, value: str) -> None:
        """A key pasted in the address leaves the field at once (widget state is saved with the notebook)."""
        self._found = None
        self.add_found.value = ""
        fix = fix_address(value)
        if fix.key is not None:
            self._url_key = fix.key
            self.add_url.value = without_key(value)  # the rest stays for Add (its model, api-version, note)
            self.add_found.value = message_html("a key in the address was taken out of it (used as the key)", "muted")

    def detect(self) -> None:
        """Ask the typed address which type it speaks and its models (in the background); fills the type."""
        url = self.add_url.value
        if not url.strip():
            self.add_found.value = message_html("type the address to detect first")
            return
        self.add_found.value = message_html(f"Detecting {url}…", "busy")
        self.add_detect.disabled = True
        if not self.jobs[2].start(lambda: self._detect(url, self._url_key)):
            self.add_detect.disabled = False

    def _detect(self, url: str, key: Secret | None) -> None:
        try:
            found = self.store.detect(url, api_key=key)
        except Exception as exc:
            self.add_found.value = message_html(error_text(exc))
            return
        finally:
            self.add_detect.disabled = False
        if self.add_url.value != url:
            return  # the address changed while it was probed
        self._found = found
        if found.type is not None and not self.add_type.disabled:
            self.add_type.value = found.type
        said = found.told("put the key in the address (…?key=YOUR_KEY: it leaves the field at once) and detect again")
        self.add_found.value = message_html(said, "ok" if found.ok else "error")

    def add(self) -> Provider | None:
        """Add the provider described in the form; a refused name is explained in the form, and what the store
        changed in the address is said under the list."""
        preset = self.add_preset.value or None
        type_, url, key = None if preset else self.add_type.value, self.add_url.value, self._url_key
        models: list[str] = []
        if self._found is not None and self._found.ok:
            type_, models, _ = from_detection(self._found, type_, [])
        try:
            name = self.add_name.value
            p, notes = with_notes(
                lambda: self.store.add(name, type=type_, base_url=url, api_key=key, models=models, preset=preset)
            )
        except Exception as exc:
            self.add_error.value = message_html(error_text(exc))
            return None
        self.open_form(False)
        self.select(p.name)
        self.message.value = message_html(" ".join(notes), "muted")
        return p

    def set_enabled(self, name: str, enabled: bool) -> None:
        p = self.store.get(name)
        if p is None or p.enabled == enabled:
            return  # the switch only shows the store's value
        try:
            self.store.update(name, enabled=enabled)
        except Exception as exc:
            self.message.value = message_html(error_text(exc))
            self._rows[name].enabled.value = p.enabled
        else:
            self.message.value = ""

    # -- lifetime -------------------------------------------------------------------------------
    def wait(self, timeout: float | None = None) -> bool:
        """Wait for a running verify or fetch; ``True`` when none runs any more."""
        return all([job.wait(timeout) for job in self.jobs])

    def close(self) -> None:
        """Stop following the store and close every widget of the panel."""
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
        for child in self.children:
            close_tree(child)
        super().close()
