"""vLLM's dialect of the OpenAI protocol, against the vLLM-flavoured fake (tests/fakes/openai.py ``VLLM``).

The fake's shapes are checked against a real vLLM in tests/vllm/test_vllm.py; these tests keep the
package's handling of them covered where vLLM is not installed: an unknown model is a 404 with a
numeric ``code`` (streaming too), a wrong key a 401 whose ``error`` is a string, and the model list
carries ``max_model_len``, which the store keeps as the model's context length.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import AuthenticationError, ModelNotFoundError, ProviderStore, chat
from jupyter_providers._table import ProvidersTable
from jupyter_providers.adapters._base import MAX_CONTEXT_LENGTH, model_context_lengths
from jupyter_providers.magics import ChatMagics
from jupyter_providers.widgets import ProvidersPanel

from ..fakes import FakeServer
from ..widgets import text

KEY = "sk-vllm-fake-93c1d07e"


@pytest.fixture
def srv() -> Iterator[FakeServer]:
    with FakeServer("vllm", api_key=KEY, models=["smollm2", "qwen"]) as s:
        yield s


@pytest.fixture
def vstore(store: ProviderStore, srv: FakeServer) -> ProviderStore:
    store.add("vLLM", type="openai", base_url=srv.base_url + "/", api_key=KEY, models=["smollm2"])
    return store


def test_unknown_model_lists_the_served_names(vstore: ProviderStore) -> None:
    v = vstore.verify("vLLM", model="gpt2")
    assert (v.ok, v.kind, v.status) == (False, "model_not_found", 404)
    assert "gpt2" in v.message and "smollm2, qwen" in v.message


@pytest.mark.parametrize("stream", [False, True])
def test_unknown_model_raises_model_not_found(vstore: ProviderStore, stream: bool) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        reply = chat("Hi", provider="vLLM", model="gpt2", stream=stream, store=vstore)
        list(reply)
    assert info.value.status == 404 and "Valid aliases: smollm2, qwen" in str(info.value.server_message)


@pytest.mark.parametrize("key", ["sk-wrong-000000", ""])
def test_wrong_or_missing_key_is_auth(vstore: ProviderStore, key: str) -> None:
    vstore.update("vLLM", api_key=key)
    v = vstore.verify("vLLM")
    assert (v.ok, v.kind, v.status) == (False, "auth", 401)
    assert "Unauthorized" in v.message and "sk-wrong" not in v.message
    with pytest.raises(AuthenticationError) as info:
        list(chat("Hi", provider="vLLM", stream=True, store=vstore))
    assert info.value.server_message == "Unauthorized"


def test_stream_usage_arrives_in_the_last_chunk(vstore: ProviderStore, srv: FakeServer) -> None:
    reply = chat("Hi", provider="vLLM", stream=True, store=vstore)
    assert "".join(reply) == srv.reply
    assert reply.usage.input_tokens and reply.usage.output_tokens and reply.finish_reason == "stop"


# -- context length -------------------------------------------------------------------------------------
def test_fetch_sets_the_context_length_and_it_is_kept(vstore: ProviderStore, tmp_path: Any) -> None:
    assert vstore["vLLM"].models[0].context_length is None
    assert vstore.fetch_models("vLLM") == ["smollm2", "qwen"]
    assert [m.context_length for m in vstore["vLLM"].models] == [2048]
    vstore.add_models("vLLM", "qwen", "other")  # qwen came from the list, "other" did not
    assert [(m.id, m.context_length) for m in vstore["vLLM"].models] == [
        ("smollm2", 2048), ("qwen", 2048), ("other", None),
    ]  # fmt: skip
    again = ProviderStore(tmp_path / "store", admin_paths=[])  # what another kernel reads
    assert [m.context_length for m in again["vLLM"].models] == [2048, 2048, None]
    assert "smollm2 (2,048 tokens), qwen (2,048 tokens), other" in repr(ProvidersTable(vstore))


def test_panel_and_providers_show_the_context_length(vstore: ProviderStore) -> None:
    vstore.fetch_models("vLLM")
    panel = ProvidersPanel(store=vstore)
    try:
        panel.select("vLLM")
        row = panel.detail.models.rows["smollm2"]
        assert "2,048 tokens" in text(row.children[0].value)
    finally:
        panel.close()
    shell = InteractiveShell.instance()
    shell.register_magics(ChatMagics(shell, store=vstore))
    with capture_output() as cap:
        shell.run_line_magic("providers", "")
    assert "smollm2 (2,048 tokens)" in cap.outputs[0].data["text/html"]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"id": "a", "max_model_len": 4096}, {"a": 4096}),  # vLLM
        ({"id": "a", "context_length": 131072}, {"a": 131072}),  # OpenRouter
        ({"id": "a", "context_window": 8192}, {"a": 8192}),  # Groq
        ({"id": "a"}, {}),
        ({"id": "a", "max_model_len": "4096"}, {}),
        ({"id": "a", "max_model_len": True}, {}),
        ({"id": "a", "max_model_len": 0}, {}),
        ({"id": "a", "max_model_len": MAX_CONTEXT_LENGTH + 1}, {}),
        ({"max_model_len": 4096}, {}),
        ("a", {}),
    ],
)
def test_model_context_lengths_trusts_only_sane_numbers(entry: Any, expected: dict[str, int]) -> None:
    assert model_context_lengths({"data": [entry]}) == expected


@pytest.mark.parametrize("data", [None, [], {"data": None}, {"data": {"id": "a"}}, {"models": []}])
def test_model_context_lengths_of_other_shapes(data: Any) -> None:
    assert model_context_lengths(data) == {}
