"""The Responses API adapter: the requests it builds, every answer and stream event it parses, the errors it
classifies; then the same requests against the loopback fake (tests/fakes/responses.py), whose bytes are
also fed back split at every offset."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from jupyter_providers._sse import SSEEvent
from jupyter_providers._types import Message, Usage
from jupyter_providers.adapters import openai, responses
from jupyter_providers.adapters._base import ChatParams, Delta, ProtocolError, StreamErrorEvent, as_delta
from jupyter_providers.adapters.responses import SPEC

from .. import adapter_io as io
from ..fakes import FakeServer

A = SPEC.adapter
KEY = "sk-test-responses-8c21d4"
HISTORY: list[Message] = [
    {"role": "user", "content": "Hi."},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Name a colour."},
]
#: HISTORY as sent: each turn an explicit ``message`` item (llama-server refuses an assistant turn without it)
SENT = [{"type": "message", **m} for m in HISTORY]
OFFICIAL = io.endpoint(SPEC, "")
LOCAL = io.endpoint(SPEC, "http://localhost:8000/", {"x-team": "ml"})


def params(**kw: Any) -> ChatParams:
    return ChatParams(**{"model": "gpt-5-mini", "messages": HISTORY, **kw})


def ev(typ: str, name: str | None = None, **data: Any) -> SSEEvent:
    return SSEEvent(name or typ, json.dumps({"type": typ, **data, "sequence_number": 1}))


def done(status: str = "completed", **response: Any) -> SSEEvent:
    body = {"object": "response", "status": status, "output": [], **response}
    return ev(f"response.{status}", response=body)


def feed_all(events: list[SSEEvent]) -> list[Delta]:
    parser = A.stream_parser()
    out = [as_delta(d) for e in events if (d := parser.feed(e)) is not None]
    assert parser.complete
    return out


# -- the type -----------------------------------------------------------------------------------------------
def test_spec_is_openais_service_with_its_key() -> None:
    assert (SPEC.name, SPEC.aliases) == ("openai-responses", ("responses", "openai-response"))
    assert (SPEC.default_address, SPEC.version_segment) == ("https://api.openai.com", "/v1")
    assert SPEC.official_hosts == ("api.openai.com", ".api.openai.com") and SPEC.key_env_vars == ("OPENAI_API_KEY",)
    assert isinstance(A, responses.ResponsesAdapter) and isinstance(A, openai.OpenAIAdapter)


# -- building requests --------------------------------------------------------------------------------------
def test_request_body() -> None:
    p = params(system="Be brief.", temperature=0.5, max_tokens=64)
    req = A.chat_request(OFFICIAL, KEY, p, False)
    assert (req.method, req.url) == ("POST", "https://api.openai.com/v1/responses")
    assert req.headers["authorization"] == f"Bearer {KEY}" and req.headers["content-type"] == "application/json"
    assert req.json == {
        "model": "gpt-5-mini",
        "input": SENT,
        "store": False,  # the conversation is kept here; the service keeps no copy
        "instructions": "Be brief.",
        "temperature": 0.5,
        "max_output_tokens": 64,
    }


def test_system_messages_become_instructions_and_stop_is_not_sent() -> None:
    msgs: list[Message] = [{"role": "system", "content": "Answer in French."}, *HISTORY]
    req = A.chat_request(LOCAL, "", params(messages=msgs, system="Be brief.", stop=["\n"]), False)
    assert req.url == "http://localhost:8000/v1/responses" and req.json is not None
    assert req.json["instructions"] == "Be brief.\n\nAnswer in French." and req.json["input"] == SENT
    assert "stop" not in req.json and "temperature" not in req.json and "max_output_tokens" not in req.json
    assert "authorization" not in req.headers and req.headers["x-team"] == "ml"


@pytest.mark.parametrize(
    ("address", "sent"), [("", 16), ("https://api.openai.com/v1", 16), ("https://eu.api.openai.com", 16),
                          ("http://localhost:8000/", 1), ("https://api.openai.com.evil.example", 1)],
)  # fmt: skip
def test_openai_itself_takes_at_least_16_output_tokens(address: str, sent: int) -> None:
    req = A.chat_request(io.endpoint(SPEC, address), "", params(max_tokens=1), False)
    assert req.json is not None and req.json["max_output_tokens"] == sent


def test_stream_request() -> None:
    req = A.chat_request(LOCAL, "", params(), True)
    assert req.json is not None and req.json["stream"] is True and "stream_options" not in req.json
    assert req.headers["accept"] == "text/event-stream"


def test_models_are_openais() -> None:
    req = A.models_request(OFFICIAL, KEY, None)
    assert (req.method, req.url, req.headers["authorization"]) == ("GET", "https://api.openai.com/v1/models",
                                                                   f"Bearer {KEY}")  # fmt: skip
    assert A.parse_models({"object": "list", "data": [{"id": "gpt-5"}, {"id": "o3"}]}) == (["gpt-5", "o3"], None)


# -- parsing answers ----------------------------------------------------------------------------------------
MESSAGE = {"type": "message", "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": "Blue", "annotations": []},
                       {"type": "output_text", "text": ".", "annotations": []}]}  # fmt: skip
USAGE = {"input_tokens": 21, "output_tokens": 2, "total_tokens": 23, "output_tokens_details": {"reasoning_tokens": 0}}


def test_parse_completed_response() -> None:
    data = {"id": "resp_1", "object": "response", "status": "completed", "model": "gpt-5-mini-2025-08-07",
            "output": [MESSAGE], "usage": USAGE, "error": None, "incomplete_details": None}  # fmt: skip
    c = A.parse_completion(data)
    assert (c.text, c.reasoning, c.finish_reason, c.usage, c.model) == (
        "Blue.", "", "stop", Usage(21, 2), "gpt-5-mini-2025-08-07")  # fmt: skip


def test_parse_reasoning_items_content_or_summary() -> None:
    vllm = {"type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "Hmm."}]}
    oai = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Thought about it."}]}
    for item, reasoning in ((vllm, "Hmm."), (oai, "Thought about it.")):
        c = A.parse_completion({"object": "response", "status": "completed", "output": [item, MESSAGE]})
        assert (c.text, c.reasoning, c.usage) == ("Blue.", reasoning, Usage())


@pytest.mark.parametrize(
    ("details", "finish"),
    [({"reason": "max_output_tokens"}, "length"), ({"reason": "content_filter"}, "content_filter"),
     ({"reason": "something_new"}, "something_new"), (None, "incomplete")],
)  # fmt: skip
def test_incomplete_finish_reasons(details: Any, finish: str) -> None:
    data = {"object": "response", "status": "incomplete", "incomplete_details": details, "output": [MESSAGE]}
    assert A.parse_completion(data).finish_reason == finish


def test_refusal_is_text_and_unknown_items_are_skipped() -> None:
    refusal = {"type": "message", "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    call = {"type": "function_call", "name": "f", "arguments": "{}"}
    c = A.parse_completion({"object": "response", "status": "completed", "output": [call, refusal, "junk"]})
    assert c.text == "I can't help with that."


@pytest.mark.parametrize(
    "data",
    [{"error": {"message": "boom", "type": "server_error"}}, {"object": "response", "status": "completed"},
     {"object": "response", "output": {"type": "message"}}, [MESSAGE], "response"],
)  # fmt: skip
def test_parse_rejects_non_responses(data: Any) -> None:
    with pytest.raises(ProtocolError):
        A.parse_completion(data)


@pytest.mark.parametrize(
    ("error", "kind", "message", "quota"),
    [({"code": "server_error", "message": "The model crashed."}, "server_error", "The model crashed.", False),
     ({"code": "rate_limit_exceeded", "message": "Slow down."}, "rate_limited", "Slow down.", False),
     ({"code": "insufficient_quota", "message": "No credit."}, "rate_limited", "No credit.", True),
     ({"type": "authentication_error", "message": "Bad key."}, "auth", "Bad key.", False),
     (None, "server_error", "the response failed (the server gave no reason)", False)],
)  # fmt: skip
def test_a_failed_response_is_the_error_of_its_kind(error: Any, kind: str, message: str, quota: bool) -> None:
    """Not streamed, a failed response is classified as the stream's ``response.failed`` is."""
    data = {"object": "response", "status": "failed", "output": [], "error": error}
    with pytest.raises(StreamErrorEvent) as info:
        A.parse_completion(data)
    assert (info.value.info.kind, info.value.info.message, info.value.info.quota) == (kind, message, quota)
    with pytest.raises(StreamErrorEvent) as streamed:
        feed_all([ev("response.failed", response={**data, "output": None})])
    assert streamed.value.info == info.value.info


