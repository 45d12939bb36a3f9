"""Attachments against the real local model (SmolLM2-135M-Instruct, text only): the embedded provider declares it,
so an image is refused before any request; a provider that does not know it sends it and gets a clear error."""

from __future__ import annotations

import io

import httpx
import pytest

from jupyter_providers import ProviderStore, chat, local
from jupyter_providers.errors import BadResponseError, InvalidValueError, ServerError
from jupyter_providers.local import LocalServer
from jupyter_providers.store import get_store

PIL = pytest.importorskip("PIL.Image")


def _png() -> bytes:
    buf = io.BytesIO()
    PIL.new("RGB", (16, 16), (255, 0, 0)).save(buf, "PNG")
    return buf.getvalue()


def _counting() -> tuple[httpx.Client, list[str]]:
    sent: list[str] = []
    return httpx.Client(event_hooks={"request": [lambda r: sent.append(str(r.url))]}), sent


def test_the_local_model_refuses_an_image_before_sending(llama_server: LocalServer) -> None:
    local.register_provider(llama_server)
    model = get_store()["local"].models[0]
    assert model.id == "smollm2" and model.takes("images") is False
    http, sent = _counting()
    with http:
        for stream in (False, True):
            with pytest.raises(InvalidValueError) as err:
                chat("What colour is this?", provider="local", attach=_png(), stream=stream, http=http)
            assert str(err.value) == (
                "local: attach: 'smollm2' reads text only and cannot take an image - pick a model that takes images "
                "(a DataFrame is sent as text and works with any model)"
            )
        assert sent == []  # nothing went out
        import pandas as pd

        reply = chat("Say hi.", provider="local", attach=pd.DataFrame({"a": [1, 2]}), max_tokens=4, http=http)
        assert reply.finish_reason and len(sent) == 1  # a table is text: sent, and answered


def test_an_unknown_model_gets_the_image_and_its_refusal_is_explained(local_store: ProviderStore) -> None:
    with pytest.raises(ServerError) as err:
        chat("What colour is this?", provider="vLLM", store=local_store, attach=_png(), max_tokens=4, retries=0)
    text = str(err.value)
    assert text.startswith("vLLM: the request with an image failed (") and "\n" not in text
    assert text.endswith("'smollm2' may not read images: send it without attach=, or pick a model that does")
    assert err.value.status == 500 and "list" in (err.value.server_message or "")  # llama-cpp-python's own words
    reply = chat("Colour?", provider="vLLM", store=local_store, attach=_png(), max_tokens=4, stream=True, retries=0)
    with pytest.raises(BadResponseError) as err2:
        reply.text  # noqa: B018
    assert "may not read images" in str(err2.value) and reply.error is err2.value
