"""``store.verify(name, capabilities=True)`` through the real LiteLLM proxy in front of the real local model
(llama-cpp-python with text-only SmolLM2; tests/litellm/conftest.py), for each type the proxy speaks. What it
does, the same in every run:

- ``stream_usage`` yes: the local server sends no usage in a stream (tests/test_capabilities.py), but LiteLLM
  counts the tokens itself and ends each type's stream with them;
- ``structured_output`` yes for Chat Completions (``json_schema`` refused upstream with 422, ``json_object`` with
  the schema taken) and Anthropic (the forced tool, which LiteLLM turns into ``response_format``); unknown for the
  Responses API: its ``json_schema`` refused the same way, and its ``json_object`` form carries no schema, so the
  model writes some JSON object, not the schema's (or one longer than the retry's 256 tokens) - not a no;
- ``images`` unknown: the upstream fails on content parts and LiteLLM answers 500 with its words; a server error is
  no refusal of images (test_litellm_attach.py);
- ``reasoning`` unknown: SmolLM2 sends no reasoning text (not seen, not a no)."""

from __future__ import annotations

import pytest

from jupyter_providers import ProviderStore

from .conftest import START_TIMEOUT, Proxy

pytestmark = pytest.mark.timeout(START_TIMEOUT + 300)
#: the form each type's structured probe was taken in (the reason names it); None: not taken
FORMS = {"openai": "json_object", "anthropic": "tool", "openai-responses": None}


@pytest.mark.parametrize("kind", list(FORMS))
def test_capabilities_through_the_proxy(litellm: Proxy, store: ProviderStore, kind: str) -> None:
    store.add("L", type=kind, base_url=litellm.url, api_key=litellm.key, models=["smollm2"])
    v = store.verify("L", capabilities=True, timeout=120)
    got, why = {c.name: c.state for c in v.capabilities}, {c.name: c.reason for c in v.capabilities}
    structured = "yes" if FORMS[kind] else "unknown"
    want = dict(streaming="yes", stream_usage="yes", structured_output=structured, images="unknown")
    assert v.ok and got == {**want, "reasoning": "unknown"}, str(v)
    if FORMS[kind]:
        assert f"sent as {FORMS[kind]}" in why["structured_output"]
    else:
        said = ("the answer was JSON but did not match a tiny schema", "the answer was cut at 256 tokens")
        assert why["structured_output"].startswith(said), why
    assert "failed (server error, not a refusal of it, so not a no): server error (500: litellm." in why["images"]
    assert "Lm_studioException" in why["images"] and litellm.key not in str(v)
    m = store["L"].model("smollm2")
    assert m is not None and m.takes("images") is None and m.takes("stream_usage") is True