@pytest.mark.parametrize(
    "output",
    [[{"type": "message", "content": "Blue."}], [{"type": "message", "content": [{"type": "output_text", "text": 5}]}],
     [{"type": "reasoning", "summary": {"text": "x"}}]],
)  # fmt: skip
def test_odd_parts_give_no_text_and_no_crash(output: Any) -> None:
    c = A.parse_completion({"object": "response", "status": "completed", "output": output, "usage": "lots"})
    assert (c.text, c.reasoning, c.usage) == ("", "", Usage())


# -- parsing streams ----------------------------------------------------------------------------------------
def test_stream_text_usage_and_end() -> None:
    events = [
        ev("response.created", response={"object": "response", "status": "in_progress", "output": []}),
        ev("response.in_progress", response={"object": "response", "status": "in_progress", "output": []}),
        ev("response.output_item.added", output_index=0, item={"type": "message", "content": []}),
        ev("response.content_part.added", item_id="m", output_index=0, content_index=0, part={"type": "output_text"}),
        ev("response.output_text.delta", item_id="m", output_index=0, content_index=0, delta="Bl", logprobs=[]),
        ev("response.output_text.delta", item_id="m", output_index=0, content_index=0, delta="ue.", logprobs=[]),
        ev("response.output_text.done", item_id="m", output_index=0, content_index=0, text="Blue."),
        ev("response.some_event_added_later", whatever=[1, 2]),
        done(output=[MESSAGE], usage=USAGE),
    ]
    deltas = feed_all(events)
    assert "".join(d.text for d in deltas) == "Blue."  # not twice: the final response's text is not added again
    assert [(d.finish_reason, d.usage) for d in deltas if d.finish_reason] == [("stop", Usage(21, 2))]


