"""The provider manager, driven like a person would: add, key, address, verify, models, delete, live sync."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers.adapters import TYPES
from jupyter_providers.local import free_port
from jupyter_providers.presets import PRESETS
from jupyter_providers.widgets import ChatWidget, ProvidersPanel
from tests.conftest import LOCAL_KEY
from tests.fakes import FakeServer

from . import all_widget_states, states_of, text

KEY = "sk-fake-widget-7d41c2e9"


@pytest.fixture
def panel(store: ProviderStore) -> Iterator[ProvidersPanel]:
    p = ProvidersPanel(store=store)
    yield p
    p.wait(30)
    p.close()


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("openai", api_key=KEY, models=["model-a", "model-b"]) as s:
        yield s


def row_names(panel: ProvidersPanel) -> list[str]:
    return [row.children[0].description for row in panel.rows.children]


def add_through_form(panel: ProvidersPanel, name: str, type_: str = "openai") -> None:
    panel.add_button.click()
    panel.add_name.value = name
    panel.add_type.value = type_
    panel.add_confirm.click()


def setup_fake(panel: ProvidersPanel, srv: FakeServer, name: str = "Fake", key: str = KEY) -> None:
    """Add a provider for ``srv`` entirely through the panel."""
    add_through_form(panel, name)
    panel.detail.address.value = srv.base_url + "/"
    panel.detail.key.value = key
    panel.detail.models.input.value = ", ".join(srv.models)
    panel.detail.models.add_button.click()


def verify(panel: ProvidersPanel, model: str | None = None) -> str:
    if model is not None:
        panel.detail.verify_model.value = model
    panel.detail.verify_button.click()
    assert panel.wait(60)
    return str(panel.detail.verdict.value)


# -- adding -------------------------------------------------------------------------------------
def test_add_through_the_form(panel: ProvidersPanel, store: ProviderStore) -> None:
    assert panel.add_form.layout.display == "none" and panel.empty.layout.display != "none"
    panel.add_button.click()
    assert panel.add_form.layout.display != "none"
    assert [label for label, _ in panel.add_type.options] == [s.label for s in TYPES.values()]
    panel.add_name.value = "  Claude  "
    panel.add_type.value = "anthropic"
    panel.add_confirm.click()
    assert store["Claude"].type == "anthropic"
    assert row_names(panel) == ["Claude"] and panel.selected == "Claude"
    assert panel.add_form.layout.display == "none" and panel.add_name.value == ""
    assert "Claude" in text(panel.detail.title.value) and "Anthropic" in text(panel.detail.title.value)
    assert "jp-providers-selected" in panel.rows.children[0]._dom_classes
    assert panel.empty.layout.display == "none"


def test_add_from_a_preset(panel: ProvidersPanel, store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A preset picks the type (the type list is then locked), names the provider, fills the address and the
    key variable, which is read for the preset's own host only."""
    monkeypatch.setenv("GROQ_API_KEY", "gsk-from-env")
    panel.add_button.click()
    assert [name for _, name in panel.add_preset.options][1:] == list(PRESETS)
    panel.add_preset.value = "groq"
    assert (panel.add_type.value, panel.add_type.disabled, panel.add_name.value) == ("openai", True, "Groq")
    panel.add_confirm.click()
    p = store["Groq"]
    assert (p.type, p.preset, p.base_url) == ("openai", "groq", "https://api.groq.com/openai/v1")
    assert p.key_source == "$GROQ_API_KEY"
    assert store.update("Groq", base_url="https://proxy.example/v1").key_source == "none"  # not sent elsewhere
    assert panel.add_preset.value == "" and not panel.add_type.disabled


