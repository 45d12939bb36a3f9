"""What LiteLLM makes of each type's native request, read where it arrives: the proxy's ``fake`` route forwards
to our OpenAI fake (tests/litellm/conftest.py ``upstream``), which records every body. An image attached in
the OpenAI, Responses or Anthropic form reaches the upstream as the OpenAI ``image_url`` data URI of the very
bytes we sent, beside the question; the upstream's answer comes back to us."""

from __future__ import annotations

import base64
import dataclasses
from typing import Any, Literal

import pytest

from jupyter_providers import ProviderStore, chat

from ..fakes import FakeServer
from .conftest import START_TIMEOUT, Proxy
from .test_litellm_attach import _png  # one red PNG for both modules

pytestmark = pytest.mark.timeout(START_TIMEOUT + 300)
QUESTION = "What colour is this?"


def _parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, list) else [{"type": "text", "text": content}]


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "anthropic"])
def test_an_image_reaches_the_upstream_as_the_bytes_we_sent(
    litellm: Proxy, upstream: FakeServer, store: ProviderStore, kind: str
) -> None:
    store.add("L", type=kind, base_url=litellm.url, api_key=litellm.key, models=["fake"])
    png = _png()
    before = len(upstream.requests)
    reply = chat(QUESTION, provider="L", store=store, attach=png, max_tokens=16, retries=0)
    assert reply.text.strip()
    sent = [r for r in upstream.requests[before:] if r.path.endswith("/chat/completions")]
    assert len(sent) == 1, [r.path for r in upstream.requests[before:]]
    parts = _parts(sent[0].body)
    images = [p["image_url"] for p in parts if p.get("type") == "image_url"]
    urls = [i["url"] if isinstance(i, dict) else i for i in images]
    assert urls == ["data:image/png;base64," + base64.b64encode(png).decode()], parts
    assert [p["text"] for p in parts if p.get("type") == "text"] == [QUESTION]
    assert litellm.key not in str(sent[0].body) and litellm.key not in str(sent[0].headers)


@dataclasses.dataclass
class Verdict:
    sentiment: Literal["positive", "negative"]
    stars: int


@pytest.mark.parametrize("kind", ["openai", "openai-responses", "anthropic"])
def test_a_schema_reaches_the_upstream_and_its_value_comes_back(
    litellm: Proxy, upstream: FakeServer, store: ProviderStore, kind: str
) -> None:
    """The upstream (our fake) answers with a value of whatever schema it was asked for, so a value that comes
    back as a ``Verdict`` proves the schema went through LiteLLM both ways; the schema it received is read too."""
    store.add("S", type=kind, base_url=litellm.url, api_key=litellm.key, models=["fake"])
    before = len(upstream.requests)
    reply = chat("Review: 'Great phone.' Sentiment and stars?", provider="S", store=store, schema=Verdict, retries=0)
    assert isinstance(reply.data, Verdict) and reply.data.sentiment in ("positive", "negative")
    sent = [r for r in upstream.requests[before:] if r.path.endswith("/chat/completions")]
    asked = [upstream.facts.asked_schema(r.body or {}) for r in sent]
    assert asked and asked[-1] is not None, [r.body for r in sent]
    assert set(asked[-1]["properties"]) == {"sentiment", "stars"}