def test_a_text_delta_is_a_plain_str() -> None:
    assert A.stream_parser().feed(ev("response.output_text.delta", delta="Hi")) == "Hi"


def test_events_without_names_go_by_their_type() -> None:
    """LiteLLM's proxy sends no ``event:`` lines (tests/litellm): the SSE decoder names every event "message"."""
    events = [
        ev("response.created", "message", response={}),
        ev("response.output_text.delta", "message", delta="Hi"),
        ev("response.completed", "message", response={"status": "completed", "output": [], "usage": USAGE}),
    ]
    deltas = feed_all(events)
    assert [(d.text, d.finish_reason, d.usage) for d in deltas] == [("Hi", None, None), ("", "stop", Usage(21, 2))]


@pytest.mark.parametrize("typ", ["response.reasoning_text.delta", "response.reasoning_summary_text.delta"])
def test_stream_reasoning(typ: str) -> None:
    deltas = feed_all([ev(typ, delta="Hmm, "), ev(typ, delta="blue."), ev("response.output_text.delta", delta="Blue."),
                       done(usage=USAGE)])  # fmt: skip
    assert ("".join(d.reasoning for d in deltas), "".join(d.text for d in deltas)) == ("Hmm, blue.", "Blue.")


def test_stream_incomplete_is_the_end_with_length() -> None:
    end = done("incomplete", incomplete_details={"reason": "max_output_tokens"}, usage=USAGE)
    deltas = feed_all([ev("response.output_text.delta", delta="Blue"), end])
    assert deltas[-1].finish_reason == "length" and deltas[-1].usage == Usage(21, 2)


def test_a_stream_without_deltas_takes_the_final_responses_text() -> None:
    deltas = feed_all([done(output=[MESSAGE], usage=USAGE)])
    assert deltas == [Delta("Blue.", "", "stop", Usage(21, 2))]