@pytest.mark.parametrize(
    ("name", "reason"),
    [("", "name: a provider needs a non-empty name"), ("VLLM", "a provider named 'vLLM' already exists")],
)
def test_form_refuses_empty_and_duplicate_names(
    panel: ProvidersPanel, store: ProviderStore, name: str, reason: str
) -> None:
    store.add("vLLM", base_url="http://127.0.0.1:9/")
    add_through_form(panel, name)
    assert reason in text(panel.add_error.value)
    assert "jp-providers-error" in panel.add_error.value and "<br" not in panel.add_error.value
    assert store.names() == ["vLLM"]
    assert panel.add_form.layout.display != "none" and panel.add_name.value == name  # nothing typed is lost
    panel.add_cancel.click()
    assert panel.add_form.layout.display == "none" and panel.add_error.value == ""


# -- secrets ------------------------------------------------------------------------------------
def test_key_is_cleared_and_never_in_widget_state(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "Cloud")
    assert "no key yet" in text(panel.detail.key_status.value) and "OPENAI_API_KEY" in text(
        panel.detail.key_status.value
    )
    panel.detail.key.value = KEY
    assert panel.detail.key.value == ""
    assert store["Cloud"].keys == [KEY] and store["Cloud"].key_source == "entered"
    assert "key set (entered)" in text(panel.detail.key_status.value)
    panel.detail.key.value = "sk-one-1111111, sk-two-2222222"
    assert panel.detail.key.value == "" and len(store["Cloud"].keys) == 2
    assert "2 keys set (entered)" in text(panel.detail.key_status.value)
    panel.detail.headers.value = "X-Org: org-hush-31337\nX-Team: team-hush-424242"
    assert panel.detail.headers.value == ""
    assert dict(store["Cloud"].headers) == {"X-Org": "org-hush-31337", "X-Team": "team-hush-424242"}
    assert "X-Org, X-Team" in text(panel.detail.header_names.value)
    panel.detail.headers.value = "X-Team:"  # a name alone removes the header
    assert dict(store["Cloud"].headers) == {"X-Org": "org-hush-31337"}
    # a second panel and a chat widget on the same store: their state must not hold the secrets either
    other, chat = ProvidersPanel(store=store), ChatWidget(store=store)
    try:
        for secret in (KEY, "sk-one-1111111", "sk-two-2222222", "org-hush-31337", "team-hush-424242"):
            for widget in (panel, other, chat):
                assert secret not in states_of(widget)
            assert secret not in all_widget_states()
    finally:
        other.close()
        chat.close()


def frontend_sets(widget: Any, value: str) -> list[dict[str, Any]]:
    """Deliver ``value`` as the browser does (a comm "update" message); return what the kernel sends back."""
    sent: list[dict[str, Any]] = []
    widget._send = lambda msg, buffers=None: sent.append(msg)
    try:
        widget._handle_msg({"content": {"data": {"method": "update", "state": {"value": value}}}, "buffers": []})
    finally:
        del widget._send
    return sent


def test_secrets_typed_in_the_browser_never_travel_back(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "Cloud")
    sent = frontend_sets(panel.detail.key, KEY)
    assert store["Cloud"].keys == [KEY] and panel.detail.key.value == ""
    assert KEY not in json.dumps(sent)  # no echo of the key (ipywidgets 8 echoes values by default)
    assert {"method": "update", "state": {"value": ""}, "buffer_paths": []} in sent  # the browser's copy is cleared
    sent = frontend_sets(panel.detail.headers, "X-Org: org-hush-31337")
    assert dict(store["Cloud"].headers) == {"X-Org": "org-hush-31337"} and panel.detail.headers.value == ""
    assert "org-hush-31337" not in json.dumps(sent)
    # an ordinary field is echoed as usual: the test above does see echoes
    assert any(m["method"] == "echo_update" for m in frontend_sets(panel.detail.address, "http://localhost:1234"))


