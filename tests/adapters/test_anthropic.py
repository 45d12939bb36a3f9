"""The Anthropic adapter: the Messages request, paginated model lists, every stream event,
Anthropic's error bodies; then the same requests as a loopback Anthropic server records them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import ProviderStore, chat
from jupyter_providers._sse import SSEEvent
from jupyter_providers._types import Message, Usage
from jupyter_providers.adapters import adapter_for
from jupyter_providers.adapters._base import ChatParams, Delta, ProtocolError, StreamErrorEvent, as_delta
from jupyter_providers.adapters.anthropic import DEFAULT_MAX_TOKENS
from jupyter_providers.client import list_models
from jupyter_providers.store import Provider

from ..fakes import FakeServer

A = adapter_for("anthropic")
KEY = "sk-ant-test-0b7e55"
P = Provider(name="Claude", type="anthropic", api_key=KEY)
HISTORY: list[Message] = [
    {"role": "user", "content": "Hi."},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a colour."},
]


def params(**kw: Any) -> ChatParams:
    return ChatParams(**{"model": "claude-sonnet-4-5", "messages": HISTORY, **kw})


def ev(name: str, **data: Any) -> SSEEvent:
    return SSEEvent(name, json.dumps({"type": name, **data}))


def error_body(type_: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": "req_011"}


# -- building requests -------------------------------------------------------------------------
def test_chat_request() -> None:
    req = A.chat_request(
        P.endpoint, KEY, params(system="Be brief.", temperature=0.4, max_tokens=300, stop=["END"]), False
    )
    assert (req.method, req.url) == ("POST", "https://api.anthropic.com/v1/messages")
    assert req.headers["x-api-key"] == KEY and req.headers["anthropic-version"] == "2023-06-01"
    assert req.headers["content-type"] == "application/json" and "authorization" not in req.headers
    assert req.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 300,
        "system": "Be brief.",
        "messages": HISTORY,
        "temperature": 0.4,
        "stop_sequences": ["END"],
    }


def test_max_tokens_is_always_sent_and_options_only_when_set() -> None:
    req = A.chat_request(P.endpoint, KEY, params(), False)
    assert req.json == {"model": "claude-sonnet-4-5", "max_tokens": DEFAULT_MAX_TOKENS, "messages": HISTORY}


def test_system_messages_move_to_the_top_level() -> None:
    msgs: list[Message] = [{"role": "system", "content": "Answer in French."}, *HISTORY]
    req = A.chat_request(P.endpoint, KEY, params(messages=msgs, system="Be brief."), False)
    assert req.json is not None and req.json["system"] == "Be brief.\n\nAnswer in French."
    assert [m["role"] for m in req.json["messages"]] == ["user", "assistant", "user"]


def test_stream_request_and_typed_version_segment() -> None:
    p = Provider(name="Proxy", type="anthropic", base_url="https://proxy.example/anthropic/v1/")
    req = A.chat_request(p.endpoint, "", params(), True)
    assert req.url == "https://proxy.example/anthropic/v1/messages"  # /v1 not doubled
    assert req.json is not None and req.json["stream"] is True and req.headers["accept"] == "text/event-stream"
    assert "x-api-key" not in req.headers and req.headers["anthropic-version"] == "2023-06-01"


def test_models_pagination() -> None:
    assert A.models_request(P.endpoint, KEY, None).url == "https://api.anthropic.com/v1/models?limit=1000"
    req = A.models_request(P.endpoint, KEY, "claude-3-5-haiku-20241022")
    assert req.url == "https://api.anthropic.com/v1/models?limit=1000&after_id=claude-3-5-haiku-20241022"
    assert req.headers["x-api-key"] == KEY
    model = {"type": "model", "display_name": "X", "created_at": "2025-02-19T00:00:00Z"}
    page = {"data": [{"id": "a", **model}, {"id": "b", **model}], "has_more": True, "first_id": "a", "last_id": "b"}
    assert A.parse_models(page) == (["a", "b"], "b")
    assert A.parse_models({**page, "has_more": False}) == (["a", "b"], None)
    with pytest.raises(ProtocolError):
        A.parse_models({"models": []})


# -- parsing answers ---------------------------------------------------------------------------
def test_parse_completion() -> None:
    data = {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [{"type": "thinking", "thinking": "Primary colours...", "signature": "sig=="},
                    {"type": "text", "text": "Red"}, {"type": "tool_use", "id": "t", "name": "f", "input": {}},
                    {"type": "text", "text": "."}],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": {"input_tokens": 20, "output_tokens": 4},
    }  # fmt: skip
    c = A.parse_completion(data)
    assert (c.text, c.reasoning, c.finish_reason) == ("Red.", "Primary colours...", "end_turn")
    assert (c.usage, c.model) == (Usage(20, 4), "claude-sonnet-4-5")
    with pytest.raises(ProtocolError):
        A.parse_completion({"type": "message", "content": "Red."})


def test_every_stream_event() -> None:
    message: dict[str, Any] = {"id": "msg_01", "type": "message", "role": "assistant", "content": [],
                               "stop_reason": None, "usage": {"input_tokens": 25, "output_tokens": 1}}  # fmt: skip
    events = [
        ev("message_start", message=message),
        ev("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""}),
        ev("ping"),
        ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "Primary "}),
        ev("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "colours."}),
        ev("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "sig=="}),
        ev("content_block_stop", index=0),
        ev("content_block_start", index=1, content_block={"type": "text", "text": ""}),
        ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "Red"}),
        ev("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": '{"a"'}),
        ev("brand_new_event", payload={"x": 1}),  # added later by the API: ignored
        ev("content_block_delta", index=1, delta={"type": "text_delta", "text": "."}),
        ev("content_block_stop", index=1),
        ev("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage={"output_tokens": 9}),
    ]
    parser = A.stream_parser()
    deltas: list[Delta] = []
    for e in events:
        d = parser.feed(e)
        if d is not None:
            deltas.append(as_delta(d))
        assert not parser.complete
    assert "".join(d.text for d in deltas) == "Red."
    assert "".join(d.reasoning for d in deltas) == "Primary colours."
    assert deltas[0].usage == Usage(25, 1) and deltas[-1].usage == Usage(25, 9)  # cumulative output tokens
    assert [d.finish_reason for d in deltas if d.finish_reason] == ["end_turn"]
    assert parser.feed(ev("message_stop")) is None and parser.complete


def test_input_tokens_count_the_prompt_read_from_and_written_to_the_cache() -> None:
    """Anthropic (and llama-server, for its reused prompt) count cached prompt tokens apart from ``input_tokens``:
    the input is their sum, as OpenAI's ``prompt_tokens`` includes its cached tokens."""
    cached = {"input_tokens": 3, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 30}
    data = {"type": "message", "content": [{"type": "text", "text": "Hi"}], "stop_reason": "end_turn",
            "usage": {**cached, "output_tokens": 2}}  # fmt: skip
    assert A.parse_completion(data).usage == Usage(43, 2)
    parser = A.stream_parser()
    d = parser.feed(ev("message_start", message={"usage": {**cached, "output_tokens": 1}}))
    assert d is not None and as_delta(d).usage == Usage(43, 1)
    d = parser.feed(ev("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 5}))
    assert d is not None and as_delta(d).usage == Usage(43, 5)  # a delta without input counts keeps them
    d = parser.feed(ev("message_delta", delta={}, usage={**cached, "input_tokens": 4, "output_tokens": 6}))
    assert d is not None and as_delta(d).usage == Usage(44, 6)


@pytest.mark.parametrize("stream", [False, True])
def test_a_cached_prompt_is_counted_whole(srv: FakeServer, pstore: ProviderStore, stream: bool) -> None:
    first = chat("Name a colour.", store=pstore, stream=stream)
    "".join(first)
    assert first.usage.input_tokens and first.usage.input_tokens > 1, first.usage
    srv.cached_tokens = first.usage.input_tokens - 1  # the same prompt again, all but a token read from the cache
    again = chat("Name a colour.", store=pstore, stream=stream)
    "".join(again)
    assert srv.requests[-1].path == "/v1/messages" and again.usage == first.usage, (first.usage, again.usage)


def test_message_delta_may_update_input_tokens() -> None:
    parser = A.stream_parser()
    parser.feed(ev("message_start", message={"usage": {"input_tokens": 5, "output_tokens": 1}}))
    d = parser.feed(ev("message_delta", delta={"stop_reason": "max_tokens"}, usage={"input_tokens": 7}))
    assert d is not None and (d.usage, d.finish_reason) == (Usage(7, 1), "max_tokens")


@pytest.mark.parametrize(
    ("type_", "kind"),
    [("overloaded_error", "server_error"), ("api_error", "server_error"), ("rate_limit_error", "rate_limited")],
)
def test_stream_error_event(type_: str, kind: str) -> None:
    with pytest.raises(StreamErrorEvent) as info:
        A.stream_parser().feed(SSEEvent("error", json.dumps(error_body(type_, "Overloaded"))))
    assert (info.value.info.kind, info.value.info.code, info.value.info.message) == (kind, type_, "Overloaded")


# -- classifying errors ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "type_", "message", "kind", "quota"),
    [
        (401, "authentication_error", "invalid x-api-key", "auth", False),
        (403, "permission_error", "Your API key does not have permission", "auth", False),
        (404, "not_found_error", "model: claude-nope", "model_not_found", False),
        (404, "not_found_error", "Not found", "bad_url", False),
        (400, "invalid_request_error", "messages: Field required", "bad_response", False),
        (400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API.",
         "rate_limited", True),
        (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", "bad_response", False),
        (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit",
         "rate_limited", False),
        (429, "rate_limit_error", "You have reached your specified API usage limits.", "rate_limited", True),
        (500, "api_error", "Internal server error", "server_error", False),
        (529, "overloaded_error", "Overloaded", "server_error", False),
    ],
)  # fmt: skip
def test_classify_error(status: int, type_: str, message: str, kind: str, quota: bool) -> None:
    body = error_body(type_, message)
    info = A.classify_error(status, body, json.dumps(body), {"retry-after": "3"})
    assert (info.kind, info.message, info.quota) == (kind, message, quota)
    if kind in ("rate_limited", "server_error") and not quota:
        assert info.retry_after == 3.0


# -- through the client, against a loopback Anthropic server -----------------------------------
@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("anthropic", api_key=KEY, models=["claude-x"], reply="Red is a colour.") as s:
        yield s


@pytest.fixture
def pstore(srv: FakeServer, store: ProviderStore) -> ProviderStore:
    store.add("C", type="anthropic", base_url=srv.base_url, api_key=KEY, models=["claude-x"])
    return store


@pytest.mark.parametrize("stream", [False, True])
def test_client_request(srv: FakeServer, pstore: ProviderStore, stream: bool) -> None:
    reply = chat(HISTORY[-1]["content"], history=HISTORY[:2], system="Be brief.", temperature=0.3, max_tokens=40,
                 stream=stream, store=pstore)  # fmt: skip
    assert ("".join(reply) if stream else reply.text) == "Red is a colour."
    assert reply.finish_reason == "end_turn" and reply.usage.output_tokens == 4
    r = srv.requests[-1]
    assert (r.method, r.path, r.query) == ("POST", "/v1/messages", {})
    assert (r.headers["x-api-key"], r.headers["anthropic-version"]) == (KEY, "2023-06-01")
    expected = {"model": "claude-x", "max_tokens": 40, "system": "Be brief.", "messages": HISTORY, "temperature": 0.3}
    assert r.body == ({**expected, "stream": True} if stream else expected)


def test_client_sends_the_default_max_tokens(srv: FakeServer, pstore: ProviderStore) -> None:
    assert chat("Hi", store=pstore).text == "Red is a colour."
    assert srv.requests[-1].body == {
        "model": "claude-x",
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_client_follows_model_pages_with_after_id(store: ProviderStore) -> None:
    with FakeServer("anthropic", api_key=KEY, models=["m1", "m2", "m3"]) as srv:
        srv.page_size = 2
        store.add("C", type="anthropic", base_url=srv.base_url, api_key=KEY)
        assert list_models(store["C"]) == ["m1", "m2", "m3"]
        assert [(r.path, r.query) for r in srv.requests] == [
            ("/v1/models", {"limit": "1000"}),
            ("/v1/models", {"limit": "1000", "after_id": "m2"}),
        ]
