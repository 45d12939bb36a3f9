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

from tests.fakes import FakeServer

PROTOCOLS = ["openai", "azure", "anthropic", "gemini"]
KEY, MODELS, REPLY = "sk-test-0123456789", ["model-a", "model-b", "model-c"], "Hello there, friend!"
Event = tuple[str | None, str]


@pytest.fixture(params=PROTOCOLS)
def srv(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    with FakeServer(request.param, api_key=KEY, models=MODELS, reply=REPLY) as server:
        yield server


def call(srv: FakeServer, stream: bool = False, model: str = "model-a", key: str | None = KEY, **kw: Any) -> Any:
    """(url, headers, json) of a chat request in the server's protocol; kw: max_tokens."""
    proto, base, max_tokens = srv.protocol, srv.base_url, kw.get("max_tokens")
    user: dict[str, Any] = {"role": "user", "content": "Say hi please"}
    if proto in ("openai", "azure"):
        body: dict[str, Any] = {"model": model, "messages": [{"role": "system", "content": "Be brief."}, user]}
        body |= {"stream": stream, "stream_options": {"include_usage": True}} if stream else {}
        body |= {"max_tokens": max_tokens} if max_tokens else {}
        if proto == "openai":
            return f"{base}/v1/chat/completions", {"authorization": f"Bearer {key}"} if key else {}, body
        url = f"{base}/openai/deployments/{model}/chat/completions?api-version=2024-10-21"
        return url, {"api-key": key} if key else {}, body
    if proto == "anthropic":
        body = {"model": model, "max_tokens": max_tokens or 100, "system": "Be brief.", "messages": [user]}
        headers = {"anthropic-version": "2023-06-01"} | ({"x-api-key": key} if key else {})
        return f"{base}/v1/messages", headers, body | ({"stream": True} if stream else {})
    body = {"contents": [{"role": "user", "parts": [{"text": "Say hi please"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]}}  # fmt: skip
    body |= {"generationConfig": {"maxOutputTokens": max_tokens}} if max_tokens else {}
    method = "streamGenerateContent?alt=sse" if stream else "generateContent"
    return f"{base}/v1beta/models/{model}:{method}", {"x-goog-api-key": key} if key else {}, body


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


def parse_sse(raw: bytes) -> list[Event]:
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


def text_of(proto: str, body: dict[str, Any], thought: bool = False) -> str:
    if proto in ("openai", "azure"):
        msg = body["choices"][0]["message"]
        return str(msg.get("reasoning_content") if thought else msg["content"])
    if proto == "anthropic":
        return "".join(b.get("thinking" if thought else "text", "") for b in body["content"])
    parts = body["candidates"][0]["content"]["parts"]
    return "".join(p["text"] for p in parts if bool(p.get("thought")) == thought)


def stream_text(proto: str, events: list[Event], thought: bool = False) -> str:
    out = []
    for _, data in events:
        chunk = json.loads(data) if data.startswith("{") else {}
        if proto in ("openai", "azure"):
            out += [
                c["delta"].get("reasoning_content" if thought else "content") or "" for c in chunk.get("choices", [])
            ]
        elif proto == "anthropic" and chunk.get("type") == "content_block_delta":
            out.append(chunk["delta"].get("thinking" if thought else "text", ""))
        elif proto == "gemini" and "candidates" in chunk:
            out.append(text_of(proto, chunk, thought))
    return "".join(out)


def usage_finish(proto: str, body: dict[str, Any]) -> tuple[int, int, str]:
    if proto in ("openai", "azure"):
        usage = body["usage"]
        return usage["prompt_tokens"], usage["completion_tokens"], body["choices"][0]["finish_reason"]
    if proto == "anthropic":
        return body["usage"]["input_tokens"], body["usage"]["output_tokens"], body["stop_reason"]
    usage, finish = body["usageMetadata"], body["candidates"][0]["finishReason"]
    return usage["promptTokenCount"], usage["candidatesTokenCount"], finish


STOP = {"openai": "stop", "azure": "stop", "anthropic": "end_turn", "gemini": "STOP"}
LENGTH = {"openai": "length", "azure": "length", "anthropic": "max_tokens", "gemini": "MAX_TOKENS"}


def test_chat_json(srv: FakeServer) -> None:
    resp = chat(srv)
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    assert text_of(srv.protocol, resp.json()) == REPLY
    assert usage_finish(srv.protocol, resp.json()) == (5, 3, STOP[srv.protocol])
    assert "Be brief." in json.dumps(srv.requests[-1].body)
    truncated = chat(srv, max_tokens=2).json()
    assert text_of(srv.protocol, truncated) == "Hello there,"
    assert usage_finish(srv.protocol, truncated) == (5, 2, LENGTH[srv.protocol])


def test_chat_stream(srv: FakeServer) -> None:
    status, raw, error = stream_raw(srv)
    events, proto = parse_sse(raw), srv.protocol
    assert status == 200 and error is None and stream_text(proto, events) == REPLY
    if proto == "anthropic":
        names = ["message_start", "content_block_start", "ping", *["content_block_delta"] * 3]
        assert [n for n, _ in events] == [*names, "content_block_stop", "message_delta", "message_stop"]
        assert all(json.loads(d)["type"] == n for n, d in events)
        assert json.loads(events[-2][1])["usage"] == {"output_tokens": 3}
        assert json.loads(events[0][1])["message"]["usage"]["input_tokens"] == 5
    elif proto == "gemini":
        chunks = [json.loads(d) for n, d in events]
        assert len(chunks) == 3 and all(n is None for n, _ in events) and b"\r\n\r\n" in raw
        assert "finishReason" not in chunks[0]["candidates"][0]
        assert usage_finish(proto, chunks[-1]) == (5, 3, "STOP")
    else:
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
        assert text_of(proto, chat(server, key=None).json(), thought=True) == "Let me think."
        _, raw, _ = stream_raw(server, key=None)
        events = parse_sse(raw)
        assert stream_text(proto, events, thought=True) == "Let me think." and stream_text(proto, events) == REPLY


def test_models_paginated(srv: FakeServer) -> None:
    srv.page_size, proto, items = 2, srv.protocol, []
    with httpx.Client(base_url=srv.base_url, headers=call(srv)[1], timeout=10) as client:
        if proto in ("openai", "azure"):
            paths = ["/openai/models?api-version=2024-10-21", "/openai/v1/models"] if proto == "azure" else []
            for path in paths or ["/v1/models"]:
                assert [m["id"] for m in client.get(path).json()["data"]] == MODELS
            return
        anthropic = proto == "anthropic"
        params = {"limit": "1000"} if anthropic else {"pageSize": "1000"}
        while True:
            page = client.get("/v1/models" if anthropic else "/v1beta/models", params=params).json()
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


BAD_KEY = {"openai": (401, "invalid_api_key"), "azure": (401, "Access denied due to invalid subscription key"),
           "anthropic": (401, "authentication_error"), "gemini": (400, "API_KEY_INVALID")}  # fmt: skip
NO_MODEL = {"openai": "model_not_found", "azure": "DeploymentNotFound", "anthropic": '"model: nope"',
            "gemini": "models/nope is not found for API version v1beta"}  # fmt: skip


def test_errors(srv: FakeServer) -> None:
    status, text = BAD_KEY[srv.protocol]
    resp = chat(srv, key="wrong")
    assert resp.status_code == status and text in resp.text
    assert chat(srv, key=None).status_code == (403 if srv.protocol == "gemini" else 401)
    resp = chat(srv, model="nope")
    assert resp.status_code == 404 and NO_MODEL[srv.protocol] in resp.text
    resp = httpx.get(f"{srv.base_url}/nope/v1/chat", timeout=10)
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/html")
    assert len(srv.requests) == 4


def test_protocol_specifics() -> None:
    with FakeServer("azure", models=MODELS) as az:
        assert (
            httpx.post(call(az)[0].split("?")[0], json=call(az)[2]).json()["error"]["message"] == "Resource not found"
        )
        resp = httpx.post(f"{az.base_url}/openai/v1/chat/completions", json=call(az)[2])
        assert text_of("azure", resp.json()) == REPLY and "prompt_filter_results" in resp.json()
    with FakeServer("anthropic", models=MODELS) as an:
        url, headers, body = call(an)
        resp = httpx.post(url, headers=headers, json={k: v for k, v in body.items() if k != "max_tokens"})
        assert resp.status_code == 400 and resp.json()["error"]["type"] == "invalid_request_error"
        assert httpx.post(url, json=body).json()["error"]["message"] == "anthropic-version: header is required"
    with FakeServer("gemini", api_key=KEY, models=MODELS) as ge:
        url, _, body = call(ge)
        assert text_of("gemini", httpx.post(url, params={"key": KEY}, json=body).json()) == REPLY


STATUS = {"auth": 401, "rate_limit": 429, "quota": 429, "server_error": 500, "overloaded": 503,
          "bad_gateway": 502, "html_200": 200, "not_json": 200}  # fmt: skip


@pytest.mark.parametrize("fault", list(STATUS))
def test_early_faults(srv: FakeServer, fault: str) -> None:
    srv.fault, proto = fault, srv.protocol
    expected = {("auth", "gemini"): 400, ("overloaded", "anthropic"): 529}.get((fault, proto), STATUS[fault])
    resp = chat(srv)
    assert resp.status_code == expected
    if fault == "rate_limit":
        assert resp.headers["retry-after"] == "1" and (proto != "gemini" or '"retryDelay": "1s"' in resp.text)
    if fault == "quota" and proto in ("openai", "azure"):
        assert resp.json()["error"]["code"] == resp.json()["error"]["type"] == "insufficient_quota"
    if fault in ("bad_gateway", "html_200"):
        assert resp.headers["content-type"].startswith("text/html") and "<html" in resp.text.lower()
    if fault == "not_json":
        assert resp.headers["content-type"] == "application/json"
        with pytest.raises(ValueError):
            resp.json()
    listing = {"openai": "/v1/models", "azure": "/openai/v1/models", "anthropic": "/v1/models"}
    resp = httpx.get(srv.base_url + listing.get(proto, "/v1beta/models"), headers=call(srv)[1])
    assert resp.status_code == (200 if fault == "quota" else expected)


@pytest.mark.parametrize("fault", ["midstream_error", "cut_stream", "llamacpp_error", "huge"])
def test_stream_faults(srv: FakeServer, fault: str) -> None:
    srv.fault, proto = fault, srv.protocol
    status, raw, error = stream_raw(srv)
    events = parse_sse(raw)
    assert status == 200 and (error is not None) == (fault == "cut_stream")
    if fault == "huge":
        assert len(raw) > 10_000_000 and len(events) > 300 and stream_text(proto, events).startswith("lorem ipsum")
        srv.fault = "huge"
        assert len(chat(srv).content) > 10_000_000
        return
    assert stream_text(proto, events) == "Hello there, "
    assert not re.search(rb"\[DONE\]|message_stop|finishReason", raw)
    if fault == "midstream_error":
        name, data = events[-1]
        assert "error" in json.loads(data) and name == ("error" if proto == "anthropic" else None)
        assert proto != "anthropic" or json.loads(data)["error"]["type"] == "overloaded_error"
    if fault == "llamacpp_error":
        assert events[-1][0] == "llamacpp-error" and json.loads(events[-1][1])["code"] == 500
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
        assert stream_text(srv.protocol, parse_sse(b"".join(got))) == "Hello there, "
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