def test_key_forget_and_bad_key(panel: ProvidersPanel, store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-9999999")
    add_through_form(panel, "Cloud")
    assert "key from $OPENAI_API_KEY" in text(panel.detail.key_status.value)
    panel.detail.key.value = "bad\tkey"
    assert panel.detail.key.value == ""  # cleared even when refused
    assert "api_key: the key cannot be sent: it has a tab (U+0009) at position 4" in text(panel.detail.key_error.value)
    panel.detail.key.value = KEY
    assert panel.detail.key_error.value == "" and store["Cloud"].key_source == "entered"
    panel.detail.key_forget.click()
    assert store["Cloud"].key_source == "$OPENAI_API_KEY"
    assert "sk-env" not in states_of(panel)


def test_bad_header_line_is_explained(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "Cloud")
    panel.detail.headers.value = "X-Ok: fine\nno colon here"
    assert "headers: line 2 has no ':'" in text(panel.detail.headers_error.value)
    assert panel.detail.headers.value == "" and dict(store["Cloud"].headers) == {}
    panel.detail.headers.value = "Bad Name: v"
    assert "'Bad Name' is not a valid header name" in text(panel.detail.headers_error.value)
    panel.detail.headers.value = "X-Ok: fine"
    assert panel.detail.headers_error.value == "" and "X-Ok" in text(panel.detail.header_names.value)
    panel.detail.headers_clear.click()
    assert dict(store["Cloud"].headers) == {} and "none" in text(panel.detail.header_names.value)


# -- address ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("type_", "typed", "url"),
    [
        ("openai", "http://localhost:8000/", "http://localhost:8000/v1/chat/completions"),
        ("openai", " https://ark.example.com/api/v3 ", "https://ark.example.com/api/v3/chat/completions"),
        ("openai", "https://proxy.example.com/custom/path#", "https://proxy.example.com/custom/path/chat/completions"),
        ("anthropic", "http://127.0.0.1:9000", "http://127.0.0.1:9000/v1/messages"),
        ("gemini", "https://gw.example.com/", "https://gw.example.com/v1beta/models/m1:generateContent"),
    ],
)
def test_address_preview_follows_typing(
    panel: ProvidersPanel, store: ProviderStore, type_: str, typed: str, url: str
) -> None:
    add_through_form(panel, "P", type_)
    store.add_models("P", "m1")
    panel.detail.address.value = typed
    assert f"<code>{url}</code>" in panel.detail.preview.value
    assert store["P"].base_url == typed.strip()
    assert panel.detail.address.value == typed  # what is being typed is left alone
    assert panel.detail.address_error.value == ""
    assert "#" in text(panel.detail.hint.value)


def test_invalid_address_is_shown_not_saved(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "P")
    panel.detail.address.value = "http://localhost:8000"
    for bad, reason in [
        ("ftp://files.example.com", "must start with http:// or https://"),
        ("http://local host:8000", "contains spaces"),
        ("http://user:pw@example.com", "put credentials in the API key field"),
    ]:
        panel.detail.address.value = bad
        assert reason in text(panel.detail.address_error.value)
        assert "not saved" in text(panel.detail.preview.value)
        assert store["P"].base_url == "http://localhost:8000"
    panel.detail.address.value = "http://localhost:8001"
    assert panel.detail.address_error.value == "" and store["P"].base_url == "http://localhost:8001"


def test_azure_has_an_api_version_field(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "Az", "azure")
    assert panel.detail.api_version.layout.display != "none"
    assert panel.detail.api_version.placeholder == "2024-10-21"
    assert "deployment" in text(panel.detail.hint.value)
    panel.detail.address.value = "https://myres.openai.azure.com"
    store.add_models("Az", "gpt4o-prod")
    panel.detail.api_version.value = "2025-01-01-preview"
    assert store["Az"].api_version == "2025-01-01-preview"
    assert (
        "https://myres.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2025-01-01-preview"
        in text(panel.detail.preview.value)
    )
    add_through_form(panel, "Plain")
    assert panel.detail.api_version.layout.display == "none"


# -- verify -------------------------------------------------------------------------------------
def test_verify_ok_with_the_local_model(store: ProviderStore, llama_server: object) -> None:
    from jupyter_providers.local import LocalServer

    assert isinstance(llama_server, LocalServer)
    panel = ProvidersPanel(store=store)
    try:
        add_through_form(panel, "vLLM")
        panel.detail.address.value = llama_server.base_url + "/"
        panel.detail.key.value = LOCAL_KEY
        panel.detail.models.input.value = "smollm2"
        panel.detail.models.add_button.click()
        assert panel.detail.verify_model.value == "smollm2"  # the first model is preselected
        verdict = verify(panel)
        assert "jp-providers-ok" in verdict and re.search(r"OK - smollm2 answered in \d+ ms", text(verdict))
        assert store["vLLM"].last_verification is not None and store["vLLM"].last_verification.ok
        assert LOCAL_KEY not in all_widget_states()
    finally:
        panel.close()


