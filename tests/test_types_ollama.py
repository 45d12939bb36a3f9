"""The ollama type through every surface a person uses: the store, ``chat()`` (whole and streamed),
``verify`` (each verdict the fake can give), ``fetch_models`` with the context lengths of ``/api/show``,
``%providers`` and ``%%chat`` in IPython's InteractiveShell, and the provider panel.

The server is the Ollama fake (tests/fakes/ollama.py), which the official client checks
(tests/fakes/test_ollama_fake.py); its facts and their sources are listed there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output

import jupyter_providers
from jupyter_providers import AuthenticationError, ModelNotFoundError, ProviderStore, chat
from jupyter_providers.conversation import get_conversation, reset_conversations
from jupyter_providers.local import free_port
from jupyter_providers.magics import ChatMagics

from ._shown import shown_text
from .fakes import FakeServer
from .widgets import text

MODELS = ["llama3.2:latest", "qwen3:8b"]
REPLY = "Paris is the capital of France."
KEY = "sk-ollama-proxy-2b8e6d41"


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("ollama", models=MODELS, reply=REPLY) as s:
        yield s


@pytest.fixture
def keyed() -> Iterator[FakeServer]:
    """What ollama.com, or a proxy in front of Ollama, is: the same API behind ``Authorization: Bearer``."""
    with FakeServer("ollama", api_key=KEY, models=["gpt-oss:120b"], reply=REPLY) as s:
        yield s


def test_chat_whole_and_streamed(srv: FakeServer, store: ProviderStore) -> None:
    p = store.add("O", type="ollama", base_url=srv.base_url, models=["llama3.2"])
    assert (p.key_source, p.keys) == ("none", [])  # a local Ollama takes no key: none is looked for
    assert store.endpoint_preview("O") == f"{srv.base_url}/api/chat"
    reply = chat("What is the capital of France?", provider="O", system="Be brief.", max_tokens=40, store=store)
    assert (reply.text, reply.finish_reason, reply.model) == (REPLY, "stop", "llama3.2")
    assert reply.usage.input_tokens and reply.usage.output_tokens
    sent = srv.requests[-1]
    assert sent.path == "/api/chat" and sent.body is not None and sent.body["stream"] is False
    assert sent.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent.body["options"] == {"num_predict": 40} and "authorization" not in sent.headers
    streamed = chat("Again?", provider="O", stream=True, temperature=0.2, store=store)
    pieces = list(streamed)
    assert len(pieces) > 1 and "".join(pieces) == streamed.text == REPLY
    assert streamed.finish_reason == "stop" and streamed.usage.output_tokens
    assert srv.requests[-1].body["stream"] is True  # type: ignore[index]


def test_a_truncated_reply_says_length(srv: FakeServer, store: ProviderStore) -> None:
    store.add("O", type="ollama", base_url=srv.base_url, models=["qwen3:8b"])
    for stream in (False, True):
        reply = chat("Hi", provider="O", max_tokens=2, stream=stream, store=store)
        "".join(reply)
        assert reply.finish_reason == "length" and reply.usage.output_tokens == 2


def test_verify_ok_and_model_not_found_lists_the_offered_models(srv: FakeServer, store: ProviderStore) -> None:
    store.add("O", type="ollama", base_url=srv.base_url + "/", models=["llama3.2"])  # no tag: ":latest"
    v = store.verify("O")
    assert (v.ok, v.kind, v.status, v.model) == (True, "ok", 200, "llama3.2"), v
    v = store.verify("O", model="mistral")
    assert (v.ok, v.kind, v.status) == (False, "model_not_found", 404), v
    assert v.message == "model 'mistral' not found; the server offers: llama3.2:latest, qwen3:8b"
    for stream in (False, True):
        with pytest.raises(ModelNotFoundError, match="model 'mistral' not found"):
            "".join(chat("Hi", provider="O", model="mistral", stream=stream, store=store))


def test_verify_a_key_behind_a_proxy(keyed: FakeServer, store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """No key, a wrong key, the right one; ``$OLLAMA_API_KEY`` goes to ollama.com only, never to this host."""
    monkeypatch.setenv("OLLAMA_API_KEY", "sk-ollama-env-not-for-here")
    store.add("C", type="ollama", base_url=keyed.base_url, models=["gpt-oss:120b"])
    assert store["C"].key_label == "none ($OLLAMA_API_KEY is not sent here: --key-env OLLAMA_API_KEY sends it)"
    v = store.verify("C")
    assert (v.ok, v.kind, v.status) == (False, "auth", 401), v
    assert "no key was sent" in v.message and "api_key_env='OLLAMA_API_KEY'" in v.message
    assert "authorization" not in keyed.requests[-1].headers
    store.update("C", api_key="sk-wrong-000000")
    v = store.verify("C")
    assert (v.ok, v.kind) == (False, "auth") and "check the key" in v.message, v
    with pytest.raises(AuthenticationError) as info:
        chat("Hi", provider="C", stream=True, store=store)
    assert info.value.status == 401 and "sk-wrong" not in str(info.value)
    store.update("C", api_key=KEY)
    assert store.verify("C").ok
    assert keyed.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    assert chat("Hi", provider="C", store=store).text == REPLY
    cloud = store.add("Cloud", type="ollama", base_url="https://ollama.com", models=["gpt-oss:120b"])
    assert cloud.key_source == "$OLLAMA_API_KEY" and store.endpoint_preview("Cloud") == "https://ollama.com/api/chat"


def test_verify_unreachable_and_a_wrong_path(srv: FakeServer, store: ProviderStore) -> None:
    store.add("Down", type="ollama", base_url=f"http://127.0.0.1:{free_port()}", models=["llama3.2"])
    v = store.verify("Down")
    assert (v.ok, v.kind) == (False, "unreachable") and "is the server running?" in v.message, v
    store.add("Wrong", type="ollama", base_url=srv.base_url + "/ollama", models=["llama3.2"])
    v = store.verify("Wrong")  # gin's plain "404 page not found": not the API, not an unknown model
    assert (v.ok, v.kind, v.status) == (False, "bad_url", 404), v
    assert f"nothing answers at {srv.base_url}/ollama/api/chat" in v.message


def test_fetch_models_sets_the_context_lengths_of_api_show(
    srv: FakeServer, store: ProviderStore, tmp_path: Path
) -> None:
    """``/api/tags`` states none; one ``/api/show`` per model does. A model added by its untagged name
    (``llama3.2``, which Ollama takes for ``llama3.2:latest``) gets the listed model's length too."""
    srv._proto.context_length = 131072  # type: ignore[attr-defined]
    store.add("O", type="ollama", base_url=srv.base_url, models=["llama3.2"])
    assert store.fetch_models("O") == MODELS
    assert [r.path for r in srv.requests] == ["/api/tags", "/api/show", "/api/show"]
    assert [r.body["model"] for r in srv.requests[1:]] == MODELS  # type: ignore[index]
    assert store["O"].models[0].context_length == 131072
    store.add_models("O", "qwen3:8b", "not-listed")
    assert [m.context_length for m in store["O"].models] == [131072, 131072, None]
    reloaded = ProviderStore(tmp_path / "store", admin_paths=[])  # the lengths are kept in the file (conftest)
    assert [m.context_length for m in reloaded["O"].models] == [131072, 131072, None]


