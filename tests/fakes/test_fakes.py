"""Sanity tests of the fake servers themselves, with raw httpx only."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jupyter_providers.adapters import TYPES
from tests.fakes import FakeServer
from tests.fakes.server import protocol_class

#: every registry type, and vLLM's variant of the OpenAI protocol
PROTOCOLS = [*TYPES, "vllm"]
KEY, MODELS, REPLY = "sk-test-0123456789", ["model-a", "model-b", "model-c"], "Hello there, friend!"
Event = tuple[str | None, str]


def test_every_registry_type_has_a_fake() -> None:
    missing = []
    for name in TYPES:
        try:
            protocol_class(name)
        except LookupError as exc:
            missing.append(str(exc))
    assert not missing, "\n".join(missing)


@pytest.fixture(params=PROTOCOLS)
def srv(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    with FakeServer(request.param, api_key=KEY, models=MODELS, reply=REPLY) as server:
        yield server


def call(srv: FakeServer, stream: bool = False, model: str = "model-a", key: str | None = KEY, **kw: Any) -> Any:
    """(url, headers, json) of a chat request in the server's protocol; kw: max_tokens."""
    path, headers, body = srv.facts.sample_chat(model, key, stream, kw.get("max_tokens"))
    return srv.base_url + path, headers, body


def chat(srv: FakeServer, **kw: Any) -> httpx.Response:
    url, headers, body = call(srv, **kw)
    return httpx.post(url, headers=headers, json=body, timeout=10)


def stream_raw(srv: FakeServer, **kw: Any) -> tuple[int, bytes, Exception | None]:
    """Status, raw body bytes read until the end or an error, and that error."""
    url, headers, body = call(srv, stream=True, **kw)
    raw, error = b"", None
    with httpx.stream("POST", url, headers=headers, json=body, timeout=10) as resp:
        try:
            for data in resp.iter_raw():
                raw += data
        except httpx.HTTPError as exc:
            error = exc
    return resp.status_code, raw, error


def parse_events(srv: FakeServer, raw: bytes) -> list[Event]:
    """A stream's events: SSE ``(event name, data)`` (``error:`` lines as "llamacpp-error"), or NDJSON lines."""
    if "ndjson" in srv.facts.stream_content_type:
        return [(None, line) for line in raw.decode().split("\n")[:-1] if line]  # complete lines only
    events: list[Event] = []
    name, data = None, []
    for line in re.split(r"\r\n|\r|\n", raw.decode()):
        if not line and (name or data):
            events.append((name, "\n".join(data)))
            name, data = None, []
        elif line.startswith(("event:", "error:")):
            name = line.split(":", 1)[1].strip() if line.startswith("event:") else "llamacpp-error"
            data = [line[6:].strip()] if name == "llamacpp-error" else data
        elif line.startswith("data:"):
            data.append(line[5:].strip())
    return events


def test_chat_json(srv: FakeServer) -> None:
    resp, facts = chat(srv), srv.facts
    stop, length = facts.finish_words()
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert facts.reply_text(resp.json()) == REPLY
    assert facts.usage_finish(resp.json()) == (5, 3, stop)
    assert "Be brief." in json.dumps(srv.requests[-1].body)
    truncated = chat(srv, max_tokens=2).json()
    assert facts.reply_text(truncated) == "Hello there,"
    assert facts.usage_finish(truncated) == (5, 2, length)


def test_chat_stream(srv: FakeServer) -> None:
    status, raw, error = stream_raw(srv)
    events = parse_events(srv, raw)
    assert status == 200 and error is None and srv.facts.stream_text(events) == REPLY
    assert re.search(srv.facts.stream_end, raw)


def test_anthropic_stream_shape() -> None:
    with FakeServer("anthropic", models=MODELS, reply=REPLY) as srv:
        events = parse_events(srv, stream_raw(srv, key=None)[1])
    names = ["message_start", "content_block_start", "ping", *["content_block_delta"] * 3]
    assert [n for n, _ in events] == [*names, "content_block_stop", "message_delta", "message_stop"]
    assert all(json.loads(d)["type"] == n for n, d in events)
    assert json.loads(events[-2][1])["usage"] == {"output_tokens": 3}
    assert json.loads(events[0][1])["message"]["usage"]["input_tokens"] == 5


def test_gemini_stream_shape() -> None:
    with FakeServer("gemini", models=MODELS, reply=REPLY) as srv:
        raw = stream_raw(srv, key=None)[1]
        events = parse_events(srv, raw)
        chunks = [json.loads(d) for n, d in events]
        assert len(chunks) == 3 and all(n is None for n, _ in events) and b"\r\n\r\n" in raw
        assert "finishReason" not in chunks[0]["candidates"][0]
        assert srv.facts.usage_finish(chunks[-1]) == (5, 3, "STOP")