def test_verify_shows_a_spinner_then_the_verdict(panel: ProvidersPanel, srv: FakeServer) -> None:
    setup_fake(panel, srv)
    srv.delay = 0.5
    panel.detail.verify_button.click()
    assert panel.detail.verify_button.disabled and "spin" in panel.detail.verify_button.icon
    assert "Verifying model-a" in text(panel.detail.verdict.value)
    assert "jp-providers-busy" in panel.detail.verdict.value
    assert panel.wait(30)
    assert not panel.detail.verify_button.disabled and panel.detail.verify_button.icon == "check"
    assert "OK - model-a answered in" in text(panel.detail.verdict.value)


@pytest.mark.parametrize(
    ("fault", "kind", "detail"),
    [
        ("auth", "auth", "the server rejected the key"),
        ("rate_limit", "rate_limited", "rate limited (429"),
        ("html_200", "bad_url", "answered with a web page, not the API"),
        ("server_error", "server_error", "server error (500"),
        ("not_json", "bad_response", "is not JSON"),
    ],
)
def test_verify_failures(panel: ProvidersPanel, srv: FakeServer, fault: str, kind: str, detail: str) -> None:
    setup_fake(panel, srv)
    srv.fault = fault
    verdict = verify(panel)
    assert f"✗ {kind} - " in text(verdict) and detail in text(verdict) and "jp-providers-error" in verdict
    assert KEY not in verdict


def test_verify_wrong_key(panel: ProvidersPanel, srv: FakeServer) -> None:
    setup_fake(panel, srv, key="sk-wrong-0000000000")
    verdict = verify(panel)
    assert "✗ auth - the server rejected the key (401" in text(verdict) and "sk-wrong-0000000000" not in verdict


def test_verify_model_not_found_lists_the_server_models(
    panel: ProvidersPanel, store: ProviderStore, srv: FakeServer
) -> None:
    setup_fake(panel, srv)
    panel.detail.models.input.value = "gpt-5"
    panel.detail.models.add_button.click()
    verdict = verify(panel, "gpt-5")
    assert "✗ model_not_found - model 'gpt-5' not found; the server offers: model-a, model-b" in text(verdict)


def test_verify_unreachable_and_disabled(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "Gone")
    panel.detail.address.value = f"http://127.0.0.1:{free_port()}/"
    panel.detail.models.input.value = "m"
    panel.detail.models.add_button.click()
    verdict = text(verify(panel))
    assert "✗ unreachable - connection refused at" in verdict and "is the server running?" in verdict
    enable = panel.rows.children[0].children[2]
    enable.value = False
    assert store["Gone"].enabled is False and "disabled" in text(panel.detail.title.value)
    assert "✗ disabled - provider 'Gone' is disabled - enable it first" in text(verify(panel))
    enable.value = True
    assert store["Gone"].enabled is True


def test_verify_without_a_model(panel: ProvidersPanel, srv: FakeServer) -> None:
    add_through_form(panel, "Fake")
    panel.detail.address.value = srv.base_url
    panel.detail.key.value = KEY
    assert panel.detail.verify_model.options == () and panel.detail.verify_model.value is None
    verdict = text(verify(panel))
    assert "✗ no_model - " in verdict and "the server offers: model-a, model-b" in verdict


