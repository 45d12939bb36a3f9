"""The Ollama fake, checked two ways: raw httpx against its faults, and the official ``ollama`` client
(a second opinion on its shapes: what the fake sends, the client that Ollama ships must read)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakes import FakeServer

ollama = pytest.importorskip("ollama")

MODELS, REPLY = ["llama3.2:latest", "qwen3:8b"], "Hello there, friend!"
USER = [{"role": "user", "content": "Say hi please"}]


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("ollama", models=MODELS, reply=REPLY) as server:
        yield server


def post(srv: FakeServer, body: dict[str, Any], path: str = "/api/chat", **kw: Any) -> httpx.Response:
    return httpx.post(srv.base_url + path, json=body, timeout=10, **kw)


def stream_lines(srv: FakeServer, body: dict[str, Any]) -> tuple[list[dict[str, Any]], Exception | None]:
    raw, error = b"", None
    with httpx.stream("POST", srv.base_url + "/api/chat", json=body, timeout=10) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"] == "application/x-ndjson"
        try:
            for data in resp.iter_raw():
                raw += data
        except httpx.HTTPError as exc:
            error = exc
    lines = raw.split(b"\n")
    assert lines[-1] == b"" or error is not None  # every whole line ends with LF
    return [json.loads(x) for x in lines if x and (error is None or x.endswith(b"}"))], error


# -- the official client reads what the fake sends ------------------------------------------------------
def test_official_client_chats_lists_and_shows(srv: FakeServer) -> None:
    srv.reasoning = "Let me think."
    client = ollama.Client(host=srv.base_url)
    r = client.chat(model="llama3.2", messages=USER, options={"num_predict": 2, "temperature": 0.1})
    assert (r.message.role, r.message.content, r.message.thinking) == ("assistant", "Hello there,", "Let me think.")
    assert (r.done, r.done_reason, r.prompt_eval_count, r.eval_count, r.model) == (True, "length", 3, 5, "llama3.2")
    assert srv.requests[-1].body == {"model": "llama3.2", "messages": USER, "stream": False, "tools": [],
                                     "options": {"num_predict": 2, "temperature": 0.1}}  # fmt: skip
    parts = list(client.chat(model="llama3.2:latest", messages=USER, stream=True, think=False))
    assert "".join(p.message.content for p in parts) == REPLY and not any(p.message.thinking for p in parts)
    assert [p.done for p in parts] == [False] * (len(parts) - 1) + [True]
    assert (parts[-1].done_reason, parts[-1].prompt_eval_count, parts[-1].eval_count) == ("stop", 3, 3)
    listed = client.list()
    assert [m.model for m in listed.models] == MODELS
    assert listed.models[0].details is not None and listed.models[0].details.format == "gguf"
    assert listed.models[0].digest and listed.models[0].size and listed.models[0].modified_at
    shown = client.show("qwen3:8b")
    assert shown.modelinfo is not None and shown.modelinfo["llama.context_length"] == 8192
    assert shown.capabilities == ["completion", "thinking"] and shown.details is not None


def test_official_client_reads_the_errors(srv: FakeServer) -> None:
    client = ollama.Client(host=srv.base_url)
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama9", messages=USER)
    assert (info.value.status_code, info.value.error) == (404, "model 'llama9' not found")
    with pytest.raises(ollama.ResponseError) as info:
        client.show("llama9")
    assert info.value.status_code == 404
    srv.fault = "midstream_error"
    got: list[str] = []
    with pytest.raises(ollama.ResponseError) as info:
        for part in client.chat(model="llama3.2", messages=USER, stream=True):
            got.append(part.message.content)
    assert "".join(got) == "Hello there, " and info.value.error == "an error was encountered while running the model"


def test_official_client_sends_the_key_as_a_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_API_KEY", "ok-test-key")
    with FakeServer("ollama", api_key="ok-test-key", models=MODELS) as fake:
        assert [m.model for m in ollama.Client(host=fake.base_url).list().models] == MODELS
        assert fake.requests[-1].headers["authorization"] == "Bearer ok-test-key"
        monkeypatch.setenv("OLLAMA_API_KEY", "wrong")
        with pytest.raises(ollama.ResponseError) as info:
            ollama.Client(host=fake.base_url).list()
        assert (info.value.status_code, info.value.error) == (401, "unauthorized")


# -- the fake itself, raw -------------------------------------------------------------------------------
def test_stream_is_the_default_and_thinking_follows_think(srv: FakeServer) -> None:
    srv.reasoning = "Hmm."
    lines, _ = stream_lines(srv, {"model": "llama3.2", "messages": USER})  # no "stream": Ollama streams
    assert "".join(x["message"].get("thinking", "") for x in lines) == "Hmm."
    assert lines[-1]["done"] is True and lines[-1]["eval_count"] == 4
    assert (
        "thinking"
        not in post(srv, {"model": "llama3.2", "messages": USER, "stream": False, "think": False}).json()["message"]
    )
    srv.reasoning = None
    resp = post(srv, {"model": "llama3.2", "messages": USER, "think": True})
    assert (resp.status_code, resp.json()) == (400, {"error": '"llama3.2" does not support thinking'})


def test_request_errors(srv: FakeServer) -> None:
    assert post(srv, {"messages": USER}).json() == {"error": "model is required"}
    assert httpx.post(srv.base_url + "/api/chat", timeout=10).json() == {"error": "missing request body"}
    resp = httpx.get(srv.base_url + "/v1/models", timeout=10)
    assert (resp.status_code, resp.text, resp.headers["content-type"]) == (404, "404 page not found", "text/plain")
    loaded = post(srv, {"model": "llama3.2", "messages": []}).json()
    assert (loaded["done"], loaded["done_reason"]) == (True, "load")
    assert post(srv, {"name": "qwen3:8b"}, "/api/show").status_code == 200  # the old spelling


STATUS = {"auth": 401, "rate_limit": 429, "quota": 402, "server_error": 500, "overloaded": 503}


@pytest.mark.parametrize("fault", list(STATUS))
def test_early_faults(srv: FakeServer, fault: str) -> None:
    srv.fault = fault
    resp = post(srv, {"model": "llama3.2", "messages": USER, "stream": False})
    assert resp.status_code == STATUS[fault] and isinstance(resp.json()["error"], str)
    if fault == "rate_limit":
        assert resp.headers["retry-after"] == "1"
    resp = httpx.get(srv.base_url + "/api/tags", timeout=10)
    assert resp.status_code == (200 if fault == "quota" else STATUS[fault])


@pytest.mark.parametrize("fault", ["midstream_error", "llamacpp_error", "cut_stream"])
def test_stream_faults(srv: FakeServer, fault: str) -> None:
    srv.fault = fault
    lines, error = stream_lines(srv, {"model": "llama3.2", "messages": USER, "stream": True})
    assert (error is not None) == (fault == "cut_stream")
    assert "".join(x.get("message", {}).get("content", "") for x in lines) == "Hello there, "
    assert not any(x.get("done") for x in lines)
    if fault != "cut_stream":  # the error is one more line, alone
        expected = "llama runner process has terminated" if fault == "llamacpp_error" else "an error was encountered"
        assert set(lines[-1]) == {"error"} and lines[-1]["error"].startswith(expected)