def test_stream_is_incomplete_until_completed() -> None:
    parser = A.stream_parser()
    for e in (ev("response.created", response={}), ev("response.output_text.delta", delta="x"),
              ev("response.output_text.done", text="x"), ev("response.output_item.done", item={})):  # fmt: skip
        parser.feed(e)
    assert not parser.complete
    parser.feed(done())
    assert parser.complete


NESTED = {"type": "error", "error": {"type": "insufficient_quota", "code": "insufficient_quota",
                                     "message": "You exceeded your current quota.", "param": None}}  # fmt: skip


@pytest.mark.parametrize(
    ("event", "kind", "message", "quota"),
    [
        (ev("error", code="server_error", message="The server had an error", param=None),  # documented, flat
         "server_error", "The server had an error", False),
        (SSEEvent("error", json.dumps(NESTED)), "rate_limited", "You exceeded your current quota.", True),  # live
        (ev("error", error={"type": "too_many_requests", "code": "too_many_requests", "message": "Too Many Requests"}),
         "rate_limited", "Too Many Requests", False),
        (ev("response.failed", response={"status": "failed", "error": {"code": "rate_limit_exceeded",
                                                                        "message": "Slow down"}}),
         "rate_limited", "Slow down", False),
        (ev("response.failed", response={"status": "failed", "error": {"code": "server_error", "message": "Boom"}}),
         "server_error", "Boom", False),
        (SSEEvent("message", '{"error": {"message": "overloaded", "type": "server_error"}}'),  # chat-style
         "server_error", "overloaded", False),
        # llama.cpp's non-standard ``error:`` field, which the SSE decoder names "error"
        (SSEEvent("error", '{"code": 500, "message": "llama_decode failed", "type": "server_error"}'),
         "server_error", "llama_decode failed", False),
    ],
)  # fmt: skip
def test_stream_error_events(event: SSEEvent, kind: str, message: str, quota: bool) -> None:
    parser = A.stream_parser()
    with pytest.raises(StreamErrorEvent) as info:
        parser.feed(event)
    assert (info.value.info.kind, info.value.info.message, info.value.info.quota) == (kind, message, quota)
    assert not parser.complete


@pytest.mark.parametrize(
    "data",
    ['{"type": "response.output_text.delta"', "[1, 2]", '{"type": "response.output_text.delta", "delta": 5}',
     '{"type": "response.reasoning_text.delta", "delta": ["a"]}', '{"type": "response.output_text.delta"}',
     '{"type": "response.completed", "response": "done"}', '{"type": "response.completed"}',
     '{"type": "response.completed", "response": {"status": "completed", "output": {}}}'],
)  # fmt: skip
def test_stream_garbage_is_a_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError):
        A.stream_parser().feed(SSEEvent("message", data))