def test_several_keys_give_a_line_per_key(panel: ProvidersPanel, srv: FakeServer) -> None:
    setup_fake(panel, srv, key=f"{KEY}, sk-bad-key-000000")
    verdict = verify(panel)
    lines = verdict.split("<br>")
    assert len(lines) == 3, verdict
    assert "✗ auth - key 2 of 2 failed" in text(lines[0])
    assert "key 1: OK - model-a answered in" in text(lines[1]) and "jp-providers-ok" in lines[1]
    assert "key 2: auth - the server rejected the key" in text(lines[2]) and "jp-providers-error" in lines[2]
    assert "sk-bad-key" not in verdict and KEY not in verdict


def test_a_verdict_from_python_shows_in_the_panel(panel: ProvidersPanel, store: ProviderStore, srv: FakeServer) -> None:
    setup_fake(panel, srv)
    assert panel.detail.verdict.value == ""
    store.verify("Fake")
    assert "OK - model-a answered in" in text(panel.detail.verdict.value)


# -- models -------------------------------------------------------------------------------------
def test_add_edit_delete_models_by_group(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "P")
    models = panel.detail.models
    assert models.empty.layout.display != "none"
    models.input.value = "llama-3-8b, llama-3-70b,qwen2.5-7b"
    models.add_button.click()
    assert models.input.value == "" and store["P"].model_ids == ["llama-3-8b", "llama-3-70b", "qwen2.5-7b"]
    headers = [text(c.value) for c in models.list.children if "jp-providers-group" in c._dom_classes]
    assert headers == ["llama", "qwen2"]
    assert models.empty.layout.display == "none"
    models.input.value = "bad id"
    models.add_button.click()
    assert "model: 'bad id'" in text(models.error.value) and models.input.value == "bad id"
    # edit: display name and group
    models.rows["llama-3-70b"].children[1].click()
    editing = models.rows["llama-3-70b"]
    assert "jp-providers-model-editing" in editing._dom_classes
    display, group, save = (part(editing, c) for c in ("display", "group", "save"))
    display.value, group.value = "Llama 3 70B", "big"
    save.click()
    m = store["P"].model("llama-3-70b")
    assert m is not None and (m.name, m.group) == ("Llama 3 70B", "big")
    headers = [text(c.value) for c in models.list.children if "jp-providers-group" in c._dom_classes]
    assert headers == ["llama", "big", "qwen2"]
    assert "Llama 3 70B" in text(models.rows["llama-3-70b"].children[0].value)
    assert ("Llama 3 70B", "llama-3-70b") in panel.detail.verify_model.options
    # delete
    models.rows["llama-3-8b"].children[2].click()
    assert store["P"].model_ids == ["llama-3-70b", "qwen2.5-7b"] and "llama-3-8b" not in models.rows
    assert panel.detail.verify_model.value == "llama-3-70b"


def part(row: Any, name: str) -> Any:
    """The widget of a model row whose class is ``jp-providers-model-NAME``."""
    return next(c for c in row.children if f"jp-providers-model-{name}" in c._dom_classes)


def test_a_models_prices_are_set_in_its_edit_row(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "P")
    store.add_models("P", "gpt-4o-mini")
    models = panel.detail.models
    models.rows["gpt-4o-mini"].children[1].click()
    row = models.rows["gpt-4o-mini"]
    part(row, "input-price").value, part(row, "output-price").value = "0.15", "$0.60"
    part(row, "save").click()
    m = store["P"].model("gpt-4o-mini")
    assert m is not None and (m.input_price, m.output_price) == (0.15, 0.60)
    assert "$0.15 in / $0.60 out per M tokens" in text(models.rows["gpt-4o-mini"].children[0].value)
    for bad, says in (
        ("-1", "input: -1.0 is not an amount of at least 0"),
        ("cheap", "input: 'cheap' is not a number"),
    ):
        models.rows["gpt-4o-mini"].children[1].click()
        row = models.rows["gpt-4o-mini"]
        part(row, "input-price").value = bad
        part(row, "save").click()
        assert says in text(models.error.value) and "\n" not in text(models.error.value)
        assert store["P"].model("gpt-4o-mini").input_price == 0.15  # type: ignore[union-attr]
        part(models.rows["gpt-4o-mini"], "cancel").click()
    models.rows["gpt-4o-mini"].children[1].click()
    row = models.rows["gpt-4o-mini"]
    part(row, "input-price").value = part(row, "output-price").value = ""
    part(row, "save").click()
    assert store["P"].model("gpt-4o-mini").input_price is None  # type: ignore[union-attr]


