"""The OpenAI adapter: requests it builds, answers and stream chunks it parses, errors it classifies;
then the same requests as a loopback OpenAI server records them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import pytest

from jupyter_providers import ProviderStore, chat
from jupyter_providers._sse import SSEEvent
from jupyter_providers._types import Message, Usage
from jupyter_providers.adapters import adapter_for
from jupyter_providers.adapters._base import ChatParams, Delta, ProtocolError, StreamErrorEvent, as_delta, retry_after
from jupyter_providers.store import Provider

from ..fakes import FakeServer

A = adapter_for("openai")
KEY = "sk-test-openai-41f7a2"
HISTORY: list[Message] = [
    {"role": "user", "content": "Hi."},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Name a colour."},
]
OFFICIAL = Provider(name="OpenAI", type="openai", api_key=KEY)
OLLAMA = Provider(name="Ollama", type="openai", base_url="http://localhost:11434/v1", api_key="")


def params(**kw: Any) -> ChatParams:
    return ChatParams(**{"model": "gpt-4o-mini", "messages": HISTORY, **kw})


def chunk(**kw: Any) -> SSEEvent:
    return SSEEvent("message", json.dumps({"id": "c1", "object": "chat.completion.chunk", **kw}))


def feed_all(events: list[SSEEvent]) -> list[Delta]:
    parser = A.stream_parser()
    out = [as_delta(d) for ev in events if (d := parser.feed(ev)) is not None]
    assert parser.complete
    return out


# -- building requests -------------------------------------------------------------------------
def test_official_request() -> None:
    req = A.chat_request(
        OFFICIAL.endpoint, KEY, params(system="Be brief.", temperature=0.5, max_tokens=64, stop=["\n"]), False
    )
    assert (req.method, req.url) == ("POST", "https://api.openai.com/v1/chat/completions")
    assert req.headers["authorization"] == f"Bearer {KEY}" and req.headers["content-type"] == "application/json"
    assert req.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, *HISTORY],
        "temperature": 0.5,
        "max_completion_tokens": 64,  # OpenAI itself deprecates max_tokens
        "stop": ["\n"],
    }


def test_compatible_server_without_key_gets_max_tokens_and_no_auth_header() -> None:
    req = A.chat_request(OLLAMA.endpoint, "", params(max_tokens=64), False)
    assert req.url == "http://localhost:11434/v1/chat/completions"
    assert "authorization" not in {h.lower() for h in req.headers}
    assert req.json is not None and req.json["max_tokens"] == 64 and "max_completion_tokens" not in req.json
    assert "temperature" not in req.json and "stop" not in req.json and "stream" not in req.json


def test_system_messages_are_joined_into_the_first_message() -> None:
    msgs: list[Message] = [{"role": "system", "content": "Answer in French."}, *HISTORY]
    req = A.chat_request(OLLAMA.endpoint, "", params(messages=msgs, system="Be brief."), False)
    assert req.json is not None
    assert req.json["messages"] == [{"role": "system", "content": "Be brief.\n\nAnswer in French."}, *HISTORY]


def test_stream_request_asks_for_usage() -> None:
    req = A.chat_request(OLLAMA.endpoint, "", params(), True)
    assert req.json is not None and req.json["stream"] is True
    assert req.json["stream_options"] == {"include_usage": True}
    assert req.headers["accept"] == "text/event-stream"


def test_models_request_and_listing() -> None:
    req = A.models_request(OFFICIAL.endpoint, KEY, None)
    assert (req.method, req.url) == ("GET", "https://api.openai.com/v1/models")
    assert req.headers["authorization"] == f"Bearer {KEY}"
    model = {"object": "model", "created": 1, "owned_by": "system"}
    data = {"object": "list", "data": [{"id": "gpt-4o", **model}, {"id": "o3-mini", **model}]}
    assert A.parse_models(data) == (["gpt-4o", "o3-mini"], None)
    with pytest.raises(ProtocolError):
        A.parse_models({"models": []})


# -- parsing answers ---------------------------------------------------------------------------
def test_parse_completion() -> None:
    data = {"id": "c1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Blue."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 21, "completion_tokens": 2, "total_tokens": 23}}  # fmt: skip
    c = A.parse_completion(data)
    assert (c.text, c.finish_reason, c.usage, c.model) == ("Blue.", "stop", Usage(21, 2), "gpt-4o-mini-2024-07-18")


def test_parse_completion_null_content_and_reasoning() -> None:
    message = {"role": "assistant", "content": None, "reasoning_content": "Thinking..."}
    c = A.parse_completion({"choices": [{"message": message, "finish_reason": "length"}]})
    assert (c.text, c.reasoning, c.finish_reason, c.usage) == ("", "Thinking...", "length", Usage())


@pytest.mark.parametrize("data", [{"error": {"message": "boom"}}, {"choices": []}, {"object": "list"}])
def test_parse_completion_rejects_non_replies(data: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError):
        A.parse_completion(data)


def test_stream_azure_style_first_chunk_and_usage_only_last_chunk() -> None:
    events = [
        chunk(choices=[], prompt_filter_results=[{"prompt_index": 0}]),
        chunk(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]),
        chunk(choices=[{"index": 0, "delta": {"content": "Bl"}, "finish_reason": None}], usage=None),
        chunk(choices=[{"index": 0, "delta": {"content": None}, "finish_reason": None}]),
        chunk(choices=[{"index": 0, "delta": {"content": "ue."}, "finish_reason": None}]),
        chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        SSEEvent("ping", "{}"),  # an event this protocol does not know: contributes nothing
        chunk(choices=[], usage={"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11}),
        SSEEvent("message", "[DONE]"),
    ]
    deltas = feed_all(events)
    assert "".join(d.text for d in deltas) == "Blue."
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["stop"]
    assert [d.usage for d in deltas if d.usage] == [Usage(9, 2)]


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_stream_reasoning_fields(field: str) -> None:
    events = [chunk(choices=[{"index": 0, "delta": {field: "Hmm, "}}]),
              chunk(choices=[{"index": 0, "delta": {field: "blue."}}]),
              chunk(choices=[{"index": 0, "delta": {"content": "Blue."}, "finish_reason": "stop"}]),
              SSEEvent("message", "[DONE]")]  # fmt: skip
    deltas = feed_all(events)
    assert ("".join(d.reasoning for d in deltas), "".join(d.text for d in deltas)) == ("Hmm, blue.", "Blue.")


def test_stream_is_incomplete_until_done() -> None:
    parser = A.stream_parser()
    parser.feed(chunk(choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    assert not parser.complete
    assert parser.feed(SSEEvent("message", "[DONE]")) is None and parser.complete


@pytest.mark.parametrize(
    ("event", "kind", "message"),
    [
        (SSEEvent("message", '{"error": {"message": "The server had an error", "type": "server_error"}}'),
         "server_error", "The server had an error"),
        (SSEEvent("message", '{"error": {"message": "Slow down", "type": "rate_limit_exceeded"}}'),
         "rate_limited", "Slow down"),
        # llama.cpp's non-standard ``error:`` field, which the SSE decoder names "error"
        (SSEEvent("error", '{"code": 500, "message": "llama_decode failed", "type": "server_error"}'),
         "server_error", "llama_decode failed"),
    ],
)  # fmt: skip
def test_stream_error_events(event: SSEEvent, kind: str, message: str) -> None:
    with pytest.raises(StreamErrorEvent) as info:
        A.stream_parser().feed(event)
    assert (info.value.info.kind, info.value.info.message) == (kind, message)


def test_stream_rejects_non_json() -> None:
    with pytest.raises(ProtocolError):
        A.stream_parser().feed(SSEEvent("message", '{"choices": [{"delta"'))


# -- classifying errors ------------------------------------------------------------------------
def oai_error(message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


IRE = "invalid_request_error"


@pytest.mark.parametrize(
    ("status", "body", "kind", "quota"),
    [
        (401, oai_error("Incorrect API key provided: sk-...", IRE, "invalid_api_key"), "auth", False),
        (401, {"error": "Unauthorized"}, "auth", False),  # vLLM --api-key
        (403, oai_error("Country, region, or territory not supported", "request_forbidden", None), "auth", False),
        (404, {"detail": "Not Found"}, "bad_url", False),  # FastAPI on a wrong path
        (404, oai_error("The model `gpt-9` does not exist", IRE, "model_not_found"), "model_not_found", False),
        (429, oai_error("Rate limit reached for gpt-4o", "requests", "rate_limit_exceeded"), "rate_limited", False),
        (429, oai_error("You exceeded your current quota", "insufficient_quota", "insufficient_quota"),
         "rate_limited", True),
        (500, oai_error("The server had an error", "server_error", None), "server_error", False),
        (400, oai_error("Unrecognized request argument supplied: foo", IRE, None), "bad_response", False),
        # llama.cpp's llama-server, an image for a model loaded without its projector: a refusal, never retried
        (500, {"error": {"code": 500, "message": "image input is not supported - hint: if this is unexpected, you "
                         "may need to provide the mmproj", "type": "server_error"}}, "bad_response", False),
        (500, oai_error("audio input is not supported", "server_error", None), "bad_response", False),
        (500, oai_error("failed to process image", "server_error", None), "server_error", False),
    ],
)  # fmt: skip
def test_classify_error(status: int, body: dict[str, Any], kind: str, quota: bool) -> None:
    info = A.classify_error(status, body, json.dumps(body), {})
    assert (info.kind, info.quota) == (kind, quota)
    assert info.message and "{" not in info.message  # the server's own words, not a JSON dump


def test_classify_error_keeps_the_message_and_code() -> None:
    info = A.classify_error(401, {"error": "Unauthorized"}, '{"error":"Unauthorized"}', {})
    assert (info.message, info.code) == ("Unauthorized", None)
    info = A.classify_error(404, oai_error("no such model", IRE, "model_not_found"), "", {})
    assert info.code == "model_not_found"


def test_retry_hints() -> None:
    assert retry_after({"retry-after": "7"}) == 7.0
    assert retry_after({"retry-after-ms": "1500", "retry-after": "7"}) == 1.5  # ms wins
    assert retry_after({"retry-after-ms": "soon", "retry-after": "2"}) == 2.0
    assert retry_after({"retry-after": "-3"}) == 0.0
    assert retry_after({"retry-after": "whenever"}) is None and retry_after({}) is None
    future = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=60), usegmt=True)
    assert 55 <= (retry_after({"retry-after": future}) or 0) <= 60
    assert retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    info = A.classify_error(429, oai_error("Slow down", "requests", "rate_limit_exceeded"), "", {"retry-after": "4"})
    assert info.retry_after == 4.0


# -- through the client, against a loopback OpenAI server --------------------------------------
@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("openai", api_key=KEY, models=["gpt-x"], reply="Blue is a colour.") as s:
        yield s


def ask(store: ProviderStore, stream: bool) -> str:
    reply = chat(HISTORY[-1]["content"], history=HISTORY[:2], system="Be brief.", temperature=0.3, max_tokens=40,
                 stream=stream, store=store)  # fmt: skip
    return "".join(reply) if stream else reply.text


@pytest.mark.parametrize("stream", [False, True])
def test_client_request(srv: FakeServer, store: ProviderStore, stream: bool) -> None:
    store.add("O", type="openai", base_url=srv.base_url, api_key=KEY, models=["gpt-x"])
    assert ask(store, stream) == "Blue is a colour."
    r = srv.requests[-1]
    assert (r.method, r.path, r.query) == ("POST", "/v1/chat/completions", {})
    assert r.headers["authorization"] == f"Bearer {KEY}" and r.headers["content-type"] == "application/json"
    expected: dict[str, Any] = {
        "model": "gpt-x",
        "messages": [{"role": "system", "content": "Be brief."}, *HISTORY],
        "temperature": 0.3,
        "max_tokens": 40,  # not api.openai.com
    }
    if stream:
        expected |= {"stream": True, "stream_options": {"include_usage": True}}
        assert r.headers["accept"] == "text/event-stream"
    assert r.body == expected


def test_client_sends_no_authorization_without_a_key(store: ProviderStore) -> None:
    with FakeServer("openai", models=["local"], reply="Hi.") as srv:
        store.add("Local", type="openai", base_url=srv.base_url, api_key="", models=["local"])
        assert chat("Hello", store=store).text == "Hi."
        assert "authorization" not in srv.requests[-1].headers


def test_a_text_only_chunk_is_a_plain_str_and_anything_more_a_delta() -> None:
    """The hot path builds no Delta for the usual chunk (StreamParser.feed); any other field makes one."""
    parser = A.stream_parser()
    assert parser.feed(chunk(choices=[{"index": 0, "delta": {"content": "Hi"}}])) == "Hi"
    with_finish = parser.feed(chunk(choices=[{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}]))
    assert with_finish == Delta("!", "", "stop", None)
    thinking = parser.feed(chunk(choices=[{"index": 0, "delta": {"content": "", "reasoning": "hm"}}]))
    assert thinking == Delta("", "hm", None, None)
