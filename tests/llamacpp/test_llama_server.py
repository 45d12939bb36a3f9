"""What the README promises, against llama.cpp's own ``llama-server`` (C++) serving SmolLM2 (conftest.py here).

llama-server speaks three of our types at once: Chat Completions (``/v1/chat/completions``), the Responses API
(``/v1/responses``) and Anthropic's Messages (``/v1/messages``); it constrains output to a JSON schema with a
grammar; it answers any model name with the one it serves; and it refuses an image for a model loaded without its
projector with 500 "image input is not supported". Each is checked here the way a person meets it.
"""

from __future__ import annotations

import io
import json
import time

import pytest

from jupyter_providers import ProviderError, ProviderStore, SchemaError, chat, chat_map
from jupyter_providers.conversation import Conversation
from jupyter_providers.local import free_port

from .conftest import ALIAS, START_TIMEOUT, LlamaServer

pytestmark = pytest.mark.timeout(START_TIMEOUT + 300)
TYPES = ("openai", "openai-responses", "anthropic")
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def _refusals(server: LlamaServer) -> int:
    """How many image refusals the server has logged (one line each: "got exception: {... image input ...}")."""
    return server.log_path.read_text(errors="replace").count("image input is not supported")


def _add(store: ProviderStore, server: LlamaServer, kind: str = "openai", name: str = "L") -> str:
    store.add(name, type=kind, base_url=server.url, api_key=server.key, models=[ALIAS])
    return name


def test_detect_finds_both_openai_routes_and_needs_the_key(llama_cpp_server: LlamaServer, store: ProviderStore) -> None:
    """It lists its model at /v1/models (OpenAI's shape) and has a /v1/responses: both OpenAI types; without the
    key it says one is needed; its Anthropic-style list is OpenAI's shape, so Anthropic is not claimed."""
    found = store.detect(llama_cpp_server.url, api_key=llama_cpp_server.key)
    assert found.types == ("openai", "openai-responses") and found.models == (ALIAS,), str(found)
    assert llama_cpp_server.key not in str(found) + repr(found)
    keyless = store.detect(llama_cpp_server.url)
    assert keyless.key_needed is True and not keyless.types, str(keyless)


@pytest.mark.parametrize("kind", TYPES)
def test_every_type_it_speaks_chats_and_streams_with_usage(
    llama_cpp_server: LlamaServer, store: ProviderStore, kind: str
) -> None:
    name = _add(store, llama_cpp_server, kind)
    v = store.verify(name)
    assert v.ok and v.kind == "ok", str(v)
    whole = chat("Say hello.", provider=name, store=store, max_tokens=12)
    assert whole.text.strip() and whole.usage and whole.usage.output_tokens > 0, repr(whole)
    streamed = chat("Say hello.", provider=name, store=store, max_tokens=12, stream=True)
    pieces = list(streamed)
    assert len(pieces) > 1 and "".join(pieces) == streamed.text and streamed.text.strip()
    assert streamed.usage and 0 < streamed.usage.output_tokens <= 12, repr(streamed)


@pytest.mark.parametrize("kind", TYPES)
def test_a_conversation_goes_on_with_its_history_on_every_type(
    llama_cpp_server: LlamaServer, store: ProviderStore, kind: str
) -> None:
    """The second turn sends the first one's reply back: its Responses API refuses an assistant item without
    ``"type": "message"`` (400 "Cannot determine type of 'item'"), optional in OpenAI's schema."""
    conv = Conversation(_add(store, llama_cpp_server, kind), ALIAS, system="Be brief.", store=store)
    first = conv.send("My name is Bob. Say hello.", stream=False, max_tokens=12)
    assert first.text.strip(), repr(first)
    for stream in (False, True):
        reply = conv.send("What is my name?", stream=stream, max_tokens=12)
        assert "".join(reply) == reply.text and reply.text.strip(), repr(reply)
    assert len(conv) == 3 and len(conv.messages) == 7, conv.messages


def test_a_prompt_it_reused_from_its_cache_is_counted_whole(
    llama_cpp_server: LlamaServer, store: ProviderStore
) -> None:
    """Asked the same again, its /v1/messages reports the prompt it reused as ``cache_read_input_tokens`` and
    ``input_tokens`` 1: the usage (ledger, cost, footer) is the whole prompt both times, as on its Chat Completions."""
    counts: dict[str, int | None] = {}
    for kind in ("openai", "anthropic"):
        name = _add(store, llama_cpp_server, kind, name=f"U-{kind}")
        usages = [chat("Name three colours.", provider=name, store=store, max_tokens=4).usage for _ in range(2)]
        assert usages[0].input_tokens == usages[1].input_tokens, (kind, usages)
        counts[kind] = usages[0].input_tokens
    assert counts["anthropic"] and counts["anthropic"] > 10, counts


def test_verify_names_the_wrong_key_and_the_model_it_really_serves(
    llama_cpp_server: LlamaServer, store: ProviderStore
) -> None:
    name = _add(store, llama_cpp_server)
    assert store.verify(name).listed is True
    other = store.verify(name, model="gpt-5")
    assert other.ok and other.listed is False, str(other)
    assert other.message.endswith(f"but the server lists only {ALIAS}: it serves its own model whatever name is asked")
    store.add("Bad", type="openai", base_url=llama_cpp_server.url, api_key="sk-wrong-1234", models=[ALIAS])
    bad = store.verify("Bad")
    assert bad.kind == "auth" and "401" in bad.message and "check the key" in bad.message, str(bad)
    gone = store.add("Gone", type="openai", base_url=f"http://127.0.0.1:{free_port()}", api_key="", models=[ALIAS])
    assert store.verify(gone.name).kind == "unreachable"