def test_fetch_filter_and_add_selected(panel: ProvidersPanel, store: ProviderStore) -> None:
    ids = ["gpt-4o", "gpt-4o-mini", "o1", "text-embedding-3-small", "<b>odd</b>"]
    with FakeServer("openai", api_key=KEY, models=ids) as srv:
        add_through_form(panel, "Fake")
        panel.detail.address.value = srv.base_url
        panel.detail.key.value = KEY
        store.add_models("Fake", "gpt-4o")
        models = panel.detail.models
        models.fetch_button.click()
        assert panel.wait(30)
    assert models.fetch_box.layout.display != "none"
    boxes = {cb.description: cb for cb in models.choices.children}
    assert list(boxes) == ids
    assert boxes["gpt-4o"].value and boxes["gpt-4o"].disabled  # already added
    assert not boxes["gpt-4o"].description_allow_html  # server text is shown as text
    boxes["o1"].value = True  # ticked, then hidden by the filter: still added
    models.filter.value = "4O"
    shown = {cb.description: cb for cb in models.choices.children}
    assert list(shown) == ["gpt-4o", "gpt-4o-mini"]
    assert "5 models (1 already added); 2 shown" in text(models.fetch_status.value)
    shown["gpt-4o-mini"].value = True
    models.fetch_add.click()
    assert store["Fake"].model_ids == ["gpt-4o", "gpt-4o-mini", "o1"]
    models.filter.value = ""
    boxes = {cb.description: cb for cb in models.choices.children}
    assert boxes["o1"].disabled and boxes["gpt-4o-mini"].disabled and not boxes["<b>odd</b>"].value
    models.fetch_add.click()
    assert "tick at least one model" in text(models.error.value)
    models.fetch_close.click()
    assert models.fetch_box.layout.display == "none" and models.choices.children == ()


def test_a_long_list_shows_a_page_of_checkboxes_and_its_filter(panel: ProvidersPanel, store: ProviderStore) -> None:
    """20,000 ids listed, 5,000 kept (said so), one page of checkboxes; the filter reaches the rest."""
    from jupyter_providers.widgets.models import PAGE

    ids = [f"m-{i:05d}" for i in range(20_000)]
    with FakeServer("openai", api_key=KEY, models=ids) as srv:
        add_through_form(panel, "Fake")
        panel.detail.address.value = srv.base_url
        panel.detail.key.value = KEY
        models = panel.detail.models
        models.fetch_button.click()
        assert panel.wait(60)
    assert len(models.offered) == 5000 and models.cut
    assert [cb.description for cb in models.choices.children] == ids[:PAGE]
    status = text(models.fetch_status.value)
    assert "more than 5,000 models (the first 5,000 are listed)" in status and f"the first {PAGE} shown" in status
    models.filter.value = "m-0499"  # ids 4990 .. 4999, beyond the first page
    assert [cb.description for cb in models.choices.children] == ids[4990:5000]
    models.choices.children[3].value = True
    models.filter.value = "m-0000"
    models.choices.children[0].value = True
    models.fetch_add.click()
    assert store["Fake"].model_ids == ["m-00000", "m-04993"]


def test_fetch_failure_is_one_line(panel: ProvidersPanel, srv: FakeServer) -> None:
    setup_fake(panel, srv)
    srv.fault = "auth"
    panel.detail.models.fetch_button.click()
    assert panel.wait(30)
    status = panel.detail.models.fetch_status.value
    assert "jp-providers-error" in status and "Fake: the server rejected the key" in text(status)
    assert not panel.detail.models.fetch_button.disabled
    assert panel.detail.models.fetch_box.layout.display == "none"


