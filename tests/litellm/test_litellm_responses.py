"""The openai-responses type against a real LiteLLM proxy (tests/litellm/conftest.py) bridging ``/v1/responses``
onto the real local model's Chat Completions, the way a person uses it: a provider in the store, ``verify``,
``fetch_models``, ``chat()`` whole and streamed, an unknown model, a wrong key and no key, and the forwarding
prefix that cannot work in front of llama.cpp. One test reads the raw stream (the adapter alone,
tests/adapter_io.py): LiteLLM's bridge names no event, which the store path cannot show."""

from __future__ import annotations

import json
import re

import pytest

from jupyter_providers import ModelNotFoundError, ProviderStore, chat
from jupyter_providers._sse import SSEDecoder
from jupyter_providers._types import Message
from jupyter_providers.adapters._base import ChatParams
from jupyter_providers.adapters.responses import SPEC

from .. import adapter_io as io
from .conftest import START_TIMEOUT, Proxy

#: the first test also waits for the proxy (and the session's local model) to start
pytestmark = pytest.mark.timeout(START_TIMEOUT + 300)
HISTORY: list[Message] = [
    {"role": "user", "content": "Hi."},
    {"role": "assistant", "content": "Hello! How can I help?"},
    {"role": "user", "content": "Name one colour of the rainbow."},
]


def add(store: ProviderStore, proxy: Proxy, key: str | None = None, models: tuple[str, ...] = ("smollm2",)) -> None:
    store.add("R", type="openai-responses", base_url=proxy.url, api_key=proxy.key if key is None else key,
              models=list(models))  # fmt: skip


def test_verify_and_the_endpoint(litellm: Proxy, store: ProviderStore) -> None:
    add(store, litellm)
    assert store.endpoint_preview("R") == f"{litellm.url}v1/responses"
    v = store.verify("R")
    assert (v.ok, v.kind, v.status, v.model) == (True, "ok", 200, "smollm2"), v
    assert re.fullmatch(r"smollm2 answered in \d+ ms", v.message)
    # a LiteLLM proxy (its x-litellm-* headers) routes names it does not list: its list is not asked (_verify.py)
    assert v.listed is None


def test_fetch_models(litellm: Proxy, store: ProviderStore) -> None:
    add(store, litellm, models=())
    assert set(store.fetch_models("R")) >= {"smollm2", "smollm2-forward"}
    v = store.verify("R")  # no model yet: verify says so, with the list
    assert (v.ok, v.kind) == (False, "no_model") and "smollm2-forward" in v.message, v


def test_chat_whole(litellm: Proxy, store: ProviderStore) -> None:
    add(store, litellm)
    reply = chat(HISTORY[-1]["content"], provider="R", history=HISTORY[:-1], system="Be brief.", max_tokens=16,
                 store=store)  # fmt: skip
    assert reply.text.strip() and reply.finish_reason in ("stop", "length")
    assert reply.usage.input_tokens and 0 < (reply.usage.output_tokens or 0) <= 16


def test_chat_streamed_with_usage(litellm: Proxy, store: ProviderStore) -> None:
    add(store, litellm)
    reply = chat("Count from one to ten.", provider="R", temperature=0, max_tokens=12, stream=True, store=store)
    pieces = list(reply)
    assert len(pieces) > 1 and "".join(pieces) == reply.text and reply.text.strip()
    assert reply.finish_reason in ("stop", "length")
    assert reply.usage.input_tokens and 0 < (reply.usage.output_tokens or 0) <= 12


def test_the_bridge_names_no_event(litellm: Proxy) -> None:
    """OpenAI and vLLM send ``event: TYPE``; LiteLLM's bridge sends the data alone, so the parser goes by the
    data's ``type``. No ``[DONE]``: the stream ends with ``response.completed`` or ``response.incomplete``."""
    s = io.stream(SPEC, io.endpoint(SPEC, litellm.url), litellm.key, ChatParams("smollm2", HISTORY, max_tokens=8))
    events = SSEDecoder().feed(s.raw)
    types = [json.loads(ev.data)["type"] for ev in events]
    assert {ev.event for ev in events} == {"message"} and b"[DONE]" not in s.raw
    assert types[0] == "response.created" and types[-1] in ("response.completed", "response.incomplete"), types
    assert "response.output_text.delta" in types and s.complete


def test_unknown_model(litellm: Proxy, store: ProviderStore) -> None:
    """LiteLLM answers 400 "Invalid model name passed in model=gpt-9": an unknown model, with the offered list."""
    add(store, litellm)
    v = store.verify("R", model="gpt-9")
    assert (v.ok, v.kind, v.status) == (False, "model_not_found", 400), v
    assert v.message.startswith("model 'gpt-9' not found; the server offers: ") and "smollm2" in v.message
    for stream in (False, True):
        with pytest.raises(ModelNotFoundError) as info:
            "".join(chat("Hi", provider="R", model="gpt-9", max_tokens=4, stream=stream, store=store))
        assert "Invalid model name passed in model=gpt-9" in str(info.value.server_message)


def test_a_wrong_key_and_no_key(litellm: Proxy, store: ProviderStore) -> None:
    """What a LiteLLM proxy set up from a config file alone (no database) answers, as it is: a wrong key is
    looked up in the database it does not have (400 "No connected db."), and no key at all is a plain-text
    500. Neither is a 401, so verify cannot say "rejected key"; it says what came, and the key is never echoed."""
    add(store, litellm, key="sk-wrong-key-000")
    v = store.verify("R")
    assert (v.ok, v.kind, v.status) == (False, "bad_response", 400), v
    assert "No connected db." in v.message and "sk-wrong-key-000" not in v.message
    store.update("R", api_key="")
    v = store.verify("R")
    assert (v.ok, v.kind, v.status) == (False, "server_error", 500), v
    assert "Internal Server Error" in v.message


def test_forwarding_prefix_reaches_llama_cpp_which_has_no_responses_route(litellm: Proxy, store: ProviderStore) -> None:
    """``hosted_vllm/`` forwards ``/v1/responses`` as it is; llama.cpp answers 404, and LiteLLM passes it on as
    an unknown model. The proxy lists the model, so the verdict says that instead of "not found; the server
    offers: ..., smollm2-forward", which would contradict itself."""
    add(store, litellm, models=("smollm2-forward",))
    v = store.verify("R")
    assert (v.ok, v.kind, v.status) == (False, "model_not_found", 404), v
    assert v.message.startswith("the server lists 'smollm2-forward' but could not serve it - "), v
    assert "the server offers" not in v.message


def test_detect(litellm: Proxy, store: ProviderStore) -> None:
    """store.detect through the LiteLLM proxy: its /v1/models is OpenAI's shape and it bridges both Chat Completions
    and /v1/responses. Without its key it answers a plain 500 (test_a_wrong_key_and_no_key), which detect reports as
    a failure that may want a key, not as a 401 it did not get."""
    locked = store.detect(litellm.url)
    assert locked.types == () and locked.key_needed is None, locked.probes
    assert "failed (500) - a proxy may answer so without its key" in str(locked)
    found = store.detect(litellm.url + "v1/responses", api_key=litellm.key)
    assert {"openai", "openai-responses"} <= set(found.types), found.probes
    assert {"smollm2", "smollm2-forward"} <= set(found.models)
    assert litellm.key not in repr(found) + str(found) and len(store) == 0
