"""Presets end to end: ``%providers add --preset``, ``store.add(preset=...)`` kept in the file and read back,
the key variable sent to the preset's own host only, a local preset with no key, and the chat URL of every
preset (the address each service documents, with its source in jupyter_providers/presets.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output

from jupyter_providers import ProviderStore, chat
from jupyter_providers.magics import ChatMagics
from jupyter_providers.presets import PRESETS

from .fakes import FakeServer

GROQ_KEY = "gsk-env-e2e-83b1c0d4"

#: the chat URL of each preset, as the service's docs give it (presets.py names each source)
DOCUMENTED = {
    "openrouter": "https://openrouter.ai/api/v1/chat/completions",
    "groq": "https://api.groq.com/openai/v1/chat/completions",
    "deepseek": "https://api.deepseek.com/v1/chat/completions",
    "mistral": "https://api.mistral.ai/v1/chat/completions",
    "together": "https://api.together.ai/v1/chat/completions",
    "fireworks": "https://api.fireworks.ai/inference/v1/chat/completions",
    "xai": "https://api.x.ai/v1/chat/completions",
    "vllm": "http://localhost:8000/v1/chat/completions",
    "llama.cpp": "http://localhost:8080/v1/chat/completions",
    "ollama-openai": "http://localhost:11434/v1/chat/completions",
    "lm-studio": "http://localhost:1234/v1/chat/completions",
    "litellm": "http://localhost:4000/v1/chat/completions",
}


def test_every_preset_is_listed_here() -> None:
    assert set(DOCUMENTED) == set(PRESETS)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_posts_to_its_documented_url(name: str, store: ProviderStore) -> None:
    p = store.add("P", preset=name, models=["m"])
    assert store.endpoint_preview("P") == DOCUMENTED[name] == PRESETS[name].address + "/chat/completions"
    assert (p.type, p.preset, p.base_url) == (PRESETS[name].type, name, PRESETS[name].address)


@pytest.fixture
def shell(store: ProviderStore) -> Iterator[InteractiveShell]:
    sh = InteractiveShell.instance()
    sh.register_magics(ChatMagics(sh, store=store))
    yield sh


def providers(shell: InteractiveShell, line: str) -> CapturedIO:
    with capture_output() as cap:
        shell.run_line_magic("providers", line)
    return cap


def test_providers_add_from_a_preset(
    shell: InteractiveShell, store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--preset groq``: Groq's address and ``$GROQ_API_KEY``, read only while the address is api.groq.com."""
    monkeypatch.setenv("GROQ_API_KEY", GROQ_KEY)
    cap = providers(shell, "add G --preset groq --model llama-3.1-8b-instant")
    assert cap.stderr == "", cap.stderr
    line = "added G (openai): https://api.groq.com/openai/v1/chat/completions - key: $GROQ_API_KEY"
    assert cap.stdout.strip() == line and GROQ_KEY not in cap.stdout
    g = store["G"]
    assert (g.preset, g.keys, g.key_source) == ("groq", [GROQ_KEY], "$GROQ_API_KEY")
    store.update("G", base_url="https://groq-proxy.example/openai/v1")  # another host: the variable stays home
    assert (store["G"].keys, store["G"].key_source) == ([], "none")
    store.update("G", base_url="http://api.groq.com/openai/v1")  # Groq's host, but not over https
    assert store["G"].keys == []
    table = providers(shell, "").outputs[0].data["text/html"]
    assert GROQ_KEY not in table
    refused = providers(shell, "add H --preset groq --type anthropic").stderr
    assert refused == "type: the groq preset is of type 'openai'; leave the type out\n"
    assert providers(shell, "add H --preset nope").stderr.startswith("preset: 'nope' is not a preset; use one of ")
    assert "H" not in store


def test_a_local_preset_adds_a_provider_without_a_key(
    shell: InteractiveShell, store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-env-not-for-local")
    cap = providers(shell, "add L --preset lm-studio --model qwen2.5-7b-instruct")
    assert cap.stdout.strip() == "added L (openai): http://localhost:1234/v1/chat/completions - key: none", cap.stdout
    p = store["L"]
    assert (p.api_key, p.keys, p.key_source, p.preset) == ("", [], "none", "lm-studio")


def test_a_local_preset_chats_with_no_authorization_header(store: ProviderStore) -> None:
    """The llama.cpp preset pointed at a (fake) server on another port: no key is sent, and the reply comes."""
    with FakeServer("openai", models=["smollm2"], reply="Hi!") as srv:
        store.add("LC", preset="llama.cpp", base_url=srv.base_url + "/v1", models=["smollm2"])
        assert store.verify("LC").ok
        assert chat("Hello", provider="LC", store=store).text == "Hi!"
        assert all("authorization" not in r.headers for r in srv.requests)


def test_the_preset_is_kept_in_the_file_and_read_back(
    store: ProviderStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add("Router", preset="openrouter", models=["openai/gpt-4o-mini"])
    store.add("Local", preset="vllm", models=["m"])
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-e2e-55aa")
    again = ProviderStore(tmp_path / "store", admin_paths=[])  # the conftest store's folder, read afresh
    router, local = again["Router"], again["Local"]
    assert (router.preset, router.base_url, router.key_source) == (
        "openrouter", "https://openrouter.ai/api/v1", "$OPENROUTER_API_KEY")  # fmt: skip
    assert (local.preset, local.api_key, local.key_source) == ("vllm", "", "none")
    assert again.endpoint_preview("Router") == DOCUMENTED["openrouter"]
    files = "".join(f.read_text() for f in (tmp_path / "store").rglob("*") if f.is_file())
    assert '"preset": "openrouter"' in files and "sk-or-e2e-55aa" not in files
