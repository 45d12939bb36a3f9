"""The address doctor: every pasted endpoint form, for every registry type, reduced to its base with a note.

The property checked for each type's own URLs (built by its adapter, so a new type is covered by its spec):
the address the store keeps sends requests exactly where the pasted URL went, and the endpoint preview
never doubles a path (``.../chat/completions/chat/completions``).
"""

from __future__ import annotations

import warnings
from urllib.parse import urlsplit

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers._address import check_address
from jupyter_providers._doctor import AddressNote, fix_address
from jupyter_providers.adapters import TYPES, Endpoint, spec
from jupyter_providers.adapters._base import ChatParams
from jupyter_providers.adapters._spec import TypeSpec

KEY = "AIzaSyD-doctor-test-key-0042"

#: the forms people paste (issue 15), on a host of their own
FORMS = [
    "https://h.example/v1/chat/completions",
    "https://h.example/v1/chat/completions/",
    "https://h.example/v1/completions",
    "https://h.example/v1/models",
    "https://h.example/v1/messages",
    "https://h.example/v1/responses",
    "https://h.example/v1beta/models/gemini-2.0-flash:generateContent",
    "https://h.example/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse",
    f"https://h.example/v1beta/models/gemini-2.0-flash:generateContent?key={KEY}",
    "https://h.example/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
    "https://h.example/api/chat",
    "https://h.example/api/generate",
    "https://h.example/api/tags",
    "https://h.example/v1/models?limit=5&after_id=x",
]


def _address(s: TypeSpec) -> str:
    """An address of the type's own kind: its default, or its placeholder (Azure's resource)."""
    return s.default_address or s.placeholder


def _own_urls(s: TypeSpec) -> list[tuple[str, str | None]]:
    """(URL, model in it) the type's adapter builds: its chat URL (whole and streamed) and its model list's."""
    base = s.base(_address(s))
    e = Endpoint(s.name, base, _address(s), options={f.name: f.value(None) for f in s.extra_fields})
    chat = [s.adapter.chat_url(e, "m1", stream) for stream in (False, True)]
    listing = s.adapter.models_request(e, "", None).url
    return [(chat[0], "m1"), (chat[1], "m1"), (listing, None)]


def _store() -> ProviderStore:
    return ProviderStore(persist=False, admin_paths=[])


@pytest.mark.parametrize("type_", list(TYPES))
def test_each_types_own_endpoint_urls_go_back_exactly_where_they_went(type_: str) -> None:
    s = spec(type_)
    for url, model in _own_urls(s):
        fix = fix_address(url, type_)
        assert fix.removed, f"{type_}: nothing removed from {url}"
        assert "?" not in fix.address and fix.foreign is None
        store = _store()
        with pytest.warns(AddressNote) as caught:
            store.add("P", type=type_, base_url=url, api_key="")
        note = str(caught[0].message)
        assert fix.removed in note and note.startswith("base_url: now ")
        p = store["P"]
        preview = store.endpoint_preview("P", model or "m1")
        chat = s.adapter.chat_url(p.endpoint, model or "m1", stream=False)
        assert preview == chat
        assert urlsplit(preview).path.count(urlsplit(_own_urls(s)[0][0]).path.rsplit("/", 1)[-1]) == 1, preview
        if model is not None and "{model}" in " ".join(s.endpoint_paths):  # the model came from the path
            assert "m1" in p.model_ids
        if url == _own_urls(s)[0][0]:  # the pasted chat URL itself: the preview is that URL, query and all
            assert preview == url, f"{type_}: pasted {url}, requests would go to {preview}"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("type_", list(TYPES))
