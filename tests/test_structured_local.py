"""Structured output against the REAL local model (llama-cpp-python's server, SmolLM2): it refuses
``response_format`` ``json_schema`` (500, its validation error), so the client sends ``json_object`` with the
schema, remembers that, and validation decides what ``reply.data`` is."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Literal

import pytest

from jupyter_providers import ProviderStore, SchemaError, chat
from jupyter_providers import client as client_module


@dataclasses.dataclass
class Answer:
    answer: Literal["yes", "no"]
    reason: str


@pytest.fixture(autouse=True)
def _forget_forms() -> Iterator[None]:
    client_module._schema_forms.clear()
    yield
    client_module._schema_forms.clear()


def test_the_local_model_is_sent_the_form_it_takes_and_its_reply_validates(local_store: ProviderStore) -> None:
    p = local_store["vLLM"]
    options = {"provider": "vLLM", "store": local_store, "schema": Answer, "temperature": 0, "max_tokens": 60}
    reply = chat("Is the sky blue? Answer in JSON.", **options)  # type: ignore[arg-type]
    assert client_module._schema_forms[(p.name, p.resolved_base)] == "json_object"
    # llama-cpp-python turns the schema into a grammar: the reply is JSON of the schema, built into the class
    assert isinstance(reply.data, Answer) and reply.data.answer in ("yes", "no")
    streamed = chat("Is grass green? Answer in JSON.", stream=True, **options)  # type: ignore[arg-type]
    pieces = list(streamed)
    assert len(pieces) > 1 and isinstance(streamed.data, Answer)


def test_a_reply_cut_short_is_a_schema_error_with_its_text(local_store: ProviderStore) -> None:
    """max_tokens cuts the JSON: the server could not finish it, and nothing wrong reaches ``data``."""
    with pytest.raises(SchemaError) as err:
        chat("Is the sky blue?", provider="vLLM", store=local_store, schema=Answer, temperature=0, max_tokens=4)
    assert err.value.raw_text and err.value.provider == "vLLM" and "not JSON" in str(err.value)
