"""The openai-responses type through the user's path (the store, ``chat()``, ``verify``) against the fake
(tests/fakes/responses.py): what a whole answer that says ``"status": "failed"`` becomes, which the real
servers (tests/vllm, tests/litellm) cannot be made to send."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import (
    AuthenticationError,
    ProviderStore,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    chat,
)
from jupyter_providers.errors import ProviderError

from .fakes import FakeServer
from .fakes.server import Response

KEY = "sk-resp-e2e-4c7a1f09"


@pytest.fixture
def srv(store: ProviderStore) -> Iterator[FakeServer]:
    with FakeServer("openai-responses", api_key=KEY, models=["gpt-x"]) as s:
        store.add("R", type="openai-responses", base_url=s.base_url, api_key=KEY, models=["gpt-x"])
        yield s


def failed(error: Any) -> Response:
    body = {"id": "resp_1", "object": "response", "status": "failed", "model": "gpt-x", "output": [],
            "error": error, "usage": None}  # fmt: skip
    return Response(200, json.dumps(body).encode())


@pytest.mark.parametrize(
    ("error", "cls", "kind", "words"),
    [({"code": "server_error", "message": "The model crashed."}, ServerError, "server_error", "The model crashed."),
     ({"code": "rate_limit_exceeded", "message": "Slow down."}, RateLimitError, "rate_limited", "Slow down."),
     ({"code": "insufficient_quota", "message": "No credit."}, QuotaExceededError, "rate_limited", "No credit."),
     ({"type": "authentication_error", "message": "Key revoked."}, AuthenticationError, "auth", "Key revoked.")],
)  # fmt: skip
def test_a_failed_answer_is_classified_as_a_failed_stream_is(
    srv: FakeServer, store: ProviderStore, error: dict[str, str], cls: type[ProviderError], kind: str, words: str
) -> None:
    """A 200 whose response failed: the same error (and verdict) as the stream's ``response.failed``,
    not a generic "unexpected answer"; the server's words are kept and the key is not in them."""
    srv.canned = failed(error)
    with pytest.raises(cls) as info:
        chat("Hi", provider="R", store=store)
    assert info.value.kind == kind and words in str(info.value) and KEY not in str(info.value)
    assert type(info.value) is cls
    if kind == "auth":
        assert "check the key" in str(info.value)  # a key was sent: the message does not say none was
    v = store.verify("R")
    assert (v.ok, v.kind, v.model) == (False, kind, "gpt-x") and words in v.message, v
    assert KEY not in v.message


def test_a_failed_answer_without_an_error_is_a_server_error(srv: FakeServer, store: ProviderStore) -> None:
    srv.canned = failed(None)
    with pytest.raises(ServerError, match="the response failed"):
        chat("Hi", provider="R", store=store)


def test_a_listed_model_that_is_refused_is_not_called_missing(srv: FakeServer, store: ProviderStore) -> None:
    """A proxy lists a model whose route behind it is gone (tests/litellm: ``hosted_vllm/`` in front of
    llama.cpp): the chat answers 404 for it. The verdict must not say "not found; the server offers: gpt-x"."""
    proto = srv._proto
    checked = proto.check
    refuse = lambda req, route: proto.error("not_found", req, route) if route.kind == "chat" else checked(req, route)  # noqa: E731
    proto.check = refuse  # type: ignore[method-assign]
    v = store.verify("R")
    assert (v.ok, v.kind, v.status) == (False, "model_not_found", 404), v
    assert v.message.startswith("the server lists 'gpt-x' but could not serve it - model 'gpt-x' not found (404: ")
    assert "the server offers" not in v.message
    v = store.verify("R", model="gpt-9")  # one it does not list: the list is the help
    assert v.message == "model 'gpt-9' not found; the server offers: gpt-x"
