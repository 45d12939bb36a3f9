"""store.detect: which types answer at an address, whether a key is needed, and the models listed.

Against the protocol-faithful fake of every registry type (with and without a key), fakes that lie (a web
page, an empty 200, garbage or a JSON object of no protocol on every path: never a match), a dead address,
a server that never answers (the deadline holds) and the real local llama.cpp server.
"""

from __future__ import annotations

import socket
import time

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers.adapters import TYPES
from jupyter_providers.local import LocalServer

from .conftest import LOCAL_KEY
from .fakes import FakeServer
from .fakes.liar import answering
from .fakes.server import GARBAGE, HTML_200

KEY = "sk-detect-test-7d1e0b"


@pytest.fixture
def mem() -> ProviderStore:
    return ProviderStore(persist=False, admin_paths=[])


@pytest.mark.parametrize("type_", list(TYPES))
def test_each_types_fake_is_detected_as_that_type_alone(type_: str, mem: ProviderStore) -> None:
    with FakeServer(type_, models=["alpha", "beta-2"]) as fake:
        found = mem.detect(fake.base_url)
    assert found.types == (type_,), found.probes
    assert found.models == ("alpha", "beta-2") and found.key_needed is False
    assert TYPES[type_].label in str(found) and "2 models listed" in str(found)
    assert len(mem) == 0  # nothing added


@pytest.mark.parametrize("type_", list(TYPES))
def test_a_server_that_wants_a_key_says_so_and_the_key_tells_its_type(type_: str, mem: ProviderStore) -> None:
    with FakeServer(type_, api_key=KEY, models=["alpha"]) as fake:
        locked = mem.detect(fake.base_url)
        wrong = mem.detect(fake.base_url, api_key="sk-wrong-one")
        found = mem.detect(fake.base_url, api_key=KEY)
    assert locked.types == () and locked.key_needed is True and "asks for a key" in str(locked), locked.probes
    assert wrong.types == () and wrong.key_needed is True and "key given was refused" in str(wrong)
    assert found.types == (type_,) and found.models == ("alpha",)
    for d in (locked, wrong, found):
        assert KEY not in repr(d) and KEY not in str(d) and "sk-wrong-one" not in repr(d)


def test_an_endpoint_url_and_a_key_in_the_query_are_taken_apart(mem: ProviderStore) -> None:
    with FakeServer("gemini", api_key=KEY, models=["g1"]) as fake:
        found = mem.detect(f"{fake.base_url}/v1beta/models/g1:generateContent?key={KEY}")
    assert found.types == ("gemini",) and found.address == fake.base_url + "/v1beta"
    assert "removed the endpoint path" in found.address_note and KEY not in repr(found) + found.address_note


# -- servers that lie -------------------------------------------------------------------------------------------
LIARS = {
    "a web page at 200": (200, HTML_200.encode(), "text/html; charset=utf-8"),
    "a web page at 200 called JSON": (200, HTML_200.encode(), "application/json"),
    "an empty 200": (200, b"", "application/json"),
    "garbage at 200": (200, GARBAGE, "application/json"),
    "an empty JSON object": (200, b"{}", "application/json"),
    "a list of nothing known": (200, b'{"data": [1, 2], "models": "x"}', "application/json"),
    "JSON null": (200, b"null", "application/json"),
}


@pytest.mark.parametrize("liar", list(LIARS))
def test_a_server_that_lies_is_no_match(liar: str, mem: ProviderStore) -> None:
    with answering(*LIARS[liar]) as url:
        found = mem.detect(url)
    assert found.types == () and found.models == () and not found.ok
    assert "no known API answers" in str(found)


def test_200_on_the_model_list_with_garbage_and_404_elsewhere_is_no_match(mem: ProviderStore) -> None:
    with FakeServer("openai") as fake:
        from .fakes.server import Response

        fake.canned = Response(200, GARBAGE)  # every route the fake knows answers garbage
        found = mem.detect(fake.base_url)
    assert found.types == ()


def test_nothing_there(mem: ProviderStore) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    found = mem.detect(f"http://127.0.0.1:{port}")
    assert found.types == () and "nothing answers" in str(found)


def test_a_server_that_never_answers_ends_at_the_deadline(mem: ProviderStore) -> None:
    with answering(200, b"{}", "application/json", delay=5) as url:
        started = time.monotonic()
        found = mem.detect(url, timeout=1.0)
        took = time.monotonic() - started
    assert found.types == () and took < 3.0
    assert "within the deadline" in str(found)


def test_detect_refuses_what_is_not_an_address(mem: ProviderStore) -> None:
    with pytest.raises(ValueError, match=r"^url: give the address"):
        mem.detect("  ")
    with pytest.raises(ValueError, match=r"^base_url: 'file:///etc' must start with http"):
        mem.detect("file:///etc")


# -- the real local llama.cpp server ----------------------------------------------------------------------------
def test_the_local_llama_cpp_server(mem: ProviderStore, llama_server: LocalServer) -> None:
    """llama-cpp-python's server: OpenAI Chat Completions, not the Responses API (no /v1/responses route),
    with its key; without the key, a key is needed."""
    locked = mem.detect(llama_server.base_url)
    assert locked.types == () and locked.key_needed is True, locked.probes
    found = mem.detect(llama_server.base_url + "/v1/chat/completions", api_key=LOCAL_KEY)
    assert found.types == ("openai",), found.probes
    assert "smollm2" in found.models and found.address == llama_server.base_url + "/v1"
    assert LOCAL_KEY not in repr(found) + str(found)