def test_a_pasted_endpoint_url_is_reduced_and_works(llama_cpp_server: LlamaServer, store: ProviderStore) -> None:
    with pytest.warns(UserWarning, match="removed the endpoint path '/chat/completions'"):
        store.add("P", type="openai", base_url=f"{llama_cpp_server.url}/v1/chat/completions",
                  api_key=llama_cpp_server.key, models=[ALIAS])  # fmt: skip
    assert store["P"].base_url == f"{llama_cpp_server.url}/v1"
    assert store.verify("P").ok


def test_structured_output_is_constrained_by_its_grammar(llama_cpp_server: LlamaServer, store: ProviderStore) -> None:
    """Chat Completions' ``json_schema`` is taken and enforced: the value validates, every time."""
    name = _add(store, llama_cpp_server)
    for prompt in ("Give a name and an age.", "Describe a cat.", "Say hi."):
        reply = chat(prompt, provider=name, store=store, max_tokens=80, schema=PERSON)
        assert isinstance(reply.data, dict) and set(reply.data) == {"name", "age"}, reply.text
        assert isinstance(reply.data["age"], int) and json.loads(reply.text) == reply.data


@pytest.mark.parametrize("kind", ["openai-responses", "anthropic"])
def test_an_unconstrained_route_gives_schema_error_never_a_wrong_value(
    llama_cpp_server: LlamaServer, store: ProviderStore, kind: str
) -> None:
    """Its /v1/responses and /v1/messages do not enforce the schema we send: the reply is validated anyway, so it
    is a value of the schema or a SchemaError with the raw text kept."""
    name = _add(store, llama_cpp_server, kind)
    try:
        reply = chat("Give a name and an age.", provider=name, store=store, max_tokens=60, schema=PERSON)
    except SchemaError as e:
        assert e.raw_text is not None and e.kind == "bad_response", str(e)
    else:
        assert isinstance(reply.data, dict) and isinstance(reply.data.get("age"), int), reply.text


@pytest.mark.parametrize("stream", [False, True])
def test_an_image_is_refused_in_one_line_and_not_sent_again(
    llama_cpp_server: LlamaServer, store: ProviderStore, stream: bool
) -> None:
    """500 "image input is not supported" is a refusal, not a server error: no retry, no "try again later"."""
    name = _add(store, llama_cpp_server)
    before = _refusals(llama_cpp_server)
    with pytest.raises(ProviderError) as err:
        reply = chat("What colour is this?", provider=name, store=store, attach=_png(), max_tokens=4, stream=stream)
        "".join(reply)
    e = err.value
    assert e.kind == "bad_response" and e.status == 500, repr(e)
    assert "image input is not supported" in str(e) and "try again" not in str(e) and "\n" not in str(e), str(e)
    assert llama_cpp_server.key not in str(e) + repr(e)
    deadline = time.monotonic() + 10  # the server's log is written as it goes: wait for the refusal's line
    while _refusals(llama_cpp_server) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # and for a retry's, if one was sent
    assert _refusals(llama_cpp_server) == before + 1, "the request was sent again after its refusal (retried)"


def test_capabilities_say_what_the_text_only_model_does(llama_cpp_server: LlamaServer, store: ProviderStore) -> None:
    name = _add(store, llama_cpp_server)
    v = store.verify(name, capabilities=True, timeout=120)
    got = {c.name: c.state for c in v.capabilities}
    why = {c.name: c.reason for c in v.capabilities}
    assert v.ok and got == {
        "streaming": "yes", "stream_usage": "yes", "structured_output": "yes", "images": "no", "reasoning": "unknown",
    }, str(v)  # fmt: skip
    assert "sent as json_schema" in why["structured_output"] and "image input is not supported" in why["images"]
    m = store[name].model(ALIAS)
    assert m is not None and m.takes("images") is False
    with pytest.raises(ProviderError, match="images"):  # known now: refused before anything is sent
        chat("What colour?", provider=name, store=store, attach=_png(), max_tokens=4)


def test_too_long_a_prompt_is_refused_with_the_servers_numbers(
    llama_cpp_server: LlamaServer, store: ProviderStore
) -> None:
    name = _add(store, llama_cpp_server)
    with pytest.raises(ProviderError) as err:
        chat("word " * 3000, provider=name, store=store, max_tokens=4)
    text = str(err.value)
    assert err.value.status == 400 and "exceeds the available context size" in text and "\n" not in text, text


def test_a_map_over_rows_answers_each_in_order(llama_cpp_server: LlamaServer, store: ProviderStore) -> None:
    name = _add(store, llama_cpp_server)
    items = [{"n": str(i)} for i in range(6)]
    results = chat_map(
        items, "Repeat this number: {n}", provider=name, store=store, max_tokens=8, concurrency=2, progress=False
    )
    assert len(results) == 6 and all(r.ok and r.text and r.text.strip() for r in results), results
    assert all(r.usage.output_tokens and r.attempts == 1 for r in results), results