# -- classifying errors -------------------------------------------------------------------------------------
def oai_error(message: str, type_: str, code: str | None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


IRE = "invalid_request_error"


@pytest.mark.parametrize(
    ("status", "body", "kind", "quota"),
    [
        (401, oai_error("Incorrect API key provided: sk-...", IRE, "invalid_api_key"), "auth", False),
        (401, {"error": "Unauthorized"}, "auth", False),  # vLLM --api-key
        (404, {"detail": "Not Found"}, "bad_url", False),  # a server without /v1/responses (llama.cpp)
        (404, oai_error("The requested model 'gpt-9' does not exist.", IRE, "model_not_found", "model"),
         "model_not_found", False),
        (400, oai_error("The requested model 'gpt-9' does not exist.", IRE, "model_not_found", "model"),
         "model_not_found", False),  # what OpenAI answered before it moved to 404
        (400, oai_error("/responses: Invalid model name passed in model=gpt-9.", IRE, "400"), "model_not_found",
         False),  # LiteLLM's proxy
        (429, oai_error("You exceeded your current quota", "insufficient_quota", "insufficient_quota"),
         "rate_limited", True),
        (400, oai_error("Unknown parameter: 'stop'.", IRE, "unknown_parameter", "stop"), "bad_response", False),
        (500, oai_error("The server had an error", "server_error", None), "server_error", False),
    ],
)  # fmt: skip
def test_classify_error(status: int, body: Any, kind: str, quota: bool) -> None:
    info = A.classify_error(status, body, json.dumps(body), {"retry-after": "3"})
    assert (info.kind, info.quota, info.retry_after) == (kind, quota, 3.0)
    assert info.message and "{" not in info.message


# -- against the loopback fake ------------------------------------------------------------------------------
@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("openai-responses", api_key=KEY, models=["gpt-x"], reply="Blue is a colour.") as s:
        yield s


def test_fake_round_trip(srv: FakeServer) -> None:
    e = io.endpoint(SPEC, srv.base_url)
    c = io.complete(SPEC, e, KEY, params(model="gpt-x", system="Be brief.", max_tokens=40))
    assert (c.text, c.finish_reason, c.usage) == ("Blue is a colour.", "stop", Usage(11, 4))
    r = srv.requests[-1]
    assert (r.method, r.path, r.headers["authorization"]) == ("POST", "/v1/responses", f"Bearer {KEY}")
    assert r.body == {"model": "gpt-x", "input": SENT, "store": False, "instructions": "Be brief.",
                      "max_output_tokens": 40}  # fmt: skip
    s = io.stream(SPEC, e, KEY, params(model="gpt-x", max_tokens=2))
    assert (s.text, s.finish_reasons, s.complete) == ("Blue is", ["length"], True)
    assert s.usages == [Usage(9, 2)]
    assert io.models(SPEC, e, KEY) == ["gpt-x"]


def test_fake_reasoning_and_every_byte_split(srv: FakeServer) -> None:
    srv.reasoning = "The sky is blue, so blue."
    s = io.stream(SPEC, io.endpoint(SPEC, srv.base_url), KEY, params(model="gpt-x"))
    assert (s.reasoning, s.text, s.finish_reasons) == (srv.reasoning, "Blue is a colour.", ["stop"])
    raw = s.raw.replace(b"\n", b"\r\n")  # CRLF lines too: a split may fall between CR and LF
    for size in (1, 2, 3, 7, 64):
        again = io.parse_stream(SPEC, io.chunks(raw, size))
        assert (again.reasoning, again.text, again.finish_reasons, again.complete) == (
            srv.reasoning, s.text, ["stop"], True)  # fmt: skip
    for cut in range(1, len(raw), 37):
        again = io.parse_stream(SPEC, iter([raw[:cut], raw[cut:]]))
        assert (again.text, again.complete) == (s.text, True)


@pytest.mark.parametrize(("style", "kind"), [("error", "server_error"), ("failed", "server_error")])
def test_fake_midstream_errors(srv: FakeServer, style: str, kind: str) -> None:
    srv.fault = "midstream_error"
    srv._proto.midstream = style  # type: ignore[attr-defined]
    with pytest.raises(StreamErrorEvent) as info:
        io.stream(SPEC, io.endpoint(SPEC, srv.base_url), KEY, params(model="gpt-x"))
    assert info.value.info.kind == kind and "The server had an error" in info.value.info.message


def test_fake_cut_stream_is_not_complete(srv: FakeServer) -> None:
    srv.fault = "cut_stream"
    with pytest.raises((ProtocolError, httpx.HTTPError)):  # cut inside an event's JSON, the body unfinished
        io.stream(SPEC, io.endpoint(SPEC, srv.base_url), KEY, params(model="gpt-x"))


@pytest.mark.parametrize(
    ("key", "model", "status", "kind"),
    [("sk-wrong", "gpt-x", 401, "auth"), (KEY, "gpt-9", 404, "model_not_found")],
)
def test_fake_errors(srv: FakeServer, key: str, model: str, status: int, kind: str) -> None:
    for stream in (False, True):
        with pytest.raises(io.HTTPFailure) as info:
            (io.stream if stream else io.complete)(SPEC, io.endpoint(SPEC, srv.base_url), key, params(model=model))
        assert (info.value.status, info.value.info.kind) == (status, kind)
        assert "sk-wrong" not in str(info.value)  # the fake masks a wrong key as OpenAI does
