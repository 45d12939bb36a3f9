"""The selected provider's settings: key, address, API version, headers, verify, models, delete.

Secrets (the key, header values) go from the widget into the store and the widget's value is
cleared at once: the widget state a notebook saves never holds them. Only where a key comes
from and the header names are shown.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as w  # type: ignore[import-untyped]

from .._adding import with_notes
from .._address import check_address
from .._doctor import fix_address
from ..errors import InvalidValueError
from ._common import (
    Job,
    SecretPassword,
    SecretTextarea,
    button,
    error_text,
    esc,
    message_html,
    set_visible,
    verdict_html,
)
from .models import ModelsEditor

if TYPE_CHECKING:
    from ..adapters import TypeSpec
    from ..store import Provider, ProviderStore

__all__ = ["ProviderDetail", "address_hint", "key_status"]

_RULE = (
    "Spaces are trimmed and one final <code>/</code> dropped; {seg}End the address with <code>#</code> to use it "
    "exactly as typed. Empty: {default}."
)
_SEGMENT = (
    "<code>{seg}</code> is added unless the path already has a version (<code>/v1</code>, <code>/v1beta</code>, "
    "<code>/api/v3</code>…). "
)


def address_hint(s: TypeSpec) -> str:
    """The hint under the address field: what the type is, and how the address is read (HTML, escaped)."""
    if s.resolve is not None:  # a rule of its own: the type's hint says it
        return esc(s.address_hint)
    seg = _SEGMENT.format(seg=esc(s.version_segment)) if s.version_segment else ""
    default = f"<code>{esc(s.default_address)}</code>" if s.default_address else "an address is needed"
    head = f"{esc(s.address_hint)}. " if s.address_hint else ""
    return head + _RULE.format(seg=seg, default=default)


def key_status(p: Provider) -> str:
    """Where the key comes from, in words. Never the key."""
    n, source = len(p.keys), p.key_source
    count = f"{n} keys" if n > 1 else "key"
    if source == "entered":
        return f"{count} set (entered)"
    if source.startswith("$"):
        return f"{count} from {source}"
    if p.api_key == "" and not p.api_key_env:
        return "no key: requests are sent without one"
    if p.withheld_env:
        return f"no key yet: enter one above (${p.withheld_env} is sent only to the official address)"
    names = " or ".join(p.key_env_names())
    if not p.spec.needs_key and not names:  # a local Ollama: no key is the normal case, not a missing one
        return "no key: requests are sent without one (enter one above if the server asks for it)"
    return f"no key yet: enter one above or set {names}" if names else "no key yet: enter one above"


def _section(title: str) -> Any:
    return w.HTML(esc(title)).add_class("jp-providers-section")


def _parse_headers(text: str) -> dict[str, str | None]:
    """``Name: value`` lines -> {name: value}; ``Name:`` alone -> {name: None} (remove it)."""
    out: dict[str, str | None] = {}
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if ":" not in line:
            raise InvalidValueError(f"headers: line {i} has no ':' - write one header per line as Name: value")
        name, value = line.split(":", 1)
        out[name.strip()] = value.strip() or None
    return out


class ProviderDetail:
    """The right-hand pane of :class:`ProvidersPanel`; ``box`` is the widget to show."""

    def __init__(self, store: ProviderStore, verify_job: Job, fetch_job: Job) -> None:
        self.store = store
        self.job = verify_job
        self.name: str | None = None
        self._lock = threading.RLock()
        self._seen_base_url: str | None = None
        self._seen_api_version: str | None = None
        self._verifying: str | None = None
        self._verify_options: list[tuple[str, str]] = []

        self.title = w.HTML().add_class("jp-providers-detail-title")
        self.readonly_note = w.HTML(
            message_html("Managed by your administrator: shown here, not editable.", "muted"),
            layout=w.Layout(display="none"),
        ).add_class("jp-providers-readonly")

        self.key_error = w.HTML().add_class("jp-providers-key-error")
        self.headers_error = w.HTML().add_class("jp-providers-headers-error")
        # API key: continuous_update=False sends the value once (Enter or leaving the field), then it is cleared.
        self.key = SecretPassword(
            placeholder="paste the API key (several: comma-separated)",
            continuous_update=False,
            layout=w.Layout(width="320px"),
        ).add_class("jp-providers-key")
        self.key.observe(lambda c: self.save_key(c["new"]), names="value")
        self.key_save = button("Save key", "jp-providers-key-save", style="primary")
        self.key_save.on_click(lambda _b: self.save_key(self.key.value))
        self.key_forget = button("Forget key", "jp-providers-key-forget", tooltip="Use the environment variable")
        self.key_forget.on_click(lambda _b: self._do(self.key_error, lambda n: self.store.update(n, api_key=None)))
        self.key_status = w.HTML().add_class("jp-providers-key-status")

        self.address = w.Text(layout=w.Layout(width="420px")).add_class("jp-providers-address")
        self.address.observe(lambda c: self.set_address(c["new"]), names="value")
        self.preview = w.HTML().add_class("jp-providers-preview")
        self.address_error = w.HTML().add_class("jp-providers-address-error")
        self.hint = w.HTML().add_class("jp-providers-hint")
        self.api_version = w.Text(
            description="API version",
            continuous_update=False,
            layout=w.Layout(width="320px"),
            style={"description_width": "initial"},
        ).add_class("jp-providers-api-version")
        self.api_version.observe(lambda c: self.set_api_version(c["new"]), names="value")

        self.header_names = w.HTML().add_class("jp-providers-header-names")
        self.headers = SecretTextarea(
            placeholder="Name: value (one per line; 'Name:' alone removes it)",
            continuous_update=False,
            rows=2,
            layout=w.Layout(width="420px"),
        ).add_class("jp-providers-headers")
        self.headers.observe(lambda c: self.save_headers(c["new"]), names="value")
        self.headers_save = button("Save headers", "jp-providers-headers-save")
        self.headers_save.on_click(lambda _b: self.save_headers(self.headers.value))
        self.headers_clear = button("Remove all", "jp-providers-headers-clear")
        self.headers_clear.on_click(lambda _b: self._do(self.headers_error, lambda n: self.store.update(n, headers={})))

        self.verify_model = w.Dropdown(options=[], layout=w.Layout(width="260px"))
        self.verify_model.add_class("jp-providers-verify-model")
        self.verify_model.observe(lambda _c: self._show_preview(), names="value")
        self.verify_button = button("Verify", "jp-providers-verify", icon="check", style="primary")
        self.verify_button.on_click(lambda _b: self.verify())
        self.verify_caps = w.Checkbox(value=False, description="Capabilities", indent=False)  # probe them too
        self.verdict = w.HTML().add_class("jp-providers-verdict")

        self.models = ModelsEditor(store, fetch_job)

        self.delete_button = button("Delete provider", "jp-providers-delete", icon="trash")
        self.delete_button.on_click(lambda _b: self._ask_delete(True))
        self.delete_confirm = button("Really delete?", "jp-providers-delete-confirm", style="danger")
        self.delete_confirm.on_click(lambda _b: self.delete())
        self.delete_cancel = button("Cancel", "jp-providers-delete-cancel")
        self.delete_cancel.on_click(lambda _b: self._ask_delete(False))
        self.delete_error = w.HTML().add_class("jp-providers-delete-error")

        self.fields = w.VBox(
            [
                _section("API key"),
                w.HBox([self.key, self.key_save, self.key_forget]),
                self.key_status,
                self.key_error,
                _section("API address"),
                self.address,
                self.preview,
                self.address_error,
                self.hint,
                self.api_version,
                _section("Custom headers"),
                self.header_names,
                self.headers,
                w.HBox([self.headers_save, self.headers_clear]),
                self.headers_error,
                _section("Verify"),
                w.HBox([self.verify_model, self.verify_button, self.verify_caps]),
                self.verdict,
                _section("Models"),
                self.models.box,
                _section("Delete"),
                w.HBox([self.delete_button, self.delete_confirm, self.delete_cancel]),
                self.delete_error,
            ]
        )
        self.placeholder = w.HTML(message_html("Select a provider, or press + Add.", "muted"))
        self.box = w.VBox(
            [self.title, self.readonly_note, self.placeholder, self.fields],
            layout=w.Layout(flex="1 1 auto", min_width="420px", max_width="760px"),
        ).add_class("jp-providers-detail")
        self._ask_delete(False)
        self.show(None)

    # -- showing --------------------------------------------------------------------------------
    def show(self, p: Provider | None) -> None:
        """Show ``p`` (``None``: nothing selected). Fields being typed in are left alone."""
        with self._lock:
            switched = p is None or p.name != self.name
            self.name = p.name if p is not None else None
            set_visible(self.fields, p is not None)
            set_visible(self.placeholder, p is None)
            self.models.show(p)
            if p is None:
                self.title.value = ""
                set_visible(self.readonly_note, False)
                return
            if switched:
                for line in (self.key_error, self.address_error, self.headers_error, self.delete_error):
                    line.value = ""
                self._ask_delete(False)
            self.title.value = (
                f"<b>{esc(p.name)}</b> "
                f'<span class="jp-providers-note">{esc(p.spec.label)}'
                f"{'' if p.enabled else ' · disabled'}</span>"
            )
            set_visible(self.readonly_note, p.readonly)
            for x in (
                self.key, self.key_save, self.key_forget, self.address, self.api_version, self.headers,
                self.headers_save, self.headers_clear, self.delete_button,
            ):  # fmt: skip
                x.disabled = p.readonly
            self.key_status.value = message_html(key_status(p), "muted")
            # a field is rewritten only for another provider or when the store changed under it
            if switched or p.base_url != self._seen_base_url:
                self._seen_base_url = p.base_url
                self.address.value = p.base_url
                self.address_error.value = ""
            self.address.placeholder = p.spec.placeholder or p.spec.default_address
            self.hint.value = address_hint(p.spec)
            version = p.spec.extra("api_version")
            set_visible(self.api_version, version is not None)
            if switched or p.api_version != self._seen_api_version:
                self._seen_api_version = p.api_version
                self.api_version.value = p.api_version or ""
            self.api_version.placeholder = p.option("api_version")
            names = ", ".join(esc(h) for h in p.headers)
            self.header_names.value = (
                f"Sent with every request: <b>{names}</b> (values hidden)"
                if names
                else '<span class="jp-providers-note">none</span>'
            )
            options = [(m.display_name, m.id) for m in p.models]
            if options != self._verify_options:
                keep = self.verify_model.value if self.verify_model.value in p.model_ids else None
                self._verify_options = options
                self.verify_model.options = options
                self.verify_model.value = keep or (p.model_ids[0] if p.models else None)
            self._show_preview()
            if self._verifying != p.name:
                self.verdict.value = verdict_html(p.last_verification) if p.last_verification else ""

    def _show_preview(self) -> None:
        name = self.name
        if name is None or name not in self.store:
            return
        try:
            url = self.store.endpoint_preview(name, self.verify_model.value or None)
        except Exception as exc:
            self.preview.value = message_html(error_text(exc))
            return
        self.preview.value = f'<span class="jp-providers-note">Requests go to</span> <code>{esc(url)}</code>'

    # -- changing -------------------------------------------------------------------------------
    def _do(self, line: Any, action: Callable[[str], object]) -> bool:
        """Run ``action(name)``; show its error in ``line`` (one line) or clear the line."""
        name = self.name
        if name is None:
            return False
        try:
            action(name)
        except Exception as exc:
            line.value = message_html(error_text(exc))
            return False
        line.value = ""
        return True

    def save_key(self, value: str) -> None:
        """Put ``value`` into the store as the key and clear the field at once (even if refused)."""
        if not value:
            return
        self.key.value = ""  # first: the key must not stay in the widget's state
        self._do(self.key_error, lambda n: self.store.update(n, api_key=value))

    def set_address(self, value: str) -> None:
        """Save a valid address as it is typed (the preview follows); an invalid one is shown, not saved. A pasted
        endpoint URL is cut back to its base: the field shows the base, the note under it what was removed."""
        name = self.name
        p = self.store.get(name) if name else None
        if p is None or p.readonly:
            return
        fix = fix_address(value, p.type)
        if fix.key is not None:  # out of the field (and the widget state a notebook saves) at once
            self.address.value = fix.address
        try:
            clean = check_address(fix.address)
        except ValueError as exc:
            self.address_error.value = message_html(error_text(exc))
            self.preview.value = message_html("not saved: the address above is not valid", "muted")
            return
        self.address_error.value = ""
        if fix.changed:
            _, notes = with_notes(lambda: self._do(self.address_error, lambda n: self.store.update(n, base_url=value)))
            self._seen_base_url = self.store[name].base_url if name is not None and name in self.store else clean
            self.address.value = self._seen_base_url  # runs this again with nothing left to change
            self.address_error.value = message_html(" ".join(notes), "muted")
        elif clean != p.base_url:
            self._seen_base_url = clean  # our own change: the field keeps what is being typed
            self._do(self.address_error, lambda n: self.store.update(n, base_url=clean))
        self._show_preview()

    def set_api_version(self, value: str) -> None:
        p = self.store.get(self.name) if self.name else None
        if p is None or p.readonly or (value.strip() or None) == p.api_version:
            return
        self._seen_api_version = value.strip() or None
        self._do(self.address_error, lambda n: self.store.update(n, api_version=value.strip() or None))

    def save_headers(self, text: str) -> None:
        """Merge ``Name: value`` lines into the headers, then clear the field (values are secrets too)."""
        if not text.strip():
            return
        self.headers.value = ""

        def merge(name: str) -> None:
            headers: dict[str, str] = dict(self.store[name].headers)
            for k, v in _parse_headers(text).items():
                if v is None:
                    headers.pop(k, None)
                else:
                    headers[k] = v
            self.store.update(name, headers=headers)

        self._do(self.headers_error, merge)

    def verify(self) -> None:
        """Verify the selected provider with the chosen model, in the background."""
        name, model = self.name, self.verify_model.value or None
        if name is None or self.job.running:
            return
        self._verifying = name
        self.verify_button.disabled = True
        self.verify_button.icon = "spinner spin"
        self.verify_button.description = "Verifying…"
        self.verdict.value = message_html(f"Verifying {model or name}…", "busy")
        if not self.job.start(lambda: self._verify(name, model)):
            self._verify_done()

    def _verify(self, name: str, model: str | None) -> None:
        try:
            verdict = self.store.verify(name, model, capabilities=bool(self.verify_caps.value))
        except Exception as exc:
            text = message_html(error_text(exc))
        else:
            text = verdict_html(verdict)
        finally:
            self._verify_done()
        if self.name == name:
            self.verdict.value = text

    def _verify_done(self) -> None:
        self._verifying = None
        self.verify_button.description = "Verify"
        self.verify_button.icon = "check"
        self.verify_button.disabled = False

    def _ask_delete(self, asking: bool) -> None:
        if asking and self.name is not None:
            self.delete_confirm.description = f"Really delete {self.name}?"
        set_visible(self.delete_button, not asking)
        set_visible(self.delete_confirm, asking)
        set_visible(self.delete_cancel, asking)

    def delete(self) -> None:
        self._ask_delete(False)
        self._do(self.delete_error, lambda n: self.store.remove(n))
