"""The client against a REAL OpenAI-compatible server: llama-cpp-python serving SmolLM2."""

from __future__ import annotations

import re

import pytest

from jupyter_providers import (
    AuthenticationError,
    BadURLError,
    ProviderConnectionError,
    ProviderStore,
    chat,
)
from jupyter_providers.local import LocalServer, free_port

from .conftest import LOCAL_KEY


def test_preview_is_the_url_called(local_store: ProviderStore, llama_server: LocalServer) -> None:
    assert local_store.endpoint_preview("vLLM") == f"{llama_server.base_url}/v1/chat/completions"


def test_verify_ok_with_latency(local_store: ProviderStore) -> None:
    v = local_store.verify("vLLM", model="smollm2")
    assert v.ok and v.kind == "ok", v
    assert v.latency_s is not None and 0 < v.latency_s < 60
    assert str(v).startswith("OK - smollm2 answered in ") and str(v).endswith(" ms")
    assert local_store["vLLM"].last_verification == v


def test_verify_a_name_the_server_does_not_serve(local_store: ProviderStore) -> None:
    """llama-cpp-python's server answers any model name with the model it serves (and echoes the name): the
    verdict stays OK, and says so, from the server's own list (tests/test_verify_listing.py for the rest)."""
    v = local_store.verify("vLLM", model="gpt-5")
    assert (v.ok, v.kind, v.status, v.model, v.listed) == (True, "ok", 200, "gpt-5", False), v
    assert re.fullmatch(
        r"gpt-5 answered in \d+ ms, but the server lists only smollm2: it serves its own model whatever name is asked",
        v.message,
    ), v.message
    assert local_store.verify("vLLM", model="smollm2").listed is True


def test_fetch_models(local_store: ProviderStore) -> None:
    assert local_store.fetch_models("vLLM") == ["smollm2"]


def test_chat_non_stream(local_store: ProviderStore) -> None:
    reply = chat("Say hello.", provider="vLLM", model="smollm2", max_tokens=12, store=local_store)
    assert reply.done and reply.text.strip()
    assert reply.usage.output_tokens is not None and 0 < reply.usage.output_tokens <= 12
    assert reply.usage.input_tokens and reply.usage.input_tokens > 3
    assert reply.finish_reason in ("stop", "length")


def test_chat_stream_yields_pieces(local_store: ProviderStore) -> None:
    reply = chat("Count from one to ten.", provider="vLLM", max_tokens=24, stream=True, store=local_store)
    pieces = list(reply)
    assert len(pieces) > 3, pieces
    assert reply.text == "".join(pieces)
    assert reply.finish_reason in ("stop", "length")
    assert reply.first_token_s is not None and reply.latency_s is not None
    assert reply.first_token_s <= reply.latency_s


def test_chat_keeps_a_conversation(local_store: ProviderStore) -> None:
    history = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": "Nice to meet you, Ada."},
    ]
    reply = chat(
        "What is my name?",
        provider="vLLM",
        history=history,
        system="Answer briefly.",  # type: ignore[arg-type]
        max_tokens=16,
        temperature=0,
        store=local_store,
    )
    assert reply.usage.input_tokens and reply.usage.input_tokens > 20  # the history was sent


def test_stream_can_be_cancelled(local_store: ProviderStore) -> None:
    reply = chat("Write a long story about a cat.", provider="vLLM", max_tokens=400, stream=True, store=local_store)
    got = []
    for piece in reply:
        got.append(piece)
        if len(got) == 3:
            reply.cancel()
    assert reply.cancelled and reply.done
    assert reply.text == "".join(got[:3]) or reply.text.startswith("".join(got[:3]))
    assert reply.usage.output_tokens is None or reply.usage.output_tokens < 400


def test_wrong_key_is_auth(local_store: ProviderStore) -> None:
    local_store.update("vLLM", api_key="sk-wrong-key-000")
    v = local_store.verify("vLLM")
    assert (v.ok, v.kind, v.status) == (False, "auth", 401)
    assert "rejected the key" in v.message and "sk-wrong-key-000" not in v.message
    with pytest.raises(AuthenticationError) as info:
        chat("hi", provider="vLLM", store=local_store)
    assert info.value.provider == "vLLM" and info.value.status == 401
    assert "sk-wrong-key-000" not in str(info.value) and LOCAL_KEY not in str(info.value)


def test_missing_key_says_which_variable(local_store: ProviderStore) -> None:
    local_store.update("vLLM", api_key="")
    v = local_store.verify("vLLM")
    assert v.kind == "auth" and "no key was sent" in v.message


def test_several_keys_get_a_verdict_each(local_store: ProviderStore) -> None:
    local_store.update("vLLM", api_key=f"sk-bad-1111,{LOCAL_KEY}, sk-bad-2222")
    v = local_store.verify("vLLM")
    assert not v.ok and v.kind == "auth"
    assert [(k.index, k.ok) for k in v.keys] == [(1, False), (2, True), (3, False)]
    assert "key 1, 3 of 3" in v.message
    assert all(s not in repr(v) for s in ("sk-bad-1111", "sk-bad-2222", LOCAL_KEY))


def test_keys_rotate(local_store: ProviderStore) -> None:
    local_store.update("vLLM", api_key=f"sk-bad-1111,{LOCAL_KEY}")
    outcomes = []
    for _ in range(4):
        try:
            chat("hi", provider="vLLM", max_tokens=1, store=local_store)
            outcomes.append("ok")
        except AuthenticationError:
            outcomes.append("auth")
    assert sorted(outcomes) == ["auth", "auth", "ok", "ok"]


def test_wrong_port_is_unreachable(local_store: ProviderStore) -> None:
    port = free_port()
    local_store.update("vLLM", base_url=f"http://127.0.0.1:{port}")
    v = local_store.verify("vLLM")
    assert v.kind == "unreachable"
    assert v.message == f"connection refused at http://127.0.0.1:{port}/v1 - is the server running?"
    with pytest.raises(ProviderConnectionError, match="is the server running"):
        chat("hi", provider="vLLM", store=local_store)


def test_wrong_path_is_bad_url(local_store: ProviderStore, llama_server: LocalServer) -> None:
    local_store.update("vLLM", base_url=llama_server.base_url + "/api/v2#")
    v = local_store.verify("vLLM")
    assert v.kind == "bad_url", v
    assert f"{llama_server.base_url}/api/v2/chat/completions" in v.message
    with pytest.raises(BadURLError):
        local_store.fetch_models("vLLM")


def test_disabled_provider(local_store: ProviderStore) -> None:
    local_store.update("vLLM", enabled=False)
    assert local_store.verify("vLLM").kind == "disabled"


def test_no_model_lists_what_the_server_offers(local_store: ProviderStore) -> None:
    local_store.remove_model("vLLM", "smollm2")
    v = local_store.verify("vLLM")
    assert v.kind == "no_model" and "smollm2" in v.message
