"""The provider store: records, validation, endpoint preview, change events, keys."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers import Verification
from jupyter_providers import _store_base as store_base_module
from jupyter_providers import store as store_module
from jupyter_providers.adapters import TYPES
from jupyter_providers.adapters.azure import DEFAULT_API_VERSION as DEFAULT_AZURE_API_VERSION
from jupyter_providers.store import Model, Provider, ProviderStore, get_store

KEY_ENV_VARS = {name: s.key_env_vars for name, s in TYPES.items()}

KEY_VARS = [
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
    "MY_VAR",
]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No key from the machine running the tests; never the real config dir or keyring."""
    for var in KEY_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JUPYTER_PROVIDERS_KEYRING", "0")
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "default-config"))


@pytest.fixture(params=["memory", "disk"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ProviderStore:
    """The same behaviour is expected whether or not the store persists."""
    if request.param == "memory":
        return ProviderStore(persist=False, admin_paths=[])
    return ProviderStore(tmp_path / "config", admin_paths=[])


@pytest.fixture
def mem() -> ProviderStore:
    return ProviderStore(persist=False, admin_paths=[])


class Recorder:
    """An ``on_change`` listener that remembers what it was told."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str | None]] = []

    def __call__(self, event: str, name: str | None) -> None:
        self.events.append((event, name))


def _files_of(store: ProviderStore) -> dict[str, bytes]:
    files = store._files
    if files is None or not files.dir.exists():
        return {}
    return {p.name: p.read_bytes() for p in sorted(files.dir.iterdir()) if p.is_file() and not p.name.endswith(".lock")}


@pytest.fixture
def assert_rejected() -> Callable[..., str]:
    """Run ``action``: it must raise ValueError starting with ``field:`` and change nothing at all."""

    def check(store: ProviderStore, field: str, action: Callable[[], Any]) -> str:
        before = list(store)
        files_before = _files_of(store)
        seen = Recorder()
        unsubscribe = store.on_change(seen)
        try:
            with pytest.raises(ValueError) as info:
                action()
        finally:
            unsubscribe()
        message = str(info.value)
        assert message.startswith(f"{field}:"), message
        assert list(store) == before
        assert _files_of(store) == files_before
        assert seen.events == []
        return message

    return check


# -- adding and reading ----------------------------------------------------------------------------------


def test_add_returns_the_record_and_the_store_holds_it(store: ProviderStore) -> None:
    p = store.add("vLLM", type="openai", base_url="http://localhost:8000/", api_key="")
    assert isinstance(p, Provider)
    assert (p.name, p.type, p.base_url, p.enabled, p.models, p.readonly) == (
        "vLLM",
        "openai",
        "http://localhost:8000/",
        True,
        (),
        False,
    )
    assert "vLLM" in store
    assert "vllm" not in store  # lookups are exact; only clashes are case-insensitive
    assert store["vLLM"] == p
    assert store.get("vLLM") == p
    assert store.get("nope") is None
    assert list(store) == [p]
    assert store.names() == ["vLLM"]
    assert len(store) == 1


def test_defaults_and_order(store: ProviderStore) -> None:
    store.add("b")
    store.add("a", type="anthropic")
    store.add("c", type="gemini")
    assert store.names() == ["b", "a", "c"]  # insertion order
    assert store["b"].type == "openai"
    assert store["b"].api_key is None
    assert store["b"].verify_tls is True


def test_name_is_trimmed(store: ProviderStore) -> None:
    assert store.add("  spaced  ").name == "spaced"
    assert "spaced" in store


def test_contains_is_false_for_non_strings(store: ProviderStore) -> None:
    store.add("x")
    assert 1 not in store
    assert None not in store


def test_missing_provider_key_error_lists_known_names(store: ProviderStore) -> None:
    with pytest.raises(KeyError, match="no provider named 'nope'; known providers: none yet"):
        store["nope"]
    store.add("one")
    store.add("two")
    with pytest.raises(KeyError, match="known providers: one, two"):
        store["nope"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Azure OpenAI", "azure"),
        ("azure-openai", "azure"),
        ("azure_openai", "azure"),
        ("AZURE", "azure"),
        ("google", "gemini"),
        ("Gemini", "gemini"),
        (" OpenAI ", "openai"),
        ("Anthropic", "anthropic"),
    ],
)
def test_type_aliases(store: ProviderStore, typed: str, expected: str) -> None:
    assert store.add("p", type=typed).type == expected


def test_add_with_models_and_options(store: ProviderStore) -> None:
    p = store.add(
        "local",
        "openai",
        "http://127.0.0.1:8000",
        "sk-1",
        models=["smollm2", "gpt2"],
        enabled=False,
        api_version=" 2024-06-01 ",
        headers={"X-Team": "ml"},
        api_key_env="MY_VAR",
        verify_tls=False,
    )
    assert p.model_ids == ["smollm2", "gpt2"]
    assert p.enabled is False
    assert p.api_version == "2024-06-01"
    assert dict(p.headers) == {"X-Team": "ml"}
    assert p.api_key_env == "MY_VAR"
    assert p.verify_tls is False


def test_add_keeps_duplicate_model_ids_once(store: ProviderStore) -> None:
    assert store.add("p", models=["a", "b", "a", " b "]).model_ids == ["a", "b"]


def test_add_accepts_a_single_string_of_models(store: ProviderStore) -> None:
    # A string is one id (or a comma-separated list), never a sequence of one-letter ids.
    assert store.add("p", models="gpt-4o").model_ids == ["gpt-4o"]
    assert store.add("q", models="a, b,a").model_ids == ["a", "b"]


def test_blank_api_version_is_none(store: ProviderStore) -> None:
    assert store.add("p", api_version="  ").api_version is None


def test_records_are_immutable_snapshots(store: ProviderStore) -> None:
    p = store.add("p", headers={"X-A": "1"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.enabled = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.headers["X-B"] = "2"  # type: ignore[index]
    store.update("p", enabled=False)
    assert p.enabled is True  # the old snapshot did not move
    assert store["p"].enabled is False


# -- updating and removing ---------------------------------------------------------------------------------


def test_update_each_field(store: ProviderStore) -> None:
    store.add("p", base_url="http://localhost:8000")
    p = store.update(
        "p",
        base_url=" http://localhost:9000/v1 ",
        api_key="sk-new",
        api_key_env="MY_VAR",
        enabled=False,
        api_version="2025-01-01",
        headers={"X-A": "1"},
        verify_tls=False,
        type="Azure OpenAI",
    )
    assert p == store["p"]
    assert p.base_url == "http://localhost:9000/v1"
    assert p.api_key == "sk-new"
    assert p.api_key_env == "MY_VAR"
    assert p.enabled is False
    assert p.api_version == "2025-01-01"
    assert dict(p.headers) == {"X-A": "1"}
    assert p.verify_tls is False
    assert p.type == "azure"


def test_update_leaves_other_fields_alone(store: ProviderStore) -> None:
    store.add("p", "anthropic", "https://gw.example.com", "sk-1", models=["claude"], headers={"X-A": "1"})
    p = store.update("p", enabled=False)
    assert (p.type, p.base_url, p.api_key, p.model_ids, dict(p.headers)) == (
        "anthropic",
        "https://gw.example.com",
        "sk-1",
        ["claude"],
        {"X-A": "1"},
    )


def test_update_can_clear_values(store: ProviderStore) -> None:
    store.add("p", base_url="http://h", api_version="v", headers={"X-A": "1"}, api_key_env="MY_VAR")
    p = store.update("p", base_url="", api_version=None, headers=None, api_key_env="")
    assert (p.base_url, p.api_version, dict(p.headers), p.api_key_env) == ("", None, {}, None)
    assert store.update("p", api_version="  ").api_version is None


def test_update_unknown_provider_is_a_key_error(store: ProviderStore) -> None:
    with pytest.raises(KeyError, match="no provider named 'ghost'"):
        store.update("ghost", enabled=False)


def test_remove(store: ProviderStore) -> None:
    store.add("a")
    store.add("b")
    store.remove("a")
    assert "a" not in store
    assert store.names() == ["b"]
    with pytest.raises(KeyError, match="no provider named 'a'"):
        store.remove("a")
    store.add("A")  # the name can be used again
    assert store.names() == ["b", "A"]


# -- models -----------------------------------------------------------------------------------------------------


def test_add_models(store: ProviderStore) -> None:
    store.add("vLLM", base_url="http://localhost:8000/", api_key="")
    p = store.add_models("vLLM", "gpt2", "smollm2")
    assert p.model_ids == ["gpt2", "smollm2"]
    assert store["vLLM"].model_ids == ["gpt2", "smollm2"]
    assert all(isinstance(m, Model) for m in p.models)


def test_add_models_comma_separated_and_duplicates_kept_once(store: ProviderStore) -> None:
    store.add("p", models=["a"])
    p = store.add_models("p", "b, c,,a", " d ", "b", "c,e")
    assert p.model_ids == ["a", "b", "c", "d", "e"]


def test_add_models_unknown_provider(store: ProviderStore) -> None:
    with pytest.raises(KeyError, match="no provider named 'ghost'"):
        store.add_models("ghost", "m")


def test_remove_model(store: ProviderStore) -> None:
    store.add("vLLM", models=["gpt2", "smollm2"])
    p = store.remove_model("vLLM", "gpt2")
    assert p.model_ids == ["smollm2"]
    with pytest.raises(KeyError, match="has no model 'gpt2'; it has: smollm2"):
        store.remove_model("vLLM", "gpt2")


def test_update_model_display_name_and_group(store: ProviderStore) -> None:
    store.add("p", models=["meta-llama/Llama-3-8B", "other"])
    p = store.update_model("p", "meta-llama/Llama-3-8B", display_name=" Llama 3 ", group=" Meta ")
    m = p.model("meta-llama/Llama-3-8B")
    assert m == Model("meta-llama/Llama-3-8B", "Llama 3", "Meta")
    assert (m.display_name, m.group_name) == ("Llama 3", "Meta")
    # only the named model changed, in place
    assert p.model_ids == ["meta-llama/Llama-3-8B", "other"]
    assert p.model("other") == Model("other")
    # "" restores the derived display name and group
    m2 = store.update_model("p", "meta-llama/Llama-3-8B", display_name="", group="").model("meta-llama/Llama-3-8B")
    assert m2 is not None
    assert (m2.display_name, m2.group_name) == ("meta-llama/Llama-3-8B", "Llama")


def test_update_model_leaves_unset_parts_alone(store: ProviderStore) -> None:
    store.add("p", models=["m"])
    store.update_model("p", "m", display_name="Shown", group="G")
    assert store.update_model("p", "m", group="H").model("m") == Model("m", "Shown", "H")


def test_update_model_rename_id(store: ProviderStore) -> None:
    store.add("p", models=["a", "b", "c"])
    store.update_model("p", "b", display_name="Bee")
    p = store.update_model("p", "b", id=" b2 ")
    assert p.model_ids == ["a", "b2", "c"]
    assert p.model("b2") == Model("b2", "Bee", "")
    assert p.model("b") is None
    # renaming to itself is fine
    assert store.update_model("p", "a", id="a").model_ids == ["a", "b2", "c"]


def test_update_model_errors(store: ProviderStore, assert_rejected: Callable[..., str]) -> None:
    store.add("p", models=["a", "b"])
    assert_rejected(store, "model", lambda: store.update_model("p", "a", id="b"))
    assert_rejected(store, "model", lambda: store.update_model("p", "a", id="has space"))
    assert_rejected(store, "model", lambda: store.update_model("p", "a", id=""))
    with pytest.raises(KeyError, match="has no model 'zzz'"):
        store.update_model("p", "zzz", display_name="x")


@pytest.mark.parametrize(
    ("model_id", "group"),
    [
        ("gpt-4o", "gpt"),
        ("claude-3-5-sonnet", "claude"),
        ("gemini-1.5-pro", "gemini"),
        ("models/gemini-2.0-flash", "gemini"),
        ("qwen2.5:7b", "qwen2"),
        ("smollm2", "smollm2"),
        ("-odd", "-odd"),
    ],
)
def test_derived_group_name(model_id: str, group: str) -> None:
    assert Model(model_id).group_name == group
    assert Model(model_id).display_name == model_id


# -- validation: ValueError naming the field, and nothing changed -----------------------------------------------


@pytest.mark.parametrize("name", ["", "   ", None, 42, "x" * 65, "bad\x00name", "tab\tname"], ids=repr)
def test_invalid_names(store: ProviderStore, assert_rejected: Callable[..., str], name: Any) -> None:
    store.add("existing")
    assert_rejected(store, "name", lambda: store.add(name))


@pytest.mark.parametrize(("name", "kind"), [(None, "NoneType"), (42, "int"), (["vLLM"], "list")])
def test_a_name_that_is_not_a_string_is_told_so(store: ProviderStore, name: Any, kind: str) -> None:
    with pytest.raises(ValueError, match=f"^name: give the provider's name as a string, not {kind}$"):
        store.add(name)


@pytest.mark.parametrize("clash", ["vLLM", "vllm", "VLLM", " vLLM "])
def test_duplicate_names_case_insensitive(
    store: ProviderStore, assert_rejected: Callable[..., str], clash: str
) -> None:
    store.add("vLLM", base_url="http://localhost:8000", api_key="sk-1", models=["m"])
    message = assert_rejected(store, "name", lambda: store.add(clash, base_url="http://other:1"))
    assert "'vLLM' already exists" in message
    assert store["vLLM"].base_url == "http://localhost:8000"


@pytest.mark.parametrize("type_", ["bedrock", "", "openai2", None, 3])
def test_unknown_type(store: ProviderStore, assert_rejected: Callable[..., str], type_: Any) -> None:
    store.add("existing")
    if type_ is not None:  # add's default: "openai", or the preset's type
        message = assert_rejected(store, "type", lambda: store.add("new", type=type_))
        assert ", ".join(TYPES) in message  # every type of the registry is named
    assert_rejected(store, "type", lambda: store.update("existing", type=type_))


def test_no_type_means_openai(store: ProviderStore) -> None:
    assert store.add("p").type == "openai"


@pytest.mark.parametrize(
    "url", ["file://x", "javascript:alert(1)", "ftp://", "http://a b", "http://", "http://h:70000", "http://u:p@h"]
)
def test_bad_url(store: ProviderStore, assert_rejected: Callable[..., str], url: str) -> None:
    store.add("existing", base_url="http://localhost:8000")
    assert_rejected(store, "base_url", lambda: store.add("new", base_url=url))
    assert_rejected(store, "base_url", lambda: store.update("existing", base_url=url))
    assert store["existing"].base_url == "http://localhost:8000"


@pytest.mark.parametrize("bad", ["has space", "tab\there", "new\nline", "", "   ", "a" * 257], ids=repr)
def test_model_ids_with_whitespace_or_empty(
    store: ProviderStore, assert_rejected: Callable[..., str], bad: str
) -> None:
    store.add("p", models=["ok"])
    assert_rejected(store, "model", lambda: store.add_models("p", "fine", bad))
    assert_rejected(store, "model", lambda: store.add("q", models=["fine", bad]))
    assert store["p"].model_ids == ["ok"]


def test_add_models_needs_at_least_one(store: ProviderStore, assert_rejected: Callable[..., str]) -> None:
    store.add("p")
    assert_rejected(store, "model", lambda: store.add_models("p"))
    assert_rejected(store, "model", lambda: store.add_models("p", ", ,"))
    assert_rejected(store, "model", lambda: store.add_models("p", 5))


@pytest.mark.parametrize(
    "headers",
    [
        {"Bad Header": "x"},
        {"X:Colon": "x"},
        {"": "x"},
        {"X-Ünicode": "x"},
        {"X-Ok": "two\nlines"},
        {"X-Ok": "carriage\rreturn"},
        {"X-Ok": 5},
        {5: "x"},
        ["X-A", "1"],
        "X-A: 1",
    ],
    ids=repr,
)
def test_bad_headers(store: ProviderStore, assert_rejected: Callable[..., str], headers: Any) -> None:
    store.add("existing", headers={"X-Good": "1"})
    assert_rejected(store, "headers", lambda: store.add("new", headers=headers))
    assert_rejected(store, "headers", lambda: store.update("existing", headers=headers))
    assert dict(store["existing"].headers) == {"X-Good": "1"}


def test_good_header_names(store: ProviderStore) -> None:
    headers = {"X-Api-Version": "1", "anthropic-beta": "a,b", "X_Under.Score~!": "ok", "Empty": ""}
    assert dict(store.add("p", headers=headers).headers) == headers


@pytest.mark.parametrize("key", ["sk-\nabc", "sk\tabc", "sk\x00abc", 123], ids=repr)
def test_bad_key(store: ProviderStore, assert_rejected: Callable[..., str], key: Any) -> None:
    store.add("existing", api_key="sk-good")
    message = assert_rejected(store, "api_key", lambda: store.add("new", api_key=key))
    assert "abc" not in message  # the key is never echoed
    assert_rejected(store, "api_key", lambda: store.update("existing", api_key=key))
    assert store["existing"].api_key == "sk-good"


@pytest.mark.parametrize("env", ["1BAD", "MY-VAR", "MY VAR", "$MY_VAR", 5])
def test_bad_api_key_env(store: ProviderStore, assert_rejected: Callable[..., str], env: Any) -> None:
    store.add("existing")
    assert_rejected(store, "api_key_env", lambda: store.add("new", api_key_env=env))
    assert_rejected(store, "api_key_env", lambda: store.update("existing", api_key_env=env))


@pytest.mark.parametrize("field", ["models", "readonly", "last_verification", "colour", "type_"])
def test_update_of_an_unknown_field(store: ProviderStore, assert_rejected: Callable[..., str], field: str) -> None:
    store.add("p", models=["m"])
    message = assert_rejected(store, field, lambda: store.update("p", **{field: "x"}))
    assert "not a field you can update" in message


@pytest.mark.parametrize("field", ["enabled", "verify_tls"])
@pytest.mark.parametrize("value", ["yes", "false", 1, 0, None], ids=repr)
def test_bool_fields_refuse_non_bools(
    store: ProviderStore, assert_rejected: Callable[..., str], field: str, value: Any
) -> None:
    store.add("p")
    assert_rejected(store, field, lambda: store.update("p", **{field: value}))
    assert_rejected(store, field, lambda: store.add("q", **{field: value}))
    assert getattr(store["p"], field) is True


def test_one_bad_field_rejects_the_whole_update(store: ProviderStore, assert_rejected: Callable[..., str]) -> None:
    store.add("p", base_url="http://localhost:1", api_key="sk-1")
    assert_rejected(store, "headers", lambda: store.update("p", base_url="http://other:2", headers={"a b": "c"}))
    assert store["p"].base_url == "http://localhost:1"


# -- endpoint preview ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "base_url", "models", "expected"),
    [
        ("openai", "http://localhost:8000/", ["smollm2"], "http://localhost:8000/v1/chat/completions"),
        ("openai", "", [], "https://api.openai.com/v1/chat/completions"),
        (
            "openai",
            "https://ark.cn-beijing.volces.com/api/v3",
            [],
            "https://ark.cn-beijing.volces.com/api/v3/chat/completions",
        ),
        ("openai", "http://localhost:8000/custom#", [], "http://localhost:8000/custom/chat/completions"),
        ("anthropic", "", ["claude-3-5-haiku"], "https://api.anthropic.com/v1/messages"),
        ("anthropic", "http://127.0.0.1:9000/", [], "http://127.0.0.1:9000/v1/messages"),
        (
            "gemini",
            "",
            ["gemini-2.0-flash"],
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent",
        ),
        (
            "gemini",
            "",
            ["models/gemini-1.5-pro"],
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-1.5-pro:generateContent",
        ),
        ("gemini", "http://127.0.0.1:9000", [], "http://127.0.0.1:9000/v1beta/models/{model}:generateContent"),
        (
            "azure",
            "https://res.openai.azure.com/",
            ["my-gpt4o"],
            f"https://res.openai.azure.com/openai/deployments/my-gpt4o/chat/completions?api-version={DEFAULT_AZURE_API_VERSION}",
        ),
        (
            "azure",
            "https://res.openai.azure.com/openai",
            ["dep"],
            f"https://res.openai.azure.com/openai/deployments/dep/chat/completions?api-version={DEFAULT_AZURE_API_VERSION}",
        ),
        (
            "azure",
            "https://res.openai.azure.com",
            [],
            f"https://res.openai.azure.com/openai/deployments/{{model}}/chat/completions?api-version={DEFAULT_AZURE_API_VERSION}",
        ),
        (
            "azure",
            "https://res.openai.azure.com/openai/v1/",
            ["gpt-4o"],
            "https://res.openai.azure.com/openai/v1/chat/completions",
        ),
    ],
)
def test_endpoint_preview(store: ProviderStore, type_: str, base_url: str, models: list[str], expected: str) -> None:
    store.add("p", type=type_, base_url=base_url, models=models)
    assert store.endpoint_preview("p") == expected


def test_endpoint_preview_for_a_given_model(store: ProviderStore) -> None:
    store.add("g", type="gemini", models=["first"])
    assert store.endpoint_preview("g", "second").endswith("/models/second:generateContent")
    store.add("az", type="azure", base_url="https://r.openai.azure.com", models=["first"])
    assert "/openai/deployments/second/" in store.endpoint_preview("az", model="second")


def test_endpoint_preview_azure_api_version(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.add("az", type="azure", base_url="https://r.openai.azure.com", models=["d"])
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-02-01")
    assert store.endpoint_preview("az").endswith("/openai/deployments/d/chat/completions?api-version=2024-02-01")
    store.update("az", api_version="2025-04-01-preview")
    assert store.endpoint_preview("az").endswith("?api-version=2025-04-01-preview")


def test_endpoint_preview_azure_blank_address_uses_env(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", " https://env-res.openai.azure.com/ ")
    store.add("az", type="azure", models=["d"])
    assert store.endpoint_preview("az") == (
        f"https://env-res.openai.azure.com/openai/deployments/d/chat/completions?api-version={DEFAULT_AZURE_API_VERSION}"
    )


def test_endpoint_preview_never_holds_the_key(store: ProviderStore) -> None:
    for t in ("openai", "anthropic", "gemini", "azure"):
        store.add(t, type=t, base_url="https://h.example.com", api_key="sk-SECRET-PREVIEW", models=["m"])
        assert "SECRET" not in store.endpoint_preview(t)


def test_endpoint_preview_unknown_provider(store: ProviderStore) -> None:
    with pytest.raises(KeyError):
        store.endpoint_preview("ghost")


# -- change events -------------------------------------------------------------------------------------------------


def test_on_change_events(store: ProviderStore) -> None:
    seen = Recorder()
    store.on_change(seen)
    store.add("p")
    store.update("p", enabled=False)
    store.add_models("p", "a", "b")
    store.update_model("p", "a", display_name="A")
    store.remove_model("p", "b")
    verdict = Verification(ok=True, kind="ok", message="fine", latency_s=0.1, model="a", provider="p")
    store._record_verification("p", verdict)
    store.remove("p")
    store.reload()
    assert seen.events == [
        ("added", "p"),
        ("updated", "p"),
        ("updated", "p"),
        ("updated", "p"),
        ("updated", "p"),
        ("verified", "p"),
        ("removed", "p"),
        ("reloaded", None),
    ]


def test_recorded_verification_is_kept_on_the_record(store: ProviderStore) -> None:
    store.add("p")
    verdict = Verification(ok=False, kind="auth", message="the server rejected the key")
    store._record_verification("p", verdict)
    assert store["p"].last_verification == verdict
    store.update("p", api_version="x")  # other changes keep it
    assert store["p"].last_verification == verdict


def test_listener_sees_the_new_state(store: ProviderStore) -> None:
    states: list[bool] = []
    store.add("p")
    store.on_change(lambda event, name: states.append(store["p"].enabled))
    store.update("p", enabled=False)
    assert states == [False]


def test_unsubscribe(store: ProviderStore) -> None:
    seen = Recorder()
    unsubscribe = store.on_change(seen)
    store.add("a")
    unsubscribe()
    store.add("b")
    unsubscribe()  # twice is harmless
    assert seen.events == [("added", "a")]


def test_several_listeners_each_get_events(store: ProviderStore) -> None:
    first, second = Recorder(), Recorder()
    store.on_change(first)
    store.on_change(second)
    store.add("a")
    assert first.events == second.events == [("added", "a")]


def test_a_raising_listener_does_not_break_the_store(store: ProviderStore, caplog: pytest.LogCaptureFixture) -> None:
    def broken(event: str, name: str | None) -> None:
        raise RuntimeError("observer bug")

    after = Recorder()
    store.on_change(broken)
    store.on_change(after)
    with caplog.at_level(logging.ERROR, logger="jupyter_providers"):
        p = store.add("a")
        store.update("a", enabled=False)
    assert p.name == "a"
    assert store["a"].enabled is False
    assert after.events == [("added", "a"), ("updated", "a")]
    assert "listener failed" in caplog.text


def test_failed_changes_emit_nothing(store: ProviderStore) -> None:
    store.add("p", models=["m"])
    seen = Recorder()
    store.on_change(seen)
    for action in (
        lambda: store.add("p"),
        lambda: store.update("ghost", enabled=True),
        lambda: store.remove("ghost"),
        lambda: store.remove_model("p", "zzz"),
        lambda: store.update("p", colour="red"),
    ):
        with pytest.raises((KeyError, ValueError)):
            action()
    assert seen.events == []


# -- keys ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "var"),
    [
        ("openai", "OPENAI_API_KEY"),
        ("anthropic", "ANTHROPIC_API_KEY"),
        ("gemini", "GEMINI_API_KEY"),
        ("gemini", "GOOGLE_API_KEY"),
        ("azure", "AZURE_OPENAI_API_KEY"),
    ],
)
def test_no_key_falls_back_to_the_sdk_variable(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch, type_: str, var: str
) -> None:
    p = store.add("p", type=type_, api_key=None)
    assert p.keys == []
    assert p.key_source == "none"
    monkeypatch.setenv(var, "env-key")  # read when used, not when added
    assert p.keys == ["env-key"]
    assert p.key_source == f"${var}"
    assert var in p.key_env_names()


@pytest.mark.parametrize(
    ("type_", "address", "official"),
    [
        ("openai", "", True),
        ("openai", "https://api.openai.com/v1", True),
        ("openai", "https://eu.api.openai.com/", True),
        ("openai", "http://api.openai.com/v1", False),  # the key would cross the network in clear
        ("openai", "https://api.openai.com.evil.example/v1", False),
        ("openai", "https://evilapi.openai.com/v1", False),
        ("openai", "http://localhost:8000/", False),
        ("openai", "https://openrouter.ai/api/v1", False),
        ("anthropic", "https://api.anthropic.com", True),
        ("anthropic", "https://proxy.example/anthropic", False),
        ("gemini", "https://generativelanguage.googleapis.com/v1beta", True),
        ("gemini", "https://generativelanguage.googleapis.com.example/", False),
        ("azure", "https://res.openai.azure.com", True),
        ("azure", "https://res.cognitiveservices.azure.com/openai/v1", True),
        ("azure", "https://gateway.azure-api.net", False),
        ("azure", "https://openai.azure.com.example", False),
    ],
)
def test_the_sdk_variable_is_read_only_for_the_official_address(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch, type_: str, address: str, official: bool
) -> None:
    var = KEY_ENV_VARS[type_][0]
    monkeypatch.setenv(var, "env-key")
    p = store.add("p", type=type_, base_url=address)
    assert p.keys == (["env-key"] if official else [])
    assert p.key_source == (f"${var}" if official else "none")
    assert p.withheld_env == (None if official else var)
    if not official:
        assert f"use api_key_env={var!r} to send it here" in p.key_hint()
        assert store.update("p", api_key_env=var).keys == ["env-key"]  # named: used anywhere


def test_azure_endpoint_variable_pairs_with_its_key_variable(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://gateway.azure-api.net")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-env")
    assert store.add("az", type="azure").keys == ["az-env"]  # both set in the same environment
    assert store.add("typed", type="azure", base_url="https://gateway.azure-api.net").keys == []


def test_key_hint_without_any_variable(store: ProviderStore) -> None:
    assert store.add("o", type="openai").key_hint() == (
        "set OPENAI_API_KEY or enter a key for 'o' in the panel (or %providers key o)"
    )
    local = store.add("l", type="openai", base_url="http://localhost:8000")
    assert local.key_hint() == (
        "enter a key for 'l' in the panel (or %providers key l), or name its variable with api_key_env"
    )


def test_key_env_vars_table() -> None:
    assert KEY_ENV_VARS["gemini"] == ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    assert all(s.key_env_vars or not s.needs_key for s in TYPES.values()), "a type that needs a key names its variable"


def test_gemini_prefers_gemini_api_key(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-key")
    monkeypatch.setenv("GOOGLE_API_KEY", "google-key")
    p = store.add("g", type="gemini")
    assert (p.keys, p.key_source) == (["gemini-key"], "$GEMINI_API_KEY")


def test_a_variable_of_another_type_is_not_used(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "openai-key")
    p = store.add("a", type="anthropic")
    assert p.keys == []


def test_empty_key_means_no_key_even_with_the_variable_set(
    store: ProviderStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    p = store.add("local", api_key="")
    assert p.api_key == ""
    assert (p.keys, p.key_source) == ([], "none")
    assert store.add("blank", api_key="   ").keys == []  # blank is empty


def test_entered_key_wins(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    p = store.add("p", api_key="  sk-entered  ")
    assert p.api_key == "sk-entered"
    assert (p.keys, p.key_source) == (["sk-entered"], "entered")


def test_api_key_env(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "default-var")
    p = store.add("p", api_key_env="MY_VAR")
    assert p.key_env_names() == ("MY_VAR",)
    assert p.keys == []  # the named variable replaces the SDK's, it does not add to it
    monkeypatch.setenv("MY_VAR", "mine")
    assert (p.keys, p.key_source) == (["mine"], "$MY_VAR")
    # a named variable applies even when no key was entered explicitly
    assert store.update("p", api_key="").keys == ["mine"]
    assert store.update("p", api_key="typed").key_source == "entered"


def test_comma_separated_keys(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    p = store.add("p", api_key="k1, k2,,k3 ,")
    assert p.keys == ["k1", "k2", "k3"]
    monkeypatch.setenv("ANTHROPIC_API_KEY", "e1,e2")
    assert store.add("a", type="anthropic").keys == ["e1", "e2"]


def test_update_key_back_to_the_variable(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "env-key")
    store.add("p", api_key="sk-1")
    assert store.update("p", api_key=None).keys == ["env-key"]
    assert store.update("p", api_key="").keys == []
    assert store.update("p", api_key="sk-2").keys == ["sk-2"]


def test_azure_blank_address_takes_the_endpoint_variable(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    p = store.add("az", type="azure")
    assert p.address == ""
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com/")
    assert p.address == "https://env.openai.azure.com/"
    assert p.resolved_base == "https://env.openai.azure.com"
    typed = store.add("typed", type="azure", base_url="https://typed.openai.azure.com")
    assert typed.address == "https://typed.openai.azure.com"  # a typed address wins
    other = store.add("o", type="openai")
    assert other.address == ""  # only Azure reads that variable


def test_effective_api_version(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    p = store.add("az", type="azure")
    assert p.option("api_version") == DEFAULT_AZURE_API_VERSION
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-06-01")
    assert p.option("api_version") == "2024-06-01"
    assert store.update("az", api_version="2025-01-01-preview").option("api_version") == "2025-01-01-preview"


# -- no key in any text ---------------------------------------------------------------------------------------------

SECRET = "sk-SECRET-abc123"


def test_no_key_in_reprs(store: ProviderStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "env-SECRET-xyz")
    p = store.add("p", api_key=f"{SECRET},{SECRET}2", headers={"Authorization": f"Bearer {SECRET}"}, models=["m"])
    g = store.add("g", type="gemini")
    store._record_verification("p", Verification(ok=True, kind="ok", message="fine"))
    texts = [
        repr(store),
        str(store),
        repr(p),
        str(p),
        repr(store["p"]),
        str(store["p"]),
        repr(g),
        str(g),
        repr(list(store)),
    ]
    for text in texts:
        assert "SECRET" not in text, text
    assert "p(openai)" in repr(store)
    assert "name='p'" in repr(p)


def test_no_key_in_error_messages(store: ProviderStore) -> None:
    store.add("p", api_key=SECRET)
    errors: list[BaseException] = []
    for action in (
        lambda: store.add("P", api_key=SECRET),
        lambda: store.update("p", colour=SECRET),
        lambda: store.update("p", api_key=SECRET + "\nX"),
        lambda: store["missing"],
        lambda: store.remove_model("p", "none"),
    ):
        with pytest.raises((KeyError, ValueError)) as info:
            action()
        errors.append(info.value)
    for exc in errors:
        assert "SECRET" not in str(exc)
        assert "SECRET" not in repr(exc)


def test_repr_marks_disabled(store: ProviderStore) -> None:
    store.add("a")
    store.add("b", type="gemini", enabled=False)
    assert repr(store) == "<ProviderStore [a(openai), b(gemini, disabled)]>"


# -- the shared store -----------------------------------------------------------------------------------------------


def test_get_store_is_one_shared_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(store_module, "_store", None)
    monkeypatch.setattr(store_base_module, "admin_config_paths", lambda: [])
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "shared"))
    first = get_store()
    assert get_store() is first
    first.add("p", api_key="")
    assert (tmp_path / "shared" / "providers.json").exists()


def _iter_all(store: ProviderStore) -> Iterator[Provider]:
    yield from store


def test_iterating_while_changing_is_safe(mem: ProviderStore) -> None:
    for i in range(3):
        mem.add(f"p{i}")
    seen = []
    for p in _iter_all(mem):
        seen.append(p.name)
        mem.remove(p.name)  # iteration works on a snapshot
    assert seen == ["p0", "p1", "p2"]
    assert len(mem) == 0
