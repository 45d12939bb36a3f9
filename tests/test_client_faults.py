"""The same contract for every provider type in the registry, against its loopback fake server: chat, stream,
models, every verify kind, retries and partial replies. What differs by type is a fact the fake declares
(``fake.facts``); a type without a fake fails here, saying so."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_providers import (
    AuthenticationError,
    BadResponseError,
    BadURLError,
    ModelNotFoundError,
    ProviderError,
    ProviderStore,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    Reply,
    ServerError,
    chat,
)
from jupyter_providers import client as client_module
from jupyter_providers.adapters import TYPES

from .fakes import FakeServer

PROTOCOLS = list(TYPES)
KEY = "sk-fake-key-7c1d93e0"
MODELS = ["model-a", "model-b", "model-c", "model-d", "model-e"]
REPLY = "Hello there, this is the fake server answering your question."


@pytest.fixture(params=PROTOCOLS)
def fake(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    with FakeServer(request.param, api_key=KEY, models=MODELS, reply=REPLY) as srv:
        yield srv


@pytest.fixture
def fstore(fake: FakeServer, store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> ProviderStore:
    monkeypatch.setattr(client_module.settings, "backoff", 0.01)
    store.add(
        "P", type=fake.protocol, base_url=fake.base_url, api_key=KEY, models=["model-a"], **fake.facts.store_kwargs()
    )
    return store


def chat_requests(fake: FakeServer) -> int:
    return sum(1 for r in fake.requests if r.method == "POST")


def test_chat(fstore: ProviderStore, fake: FakeServer) -> None:
    reply = chat("What is two plus two?", provider="P", system="Be brief.", temperature=0.2, store=fstore)
    assert reply.text == REPLY
    assert reply.usage.input_tokens == 7  # the fake counts words of the prompt and the system prompt
    assert reply.usage.output_tokens == len(REPLY.split())
    assert reply.finish_reason == fake.facts.stop_reason


def test_stream(fstore: ProviderStore, fake: FakeServer) -> None:
    reply = chat("Tell me something.", provider="P", stream=True, store=fstore)
    pieces = list(reply)
    assert len(pieces) > 5 and "".join(pieces) == REPLY == reply.text
    assert reply.usage.output_tokens == len(REPLY.split())
    assert reply.finish_reason == fake.facts.stop_reason


def test_max_tokens_gives_the_length_reason(fstore: ProviderStore, fake: FakeServer) -> None:
    reply = chat("Tell me something.", provider="P", max_tokens=3, store=fstore)
    assert reply.text == " ".join(REPLY.split()[:3])
    assert reply.finish_reason == fake.facts.length_reason


def test_reasoning_is_kept_apart(store: ProviderStore, fake: FakeServer) -> None:
    if not fake.facts.sends_reasoning:
        pytest.skip(f"{fake.protocol} sends no reasoning text")
    with FakeServer(fake.protocol, api_key=KEY, models=MODELS, reply="42.", reasoning="Let me think hard.") as srv:
        store.add(
            "R", type=srv.protocol, base_url=srv.base_url, api_key=KEY, models=["model-a"], **srv.facts.store_kwargs()
        )
        for stream in (False, True):
            reply = chat("Answer?", provider="R", stream=stream, store=store)
            assert (reply.text, reply.reasoning) == ("42.", "Let me think hard."), stream


def test_models_follow_every_page(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.page_size = 2
    assert fstore.fetch_models("P") == MODELS
    if fake.facts.pages_models:
        assert sum(1 for r in fake.requests if r.method == "GET") == 3


def test_verify_ok(fstore: ProviderStore) -> None:
    v = fstore.verify("P")
    assert (v.ok, v.kind, v.model) == (True, "ok", "model-a")
    assert v.message.startswith("model-a answered in ")


@pytest.mark.parametrize(
    ("fault", "kind", "error"),
    [
        ("auth", "auth", AuthenticationError),
        ("rate_limit", "rate_limited", RateLimitError),
        ("quota", "rate_limited", QuotaExceededError),
        ("server_error", "server_error", ServerError),
        ("overloaded", "server_error", ServerError),
        ("bad_gateway", "server_error", ServerError),
        ("html_200", "bad_url", BadURLError),
        ("not_json", "bad_response", BadResponseError),
    ],
)
def test_fault_kinds(fstore: ProviderStore, fake: FakeServer, fault: str, kind: str, error: type) -> None:
    fake.fault = fault
    before = list(fstore)
    v = fstore.verify("P")
    assert (v.ok, v.kind) == (False, kind), v
    assert KEY not in v.message and "\n" not in v.message
    with pytest.raises(error) as info:
        chat("hi", provider="P", store=fstore)
    assert info.value.provider == "P" and KEY not in str(info.value)
    assert list(fstore) == before


def test_wrong_key(fstore: ProviderStore, fake: FakeServer) -> None:
    fstore.update("P", api_key="sk-this-is-wrong-123")
    v = fstore.verify("P")
    assert v.kind == "auth" and "rejected the key" in v.message
    assert v.status == fake.facts.bad_key_status
    assert "sk-this-is-wrong-123" not in repr(v)


def test_unknown_model_lists_the_offered_ones(fstore: ProviderStore, fake: FakeServer) -> None:
    v = fstore.verify("P", model="gpt-5")
    if not fake.facts.lists_models:
        # (Azure's deployments) cannot be listed with a key: the verdict still names the kind
        assert v.kind == "model_not_found" and "gpt-5" in v.message
    else:
        assert (v.kind, v.message) == (
            "model_not_found",
            f"model 'gpt-5' not found; the server offers: {', '.join(MODELS)}",
        )
    with pytest.raises(ModelNotFoundError, match="gpt-5"):
        chat("hi", provider="P", model="gpt-5", store=fstore)


def test_wrong_path_is_bad_url(fstore: ProviderStore, fake: FakeServer) -> None:
    fstore.update("P", base_url=fake.base_url + "/nothing/here#")
    v = fstore.verify("P")
    assert v.kind == "bad_url" and fake.base_url + "/nothing/here" in v.message
    with pytest.raises(BadURLError):
        fstore.fetch_models("P")


def test_retries_then_succeeds(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.fault, fake.fault_count = "server_error", 2
    assert chat("hi", provider="P", store=fstore).text == REPLY
    assert chat_requests(fake) == 3


def test_retry_after_is_honoured(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.fault, fake.fault_count = "rate_limit", 1
    start = time.perf_counter()
    assert chat("hi", provider="P", store=fstore).text == REPLY
    assert chat_requests(fake) == 2
    assert time.perf_counter() - start >= 0.9  # the server said retry-after: 1


def test_quota_is_never_retried(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.fault = "quota"
    with pytest.raises(QuotaExceededError, match="out of quota"):
        chat("hi", provider="P", store=fstore)
    assert chat_requests(fake) == 1


def test_gives_up_after_max_retries(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.fault = "overloaded"
    with pytest.raises(ServerError):
        chat("hi", provider="P", store=fstore)
    assert chat_requests(fake) == 1 + client_module.settings.max_retries


def test_verify_never_retries(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.fault = "server_error"
    assert fstore.verify("P").kind == "server_error"
    assert chat_requests(fake) == 1


@pytest.mark.parametrize("fault", ["midstream_error", "cut_stream", "llamacpp_error"])
def test_stream_faults_keep_the_partial_reply(fstore: ProviderStore, fake: FakeServer, fault: str) -> None:
    fake.fault = fault
    reply = chat("hi", provider="P", stream=True, store=fstore)
    got: list[str] = []
    with pytest.raises(ProviderError) as info:
        for piece in reply:
            got.append(piece)
    expected = ServerError if fault != "cut_stream" else BadResponseError
    assert isinstance(info.value, expected), info.value
    assert len(got) == 2 and reply.text == "".join(got) == info.value.partial_text
    assert reply.error is info.value and reply.done


def test_stalled_stream_times_out_keeping_text(
    fstore: ProviderStore, fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.fault, fake.stall_seconds = "stall", 5
    monkeypatch.setattr(client_module.settings, "read_timeout", 0.5)  # silence between two reads
    reply = chat("hi", provider="P", stream=True, store=fstore)
    with pytest.raises(ProviderTimeoutError, match=r"stalled: nothing for 0\.5 s - the partial reply is kept"):
        reply.wait()
    assert reply.text == "".join(REPLY.split(" ")[i] + " " for i in range(2))


def test_timeout_is_the_deadline_of_the_whole_stream(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.fault, fake.stall_seconds = "stall", 5
    start = time.perf_counter()
    reply = chat("hi", provider="P", stream=True, timeout=0.5, store=fstore)
    with pytest.raises(ProviderTimeoutError, match=r"did not finish within 0\.5 s, the deadline of the whole call"):
        reply.wait()
    assert time.perf_counter() - start < 0.5 * 1.5 + 0.5
    assert reply.text == "".join(REPLY.split(" ")[i] + " " for i in range(2)) == reply.error.partial_text  # type: ignore[union-attr]


def test_server_that_never_answers(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.fault, fake.stall_seconds = "hang", 5
    start = time.perf_counter()
    v = fstore.verify("P", timeout=0.5)
    assert v.kind == "timeout" and time.perf_counter() - start < 3
    with pytest.raises(ProviderTimeoutError, match=r"no answer from 127\.0\.0\.1"):
        chat("hi", provider="P", timeout=0.5, store=fstore)


def test_huge_reply(fstore: ProviderStore, fake: FakeServer) -> None:
    fake.fault = "huge"
    reply = chat("hi", provider="P", stream=True, store=fstore)
    assert len(reply.text) > 10_000_000


def test_unreachable_disabled_and_no_model(fstore: ProviderStore, fake: FakeServer) -> None:
    from jupyter_providers.local import free_port

    port = free_port()
    fstore.update("P", base_url=f"http://127.0.0.1:{port}/")
    v = fstore.verify("P")
    assert v.kind == "unreachable" and f"connection refused at http://127.0.0.1:{port}" in v.message
    fstore.update("P", base_url=fake.base_url, enabled=False)
    assert fstore.verify("P").kind == "disabled"
    fstore.update("P", enabled=True)
    fstore.remove_model("P", "model-a")
    v = fstore.verify("P")
    assert v.kind == "no_model" and "model-a" in v.message  # the server's list is offered


def test_cancel_from_another_thread_wakes_a_stalled_stream(fstore: ProviderStore, fake: FakeServer) -> None:
    import threading

    fake.fault, fake.stall_seconds = "stall", 20
    reply = chat("hi", provider="P", stream=True, store=fstore)
    got: list[str] = []
    timer = threading.Timer(0.5, reply.cancel)
    timer.start()
    start = time.perf_counter()
    for piece in reply:  # blocks in the stall until the other thread cancels
        got.append(piece)
    assert time.perf_counter() - start < 3
    assert reply.cancelled and reply.error is None and reply.text == "".join(got) and len(got) == 2


def test_cancel_before_the_stream_is_first_read(
    fstore: ProviderStore, fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cancel() that lands after iteration began but before the first read closed the answer under the
    reader: httpx's StreamClosed (no HTTPError) escaped as a bare exception instead of a clean cancel."""
    from jupyter_providers import _bounded

    replies: list[Reply] = []
    real = _bounded.decoded_chunks

    def cancelled_first(resp: Any) -> Iterator[bytes]:
        replies[0].cancel()  # as another thread would, in the gap
        return real(resp)

    monkeypatch.setattr(_bounded, "decoded_chunks", cancelled_first)
    replies.append(chat("hi", provider="P", stream=True, store=fstore))
    assert list(replies[0]) == [] and replies[0].cancelled and replies[0].error is None


@pytest.mark.parametrize("protocol", [t for t, s in TYPES.items() if s.stream_format == "ndjson"])
@pytest.mark.parametrize("ctype", ["application/json", "text/plain"])
def test_json_lines_under_another_content_type_still_stream(protocol: str, ctype: str, store: ProviderStore) -> None:
    """A JSON-lines stream is told from a web page or garbage by reading it (those get the whole answer's
    errors: the fault matrix), so a proxy that relabels the stream still gives the reply."""
    import httpx

    with FakeServer(protocol, models=["model-a"], reply=REPLY) as srv:
        path, headers, body = srv.facts.sample_chat("model-a", None, True, None)
        raw = httpx.post(srv.base_url + path, headers=headers, json=body, timeout=10).content
    http = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, headers={"content-type": ctype}, content=raw))
    )
    store.add("N", type=protocol, base_url="http://127.0.0.1:9", models=["model-a"], **srv.facts.store_kwargs())
    reply = chat("hi", provider="N", stream=True, store=store, http=http)
    assert reply.text == REPLY and reply.finish_reason == srv.facts.stop_reason