# -- %providers and %%chat -----------------------------------------------------------------------
@pytest.fixture
def shell(store: ProviderStore) -> Iterator[InteractiveShell]:
    sh = InteractiveShell.instance()
    sh.register_magics(ChatMagics(sh, store=store))
    reset_conversations()
    yield sh
    reset_conversations()


def providers(shell: InteractiveShell, line: str) -> CapturedIO:
    with capture_output() as cap:
        shell.run_line_magic("providers", line)
    return cap


def test_providers_and_a_chat_cell(srv: FakeServer, shell: InteractiveShell, store: ProviderStore) -> None:
    cap = providers(shell, f"add O --type ollama --url {srv.base_url} --model llama3.2")
    assert cap.stdout.strip() == f"added O (ollama): {srv.base_url}/api/chat - key: none", cap.stdout
    assert providers(shell, "verify O").stdout.startswith("O: OK - llama3.2 answered in ")
    out = providers(shell, "models O --fetch --add qwen3:8b").stdout
    assert "the server offers 2: llama3.2:latest, qwen3:8b" in out and "O models: llama3.2, qwen3:8b" in out
    assert [m.context_length for m in store["O"].models] == [8192, 8192]
    with capture_output() as cell:
        shell.run_cell_magic("chat", "--provider O --max-tokens 30", "What is the capital of France?")
    assert cell.stdout.replace("\x1b[2K\r", "") == REPLY and cell.stderr == ""  # streamed as it came
    shown = shown_text(cell.outputs)
    assert shown.startswith(REPLY) and "O · llama3.2" in shown
    conv = get_conversation("O", "llama3.2")
    assert conv is not None and conv.turns[-1].status == "done" and conv.turns[-1].reply == REPLY
    assert srv.requests[-1].body["options"] == {"num_predict": 30}  # type: ignore[index]
    with capture_output() as cell:
        shell.run_cell_magic("chat", "--provider O --model qwen3:8b --no-stream", "And of Spain?")
    assert cell.stderr == "" and shown_text(cell.outputs).startswith(REPLY)
    assert srv.requests[-1].body["stream"] is False  # type: ignore[index]


# -- the panel -----------------------------------------------------------------------------------
def test_panel_add_fetch_and_verify(srv: FakeServer, store: ProviderStore) -> None:
    panel = jupyter_providers.panel(store=store)
    try:
        panel.add_button.click()
        assert ("Ollama", "ollama") in panel.add_type.options
        panel.add_name.value, panel.add_type.value = "O", "ollama"
        panel.add_confirm.click()
        d = panel.detail
        assert store["O"].type == "ollama" and "Ollama" in text(d.title.value)
        assert text(d.preview.value) == "Requests go to http://localhost:11434/api/chat"  # the default address
        assert text(d.key_status.value).startswith("no key: requests are sent without one")  # not "missing"
        d.address.value = srv.base_url + "/v1"  # the OpenAI-compatible root people copy: the native API is used
        assert text(d.preview.value) == f"Requests go to {srv.base_url}/api/chat"
        d.models.fetch_button.click()
        assert panel.wait(30)
        boxes = {cb.description: cb for cb in d.models.choices.children}
        assert list(boxes) == MODELS
        boxes["llama3.2:latest"].value = True
        d.models.fetch_add.click()
        assert store["O"].models[0].context_length == 8192
        rows = [c for c in d.models.list.children if hasattr(c, "children")]  # a group's heading, then its rows
        assert text(rows[0].children[0].value) == "llama3.2:latest 8,192 tokens"
        d.verify_button.click()
        assert panel.wait(30)
        assert text(d.verdict.value).startswith("✓ OK - llama3.2:latest answered in ")
        d.verify_model.value = "llama3.2:latest"
        srv.fault = "overloaded"  # Ollama's 503 "server busy": said as the server said it
        d.verify_button.click()
        assert panel.wait(60)
        assert "server busy" in text(d.verdict.value) and not text(d.verdict.value).startswith("✓")
    finally:
        panel.wait(30)
        panel.close()
