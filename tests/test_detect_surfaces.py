"""The doctor and detect where people paste addresses: ``%providers add`` (its note, ``--detect``) and the panel
(the Add form's Detect button, the address field's note). Keys pasted into an address never stay in a field."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import ProviderStore
from jupyter_providers.magics import ChatMagics
from jupyter_providers.widgets import ProvidersPanel

from .fakes import FakeServer
from .widgets import all_widget_states, states_of, text

KEY = "AIzaSy-surface-test-key-77"


@pytest.fixture
def shell(store: ProviderStore) -> Iterator[InteractiveShell]:
    sh = InteractiveShell.instance()
    sh.register_magics(ChatMagics(sh, store=store))
    yield sh


def providers(shell: InteractiveShell, line: str) -> tuple[str, str]:
    with capture_output() as cap:
        shell.run_line_magic("providers", line)
    return cap.stdout, cap.stderr


def test_providers_add_prints_what_the_doctor_removed(shell: InteractiveShell, store: ProviderStore) -> None:
    out, err = providers(shell, "add V --url http://localhost:8000/v1/chat/completions --no-key")
    assert err == ""
    assert "base_url: now 'http://localhost:8000/v1' - removed the endpoint path '/chat/completions'" in out
    assert "added V (openai): http://localhost:8000/v1/chat/completions - key: none" in out
    out, _ = providers(shell, f"add G --type gemini --url https://h.example/v1beta/models/g1:generateContent?key={KEY}")
    assert KEY not in out and "it is now the provider's API key" in out and store["G"].api_key == KEY


def test_providers_add_detect_takes_the_type_and_models(shell: InteractiveShell, store: ProviderStore) -> None:
    with FakeServer("ollama", models=["llama3.2:1b", "qwen3:0.6b"]) as fake:
        out, err = providers(shell, f"add L --url {fake.base_url}/api/tags --detect --no-key")
    assert err == "", err
    assert "detected: Ollama (ollama) answers at" in out and "2 models listed" in out
    p = store["L"]
    assert (p.type, p.model_ids, p.base_url) == ("ollama", ["llama3.2:1b", "qwen3:0.6b"], fake.base_url)
    # a type given wins, and says so
    with FakeServer("openai", models=["m"]) as fake:
        out, _ = providers(shell, f"add R --type openai-responses --url {fake.base_url} --detect --no-key")
    assert "added as openai-responses, as asked" in out and store["R"].type == "openai-responses"


def test_providers_add_detect_adds_nothing_when_nothing_answers(shell: InteractiveShell, store: ProviderStore) -> None:
    with FakeServer("openai", api_key="sk-locked-1") as fake:
        out, err = providers(shell, f"add X --url {fake.base_url} --detect")
    assert out == "" and "url: X not added" in err and "asks for a key" in err
    assert "X" not in store


def test_providers_add_detect_says_how_to_give_the_key_with_the_magic(
    shell: InteractiveShell, store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that wants a key: the line says how %providers gives one (--key-env), not the Python API's
    ``api_key=``; a --key-env variable that is not set is named, since no key was sent because of it."""
    monkeypatch.delenv("JP_UNSET_KEY_VAR", raising=False)
    with FakeServer("openai", api_key="sk-locked-2") as fake:
        _, err = providers(shell, f"add X --url {fake.base_url} --detect --no-key")
        assert "--key-env" in err and "api_key=" not in err, err
        _, err = providers(shell, f"add X --url {fake.base_url} --detect --key-env JP_UNSET_KEY_VAR")
        assert "$JP_UNSET_KEY_VAR (--key-env) is not set" in err and "api_key=" not in err, err
        assert len(err.strip().splitlines()) == 1 and "X" not in store, err
        out, _ = providers(shell, f"add X --preset llama.cpp --url {fake.base_url} --detect")  # the preset's type
        assert "--key-env" in out and "api_key=" not in out and "X" in store, out


def test_panel_detect_says_how_to_give_the_key_in_the_panel(store: ProviderStore) -> None:
    panel = ProvidersPanel(store=store)
    try:
        with FakeServer("openai", api_key="sk-locked-3") as fake:
            panel.add_button.click()
            panel.add_url.value = fake.base_url
            panel.add_detect.click()
            assert panel.wait(30)
            said = text(panel.add_found.value)
            assert "asks for a key" in said and "?key=" in said and "api_key=" not in said, said
            panel.add_url.value = fake.base_url + "?key=sk-locked-3"  # as it says: then it answers
            panel.add_detect.click()
            assert panel.wait(30)
            assert panel.add_type.value == "openai" and "with the key given" in text(panel.add_found.value)
    finally:
        panel.close()


def test_panel_detect_fills_the_type_and_adds_the_models(store: ProviderStore) -> None:
    panel = ProvidersPanel(store=store)
    try:
        with FakeServer("anthropic", models=["claude-x", "claude-y"]) as fake:
            panel.add_button.click()
            panel.add_name.value = "C"
            panel.add_url.value = fake.base_url + "/v1/messages"
            panel.add_detect.click()
            assert panel.wait(30)
            assert panel.add_type.value == "anthropic"
            assert "Anthropic (anthropic) answers" in text(panel.add_found.value)
            panel.add_confirm.click()
        p = store["C"]
        assert (p.type, p.model_ids, p.base_url) == ("anthropic", ["claude-x", "claude-y"], fake.base_url + "/v1")
        assert "removed the endpoint path '/messages'" in text(panel.message.value)
    finally:
        panel.close()


def test_panel_a_key_pasted_in_an_address_leaves_the_field_at_once(store: ProviderStore) -> None:
    panel = ProvidersPanel(store=store)
    try:
        panel.add_button.click()
        panel.add_name.value = "G"
        panel.add_type.value = "gemini"
        panel.add_url.value = f"https://h.example/v1beta/models/g1:generateContent?key={KEY}&alt=sse"
        assert panel.add_url.value == "https://h.example/v1beta/models/g1:generateContent?alt=sse"
        assert KEY not in states_of(panel)
        panel.add_confirm.click()
        assert store["G"].api_key == KEY and store["G"].model_ids == ["g1"]
        # the selected provider's address field: the base shown, the note under it, the key gone from the state
        detail = panel.detail
        detail.address.value = f"https://h.example/v1beta/models/g2:streamGenerateContent?alt=sse&key={KEY}"
        assert detail.address.value == "https://h.example/v1beta"
        assert "removed the endpoint path" in text(detail.address_error.value)
        assert KEY not in all_widget_states()
        assert store["G"].model_ids == ["g1", "g2"]
        assert "streamGenerateContent" not in text(detail.preview.value).split("Requests go to")[-1].split("?")[0][:-1]
    finally:
        panel.close()


def test_panel_address_field_cuts_an_endpoint_path_and_the_preview_never_doubles_it(store: ProviderStore) -> None:
    store.add("V", base_url="http://localhost:8000", api_key="", models=["m"])
    panel = ProvidersPanel(store=store, selected="V")
    try:
        panel.detail.address.value = "http://localhost:8000/v1/chat/completions"
        assert panel.detail.address.value == "http://localhost:8000/v1" == store["V"].base_url
        preview = text(panel.detail.preview.value)
        assert preview.endswith("http://localhost:8000/v1/chat/completions")
        assert "/chat/completions/chat/completions" not in preview
        assert "removed the endpoint path '/chat/completions'" in text(panel.detail.address_error.value)
    finally:
        panel.close()
