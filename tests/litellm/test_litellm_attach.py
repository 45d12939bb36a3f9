"""Attachments through a real LiteLLM proxy (tests/litellm/conftest.py, the session's proxy) in front of the real
local model, which reads text only: LiteLLM takes our OpenAI ``image_url`` form and the Responses ``input_image``
form (bridged onto Chat Completions), and the upstream's refusal, in llama-cpp-python's own words, comes back
classified: a server error that says the model may not read images. Streamed, LiteLLM ends the stream empty
instead of passing the upstream's error on (its behaviour, recorded here)."""

from __future__ import annotations

import io

import pytest

from jupyter_providers import ProviderStore, ServerError, chat

from .conftest import START_TIMEOUT, Proxy

pytestmark = pytest.mark.timeout(START_TIMEOUT + 300)
PIL = pytest.importorskip("PIL.Image")
#: what llama-cpp-python's server says when a message's content is a list of parts: only a request LiteLLM
#: accepted and translated to content parts reaches it and gets this answer
UPSTREAM_WORDS = 'can only concatenate str (not "list") to str'


def _png() -> bytes:
    buf = io.BytesIO()
    PIL.new("RGB", (16, 16), (255, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["openai", "openai-responses"])
def test_litellm_takes_the_image_and_the_text_only_models_refusal_is_classified(
    litellm: Proxy, store: ProviderStore, kind: str
) -> None:
    store.add("L", type=kind, base_url=litellm.url, api_key=litellm.key, models=["smollm2"])
    with pytest.raises(ServerError) as err:
        chat("What colour is this?", provider="L", store=store, attach=_png(), max_tokens=4, retries=0)
    e = err.value
    assert e.status == 500 and UPSTREAM_WORDS in (e.server_message or "")
    assert "Lm_studioException" in (e.server_message or "")  # LiteLLM's own call to the upstream failed
    text = str(e)
    assert text.startswith("L: the request with an image failed (litellm.") and "\n" not in text
    assert text.endswith("'smollm2' may not read images: send it without attach=, or pick a model that does")
    assert litellm.key not in text
    streamed = chat("What colour is this?", provider="L", store=store, attach=_png(), max_tokens=4, stream=True)
    assert streamed.text == "" and streamed.error is None  # LiteLLM's stream ends empty, the upstream's error lost
    ok = chat("Say hi.", provider="L", store=store, max_tokens=4)  # the same route without an image answers
    assert ok.text.strip()
