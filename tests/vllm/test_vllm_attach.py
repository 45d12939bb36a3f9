"""An image sent to the real vLLM serving a text-only model (tests/vllm/conftest.py's servers): vLLM answers 400
"not a multimodal model", which reaches the user as one line that says the model may not read images and what
to do, streamed or not, with no key in it; once verify has probed the model, the next image is refused before
anything is sent."""

from __future__ import annotations

import io

import pytest

from jupyter_providers import InvalidValueError, ProviderError, ProviderStore, chat

from . import launch
from .conftest import VLLM_KEY, Servers

MODEL = launch.MODEL_ID
pytestmark = pytest.mark.timeout(launch.START_TIMEOUT + 300)
PIL = pytest.importorskip("PIL.Image")
ADVICE = f"'{MODEL}' may not read images: send it without attach=, or pick a model that does"


def _png() -> bytes:
    buf = io.BytesIO()
    PIL.new("RGB", (16, 16), (0, 0, 255)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize("stream", [False, True])
def test_vllm_refuses_the_image_and_the_user_reads_why(vllm: Servers, store: ProviderStore, stream: bool) -> None:
    store.add("V", type="openai", base_url=vllm.keyed.url, api_key=VLLM_KEY, models=[MODEL])
    with pytest.raises(ProviderError) as err:
        reply = chat("What colour is this?", provider="V", store=store, attach=_png(), max_tokens=4, stream=stream)
        "".join(reply)
    e = err.value
    text = str(e)
    assert e.status == 400 and "not a multimodal model" in (e.server_message or ""), text
    assert text.startswith("V: ") and "\n" not in text and text.endswith(ADVICE), text
    assert VLLM_KEY not in text + repr(e)
    assert chat("Say hi.", provider="V", store=store, max_tokens=4).text.strip()  # the same route without it


def test_after_verify_the_image_is_refused_before_sending(vllm: Servers, store: ProviderStore) -> None:
    store.add("V", type="openai", base_url=vllm.open.url, api_key="", models=[MODEL])
    assert store.verify("V", capabilities=True, timeout=120).ok
    with pytest.raises(InvalidValueError) as err:
        chat("What colour is this?", provider="V", store=store, attach=_png(), max_tokens=4)
    assert "reads text only" in str(err.value)