def test_every_pasted_form_for_every_type(type_: str, form: str) -> None:
    """The address kept holds no query and no key, passes the store's checks, and the preview built on it
    never holds the removed path twice; the note says what was removed and, for another type's path, that
    the type may be wrong."""
    fix = fix_address(form, type_)
    assert fix.changed and fix.removed
    assert "?" not in fix.address and KEY not in fix.address and KEY not in fix.note(True, type_)
    assert check_address(fix.address) == fix.address
    store = _store()
    with pytest.warns(AddressNote) as caught:
        store.add("P", type=type_, base_url=form, api_key="" if KEY not in form else None, models=["m"])
    note = " ".join(str(w.message) for w in caught)
    assert fix.removed in note and KEY not in note
    if fix.foreign:
        assert "check the type" in note
    preview = store.endpoint_preview("P", "m")
    assert KEY not in preview
    tail = fix.removed.rsplit("/", 1)[-1].split(":")[0]
    assert preview.count(tail) <= 1 or tail == "m", preview
    assert "/chat/completions/chat/completions" not in preview


def test_azure_the_deployment_becomes_a_model_and_the_api_version_is_kept() -> None:
    store = _store()
    url = "https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-06-01"
    with pytest.warns(AddressNote, match="the model 'gpt4o' was taken from it; api_version '2024-06-01'"):
        p = store.add("Az", type="azure", base_url=url, api_key="k")
    assert (p.base_url, p.model_ids, p.api_version) == ("https://r.openai.azure.com", ["gpt4o"], "2024-06-01")
    assert store.endpoint_preview("Az") == url
    # an api_version given wins over the pasted one
    with pytest.warns(AddressNote):
        q = store.add("Az2", type="azure", base_url=url, api_key="k", api_version="2024-10-21")
    assert q.api_version == "2024-10-21"
    # the v1 route keeps /openai/v1
    with pytest.warns(AddressNote):
        v1 = store.add("Az3", type="azure", base_url="https://r.openai.azure.com/openai/v1/chat/completions")
    assert v1.base_url == "https://r.openai.azure.com/openai/v1"


def test_a_key_in_the_query_becomes_the_key_only_when_none_is_given_and_is_never_shown() -> None:
    store = _store()
    url = f"https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent?key={KEY}"
    with pytest.warns(AddressNote, match=r"a key \(key=\) was removed .*it is now the provider's API key") as w:
        p = store.add("G", type="gemini", base_url=url)
    assert p.api_key == KEY and p.key_source == "entered"
    assert p.base_url == "https://generativelanguage.googleapis.com/v1beta" and p.model_ids == ["gemini-2.0-flash"]
    assert KEY not in str(w[0].message) and KEY not in repr(p) and KEY not in store.endpoint_preview("G")
    with pytest.warns(AddressNote, match="it was dropped: the provider has a key of its own"):
        q = store.add("G2", type="gemini", base_url=url, api_key="mine")
    assert q.api_key == "mine"
    with pytest.warns(AddressNote, match="it was dropped"):
        r = store.add("G3", type="gemini", base_url=url, api_key_env="MY_GEMINI_KEY")
    assert r.api_key is None


def test_update_doctors_the_address_too() -> None:
    store = _store()
    store.add("O", type="openai", base_url="http://localhost:8000", api_key="")
    with pytest.warns(AddressNote, match="removed the endpoint path '/chat/completions'"):
        p = store.update("O", base_url="http://localhost:8000/v1/chat/completions")
    assert p.base_url == "http://localhost:8000/v1"
    assert store.endpoint_preview("O", "x") == "http://localhost:8000/v1/chat/completions"
    store.add("Z", type="azure", base_url="https://r.openai.azure.com", api_key="k", models=["a"])
    with pytest.warns(AddressNote):
        z = store.update(
            "Z", base_url="https://r.openai.azure.com/openai/deployments/b/chat/completions?api-version=x1"
        )
    assert z.model_ids == ["a", "b"] and z.api_version == "x1" and z.api_key == "k"
    # a key pasted into an address of a provider holding none becomes its key; one holding a key keeps it
    store.add("G", type="gemini", api_key=None)
    with pytest.warns(AddressNote, match="it is now the provider's API key"):
        assert store.update("G", base_url=f"https://generativelanguage.googleapis.com/v1beta?key={KEY}").api_key == KEY
    with pytest.warns(AddressNote, match="it was dropped"):
        assert store.update("Z", base_url=f"https://r.openai.azure.com?api-key={KEY}").api_key == "k"


