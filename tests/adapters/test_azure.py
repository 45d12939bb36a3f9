"""The Azure OpenAI adapter: classic deployment routes and the v1 route, the ``api-key`` header,
Azure's error bodies; then both routes as a loopback Azure server records them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import ProviderStore, chat
from jupyter_providers._sse import SSEEvent
from jupyter_providers._types import Message, Usage
from jupyter_providers.adapters import adapter_for
from jupyter_providers.adapters._base import ChatParams, as_delta
from jupyter_providers.client import list_models
from jupyter_providers.store import Provider

from ..fakes import FakeServer

A = adapter_for("azure")
KEY = "azure-test-key-93b1c0"
ROOT = "https://contoso.openai.azure.com"
CLASSIC = Provider(name="Az", type="azure", base_url=ROOT, api_key=KEY)
V1 = Provider(name="Az1", type="azure", base_url=ROOT + "/openai/v1", api_key=KEY)
HISTORY: list[Message] = [
    {"role": "user", "content": "Hi."},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "Name a colour."},
]
ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)


def params(model: str = "gpt4o-prod", **kw: Any) -> ChatParams:
    return ChatParams(model, HISTORY, **kw)


# -- building requests -------------------------------------------------------------------------
def test_classic_route() -> None:
    req = A.chat_request(CLASSIC.endpoint, KEY, params(system="Be brief.", temperature=0.2, max_tokens=50), False)
    assert req.url == f"{ROOT}/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    assert req.headers["api-key"] == KEY
    assert "authorization" not in {h.lower() for h in req.headers}
    assert req.json == {  # the deployment in the path chooses the model
        "messages": [{"role": "system", "content": "Be brief."}, *HISTORY],
        "temperature": 0.2,
        "max_completion_tokens": 50,  # what o-series deployments require, known since 2024-09-01-preview
    }


@pytest.mark.parametrize(
    ("version", "field"),
    [("2024-06-01", "max_tokens"), ("2024-08-01-preview", "max_tokens"),
     ("2024-09-01-preview", "max_completion_tokens"), ("2025-04-01-preview", "max_completion_tokens")],
)  # fmt: skip
def test_older_api_versions_get_max_tokens(version: str, field: str) -> None:
    p = Provider(name="Az", type="azure", base_url=ROOT, api_key=KEY, api_version=version)
    req = A.chat_request(p.endpoint, KEY, params(max_tokens=50), False)
    assert req.json is not None and req.json[field] == 50 and len(req.json) == 2
    v1 = A.chat_request(V1.endpoint, KEY, params(max_tokens=50), False)  # the v1 route has no version
    assert v1.json is not None and v1.json["max_completion_tokens"] == 50


def test_deployment_name_is_url_quoted() -> None:
    req = A.chat_request(CLASSIC.endpoint, KEY, params("my dep/v2?x"), False)
    assert req.url.startswith(f"{ROOT}/openai/deployments/my%20dep%2Fv2%3Fx/chat/completions?api-version=")


def test_custom_api_version(monkeypatch: pytest.MonkeyPatch) -> None:
    custom = Provider(name="Az", type="azure", base_url=ROOT, api_version="2025-01-01-preview")
    assert A.chat_request(custom.endpoint, KEY, params(), False).url.endswith("?api-version=2025-01-01-preview")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    assert A.chat_request(CLASSIC.endpoint, KEY, params(), False).url.endswith("?api-version=2024-06-01")
    assert A.chat_request(custom.endpoint, KEY, params(), False).url.endswith("?api-version=2025-01-01-preview")


@pytest.mark.parametrize("typed", [ROOT + "/", ROOT + "/openai", ROOT + "/openai/"])
def test_typed_openai_suffix_still_gives_the_classic_route(typed: str) -> None:
    p = Provider(name="Az", type="azure", base_url=typed)
    assert A.chat_url(p.endpoint, "d", False) == f"{ROOT}/openai/deployments/d/chat/completions?api-version=2024-10-21"


@pytest.mark.parametrize("typed", [ROOT + "/openai/v1", ROOT + "/openai/v1/"])
def test_v1_route_keeps_the_model(typed: str) -> None:
    p = Provider(name="Az1", type="azure", base_url=typed)
    req = A.chat_request(p.endpoint, KEY, params(), True)
    assert req.url == f"{ROOT}/openai/v1/chat/completions" and "api-version" not in req.url
    assert req.json is not None and req.json["model"] == "gpt4o-prod"
    assert req.json["stream"] is True and req.json["stream_options"] == {"include_usage": True}
    assert req.headers["api-key"] == KEY and "authorization" not in req.headers


def test_no_key_sends_no_api_key_header() -> None:
    assert "api-key" not in A.chat_request(CLASSIC.endpoint, "", params(), False).headers


def test_models_urls() -> None:
    classic = A.models_request(CLASSIC.endpoint, KEY, None)
    assert (classic.url, classic.headers["api-key"]) == (f"{ROOT}/openai/models?api-version=2024-10-21", KEY)
    assert A.models_request(V1.endpoint, KEY, None).url == f"{ROOT}/openai/v1/models"
    listing = {"object": "list", "data": [{"id": "gpt-4o", "object": "model", "created_at": 1, "status": "succeeded"}]}
    assert A.parse_models(listing) == (["gpt-4o"], None)


# -- parsing: OpenAI's shapes plus content filters ---------------------------------------------
def test_parse_completion_with_filter_results() -> None:
    filters = {"hate": {"filtered": False, "severity": "safe"}}
    data = {
        "choices": [{"index": 0, "finish_reason": "content_filter", "content_filter_results": filters,
                     "message": {"role": "assistant", "content": None}}],
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": filters}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 0, "total_tokens": 12},
    }  # fmt: skip
    c = A.parse_completion(data)
    assert (c.text, c.finish_reason, c.usage) == ("", "content_filter", Usage(12, 0))


def test_stream_with_empty_first_chunk() -> None:
    chunks = [
        {"choices": [], "id": "", "model": "", "prompt_filter_results": [{"prompt_index": 0}]},
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "content_filter_results": {}}]},
        {"choices": [{"index": 0, "delta": {"content": "Red."}, "content_filter_results": {"hate": {}}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    parser = A.stream_parser()
    deltas = [None if (d := parser.feed(SSEEvent("message", json.dumps(c)))) is None else as_delta(d) for c in chunks]
    assert deltas[0] is not None and (deltas[0].text, deltas[0].finish_reason, deltas[0].usage) == ("", None, None)
    assert "".join(d.text for d in deltas if d) == "Red." and deltas[-1] and deltas[-1].finish_reason == "stop"
    assert parser.feed(SSEEvent("message", "[DONE]")) is None and parser.complete


# -- classifying errors ------------------------------------------------------------------------
NO_DEPLOYMENT = "The API deployment for this resource does not exist."


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"error": {"code": "401", "message": ACCESS_DENIED}}, "auth"),
        (404, {"error": {"code": "DeploymentNotFound", "message": NO_DEPLOYMENT}}, "model_not_found"),
        (404, {"error": {"code": "404", "message": "Resource not found"}}, "bad_url"),  # no api-version, bad path
        (400, {"error": {"code": "content_filter", "message": "The response was filtered"}}, "bad_response"),
        (500, {"error": {"code": "InternalServerError", "message": "Backend returned unexpected response"}},
         "server_error"),
    ],
)  # fmt: skip
def test_classify_error(status: int, body: dict[str, Any], kind: str) -> None:
    info = A.classify_error(status, body, json.dumps(body), {})
    assert (info.kind, info.message, info.code) == (kind, body["error"]["message"], body["error"]["code"])


def test_rate_limit_and_quota() -> None:
    msg = "Requests to the ChatCompletions_Create Operation ... Please retry after 6 seconds."
    info = A.classify_error(429, {"error": {"code": "429", "message": msg}}, "", {"retry-after": "6"})
    assert (info.kind, info.retry_after, info.quota) == ("rate_limited", 6.0, False)
    body = {"error": {"code": "insufficient_quota", "type": "insufficient_quota", "message": "You exceeded..."}}
    assert A.classify_error(429, body, "", {}).quota is True


# -- through the client, against a loopback Azure server ---------------------------------------
@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("azure", api_key=KEY, models=["dep-1"], reply="Red is a colour.") as s:
        yield s


def ask(store: ProviderStore, stream: bool) -> str:
    reply = chat(HISTORY[-1]["content"], history=HISTORY[:2], system="Be brief.", temperature=0.3, max_tokens=40,
                 stream=stream, store=store)  # fmt: skip
    return "".join(reply) if stream else reply.text


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("route", ["classic", "v1"])
def test_client_request(srv: FakeServer, store: ProviderStore, route: str, stream: bool) -> None:
    base = srv.base_url + ("/openai/v1" if route == "v1" else "")
    store.add("Az", type="azure", base_url=base, api_key=KEY, models=["dep-1"])
    assert ask(store, stream) == "Red is a colour."
    r = srv.requests[-1]
    expected: dict[str, Any] = {
        "messages": [{"role": "system", "content": "Be brief."}, *HISTORY],
        "temperature": 0.3,
        "max_completion_tokens": 40,
    }
    if route == "classic":
        assert (r.path, r.query) == ("/openai/deployments/dep-1/chat/completions", {"api-version": "2024-10-21"})
    else:
        assert (r.path, r.query) == ("/openai/v1/chat/completions", {})
        expected["model"] = "dep-1"
    if stream:
        expected |= {"stream": True, "stream_options": {"include_usage": True}}
    assert r.method == "POST" and r.body == expected
    assert r.headers["api-key"] == KEY and "authorization" not in r.headers


def test_client_custom_api_version(srv: FakeServer, store: ProviderStore) -> None:
    store.add("Az", type="azure", base_url=srv.base_url, api_key=KEY, models=["dep-1"], api_version="2025-03-01")
    assert chat("Hi", store=store).text == "Red is a colour."
    assert srv.requests[-1].query == {"api-version": "2025-03-01"}


@pytest.mark.parametrize(
    ("suffix", "path", "query"),
    [("", "/openai/models", {"api-version": "2024-10-21"}), ("/openai/v1", "/openai/v1/models", {})],
)
def test_client_lists_models_on_both_routes(
    srv: FakeServer, store: ProviderStore, suffix: str, path: str, query: dict[str, str]
) -> None:
    store.add("Az", type="azure", base_url=srv.base_url + suffix, api_key=KEY)
    assert list_models(store["Az"]) == ["dep-1"]
    r = srv.requests[-1]
    assert (r.method, r.path, r.query, r.headers["api-key"]) == ("GET", path, query, KEY)
