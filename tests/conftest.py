"""Shared fixtures: an isolated store per test, and the real local model server for the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers import store as store_module
from jupyter_providers.local import LocalServer, free_port, launch

#: the key the session's llama.cpp server demands (a wrong one must give kind "auth")
LOCAL_KEY = "sk-local-test-5f2a9c71e0"
OUTPUT_DIR = Path(__file__).resolve().parent.parent / "test-output"


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads or writes the real Jupyter config, keyring or cloud keys."""
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYTER_PROVIDERS_KEYRING", "0")
    for var in (
        "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION", "OPENAI_BASE_URL",
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(store_module, "_store", None)
    yield


@pytest.fixture
def store(tmp_path: Path) -> ProviderStore:
    """A persisted store in a temporary folder, with no admin providers."""
    return ProviderStore(tmp_path / "store", admin_paths=[])


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LocalServer]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2, on a free 127.0.0.1 port."""
    OUTPUT_DIR.mkdir(exist_ok=True)
    server = launch(free_port(), api_key=LOCAL_KEY, threads=1, log_path=OUTPUT_DIR / "llama-server.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def local_store(store: ProviderStore, llama_server: LocalServer) -> ProviderStore:
    """The store holding one provider, ``vLLM``, pointing at the real local server as a user would type it."""
    store.add("vLLM", type="openai", base_url=llama_server.base_url + "/", api_key=LOCAL_KEY, models=["smollm2"])
    return store


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str, str]]:
    """Each time a reply records its turn in a conversation: (the turn, its status, its text) then.

    A surface that recorded a turn itself, besides the reply doing it, would show here twice.
    """
    from jupyter_providers.conversation import Conversation

    seen: list[tuple[Any, str, str]] = []
    original = Conversation._record

    def spy(turn: Any, reply: Any) -> None:
        original(turn, reply)
        seen.append((turn, turn.status, turn.reply))

    monkeypatch.setattr(Conversation, "_record", staticmethod(spy))
    return seen