def test_addresses_without_an_endpoint_path_are_left_as_they_are() -> None:
    store = _store()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no note for an address already right
        for url in ("http://localhost:8000/", "http://localhost:8000/v1", "https://api.openai.com", "http://x/api/v3"):
            assert store.add(f"P{len(store)}", base_url=url, api_key="").base_url == url


def test_a_final_hash_keeps_the_path_but_never_a_query() -> None:
    fix = fix_address(f"https://proxy.example/custom/route?key={KEY}#", "openai")
    assert fix.address == "https://proxy.example/custom/route#" and fix.key == KEY and not fix.removed


@pytest.mark.parametrize("type_", list(TYPES))
def test_a_chat_url_ending_with_a_hash_is_where_chats_go(type_: str) -> None:
    """Cherry Studio's "# = use this URL": its own chat URL typed with a final # is where each chat goes (not
    that URL with the chat path added again), and the note says so."""
    s = spec(type_)
    url, model = _own_urls(s)[0]
    store = _store()
    with pytest.warns(AddressNote, match="requests go exactly to the URL typed"):
        store.add("P", type=type_, base_url=url + "#", api_key="")
    assert store["P"].base_url.endswith("#")
    assert store.endpoint_preview("P", model or "m1") == url


def test_an_address_without_the_version_segment_keeps_exactly_the_pasted_route() -> None:
    """DeepSeek's documented URL has no /v1: the base gets a final #, so requests go where the URL went."""
    store = _store()
    with pytest.warns(AddressNote, match="ends with #"):
        store.add("DS", base_url="https://api.deepseek.com/chat/completions", api_key="k")
    assert store.endpoint_preview("DS") == "https://api.deepseek.com/chat/completions"
    with pytest.warns(AddressNote):  # Open WebUI's /api prefix
        store.add("OW", base_url="http://localhost:3000/api/chat/completions", api_key="k")
    assert store.endpoint_preview("OW") == "http://localhost:3000/api/chat/completions"


def test_another_types_path_is_cut_and_the_note_says_to_check_the_type() -> None:
    store = _store()
    with pytest.warns(AddressNote, match=r"that path is Ollama's \(ollama\), not OpenAI's: check the type"):
        p = store.add("O", type="openai", base_url="http://localhost:11434/api/chat", api_key="")
    assert store.endpoint_preview("O", "x") == "http://localhost:11434/v1/chat/completions"  # Ollama's /v1
    assert p.base_url == "http://localhost:11434"


def test_query_parameters_are_named_never_their_values() -> None:
    fix = fix_address("https://h.example/v1/models?limit=5&sig=s3cr3t&%00bad=1&x=y", "openai")
    note = fix.note()
    assert "limit, x, 1 other were dropped" in note and "s3cr3t" not in note and "5" not in note.split("now")[-1]
    assert fix.key == "s3cr3t"


def test_every_type_declares_its_endpoint_paths() -> None:
    for s in TYPES.values():
        assert s.endpoint_paths, f"{s.name}: declare endpoint_paths on its TypeSpec"
        assert all(p.startswith("/") and not p.endswith("/") for p in s.endpoint_paths)


def test_a_chat_request_without_messages_builds_for_every_type() -> None:
    """What store.detect's route probe builds its headers from (then sends an empty JSON object)."""
    for s in TYPES.values():
        e = Endpoint(s.name, s.base(_address(s)), _address(s))
        assert s.adapter.chat_request(e, "", ChatParams("m", []), stream=False).url.startswith("http")
