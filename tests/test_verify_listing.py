"""An OK verify checked against the server's model list (jupyter_providers/_verify.py), against the loopback fakes.

llama-cpp-python's server and llama.cpp's llama-server answer any model name with the one model they serve (the
fakes' ``any_model``): ``verify(model="gpt-5")`` stays OK, and its message says which model answers. Only the
types whose list names every model a chat can ask for (``TypeSpec.lists_every_model``) are asked, once; a list
that cannot tell (failed, hung, empty, cut, wildcard routes, a LiteLLM proxy's) changes nothing. The same
against the real llama-cpp-python server: tests/test_client_local.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers import client as client_module
from jupyter_providers._verify import _names
from jupyter_providers.adapters import TYPES

from .fakes import FakeServer
from .fakes.server import json_response

KEY = "sk-fake-key-0b84e2d6a1"
LISTING = [t for t, s in TYPES.items() if s.lists_every_model]
NOT_ASKED = [t for t, s in TYPES.items() if not s.lists_every_model]
ONE = r"gpt-5 answered in \d+ ms, but the server lists only smollm2: it serves its own model whatever name is asked"


def test_the_openai_compatible_types_are_the_ones_asked() -> None:
    """Azure's deployments are not in its list; Anthropic, Gemini and Ollama refuse a name they do not serve."""
    assert LISTING == ["openai", "openai-responses"]


@pytest.fixture(params=LISTING)
def fake(request: pytest.FixtureRequest) -> Iterator[FakeServer]:
    with FakeServer(request.param, api_key=KEY, models=["smollm2"]) as srv:
        srv.any_model = True
        yield srv


def add(store: ProviderStore, fake: FakeServer, models: tuple[str, ...] = ("smollm2",), key: str = KEY) -> None:
    store.add("P", type=fake.protocol, base_url=fake.base_url, api_key=key, models=list(models))


def gets(fake: FakeServer) -> int:
    return sum(1 for r in fake.requests if r.method == "GET")


def test_a_name_the_server_does_not_list(store: ProviderStore, fake: FakeServer) -> None:
    add(store, fake)
    v = store.verify("P", model="gpt-5")
    assert (v.ok, v.kind, v.status, v.model, v.listed) == (True, "ok", 200, "gpt-5", False), v
    assert re.fullmatch(ONE, v.message), v.message
    assert str(v) == f"OK - {v.message}" and "\n" not in str(v)
    assert gets(fake) == 1  # one GET of the list, after the chat
    assert store["P"].last_verification == v


def test_the_stored_model_is_checked_too(store: ProviderStore, fake: FakeServer) -> None:
    add(store, fake, models=("gpt-5",))
    v = store.verify("P")
    assert (v.kind, v.listed) == ("ok", False) and re.fullmatch(ONE, v.message), v


def test_a_listed_name_keeps_the_plain_message(store: ProviderStore, fake: FakeServer) -> None:
    add(store, fake)
    v = store.verify("P", model="smollm2")
    assert (v.kind, v.listed) == ("ok", True) and re.fullmatch(r"smollm2 answered in \d+ ms", v.message), v


def test_several_listed_models(store: ProviderStore, fake: FakeServer) -> None:
    fake.models = ["smollm2", "qwen3-0.6b"]
    add(store, fake)
    v = store.verify("P", model="gpt-5")
    assert (v.kind, v.listed) == ("ok", False), v
    assert re.fullmatch(
        r"gpt-5 answered in \d+ ms, but the server lists only smollm2, qwen3-0\.6b: "
        r"it answers a name it does not list with one of these",
        v.message,
    ), v.message


def test_several_keys_that_work(store: ProviderStore, fake: FakeServer) -> None:
    fake.api_key = None  # every key works
    add(store, fake, key="sk-first-0000001,sk-second-000002")
    v = store.verify("P", model="gpt-5")
    assert (v.kind, v.listed) == ("ok", False), v
    assert re.fullmatch(r"all 2 keys work; " + ONE, v.message), v.message
    assert [k.message for k in v.keys if "lists" in k.message] == []  # the note is the verdict's, once
    assert "sk-first" not in repr(v) and "sk-second" not in repr(v)


def test_a_wildcard_route_adds_no_note(store: ProviderStore, fake: FakeServer) -> None:
    """A LiteLLM proxy asked for its wildcard routes (or another router) lists ``openai/*``: it serves names
    it does not list, each as itself."""
    fake.models = ["smollm2", "openai/*"]
    add(store, fake)
    v = store.verify("P", model="gpt-5")
    assert (v.kind, v.listed) == ("ok", None) and re.fullmatch(r"gpt-5 answered in \d+ ms", v.message), v


