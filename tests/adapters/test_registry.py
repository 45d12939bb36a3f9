"""The registry of provider types: what every spec must declare, and every surface that lists types follows it.

A new type is one adapter file and one registry line; these tests say what else it needs (a fake for the
tests, a row in the README) and check that nothing lists the types by hand.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jupyter_providers import PROVIDER_TYPES, Provider
from jupyter_providers._providers_cmd import USAGE
from jupyter_providers.adapters import TYPES, TypeSpec, adapter_for, resolve_type, spec
from jupyter_providers.presets import PRESETS, preset

README = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
SPECS = list(TYPES.values())


def test_the_package_s_list_of_types_is_the_registry() -> None:
    assert tuple(TYPES) == PROVIDER_TYPES
    assert all(spec(n) is s and adapter_for(n) is s.adapter for n, s in TYPES.items())


@pytest.mark.parametrize("s", SPECS, ids=[s.name for s in SPECS])
def test_a_spec_declares_what_the_surfaces_show(s: TypeSpec) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9-]*", s.name), "a type's name is lowercase words joined by '-'"
    assert s.label and s.label[0].isupper()
    assert 0 < s.max_temperature <= 2
    assert s.placeholder.startswith(("http://", "https://")), "the panel shows an example address"
    assert s.address_hint, "the panel says what the address is"
    assert s.stream_format in ("sse", "ndjson")
    for word in (s.name, *s.aliases, s.name.upper(), f"  {s.name} "):
        assert resolve_type(word) == s.name, word
    if s.needs_key:
        assert s.key_env_vars, "a type that needs a key names the SDK's variable"
    if s.key_env_vars and not s.env_address:
        assert s.official_hosts, "a key variable is sent only to the type's own hosts"


@pytest.mark.parametrize("s", SPECS, ids=[s.name for s in SPECS])
def test_a_spec_s_default_address_is_its_own_service(s: TypeSpec) -> None:
    if s.needs_address:
        assert Provider("p", s.name).resolved_base == ""
        return
    p = Provider("p", s.name)
    assert p.resolved_base.startswith(s.default_address)
    if s.official_hosts and s.default_address.startswith("https://"):
        assert s.is_official(""), "the default address is the type's official host"


@pytest.mark.parametrize("s", SPECS, ids=[s.name for s in SPECS])
def test_every_type_has_a_fake_server_for_the_tests(s: TypeSpec) -> None:
    from tests.fakes import FakeServer

    with FakeServer(s.name, models=["model-a"]) as fake:
        assert fake.protocol == s.name


@pytest.mark.parametrize("s", SPECS, ids=[s.name for s in SPECS])
def test_the_readme_lists_every_type(s: TypeSpec) -> None:
    assert f"| `{s.name}`" in README, f"README's table of provider types has no row for {s.name}"


def test_the_usage_line_lists_every_type_and_preset() -> None:
    assert "|".join(TYPES) in USAGE and "|".join(PRESETS) in USAGE


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_is_usable(name: str) -> None:
    p = PRESETS[name]
    assert p.type in TYPES and preset(name.upper()) is p
    assert f"`{name}`" in README, f"README does not name the {name} preset"
    if p.local:
        assert p.key_env is None and p.address.startswith("http://localhost:")
    else:
        assert p.key_env and p.address.startswith("https://") and p.official_hosts
        assert Provider("x", p.type, base_url=p.address, preset=name).key_env_names() == (p.key_env,)
        elsewhere = Provider("x", p.type, base_url="https://proxy.example/v1", preset=name)
        assert elsewhere.key_env_names() == (), "a preset's variable goes only to its own host"


@pytest.mark.parametrize("s", [s for s in SPECS if s.needs_address], ids=lambda s: s.name)
def test_a_type_without_a_default_address_says_where_to_set_one(s: TypeSpec, tmp_path: Path) -> None:
    """Nothing is sent: verify's verdict and chat's error are the same one line, naming an example address."""
    from jupyter_providers import ProviderConfigError, ProviderStore, chat

    store = ProviderStore(tmp_path, admin_paths=[])
    store.add("p", type=s.name, models=["m"], api_key="k")
    v = store.verify("p")
    assert (v.ok, v.kind) == (False, "config") and s.placeholder in v.message
    if s.env_address:
        assert s.env_address in v.message
    with pytest.raises(ProviderConfigError, match=re.escape(s.placeholder)):
        chat("hi", provider="p", store=store)
