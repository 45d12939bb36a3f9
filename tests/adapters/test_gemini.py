"""The Gemini adapter: generateContent requests with the key only in a header, thought parts,
blocked prompts, filtered model pages, Google's error details; then the same through the client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import ProviderStore, chat
from jupyter_providers._sse import SSEEvent
from jupyter_providers._types import Message, Usage
from jupyter_providers.adapters import adapter_for
from jupyter_providers.adapters._base import ChatParams, ProtocolError, StreamErrorEvent
from jupyter_providers.client import list_models
from jupyter_providers.store import Provider

from ..fakes import FakeServer

A = adapter_for("gemini")
KEY = "AIzaSy-test-gemini-5d2e"
P = Provider(name="Gemini", type="gemini", api_key=KEY)
ROOT = "https://generativelanguage.googleapis.com/v1beta"
HISTORY: list[Message] = [
    {"role": "user", "content": "Hi."},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a colour."},
]
CONTENTS = [
    {"role": "user", "parts": [{"text": "Hi."}]},
    {"role": "model", "parts": [{"text": "Hello!"}]},
    {"role": "user", "parts": [{"text": "Name a colour."}]},
]


def params(model: str = "gemini-2.5-flash", **kw: Any) -> ChatParams:
    return ChatParams(model, HISTORY, **kw)


def response(*parts: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", **extra}


def google_error(code: int, status: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status, "details": list(details)}}


# -- building requests -------------------------------------------------------------------------
def test_chat_request() -> None:
    req = A.chat_request(
        P.endpoint, KEY, params(system="Be brief.", temperature=0.7, max_tokens=256, stop=["END"]), False
    )
    assert (req.method, req.url) == ("POST", f"{ROOT}/models/gemini-2.5-flash:generateContent")
    assert req.headers["x-goog-api-key"] == KEY and KEY not in req.url and "key=" not in req.url
    assert req.json == {
        "contents": CONTENTS,
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.7, "maxOutputTokens": 256, "stopSequences": ["END"]},
    }


def test_options_only_when_set() -> None:
    assert A.chat_request(P.endpoint, KEY, params(), False).json == {"contents": CONTENTS}
    req = A.chat_request(P.endpoint, KEY, params(temperature=0.0), False)
    assert req.json is not None and req.json["generationConfig"] == {"temperature": 0.0}


def test_stream_url_and_models_prefix_not_doubled() -> None:
    req = A.chat_request(P.endpoint, KEY, params("models/gemini-2.5-pro"), True)
    assert req.url == f"{ROOT}/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    assert req.headers["accept"] == "text/event-stream" and KEY not in req.url
    assert "x-goog-api-key" not in A.chat_request(P.endpoint, "", params(), False).headers


def test_models_request_and_listing() -> None:
    first, later = A.models_request(P.endpoint, KEY, None), A.models_request(P.endpoint, KEY, "tok123")
    assert (first.url, later.url) == (f"{ROOT}/models?pageSize=1000", f"{ROOT}/models?pageSize=1000&pageToken=tok123")
    assert first.headers["x-goog-api-key"] == KEY and KEY not in first.url + later.url
    data = {
        "models": [
            {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
            {"name": "models/gemini-embedding-001", "supportedGenerationMethods": ["embedContent"]},
            {"name": "models/gemini-2.5-pro", "supportedGenerationMethods": ["generateContent"]},
        ],
        "nextPageToken": "tok123",
    }
    assert A.parse_models(data) == (["gemini-2.5-flash", "gemini-2.5-pro"], "tok123")
    assert A.parse_models({"models": [], "nextPageToken": ""}) == ([], None)


# -- parsing answers ---------------------------------------------------------------------------
def test_parse_completion_keeps_thoughts_apart() -> None:
    usage = {"promptTokenCount": 12, "candidatesTokenCount": 3, "totalTokenCount": 40, "thoughtsTokenCount": 25}
    data = response({"text": "Colours...", "thought": True}, {"text": "Red"}, {"text": "."}, finish="STOP",
                    usageMetadata=usage)  # fmt: skip
    c = A.parse_completion(data)
    assert (c.text, c.reasoning, c.finish_reason) == ("Red.", "Colours...", "STOP")
    assert (c.usage, c.model) == (Usage(12, 3), "gemini-2.5-flash")


def test_blocked_prompt() -> None:
    data = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}}
    c = A.parse_completion(data)
    assert (c.text, c.usage.input_tokens) == ("", 8) and c.finish_reason and "SAFETY" in c.finish_reason


@pytest.mark.parametrize("data", [{"modelVersion": "x"}, google_error(500, "INTERNAL", "boom"), []])
def test_parse_completion_rejects_non_replies(data: Any) -> None:
    with pytest.raises(ProtocolError):
        A.parse_completion(data)


def test_stream_chunks() -> None:
    usage = {"promptTokenCount": 9, "candidatesTokenCount": 2, "totalTokenCount": 11}
    chunks = [response({"text": "Hmm.", "thought": True}), response({"text": "Re"}),
              response({"text": "d."}, finish="STOP", usageMetadata=usage)]  # fmt: skip
    parser = A.stream_parser()
    deltas = []
    for c in chunks:
        assert not parser.complete
        deltas.append(parser.feed(SSEEvent("message", json.dumps(c))))
    assert parser.complete  # no [DONE]: the finish reason ends it
    assert "".join(d.text for d in deltas if d) == "Red." and "".join(d.reasoning for d in deltas if d) == "Hmm."
    assert [d.usage for d in deltas if d] == [None, None, Usage(9, 2)]
    assert deltas[-1] is not None and deltas[-1].finish_reason == "STOP"


def test_stream_chunk_with_only_usage() -> None:
    data = {"usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 2}, "modelVersion": "gemini-2.5-flash"}
    parser = A.stream_parser()
    d = parser.feed(SSEEvent("message", json.dumps(data)))
    assert d is not None and (d.text, d.usage) == ("", Usage(9, 2)) and not parser.complete


@pytest.mark.parametrize(("status", "kind"), [("INTERNAL", "server_error"), ("RESOURCE_EXHAUSTED", "rate_limited")])
def test_stream_error_chunk(status: str, kind: str) -> None:
    data = {"error": {"code": 500, "message": "An internal error has occurred.", "status": status}}
    with pytest.raises(StreamErrorEvent) as info:
        A.stream_parser().feed(SSEEvent("message", json.dumps(data)))
    assert (info.value.info.kind, info.value.info.message) == (kind, "An internal error has occurred.")


# -- classifying errors ------------------------------------------------------------------------
ERROR_INFO = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
              "domain": "googleapis.com"}  # fmt: skip
BAD_KEY = "API key not valid. Please pass a valid API key."
NOT_FOUND = "models/gemini-9 is not found for API version v1beta, or is not supported for generateContent."


def quota_failure(quota_id: str) -> dict[str, Any]:
    violation = {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                 "quotaId": quota_id, "quotaValue": "250"}  # fmt: skip
    return {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [violation]}


RETRY_27 = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "27s"}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, google_error(400, "INVALID_ARGUMENT", BAD_KEY, ERROR_INFO), "auth"),  # a bad key is a 400
        (400, google_error(400, "INVALID_ARGUMENT", BAD_KEY), "auth"),
        (400, google_error(400, "INVALID_ARGUMENT", "* contents: contents is not specified"), "bad_response"),
        (403, google_error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers"), "auth"),
        (404, google_error(404, "NOT_FOUND", NOT_FOUND), "model_not_found"),
        (404, google_error(404, "NOT_FOUND", "Requested entity was not found."), "bad_url"),
        (500, google_error(500, "INTERNAL", "An internal error has occurred."), "server_error"),
        (503, google_error(503, "UNAVAILABLE", "The model is overloaded."), "server_error"),
    ],
)
def test_classify_error(status: int, body: dict[str, Any], kind: str) -> None:
    info = A.classify_error(status, body, json.dumps(body), {})
    assert (info.kind, info.message) == (kind, body["error"]["message"])
    if kind == "auth" and status == 400:
        assert info.code == "API_KEY_INVALID"


def test_rate_limit_retry_delay_and_daily_quota() -> None:
    minute = google_error(429, "RESOURCE_EXHAUSTED", "Resource exhausted", quota_failure("PerMinute"), RETRY_27)
    info = A.classify_error(429, minute, "", {})
    assert (info.kind, info.retry_after, info.quota) == ("rate_limited", 27.0, False)
    assert A.classify_error(429, minute, "", {"retry-after": "5"}).retry_after == 5.0  # the header wins
    daily = google_error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota",
                         quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier"), RETRY_27)  # fmt: skip
    info = A.classify_error(429, daily, "", {})
    assert (info.kind, info.retry_after, info.quota) == ("rate_limited", 27.0, True)


# -- through the client, against a loopback Gemini server --------------------------------------
@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("gemini", api_key=KEY, models=["gemini-x"], reply="Red is a colour.") as s:
        yield s


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("model", ["gemini-x", "models/gemini-x"])
def test_client_request(srv: FakeServer, store: ProviderStore, stream: bool, model: str) -> None:
    store.add("G", type="gemini", base_url=srv.base_url, api_key=KEY, models=[model])
    reply = chat(HISTORY[-1]["content"], history=HISTORY[:2], system="Be brief.", temperature=0.3, max_tokens=40,
                 stream=stream, store=store)  # fmt: skip
    assert ("".join(reply) if stream else reply.text) == "Red is a colour."
    assert reply.finish_reason == "STOP" and reply.usage.output_tokens == 4
    r = srv.requests[-1]
    verb = "streamGenerateContent" if stream else "generateContent"
    assert (r.method, r.path, r.query) == ("POST", f"/v1beta/models/gemini-x:{verb}", {"alt": "sse"} if stream else {})
    assert "key" not in r.query and r.headers["x-goog-api-key"] == KEY
    assert r.body == {
        "contents": CONTENTS,
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.3, "maxOutputTokens": 40},
    }


def test_client_lists_chat_models_only(srv: FakeServer, store: ProviderStore) -> None:
    srv.models = ["gemini-x", "gemini-y"]
    srv.page_size = 2  # the fake also lists an embedding model: two pages
    store.add("G", type="gemini", base_url=srv.base_url, api_key=KEY)
    assert list_models(store["G"]) == ["gemini-x", "gemini-y"]
    assert len(srv.requests) == 2 and "pageToken" in srv.requests[1].query
    assert all("key" not in r.query and r.headers["x-goog-api-key"] == KEY for r in srv.requests)
