"""The Ollama adapter: requests it builds, answers and NDJSON lines it parses, errors it classifies;
then the same requests against the loopback Ollama fake, its stream decoded in odd splits."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_providers._ndjson import NDJSONDecoder, NDJSONLine
from jupyter_providers._types import Message, Usage
from jupyter_providers.adapters._base import ChatParams, Delta, ProtocolError, StreamErrorEvent, as_delta
from jupyter_providers.adapters._spec import Endpoint
from jupyter_providers.adapters.ollama import SPEC, OllamaAdapter, context_length, resolve_ollama

from ..fakes import FakeServer

A = SPEC.adapter
assert isinstance(A, OllamaAdapter)
LOCAL = Endpoint("ollama", "http://localhost:11434", "http://localhost:11434")
CLOUD = Endpoint("ollama", "https://ollama.com", "https://ollama.com", headers={"x-team": "a"})
HISTORY: list[Message] = [
    {"role": "user", "content": "Hi."},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Name a colour."},
]


def params(**kw: Any) -> ChatParams:
    return ChatParams(**{"model": "llama3.2", "messages": HISTORY, **kw})


def line(**kw: Any) -> NDJSONLine:
    return NDJSONLine(json.dumps({"model": "llama3.2", "created_at": "2025-01-01T00:00:00Z", **kw}))


def chunk(content: str = "", thinking: str | None = None) -> NDJSONLine:
    message = {"role": "assistant", "content": content, **({"thinking": thinking} if thinking else {})}
    return line(message=message, done=False)


DONE = line(message={"role": "assistant", "content": ""}, done=True, done_reason="stop",
            total_duration=1, prompt_eval_count=26, eval_count=3)  # fmt: skip


def feed_all(lines: list[NDJSONLine]) -> list[Delta]:
    parser = A.stream_parser()
    out = [as_delta(d) for ln in lines if (d := parser.feed(ln)) is not None]
    assert parser.complete
    return out


# -- the type's facts ---------------------------------------------------------------------------------
def test_spec() -> None:
    assert (SPEC.name, SPEC.label, SPEC.default_address, SPEC.version_segment) == (
        "ollama", "Ollama", "http://localhost:11434", "")  # fmt: skip
    assert not SPEC.needs_key and SPEC.stream_format == "ndjson" and SPEC.official_hosts == ("ollama.com",)


@pytest.mark.parametrize(
    ("address", "base"),
    [("", "http://localhost:11434"), ("http://gpu-box:11434/", "http://gpu-box:11434"),
     ("https://ollama.com/api", "https://ollama.com"), ("http://localhost:11434/v1/", "http://localhost:11434"),
     ("https://proxy.example/ollama", "https://proxy.example/ollama"),
     ("https://proxy.example/api#", "https://proxy.example/api")],
)  # fmt: skip
def test_resolve(address: str, base: str) -> None:
    assert resolve_ollama(address) == base


# -- building requests --------------------------------------------------------------------------------
def test_chat_request_puts_the_sampling_settings_in_options() -> None:
    req = A.chat_request(LOCAL, "", params(system="Be brief.", temperature=0.5, max_tokens=64, stop=["\n"]), False)
    assert (req.method, req.url) == ("POST", "http://localhost:11434/api/chat")
    assert "authorization" not in req.headers and req.headers["accept"] == "application/json"
    assert req.json == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "Be brief."}, *HISTORY],
        "stream": False,  # always sent: Ollama streams when it is missing
        "options": {"temperature": 0.5, "num_predict": 64, "stop": ["\n"]},
    }


def test_stream_request_and_no_options() -> None:
    msgs: list[Message] = [{"role": "system", "content": "Answer in French."}, *HISTORY]
    req = A.chat_request(LOCAL, "", params(messages=msgs, system="Be brief."), True)
    assert req.json is not None and req.json["stream"] is True and "options" not in req.json
    assert req.json["messages"][0] == {"role": "system", "content": "Be brief.\n\nAnswer in French."}
    assert req.headers["accept"] == "application/x-ndjson"


def test_a_key_is_a_bearer_token_and_custom_headers_are_kept() -> None:
    req = A.chat_request(CLOUD, "ok-key-123", params(), True)
    assert req.url == "https://ollama.com/api/chat" and req.headers["authorization"] == "Bearer ok-key-123"
    assert req.headers["x-team"] == "a" and "ok-key-123" not in repr(req)
    for r in (A.models_request(CLOUD, "ok-key-123", None), A.show_request(CLOUD, "ok-key-123", "gpt-oss:120b")):
        assert r.headers["authorization"] == "Bearer ok-key-123"


def test_models_and_show_requests() -> None:
    req = A.models_request(LOCAL, "", None)
    assert (req.method, req.url, req.json) == ("GET", "http://localhost:11434/api/tags", None)
    req = A.show_request(LOCAL, "", "llama3.2:latest")
    assert (req.method, req.url, req.json) == ("POST", "http://localhost:11434/api/show", {"model": "llama3.2:latest"})


# -- parsing answers ----------------------------------------------------------------------------------
def test_parse_models() -> None:
    details = {"format": "gguf", "family": "llama"}
    data = {"models": [{"name": "deepseek-r1:latest", "model": "deepseek-r1:latest", "size": 1, "details": details},
                       {"model": "llama3.2:latest"}, {"name": ""}, "junk", {"name": 5}]}  # fmt: skip
    assert A.parse_models(data) == (["deepseek-r1:latest", "llama3.2:latest"], None)
    assert A.parse_models({"models": None}) == ([], None) == A.parse_models({"models": []})
    for bad in ({"data": []}, {"models": {}}, [], "x"):
        with pytest.raises(ProtocolError):
            A.parse_models(bad)


def test_context_length_from_show() -> None:
    info = {"general.architecture": "llama", "llama.context_length": 8192, "llama.block_count": 32}
    assert A.parse_show({"model_info": info, "details": {}}) == 8192
    assert context_length({"qwen2.context_length": 32768}) == 32768  # no architecture named: the first
    assert context_length({"general.architecture": "x", "x.context_length": 10**20, "y.context_length": 4096}) == 4096
    for bad in (None, [], {"llama.context_length": "8192"}, {"a.context_length": True}, {"a.context_length": 0}):
        assert context_length(bad) is None
    assert A.parse_show({}) is None
    with pytest.raises(ProtocolError):
        A.parse_show([1])


def test_parse_completion() -> None:
    data = json.loads(DONE.data) | {"message": {"role": "assistant", "content": "Blue.", "thinking": "Hmm."}}
    c = A.parse_completion(data)
    assert (c.text, c.reasoning, c.finish_reason, c.model) == ("Blue.", "Hmm.", "stop", "llama3.2")
    assert c.usage == Usage(26, 3)
    c = A.parse_completion({"message": {"role": "assistant", "content": None}, "done": True})  # no metrics
    assert (c.text, c.finish_reason, c.usage, c.model) == ("", None, Usage(), None)


@pytest.mark.parametrize(
    "data",
    [{"error": "model 'x' not found"}, {"done": True}, {"message": "Blue."}, {"message": {"content": 5}},
     {"message": {"content": "a"}, "done_reason": 1}, {"message": {"content": "a"}, "done": False}, [1], "x"],
)  # fmt: skip
def test_parse_completion_rejects_non_replies(data: Any) -> None:
    with pytest.raises(ProtocolError):
        A.parse_completion(data)


def test_stream_text_thinking_and_the_last_line() -> None:
    deltas = feed_all([chunk(thinking="Hmm, "), chunk(thinking="blue."), chunk("Bl"), chunk(""), chunk("ue."), DONE])
    assert "".join(d.reasoning for d in deltas) == "Hmm, blue." and "".join(d.text for d in deltas) == "Blue."
    assert [(d.finish_reason, d.usage) for d in deltas if d.finish_reason] == [("stop", Usage(26, 3))]


def test_plain_text_lines_build_no_delta() -> None:
    parser = A.stream_parser()
    assert parser.feed(chunk("Blue")) == "Blue" and parser.feed(chunk("")) is None
    assert parser.feed(line(message=None, done=False)) is None and parser.feed(line(done=False)) is None


def test_stream_is_incomplete_until_done_true() -> None:
    parser = A.stream_parser()
    parser.feed(line(message={"role": "assistant", "content": "x"}, done_reason="stop", done=False))
    assert not parser.complete
    last = parser.feed(line(message={"role": "assistant", "content": "!"}, done=True, done_reason="length"))
    assert parser.complete and last == Delta("!", "", "length", Usage())
    assert parser.feed(chunk("late")) is None  # nothing after the last line counts


def test_error_line_mid_stream() -> None:
    parser = A.stream_parser()
    parser.feed(chunk("Bl"))
    with pytest.raises(StreamErrorEvent) as info:
        parser.feed(NDJSONLine('{"error":"an error was encountered while running the model"}'))
    assert (info.value.info.kind, info.value.info.message) == (
        "server_error", "an error was encountered while running the model")  # fmt: skip
    assert not parser.complete


@pytest.mark.parametrize(
    "data",
    ["[1]", "not json", '"text"', '{"message":"x","done":false}', '{"message":{"content":1}}',
     '{"message":{"content":"a","thinking":[1]}}', '{"done":"yes"}', '{"done":true,"done_reason":7}'],
)  # fmt: skip
def test_stream_lines_of_the_wrong_shape_are_protocol_errors(data: str) -> None:
    with pytest.raises(ProtocolError):
        A.stream_parser().feed(NDJSONLine(data))


JSONS = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["message", "content", "thinking", "done", "done_reason", "eval_count", "error"]), inner,
        max_size=4),
    max_leaves=8,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(JSONS, max_size=6), st.binary(max_size=40))
def test_any_lines_raise_only_package_errors(values: list[Any], garbage: bytes) -> None:
    """Wrong shapes anywhere in a line, and garbage after them: a ProtocolError or a stream error, never a crash."""
    dec, parser = NDJSONDecoder(), A.stream_parser()
    raw = b"".join(json.dumps(v).encode() + b"\n" for v in values) + garbage
    try:
        for ln in dec.feed(raw) + dec.close():
            d = parser.feed(ln)
            assert d is None or isinstance(d, (str, Delta))
    except (ProtocolError, StreamErrorEvent):
        pass


# -- classifying errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [(404, {"error": "model 'llama9' not found"}, "model_not_found"),
     (404, {"error": 'model "llama9" not found, try pulling it first'}, "model_not_found"),
     (404, None, "bad_url"),  # gin's "404 page not found": no such path (not an Ollama, or a wrong prefix)
     (400, {"error": "invalid model name"}, "model_not_found"),
     (400, {"error": "model is required"}, "bad_response"),
     (401, {"error": "unauthorized", "signin_url": "https://ollama.com/connect"}, "auth"),
     (429, {"error": "rate limit exceeded"}, "rate_limited"),
     (500, {"error": "llama runner process has terminated: exit status 2"}, "server_error"),
     (503, {"error": "server busy, please try again.  maximum pending requests exceeded"}, "server_error")],
)  # fmt: skip
def test_classify_error(status: int, body: Any, kind: str) -> None:
    text = json.dumps(body) if body is not None else "404 page not found"
    info = A.classify_error(status, body, text, {"retry-after": "2"})
    assert info.kind == kind and not info.quota
    assert info.message == (body["error"] if body else "404 page not found")


def test_usage_limit_is_a_quota() -> None:
    info = A.classify_error(402, {"error": "you've reached your usage limit"}, "", {})
    assert (info.kind, info.quota) == ("rate_limited", True)


# -- against the fake, the stream in odd splits ---------------------------------------------------------
def stream_lines(raw: bytes, split: str) -> list[NDJSONLine]:
    cuts = {"whole": [raw], "bytes": [raw[i : i + 1] for i in range(len(raw))],
            "sevens": [raw[i : i + 7] for i in range(0, len(raw), 7)]}[split]  # fmt: skip
    dec = NDJSONDecoder(1 << 20)
    return [ln for c in cuts for ln in dec.feed(c)] + dec.close()


@pytest.mark.parametrize("split", ["whole", "bytes", "sevens"])
def test_against_the_fake(split: str) -> None:
    reply = "Grüße aus dem Tal 😀 — fin."
    with FakeServer("ollama", models=["llama3.2:latest"], reply=reply, reasoning="Erst denken.") as fake:
        e = Endpoint("ollama", fake.base_url)
        req = A.chat_request(e, "", params(system="Be brief."), True)
        resp = httpx.post(req.url, headers=req.headers, json=req.json, timeout=10)
        assert resp.headers["content-type"] == "application/x-ndjson"
        deltas = feed_all(stream_lines(resp.content, split))
        assert "".join(d.text for d in deltas) == reply and "".join(d.reasoning for d in deltas) == "Erst denken."
        assert fake.requests[-1].body == req.json
        req = A.chat_request(e, "", params(max_tokens=2), False)
        c = A.parse_completion(httpx.post(req.url, headers=req.headers, json=req.json, timeout=10).json())
        assert (c.text, c.finish_reason, c.usage.input_tokens) == ("Grüße aus", "length", 9)  # 9 words of input
        resp = httpx.get(A.models_request(e, "", None).url, timeout=10)
        assert A.parse_models(resp.json()) == (["llama3.2:latest"], None)
        show = A.show_request(e, "", "llama3.2")
        assert A.parse_show(httpx.post(show.url, json=show.json, timeout=10).json()) == 8192
