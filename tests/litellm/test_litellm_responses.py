"""The Responses adapter against a real LiteLLM proxy (tests/litellm/conftest.py) bridging ``/v1/responses``
onto the real local model's Chat Completions: a verify-like one-token request, a chat, a stream with usage,
the model list, an unknown model, a wrong key, and the forwarding prefix that cannot work in front of
llama.cpp."""

from __future__ import annotations

import json
import re

import pytest

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


def params(model: str = "smollm2", **kw: object) -> ChatParams:
    return ChatParams(model=model, messages=HISTORY, **kw)  # type: ignore[arg-type]


def test_one_token_request_as_verify_sends_it(litellm: Proxy) -> None:
    e = io.endpoint(SPEC, litellm.url)
    c = io.complete(SPEC, e, litellm.key, ChatParams("smollm2", [{"role": "user", "content": "Hi"}], max_tokens=1))
    assert c.finish_reason in ("length", "stop") and c.usage.input_tokens
    assert (c.usage.output_tokens or 0) <= 1


def test_chat(litellm: Proxy) -> None:
    c = io.complete(SPEC, io.endpoint(SPEC, litellm.url), litellm.key, params(system="Be brief.", max_tokens=16))
    assert c.text.strip() and c.finish_reason in ("stop", "length")
    assert c.usage.input_tokens and 0 < (c.usage.output_tokens or 0) <= 16


def test_stream_with_usage(litellm: Proxy) -> None:
    s = io.stream(SPEC, io.endpoint(SPEC, litellm.url), litellm.key, params(temperature=0, max_tokens=12))
    assert s.complete and s.text.strip() and len(s.finish_reasons) == 1
    (usage,) = s.usages
    assert usage.input_tokens and 0 < (usage.output_tokens or 0) <= 12
    # LiteLLM's bridge names no event (OpenAI and vLLM send ``event: TYPE``): the parser goes by the data's type
    events = SSEDecoder().feed(s.raw)
    types = [json.loads(ev.data)["type"] for ev in events]
    assert {ev.event for ev in events} == {"message"} and b"[DONE]" not in s.raw
    assert types[0] == "response.created" and types[-1] in ("response.completed", "response.incomplete"), types
    assert "response.output_text.delta" in types


def test_models(litellm: Proxy) -> None:
    assert set(io.models(SPEC, io.endpoint(SPEC, litellm.url), litellm.key)) >= {"smollm2", "smollm2-forward"}


def test_unknown_model(litellm: Proxy) -> None:
    with pytest.raises(io.HTTPFailure) as info:
        io.stream(SPEC, io.endpoint(SPEC, litellm.url), litellm.key, params("gpt-9", max_tokens=4))
    assert (info.value.status, info.value.info.kind) == (400, "model_not_found"), info.value.text
    assert "Invalid model name passed in model=gpt-9" in info.value.info.message


def test_no_key_and_a_wrong_key(litellm: Proxy) -> None:
    """What a LiteLLM proxy set up from a config file alone (no database) answers, as it is: a wrong key is
    looked up in the database it does not have (400 "No connected db."), and no key at all is a plain-text
    500. Neither is a 401, so verify cannot say "rejected key" there; the key is never echoed."""
    e = io.endpoint(SPEC, litellm.url)
    with pytest.raises(io.HTTPFailure) as wrong:
        io.complete(SPEC, e, "sk-wrong-key-000", params(max_tokens=4))
    assert (wrong.value.status, wrong.value.info.message) == (400, "No connected db."), wrong.value.text
    assert "sk-wrong-key-000" not in wrong.value.text
    with pytest.raises(io.HTTPFailure) as none:
        io.complete(SPEC, e, "", params(max_tokens=4))
    assert (none.value.status, none.value.info.kind, none.value.text) == (500, "server_error", "Internal Server Error")


def test_forwarding_prefix_reaches_llama_cpp_which_has_no_responses_route(litellm: Proxy) -> None:
    """``hosted_vllm/`` forwards ``/v1/responses`` as it is; llama.cpp answers 404, and LiteLLM passes it on."""
    with pytest.raises(io.HTTPFailure) as info:
        io.complete(SPEC, io.endpoint(SPEC, litellm.url), litellm.key, params("smollm2-forward", max_tokens=4))
    assert info.value.status == 404, info.value.text
    assert re.search(r"not found", info.value.info.message, re.I), info.value.info
