"""Property tests of the stream decoder (SSE, or NDJSON for a type whose streams are JSON lines) composed with
each registry type's stream parser, and of the client on top.

Streams recorded from the protocol-faithful fake servers (the bytes the client receives) must give the
same deltas however the bytes are split (one byte at a time, inside a UTF-8 character, inside a CRLF).
Anything else - random bytes, cut or corrupted recordings, recordings whose JSON has a value of the
wrong shape somewhere - may only raise the package's own errors: ``ProtocolError`` or
``StreamErrorEvent`` from the parsers, ``ProviderError`` through the client. Never a ``TypeError``
or ``AttributeError`` from a server's garbage, and never a delta whose text is not text.
(The decoder alone is covered by tests/test_sse.py.)
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_providers import Message, ProviderError, ProviderStore, Usage, chat
from jupyter_providers import client as client_module
from jupyter_providers._ndjson import NDJSONDecoder, NDJSONLine
from jupyter_providers._sse import SSEDecoder, SSEEvent
from jupyter_providers.adapters import TYPES, adapter_for
from jupyter_providers.adapters._base import ChatParams, Delta, ProtocolError, StreamErrorEvent, as_delta
from jupyter_providers.client import list_models

from .fakes import FakeServer
from .fakes.server import RecordedRequest, Route, protocol_class

PROTOCOLS = tuple(TYPES)
FACTS = {t: protocol_class(t) for t in PROTOCOLS}  # a type without a fake fails here, saying what to write
# multi-byte characters (2, 3 and 4 bytes), U+2028 (not a line break in SSE), markdown and a real newline
REPLY = "Héllo wörld — 中文 😀 line\u2028sep **bold**\nnext line, done."
REASONING = "First ü, then 🤔."
PACKAGE_ERRORS = (ProtocolError, StreamErrorEvent)


# -- recordings -------------------------------------------------------------------------------------------------
def _store() -> ProviderStore:
    store = ProviderStore(persist=False, admin_paths=[])
    for t in PROTOCOLS:
        store.add(t, type=t, base_url="http://127.0.0.1:9", api_key="", models=["model-a"], **FACTS[t].store_kwargs())
    return store


STORE = _store()


USER_HI: Message = {"role": "user", "content": "hi"}


def _record(protocol: str) -> bytes:
    """The bytes a fake server sends for one streamed reply, as the client reads them."""
    reasoning = REASONING if FACTS[protocol].sends_reasoning else None
    with FakeServer(protocol, models=["model-a"], reply=REPLY, reasoning=reasoning) as srv:
        p = dataclasses.replace(STORE[protocol], base_url=srv.base_url)
        req = adapter_for(protocol).chat_request(
            p.endpoint, "", ChatParams("model-a", [{"role": "user", "content": "hi"}]), True
        )
        with httpx.Client(timeout=10) as http:
            resp = http.send(http.build_request(req.method, req.url, headers=req.headers, json=req.json), stream=True)
            try:
                assert resp.status_code == 200 and resp.headers["content-type"] == FACTS[protocol].stream_content_type
                return b"".join(resp.iter_bytes())
            finally:
                resp.close()


RECORDED = {t: _record(t) for t in PROTOCOLS}


def decoder_for(protocol: str) -> SSEDecoder | NDJSONDecoder:
    return NDJSONDecoder() if TYPES[protocol].stream_format == "ndjson" else SSEDecoder()


def parse(protocol: str, chunks: list[bytes]) -> tuple[list[Delta], bool]:
    """Decoder + parser over ``chunks``, as the client runs them: the deltas and whether the end was seen."""
    decoder, parser = decoder_for(protocol), adapter_for(protocol).stream_parser()
    deltas: list[Delta] = []
    for chunk in [*chunks, None]:
        events = decoder.feed(chunk) if chunk is not None else decoder.close()
        for event in events:
            item = parser.feed(event)
            if item is not None:
                assert isinstance(item, Delta | str)
                d = as_delta(item)
                check_delta(d)
                deltas.append(d)
    return deltas, parser.complete


def check_delta(d: Delta) -> None:
    """What the rest of the package relies on: text is text, counts are ints."""
    assert isinstance(d, Delta)
    assert isinstance(d.text, str) and isinstance(d.reasoning, str)
    assert d.finish_reason is None or isinstance(d.finish_reason, str)
    assert d.usage is None or isinstance(d.usage, Usage)
    if d.usage is not None:
        assert all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in d.usage.__dict__.values())


def split(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def cuts_for(data: st.DataObject, stream: bytes) -> list[int]:
    """Cut points, often just inside a multi-byte character or between CR and LF."""
    tricky = [i for i, b in enumerate(stream) if 0x80 <= b < 0xC0 or (b == 10 and i and stream[i - 1] == 13)]
    anywhere = st.integers(0, len(stream))
    return data.draw(st.lists(st.one_of(anywhere, st.sampled_from(tricky)) if tricky else anywhere, max_size=20))


# -- valid recordings: the same deltas for every split -----------------------------------------------------------
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_recordings_parse_to_the_reply(protocol: str) -> None:
    deltas, complete = parse(protocol, [RECORDED[protocol]])
    facts = FACTS[protocol]
    assert complete or not facts.marks_stream_end  # Gemini's stream simply ends (its last chunk has a finishReason)
    assert "".join(d.text for d in deltas) == REPLY
    assert "".join(d.reasoning for d in deltas) == (REASONING if facts.sends_reasoning else "")
    assert [d.finish_reason for d in deltas if d.finish_reason] == [facts.stop_reason]
    thought = len(REASONING.split()) if facts.sends_reasoning and facts.output_counts_reasoning else 0
    assert any(d.usage is not None and d.usage.output_tokens == len(REPLY.split()) + thought for d in deltas)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_one_byte_at_a_time(protocol: str) -> None:
    stream = RECORDED[protocol]
    assert parse(protocol, [stream[i : i + 1] for i in range(len(stream))]) == parse(protocol, [stream])


@given(st.sampled_from(PROTOCOLS), st.data())
@settings(max_examples=400, deadline=None)
def test_any_split_gives_the_same_deltas(protocol: str, data: st.DataObject) -> None:
    stream = RECORDED[protocol]
    assert parse(protocol, split(stream, cuts_for(data, stream))) == parse(protocol, [stream])


# -- anything else: only the package's own errors -------------------------------------------------------------------
def parse_or_package_error(protocol: str, chunks: list[bytes]) -> list[Delta] | Exception:
    try:
        return parse(protocol, chunks)[0]
    except PACKAGE_ERRORS as exc:
        return exc


_TOKENS = st.sampled_from(
    [
        b"data: ", b"data:", b"event: ", b"error: ", b"id: 1", b"retry: 5", b": ping", b"\n", b"\r\n", b"\r", b"\n\n",
        b"[DONE]", b"{", b"}", b"[", b"]", b'"', b",", b":", b"null", b"0", b"-1", b"1e999", b'"\xc3"', b"\xff",
        b"\x00",
        b'"choices"', b'"delta"', b'"content"', b'"type"', b'"text"', b'"error"', b'"candidates"', b'"parts"',
        b'"usage"', b'"message"', b'"content_block_delta"', b'"text_delta"', b'"message_start"', b'"message_stop"',
        b'"finish_reason"', b'"finishReason"', b'"usageMetadata"', b"event: error\n", b"event: message_stop\n",
    ]
)  # fmt: skip


@given(
    st.sampled_from(PROTOCOLS),
    st.one_of(st.binary(max_size=400), st.lists(_TOKENS, max_size=80).map(b"".join)),
    st.data(),
)
@settings(max_examples=600, deadline=None)
def test_arbitrary_bytes_raise_only_package_errors(protocol: str, stream: bytes, data: st.DataObject) -> None:
    whole = parse_or_package_error(protocol, [stream])
    split_up = parse_or_package_error(protocol, split(stream, data.draw(st.lists(st.integers(0, len(stream))))))
    # garbage too gives the same deltas, or the same error at the same event, whatever the split
    assert type(split_up) is type(whole) and str(split_up) == str(whole)


JSON = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), st.text(max_size=8),
        st.sampled_from(["text_delta", "thinking_delta", "content_block_delta", "message_delta", "STOP", "stop"]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=10,
)  # fmt: skip


def _events(protocol: str) -> list[Any]:
    decoder = decoder_for(protocol)
    return [*decoder.feed(RECORDED[protocol]), *decoder.close()]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every position in a JSON document (the root too)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _set(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _set(value[head], rest, new)}
    copy = list(value)
    copy[head] = _set(value[head], rest, new)
    return copy


def _replace_somewhere(value: Any, data: st.DataObject) -> Any:
    """``value`` with one to three sub-values, each anywhere (every position equally likely), made arbitrary."""
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(list(_paths(value))))
        value = _set(value, path, data.draw(JSON))
    return value


def _serialize(events: list[Any]) -> bytes:
    if events and isinstance(events[0], NDJSONLine):
        return "".join(f"{e.data}\n" for e in events).encode()
    out = []
    for e in events:
        head = f"event: {e.event}\n" if e.event != "message" else ""
        out.append(f"{head}data: {e.data}\n\n")
    return "".join(out).encode()


@st.composite
def corrupted(draw: st.DrawFn, protocol: str) -> bytes:
    """A recording with one event's JSON changed somewhere deep inside (the shapes parsers trip on)."""
    events = _events(protocol)
    data = draw(st.data())
    i = draw(st.integers(0, len(events) - 1))
    try:
        doc = json.loads(events[i].data)
    except ValueError:  # [DONE]
        doc = None
    changed = _replace_somewhere(doc, data)
    events[i] = events[i]._replace(data=json.dumps(changed))
    if isinstance(events[i], SSEEvent) and draw(st.booleans()):  # and sometimes the event's name too
        events[i] = events[i]._replace(event=draw(st.sampled_from(["message", "error", "content_block_delta", "x"])))
    return _serialize(events)


