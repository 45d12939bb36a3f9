"""``chat()``: choosing the provider and model, validating options, before any request is sent."""

from __future__ import annotations

import httpx
import pytest

from jupyter_providers import ProviderConfigError, ProviderStore, chat
from jupyter_providers.api import pick_provider


def _no_network(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request expected, got {request.url}")


NO_NET = httpx.Client(transport=httpx.MockTransport(_no_network))


@pytest.fixture
def two(store: ProviderStore) -> ProviderStore:
    store.add("a", base_url="http://127.0.0.1:9/", api_key="", models=["m1", "m2"])
    store.add("b", type="anthropic", base_url="http://127.0.0.1:9/", api_key="", models=["claude"])
    return store


def test_pick_named_and_first_model(two: ProviderStore) -> None:
    p, model = pick_provider(two, "a", None)
    assert (p.name, model) == ("a", "m1")
    assert pick_provider(two, "b", "other")[1] == "other"


def test_pick_the_only_enabled_one(two: ProviderStore) -> None:
    with pytest.raises(ProviderConfigError, match=r"provider: name the provider to use \(enabled: a, b\)"):
        pick_provider(two, None, None)
    two.update("a", enabled=False)
    assert pick_provider(two, None, None)[0].name == "b"
    assert pick_provider(two, None, None, default="b")[0].name == "b"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"provider": "nope"}, "provider: no provider named 'nope' .known: a, b."),
        ({"provider": "a", "temperature": -0.5}, "temperature: -0.5 is out of range"),
        ({"provider": "a", "temperature": "hot"}, "temperature: 'hot' is not a number"),
        ({"provider": "a", "temperature": float("nan")}, "temperature: nan is out of range"),
        ({"provider": "a", "max_tokens": 1.5}, "max_tokens: 1.5 is not a whole number"),
        ({"provider": "a", "max_tokens": 0}, "max_tokens: 0 must be at least 1"),
        ({"provider": "a", "model": "gpt 4"}, "model: 'gpt 4' contains spaces"),
        ({"provider": "a", "history": "We spoke before."}, "history: give a list of messages, not str$"),
        ({"provider": "a", "history": {"role": "user", "content": "x"}}, "history: give a list of messages, not dict$"),
        ({"provider": "a", "history": 3}, "history: give a list of messages, not int$"),
    ],
)
def test_bad_options_fail_before_any_request(two: ProviderStore, kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message) as info:
        chat("hi", store=two, http=NO_NET, **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, ValueError)
    assert "\n" not in str(info.value)


def test_disabled_and_modelless(two: ProviderStore) -> None:
    two.update("a", enabled=False)
    with pytest.raises(ProviderConfigError, match="'a' is disabled") as info:
        chat("hi", provider="a", store=two, http=NO_NET)
    assert info.value.kind == "disabled"
    two.add("empty", base_url="http://127.0.0.1:9", api_key="")
    with pytest.raises(ProviderConfigError, match="'empty' has no model") as info:
        chat("hi", provider="empty", store=two, http=NO_NET)
    assert info.value.kind == "no_model"


def test_empty_prompt_and_bad_messages(two: ProviderStore) -> None:
    with pytest.raises(ProviderConfigError, match="prompt: the prompt is empty"):
        chat("   ", provider="a", store=two, http=NO_NET)
    with pytest.raises(ProviderConfigError, match=r"messages: .* is not a message"):
        chat([{"role": "robot", "content": "x"}], provider="a", store=two, http=NO_NET)  # type: ignore[list-item]
    with pytest.raises(ProviderConfigError, match="no user message"):
        chat([{"role": "system", "content": "x"}], provider="a", store=two, http=NO_NET)


def test_uses_the_kernel_store_by_default() -> None:
    from jupyter_providers import get_store

    assert get_store() is get_store()
    get_store().add("x", base_url="http://127.0.0.1:9", api_key="", models=["m"])
    with pytest.raises(ProviderConfigError, match="temperature"):
        chat("hi", provider="x", temperature=9, http=NO_NET)


def test_a_model_set_to_give_no_structured_output_is_refused_without_empty_parentheses(two: ProviderStore) -> None:
    two.set_capabilities("a", "m1", structured_output=False)  # set by hand: no probe's reason to quote
    with pytest.raises(ProviderConfigError) as info:
        chat("hi", provider="a", store=two, http=NO_NET, schema={"type": "object"})
    assert str(info.value) == (
        "a: schema: 'm1' is set to give no structured output - pick another model, or verify it again with "
        "capabilities=True"
    )