@pytest.mark.parametrize("proto", ["openai", "azure", "vllm"])
def test_chat_completions_stream_shape(proto: str) -> None:
    with FakeServer(proto, models=MODELS, reply=REPLY) as srv:
        events = parse_events(srv, stream_raw(srv, key=None)[1])
    assert events[-1] == (None, "[DONE]") and all(n is None for n, _ in events)
    chunks = [json.loads(d) for _, d in events[:-1]]
    if proto == "azure":
        first = chunks.pop(0)
        assert first["choices"] == [] and "prompt_filter_results" in first
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["delta"]["content"] for c in chunks[1:4]] == ["Hello ", "there, ", "friend!"]
    assert chunks[4]["choices"][0]["finish_reason"] == "stop"
    assert chunks[5]["choices"] == [] and chunks[5]["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize("proto", PROTOCOLS)
def test_reasoning(proto: str) -> None:
    with FakeServer(proto, models=MODELS, reasoning="Let me think.") as server:
        facts = server.facts
        if not facts.sends_reasoning:
            pytest.skip(f"{proto} sends no reasoning text")
        assert facts.reply_text(chat(server, key=None).json(), thought=True) == "Let me think."
        _, raw, _ = stream_raw(server, key=None)
        events = parse_events(server, raw)
        assert facts.stream_text(events, thought=True) == "Let me think." and facts.stream_text(events) == REPLY


def test_models_listed(srv: FakeServer) -> None:
    resp = httpx.get(srv.base_url + srv.facts.models_path, headers=call(srv)[1], timeout=10)
    assert resp.status_code == 200 and srv.facts.listed(resp.json()) == MODELS


def test_models_paginated() -> None:
    for proto in PROTOCOLS:
        with FakeServer(proto, api_key=KEY, models=MODELS, reply=REPLY) as srv:
            if srv.facts.pages_models:
                check_pages(srv)


def check_pages(srv: FakeServer) -> None:
    srv.page_size, items = 2, []
    anthropic = srv.protocol == "anthropic"
    params = {"limit": "1000"} if anthropic else {"pageSize": "1000"}
    with httpx.Client(base_url=srv.base_url, headers=call(srv)[1], timeout=10) as client:
        while True:
            page = client.get(srv.facts.models_path, params=params).json()
            items += page["data" if anthropic else "models"]
            assert 1 <= len(page["data" if anthropic else "models"]) <= 2
            if anthropic and page["has_more"]:
                params["after_id"] = page["last_id"]
            elif not anthropic and "nextPageToken" in page:
                params["pageToken"] = page["nextPageToken"]
            else:
                break
    assert len(srv.requests) == 2
    if anthropic:
        assert [m["id"] for m in items] == MODELS and page["first_id"] == page["last_id"] == "model-c"
    else:  # three chat models, and one embedding model that lacks generateContent
        chat_ids = [m["name"] for m in items if "generateContent" in m["supportedGenerationMethods"]]
        assert chat_ids == [f"models/{m}" for m in MODELS] and len(items) == 4


def test_azure_classic_model_list() -> None:
    with FakeServer("azure", api_key=KEY, models=MODELS) as az:
        got = httpx.get(f"{az.base_url}/openai/models?api-version=2024-10-21", headers={"api-key": KEY}).json()
        assert [m["id"] for m in got["data"]] == MODELS


def test_errors(srv: FakeServer) -> None:
    facts = srv.facts
    resp = chat(srv, key="wrong")
    assert resp.status_code == facts.bad_key_status and facts.bad_key_says in resp.text
    assert chat(srv, key=None).status_code == facts.no_key_status
    resp = chat(srv, model="nope")
    assert resp.status_code == 404 and facts.no_model_says in resp.text
    resp = httpx.get(f"{srv.base_url}/nope/v1/chat", timeout=10)
    assert resp.status_code == 404 and not resp.headers["content-type"].startswith("application/json")
    assert len(srv.requests) == 4


def test_protocol_specifics() -> None:
    with FakeServer("azure", models=MODELS) as az:
        assert (
            httpx.post(call(az)[0].split("?")[0], json=call(az)[2]).json()["error"]["message"] == "Resource not found"
        )
        resp = httpx.post(f"{az.base_url}/openai/v1/chat/completions", json=call(az)[2])
        assert az.facts.reply_text(resp.json()) == REPLY and "prompt_filter_results" in resp.json()
    with FakeServer("anthropic", models=MODELS) as an:
        url, headers, body = call(an)
        resp = httpx.post(url, headers=headers, json={k: v for k, v in body.items() if k != "max_tokens"})
        assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
        assert httpx.post(url, json=body).json()["error"]["message"] == "anthropic-version: header is required"
    with FakeServer("gemini", api_key=KEY, models=MODELS) as ge:
        url, _, body = call(ge)
        assert ge.facts.reply_text(httpx.post(url, params={"key": KEY}, json=body).json()) == REPLY
        ge.fault = "rate_limit"
        assert '"retryDelay": "1s"' in chat(ge).text
    for proto in ("openai", "azure"):
        with FakeServer(proto, models=MODELS) as oa:
            oa.fault = "quota"
            assert chat(oa).json()["error"]["code"] == chat(oa).json()["error"]["type"] == "insufficient_quota"


STATUS = {"auth": 401, "rate_limit": 429, "quota": 429, "server_error": 500, "overloaded": 503,
          "bad_gateway": 502, "html_200": 200, "not_json": 200}  # fmt: skip


@pytest.mark.parametrize("fault", list(STATUS))
def test_early_faults(srv: FakeServer, fault: str) -> None:
    srv.fault, facts = fault, srv.facts
    declared = {"auth": facts.bad_key_status, "quota": facts.quota_status, "overloaded": facts.overloaded_status}
    expected = declared.get(fault, STATUS[fault])
    resp = chat(srv)
    assert resp.status_code == expected
    if fault == "rate_limit":
        assert resp.headers["retry-after"] == "1"
    if fault in ("bad_gateway", "html_200"):
        assert resp.headers["content-type"].startswith("text/html") and "<html" in resp.text.lower()
    if fault == "not_json":
        assert resp.headers["content-type"] == "application/json"
        with pytest.raises(ValueError):
            resp.json()
    resp = httpx.get(srv.base_url + facts.models_path, headers=call(srv)[1])
    assert resp.status_code == (200 if fault == "quota" else expected)


@pytest.mark.parametrize("fault", ["midstream_error", "cut_stream", "llamacpp_error", "huge"])
def test_stream_faults(srv: FakeServer, fault: str) -> None:
    srv.fault, facts = fault, srv.facts
    status, raw, error = stream_raw(srv)
    events = parse_events(srv, raw)
    assert status == 200 and (error is not None) == (fault == "cut_stream")
    if fault == "huge":
        assert len(raw) > 10_000_000 and len(events) > 300 and facts.stream_text(events).startswith("lorem ipsum")
        srv.fault = "huge"
        assert len(chat(srv).content) > 10_000_000
        return
    assert facts.stream_text(events) == "Hello there, "
    assert not re.search(facts.stream_end, raw)
    if fault == "midstream_error":
        assert raw.endswith(facts.stream_error()) and "error" in json.loads(events[-1][1])
    if fault == "llamacpp_error":
        assert raw.endswith(facts.runner_error())
    srv.fault = fault  # the non-stream request fails too: a cut JSON body, or a 500
    if fault == "cut_stream":
        with pytest.raises(httpx.RemoteProtocolError):
            chat(srv)
    else:
        assert chat(srv).status_code == 500


def test_fault_count_and_delay(srv: FakeServer) -> None:
    srv.fault, srv.fault_count = "rate_limit", 2
    assert [chat(srv).status_code for _ in range(3)] == [429, 429, 200] and srv.fault is None
    srv.delay = 0.3
    start = time.monotonic()
    assert chat(srv).status_code == 200 and time.monotonic() - start >= 0.3


@pytest.mark.parametrize("fault", ["stall", "hang"])
def test_stall_and_hang_stop_fast(srv: FakeServer, fault: str) -> None:
    srv.fault, got = fault, []
    if fault == "stall":  # the first two pieces arrive at once, then nothing: a read timeout
        url, headers, body = call(srv, stream=True)
        resp_cm = httpx.stream("POST", url, headers=headers, json=body, timeout=0.5)
        with resp_cm as resp, pytest.raises(httpx.ReadTimeout):
            for data in resp.iter_raw():
                got.append(data)
        assert srv.facts.stream_text(parse_events(srv, b"".join(got))) == "Hello there, "
    srv.fault, errors = fault, []

    def run() -> None:
        try:
            chat(srv, stream=fault == "stall")
        except httpx.HTTPError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.3)
    start = time.monotonic()
    srv.stop()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - start < 2 and errors
