"""``chat(schema=S)`` through the client against each type's fake: the native form in the request body,
``reply.data`` for a whole reply and a stream, ``SchemaError`` with nothing lost, and the fallback to a form the
server takes (llama-cpp-python's server refuses ``json_schema``), remembered per provider."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from jupyter_providers import ProviderStore, SchemaError, chat
from jupyter_providers import client as client_module
from jupyter_providers.adapters import TYPES
from jupyter_providers.errors import BadResponseError, InvalidValueError

from .fakes import FakeServer

KEY = "sk-structured-0123456789"


@dataclasses.dataclass
class Review:
    sentiment: Literal["positive", "negative"]
    stars: int
    tags: list[str]


def _openai(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "Review"
    assert fmt["json_schema"]["strict"] is True
    return fmt["json_schema"]["schema"]


def _anthropic(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body["output_config"]["format"]
    assert fmt["type"] == "json_schema" and "tools" not in body
    return fmt["schema"]


def _responses(body: dict[str, Any]) -> dict[str, Any]:
    fmt = body["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["name"] == "Review" and fmt["strict"] is True
    return fmt["schema"]


def _gemini(body: dict[str, Any]) -> dict[str, Any]:
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json" and "responseSchema" not in config
    return config["responseJsonSchema"]


def _ollama(body: dict[str, Any]) -> dict[str, Any]:
    assert isinstance(body["format"], dict)
    return body["format"]


#: where each type's request carries the schema, in its native form (the check raises when it is not there)
NATIVE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "openai": _openai,
    "azure": _openai,
    "vllm": _openai,
    "anthropic": _anthropic,
    "openai-responses": _responses,
    "gemini": _gemini,
    "ollama": _ollama,
}


def test_every_type_has_a_native_form_checked_here() -> None:
    assert set(NATIVE) == {*TYPES, "vllm"}, "a new type: add where its request carries the schema to NATIVE"


@pytest.fixture(autouse=True)
def _forget_forms() -> Iterator[None]:
    client_module._schema_forms.clear()
    yield
    client_module._schema_forms.clear()


@pytest.fixture(params=sorted(NATIVE))
def served(request: pytest.FixtureRequest, store: ProviderStore) -> Iterator[tuple[FakeServer, ProviderStore]]:
    with FakeServer(request.param, api_key=KEY, models=["model-a"]) as srv:
        kind = "openai" if request.param == "vllm" else request.param
        store.add("P", type=kind, base_url=srv.base_url, api_key=KEY, models=["model-a"], **srv.facts.store_kwargs())
        yield srv, store


def _chat(store: ProviderStore, **kw: Any) -> Any:
    return chat("Review: great phone, 5 stars", provider="P", store=store, schema=Review, **kw)


def test_each_type_sends_its_native_form_and_the_reply_is_an_instance(served: tuple[FakeServer, ProviderStore]) -> None:
    srv, store = served
    reply = _chat(store)
    sent = NATIVE[srv.protocol](srv.requests[-1].body or {})
    assert sent["required"] == ["sentiment", "stars", "tags"] and sent["additionalProperties"] is False
    assert isinstance(reply.data, Review) and reply.data == Review("positive", 7, ["text"])
    assert reply.text == '{"sentiment": "positive", "stars": 7, "tags": ["text"]}'  # the raw text stays


def test_a_stream_streams_its_text_and_gives_the_data_at_the_end(served: tuple[FakeServer, ProviderStore]) -> None:
    srv, store = served
    reply = _chat(store, stream=True)
    pieces = list(reply)
    assert len(pieces) > 1 and "".join(pieces) == reply.text
    assert reply.data == Review("positive", 7, ["text"])
    NATIVE[srv.protocol](srv.requests[-1].body or {})
    unread = _chat(store, stream=True)
    assert unread.data == Review("positive", 7, ["text"]) and unread.done  # reading .data finishes the stream


@pytest.mark.parametrize("raw", ['{"sentiment": "meh", "stars": 3, "tags": []}', "I think it is positive."])
def test_a_reply_that_does_not_match_is_a_schema_error_and_nothing_is_lost(
    served: tuple[FakeServer, ProviderStore], raw: str
) -> None:
    srv, store = served
    srv.schema_reply = raw
    with pytest.raises(SchemaError) as err:
        _chat(store)
    e = err.value
    assert e.raw_text == raw and e.partial_text == raw and e.provider == "P" and e.validation
    assert isinstance(e, BadResponseError) and "\n" not in str(e) and str(e).startswith("P: the reply ")
    reply = _chat(store, stream=True)
    with pytest.raises(SchemaError) as err:
        for _ in reply:
            pass
    assert reply.error is err.value and reply.text == raw and err.value.raw_text == raw
    assert err.value.provider == "P"
    with pytest.raises(SchemaError):
        _ = reply.data  # the reply's own error again
    unread = _chat(store, stream=True)
    with pytest.raises(SchemaError):
        _ = unread.data
    assert unread.text == raw and unread.done


def test_a_schema_that_cannot_be_converted_is_refused_before_anything_is_sent(
    served: tuple[FakeServer, ProviderStore],
) -> None:
    srv, store = served
    with pytest.raises(InvalidValueError, match=r"^schema: "):
        chat("hi", provider="P", store=store, schema=set)
    assert srv.requests == []


def test_without_a_schema_the_request_has_no_schema_and_data_is_none(served: tuple[FakeServer, ProviderStore]) -> None:
    srv, store = served
    reply = chat("hi", provider="P", store=store)
    assert reply.data is None and srv.facts.asked_schema(srv.requests[-1].body or {}) is None


def test_a_server_that_refuses_json_schema_is_sent_json_object_from_then_on(store: ProviderStore) -> None:
    """llama-cpp-python's server: 500 "Input should be 'text' or 'json_object'" on ``json_schema`` - a refusal of
    the request, sent once (not retried as a server error), then the form it takes."""
    with FakeServer("openai", api_key=KEY, models=["model-a"]) as srv:
        srv.facts.takes_json_schema = False  # type: ignore[attr-defined]
        store.add("P", type="openai", base_url=srv.base_url, api_key=KEY, models=["model-a"])
        assert _chat(store).data == Review("positive", 7, ["text"])
        forms = [r.body["response_format"] for r in srv.requests if r.body]
        assert [f["type"] for f in forms] == ["json_schema", "json_object"]
        assert forms[1]["schema"]["required"] == ["sentiment", "stars", "tags"]
        assert _chat(store, stream=True).data == Review("positive", 7, ["text"])
        assert len(srv.requests) == 3 and srv.requests[-1].body["response_format"]["type"] == "json_object"
        srv.schema_reply = "{not json"  # a server that cannot constrain: an error, never a wrong value
        with pytest.raises(SchemaError, match="not JSON"):
            _chat(store)


def test_an_error_that_is_not_about_the_form_is_not_a_fallback(store: ProviderStore) -> None:
    with FakeServer("openai", api_key=KEY, models=["model-a"]) as srv:
        store.add("P", type="openai", base_url=srv.base_url, api_key="sk-wrong-key-000000", models=["model-a"])
        with pytest.raises(Exception, match="rejected the key"):
            _chat(store)
        assert len(srv.requests) == 1


def test_anthropic_falls_back_to_a_forced_tool_call_where_output_config_is_refused(store: ProviderStore) -> None:
    with FakeServer("anthropic", api_key=KEY, models=["model-a"]) as srv:
        srv.facts.takes_output_config = False  # type: ignore[attr-defined]
        store.add("P", type="anthropic", base_url=srv.base_url, api_key=KEY, models=["model-a"])
        assert _chat(store).data == Review("positive", 7, ["text"])
        first, second = (r.body or {} for r in srv.requests)
        assert "output_config" in first and "tools" not in first
        assert second["tool_choice"] == {"type": "tool", "name": "Review"} and "output_config" not in second
        assert second["tools"][0]["input_schema"]["required"] == ["sentiment", "stars", "tags"]
        reply = _chat(store, stream=True)
        assert len(list(reply)) > 1 and reply.data == Review("positive", 7, ["text"])
        assert len(srv.requests) == 3 and "tools" in (srv.requests[-1].body or {})  # remembered
        srv.schema_reply = '{"sentiment": "meh", "stars": 1, "tags": []}'
        with pytest.raises(SchemaError, match="sentiment"):
            _chat(store)


@pytest.mark.parametrize("ptype", ["openai-responses", "gemini"])
def test_responses_and_gemini_fall_back_to_json_without_the_schema_where_it_is_refused(
    store: ProviderStore, ptype: str
) -> None:
    """A server (or a proxy in front of one) that refuses the schema form gets the JSON mode without a schema
    next, and remembers it; what comes back is still validated, so a reply that is not the schema's JSON is a
    ``SchemaError``, never a value."""
    with FakeServer(ptype, api_key=KEY, models=["model-a"]) as srv:
        srv.facts.takes_json_schema = False  # type: ignore[attr-defined]
        store.add("P", type=ptype, base_url=srv.base_url, api_key=KEY, models=["model-a"])
        with pytest.raises(SchemaError, match="not JSON"):
            _chat(store)
        first, second = (r.body or {} for r in srv.requests)
        if ptype == "gemini":
            assert "responseJsonSchema" in first["generationConfig"]
            assert "responseJsonSchema" not in second["generationConfig"]
            assert second["generationConfig"]["responseMimeType"] == "application/json"
        else:
            assert (first["text"]["format"]["type"], second["text"]["format"]) == (
                "json_schema",
                {"type": "json_object"},
            )
        with pytest.raises(SchemaError):
            _chat(store)
        assert len(srv.requests) == 3  # the form that was taken is sent first from then on