# -- delete -------------------------------------------------------------------------------------
def test_delete_asks_for_confirmation(panel: ProvidersPanel, store: ProviderStore) -> None:
    add_through_form(panel, "Keep")
    add_through_form(panel, "Drop")
    d = panel.detail
    assert d.delete_confirm.layout.display == "none"
    d.delete_button.click()
    assert d.delete_confirm.layout.display != "none" and d.delete_confirm.description == "Really delete Drop?"
    assert "Drop" in store
    d.delete_cancel.click()
    assert d.delete_confirm.layout.display == "none" and "Drop" in store
    d.delete_button.click()
    d.delete_confirm.click()
    assert store.names() == ["Keep"] and row_names(panel) == ["Keep"] and panel.selected == "Keep"
    d.delete_button.click()
    d.delete_confirm.click()
    assert store.names() == [] and panel.selected is None
    assert d.fields.layout.display == "none" and panel.empty.layout.display != "none"


# -- live sync ----------------------------------------------------------------------------------
def test_changes_from_python_show_in_an_open_panel(panel: ProvidersPanel, store: ProviderStore) -> None:
    store.add("vLLM", base_url="http://localhost:8000/", api_key="", models=["smollm2"])
    assert row_names(panel) == ["vLLM"] and panel.selected == "vLLM"
    assert panel.detail.address.value == "http://localhost:8000/"
    assert "no key: requests are sent without one" in text(panel.detail.key_status.value)
    store.update("vLLM", base_url="http://localhost:9000/", enabled=False)
    assert panel.detail.address.value == "http://localhost:9000/"
    assert panel.rows.children[0].children[2].value is False
    store.add_models("vLLM", "qwen")
    assert set(panel.detail.models.rows) == {"smollm2", "qwen"}
    store.add("Other", type="gemini")
    assert row_names(panel) == ["vLLM", "Other"] and panel.selected == "vLLM"
    store.remove("vLLM")
    assert row_names(panel) == ["Other"] and panel.selected == "Other"


def test_panel_changes_reach_the_store_and_other_widgets(store: ProviderStore) -> None:
    store.add("A", base_url="http://127.0.0.1:9/", models=["a1"])
    one, two, chat = ProvidersPanel(store=store), ProvidersPanel(store=store), ChatWidget(store=store)
    try:
        add_through_form(one, "B")
        one.detail.models.input.value = "b1, b2"
        one.detail.models.add_button.click()
        assert row_names(two) == ["A", "B"] and chat.provider.options == ("A", "B")
        chat.provider.value = "B"
        assert [v for _, v in chat.model.options] == ["b1", "b2"]
        one.rows.children[1].children[2].value = False  # disable B in the first panel
        assert store["B"].enabled is False
        assert two.rows.children[1].children[2].value is False
        assert chat.provider.options == ("A",) and chat.provider.value == "A"
        two.rows.children[1].children[2].value = True
        assert store["B"].enabled and one.rows.children[1].children[2].value is True
        assert chat.provider.options == ("A", "B")
    finally:
        for w in (one, two, chat):
            w.close()


def test_close_stops_following_the_store(store: ProviderStore) -> None:
    panel = ProvidersPanel(store=store)
    panel.close()
    store.add("Later")
    assert row_names(panel) == []


def test_admin_providers_are_shown_read_only(tmp_path: Path) -> None:
    admin = tmp_path / "admin" / "providers.json"
    admin.parent.mkdir()
    admin.write_text(json.dumps({"providers": [{"name": "Corp", "type": "openai", "models": ["corp-1"]}]}))
    store = ProviderStore(tmp_path / "store", admin_paths=[admin])
    panel = ProvidersPanel(store=store)
    try:
        assert row_names(panel) == ["Corp"] and "admin" in panel.rows.children[0].children[1].value
        assert panel.rows.children[0].children[2].disabled
        d = panel.detail
        assert d.readonly_note.layout.display != "none"
        for widget in (d.key, d.address, d.headers, d.delete_button, d.models.input, d.models.add_button):
            assert widget.disabled
        assert all(b.disabled for b in d.models.rows["corp-1"].children[1:])
        assert not d.verify_button.disabled  # verifying changes nothing
    finally:
        panel.close()