def test_a_litellm_proxy_adds_no_note_and_is_not_asked(store: ProviderStore, fake: FakeServer) -> None:
    """LiteLLM lists a wildcard route as the provider models it knows and routes other names too: its
    ``x-litellm-*`` headers on the chat's answer say the list cannot tell."""
    fake.headers = {"x-litellm-version": "1.80.0", "x-litellm-model-id": "abc123"}
    add(store, fake)
    v = store.verify("P", model="gpt-5")
    assert (v.kind, v.listed) == ("ok", None) and re.fullmatch(r"gpt-5 answered in \d+ ms", v.message), v
    assert gets(fake) == 0


@pytest.mark.parametrize("fault", ["server_error", "auth", "not_json", "html_200"])
def test_a_list_that_fails_keeps_the_plain_ok(store: ProviderStore, fake: FakeServer, fault: str) -> None:
    fake.fault_for = lambda req: fault if req.method == "GET" else None
    add(store, fake)
    v = store.verify("P", model="gpt-5")
    assert (v.ok, v.kind, v.status, v.listed) == (True, "ok", 200, None), v
    assert re.fullmatch(r"gpt-5 answered in \d+ ms", v.message), v
    assert KEY not in repr(v)


def test_a_list_that_hangs_ends_with_the_deadline(store: ProviderStore, fake: FakeServer) -> None:
    fake.fault_for = lambda req: "hang" if req.method == "GET" else None
    add(store, fake)
    started = time.monotonic()
    v = store.verify("P", model="gpt-5", timeout=1.5)
    took = time.monotonic() - started
    assert (v.kind, v.listed) == ("ok", None) and re.fullmatch(r"gpt-5 answered in \d+ ms", v.message), v
    assert took < 4.0, took


def test_an_empty_list_tells_nothing(store: ProviderStore, fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = json_response(200, {"object": "list", "data": []})
    monkeypatch.setattr(fake.facts, "list_models", lambda req, route: empty)
    add(store, fake)
    v = store.verify("P", model="gpt-5")
    assert (v.kind, v.listed) == ("ok", None) and re.fullmatch(r"gpt-5 answered in \d+ ms", v.message), v


def test_a_cut_list_tells_nothing(store: ProviderStore, fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut at ``max_models``: the name may be past the cut."""
    fake.models = ["smollm2", "qwen3-0.6b"]
    monkeypatch.setattr(client_module.settings, "max_models", 1)
    add(store, fake)
    v = store.verify("P", model="gpt-5")
    assert (v.kind, v.listed) == ("ok", None) and re.fullmatch(r"gpt-5 answered in \d+ ms", v.message), v


def test_a_listed_id_holding_the_key_is_never_shown(store: ProviderStore, fake: FakeServer) -> None:
    """A proxy that lists what it was sent: list_models leaves the id out, and the choke point scrubs the rest."""
    fake.models = ["smollm2", f"echo-{KEY}"]
    add(store, fake)
    v = store.verify("P", model="gpt-5")
    assert (v.kind, v.listed) == ("ok", False) and re.fullmatch(ONE, v.message), v
    assert KEY not in repr(v) and KEY not in str(v)


@pytest.mark.parametrize("protocol", NOT_ASKED)
def test_the_other_types_are_not_asked(store: ProviderStore, protocol: str) -> None:
    """No GET after an OK chat: their list is not asked, whatever it says."""
    with FakeServer(protocol, api_key=KEY, models=["smollm2"]) as srv:
        kwargs = srv.facts.store_kwargs()
        store.add("P", type=protocol, base_url=srv.base_url, api_key=KEY, models=["smollm2"], **kwargs)
        v = store.verify("P")
        assert (v.kind, v.listed) == ("ok", None) and re.fullmatch(r"smollm2 answered in \d+ ms", v.message), v
        assert gets(srv) == 0


@pytest.mark.parametrize(
    ("ids", "model"),
    [
        (["llama3.2:latest"], "llama3.2"),  # Ollama's /v1 lists the tag it implies
        (["openai/gpt-4o"], "openai/gpt-4o:nitro"),  # OpenRouter's variants
        (["models/gemini-2.0-flash"], "gemini-2.0-flash"),  # Gemini's OpenAI-compatible list
        (["SmolLM2"], "smollm2"),
    ],
)
def test_other_spellings_of_a_listed_name_count_as_listed(ids: list[str], model: str) -> None:
    assert _names(ids, model)
    assert not _names(ids, "gpt-5")