@given(st.data())
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_wrong_shapes_inside_valid_streams_raise_only_package_errors(data: st.DataObject) -> None:
    protocol = data.draw(st.sampled_from(PROTOCOLS))
    assert isinstance(parse_or_package_error(protocol, [data.draw(corrupted(protocol))]), (list, *PACKAGE_ERRORS))


@given(st.sampled_from(PROTOCOLS), st.data())
@settings(max_examples=300, deadline=None)
def test_cut_or_garbled_recordings_raise_only_package_errors(protocol: str, data: st.DataObject) -> None:
    stream = bytearray(RECORDED[protocol])
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(stream)))
        action = data.draw(st.sampled_from(["cut", "drop", "insert", "flip"]))
        if action == "cut":
            del stream[at:]
        elif action == "drop":
            del stream[at : at + data.draw(st.integers(1, 40))]
        elif action == "insert":
            stream[at:at] = data.draw(st.one_of(st.binary(min_size=1, max_size=20), _TOKENS))
        elif at < len(stream):
            stream[at] ^= data.draw(st.integers(1, 255))
    assert isinstance(parse_or_package_error(protocol, [bytes(stream)]), (list, *PACKAGE_ERRORS))


# -- through the client: only ProviderError ----------------------------------------------------------------------
def _client(status: int, content_type: str, chunks: list[bytes]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": content_type}, content=iter(chunks))

    return httpx.Client(transport=httpx.MockTransport(answer))


def client_reply(protocol: str, http: httpx.Client, stream: bool) -> str | ProviderError:
    try:
        reply = chat("hi", provider=protocol, store=STORE, http=http, stream=stream)
        return reply.text if not stream else "".join(reply)
    except ProviderError as exc:
        return exc


@pytest.fixture(autouse=True, scope="module")
def no_retries() -> Iterator[None]:
    saved = client_module.settings.max_retries
    client_module.settings.max_retries = 0
    yield
    client_module.settings.max_retries = saved


@given(st.sampled_from(PROTOCOLS), st.data())
@settings(max_examples=150, deadline=None)
def test_client_gives_the_whole_reply_for_any_split(protocol: str, data: st.DataObject) -> None:
    stream = RECORDED[protocol]
    chunks = [c for c in split(stream, cuts_for(data, stream)) if c]
    assert client_reply(protocol, _client(200, FACTS[protocol].stream_content_type, chunks), stream=True) == REPLY


@given(st.data())
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_client_raises_only_provider_errors_for_bad_streams(data: st.DataObject) -> None:
    protocol = data.draw(st.sampled_from(PROTOCOLS))
    body = data.draw(
        st.one_of(corrupted(protocol), st.lists(_TOKENS, max_size=60).map(b"".join), st.binary(max_size=200))
    )
    chunks = [c for c in split(body, data.draw(st.lists(st.integers(0, len(body)), max_size=8))) if c]
    result = client_reply(protocol, _client(200, FACTS[protocol].stream_content_type, chunks), stream=True)
    assert isinstance(result, str | ProviderError)


def _completion(protocol: str) -> Any:
    """A whole (not streamed) answer of each protocol, from the fake."""
    with FakeServer(protocol, models=["model-a"], reply=REPLY) as srv:
        p = dataclasses.replace(STORE[protocol], base_url=srv.base_url)
        req = adapter_for(protocol).chat_request(
            p.endpoint, "", ChatParams("model-a", [{"role": "user", "content": "hi"}]), False
        )
        return httpx.post(req.url, headers=req.headers, json=req.json, timeout=10).json()


COMPLETIONS = {t: _completion(t) for t in PROTOCOLS}


@given(st.data())
@settings(max_examples=400, deadline=None)
def test_client_raises_only_provider_errors_for_bad_answers(data: st.DataObject) -> None:
    """Whole answers of the wrong shape."""
    protocol = data.draw(st.sampled_from(PROTOCOLS))
    raw = json.dumps(_replace_somewhere(COMPLETIONS[protocol], data)).encode()
    result = client_reply(protocol, _client(200, "application/json", [raw]), stream=False)
    assert isinstance(result, str | ProviderError)


ERROR_KINDS = ("auth", "no_key", "rate_limit", "quota", "server_error", "overloaded", "not_found")


def _fake_answers(protocol: str) -> tuple[list[Any], Any]:
    """Each error body the type's fake gives (every kind, and an arbitrary status), and its model list."""
    fake = FakeServer(protocol, api_key="sk-wrong-key-0123", models=["model-a"])  # never started: no socket
    req = RecordedRequest("POST", "/", {}, {"authorization": "Bearer sk-0123456789"}, {"model": "model-a"})
    chat_route = Route("chat", "model-a")
    errors = [json.loads(fake.facts.error(kind, req, chat_route).body) for kind in ERROR_KINDS]
    errors.append(json.loads(fake.facts.status_error(409, "m").body))
    return errors, json.loads(fake.facts.list_models(req, Route("models")).body)


FAKE_ANSWERS = {t: _fake_answers(t) for t in PROTOCOLS}


@given(st.data())
@settings(max_examples=500, deadline=None)
def test_error_answers_of_any_shape_raise_only_provider_errors(data: st.DataObject) -> None:
    protocol = data.draw(st.sampled_from(PROTOCOLS))
    status = data.draw(st.sampled_from([400, 401, 403, 404, 408, 409, 413, 429, 500, 502, 503, 504, 529]))
    raw = json.dumps(_replace_somewhere(data.draw(st.sampled_from(FAKE_ANSWERS[protocol][0])), data)).encode()
    result = client_reply(protocol, _client(status, "application/json", [raw]), stream=False)
    assert isinstance(result, ProviderError) and result.status == status
    assert str(result) and "\n" not in str(result)


@given(st.data())
@settings(max_examples=300, deadline=None)
def test_model_lists_of_the_wrong_shape_raise_only_provider_errors(data: st.DataObject) -> None:
    protocol = data.draw(st.sampled_from(PROTOCOLS))
    valid = FAKE_ANSWERS[protocol][1]
    raw = json.dumps(_replace_somewhere(valid, data)).encode()
    calls = [0]

    def once(request: httpx.Request) -> httpx.Response:  # a next page is never followed for ever
        calls[0] += 1
        return httpx.Response(200, headers={"content-type": "application/json"}, content=raw if calls[0] < 5 else b"{}")

    http = httpx.Client(transport=httpx.MockTransport(once))
    try:
        ids = list_models(STORE[protocol], http=http)
    except ProviderError:
        return
    assert all(isinstance(i, str) for i in ids)


# -- the Anthropic text-delta fast path ---------------------------------------------------------------------------
def _both(data: str, event: str = "content_block_delta") -> tuple[object, object]:
    """What ``feed`` (fast path first) and ``feed_json`` (the JSON decoder always) make of one event."""
    from jupyter_providers.adapters.anthropic import AnthropicStreamParser

    out: list[object] = []
    for feed in (AnthropicStreamParser().feed, AnthropicStreamParser().feed_json):
        try:
            item = feed(SSEEvent(event, data))
            out.append(None if item is None else as_delta(item))
        except PACKAGE_ERRORS as exc:
            out.append(type(exc))
    return out[0], out[1]


@given(text=st.text(), index=st.integers(0, 10**6), ascii_only=st.booleans())
def test_anthropic_fast_path_agrees_with_the_json_decoder(text: str, index: int, ascii_only: bool) -> None:
    event = {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
    data = json.dumps(event, separators=(",", ":"), ensure_ascii=ascii_only)
    fast, slow = _both(data)
    assert fast == slow == Delta(text)


_NEAR = '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ab"}}'


@given(
    cut=st.integers(0, len(_NEAR)),
    insert=st.sampled_from(['"', "\\", "\x00", "\n", "\x1f", " ", "٣", "0", "}", "\\u00e9", "\\n", "é", ""]),
    event=st.sampled_from(["content_block_delta", "message", "error"]),
)
def test_anthropic_fast_path_agrees_with_the_json_decoder_near_its_pattern(cut: int, insert: str, event: str) -> None:
    """Anything inserted anywhere in a text delta: the fast path gives what the JSON decoder gives, or stands aside."""
    fast, slow = _both(_NEAR[:cut] + insert + _NEAR[cut:], event)
    assert fast == slow
