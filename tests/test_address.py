"""API address rules: what a person types -> the base URL requests are built on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jupyter_providers._address import check_address
from jupyter_providers.adapters import TYPES, spec


def resolve_base(type_: str, address: str) -> str:
    """The base URL the type's spec gives for ``address``."""
    return spec(type_).base(address)


# -- blank: the official address -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com/v1"),
        ("gemini", "https://generativelanguage.googleapis.com/v1beta"),
        ("azure", ""),  # every Azure resource has its own address
    ],
)
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"], ids=["empty", "spaces", "whitespace"])
def test_blank_address_is_the_official_default(type_: str, expected: str, blank: str) -> None:
    assert resolve_base(type_, blank) == expected


@pytest.mark.parametrize("type_", list(TYPES))
def test_every_type_either_has_a_default_address_or_says_one_is_needed(type_: str) -> None:
    s = spec(type_)
    assert s.needs_address == (resolve_base(type_, "") == "")
    if s.needs_address:
        assert s.placeholder.startswith("https://"), "the panel shows an example address"


# -- version segment ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "address", "expected"),
    [
        ("openai", "http://localhost:8000", "http://localhost:8000/v1"),
        ("openai", "http://localhost:8000/", "http://localhost:8000/v1"),
        ("openai", "  http://localhost:8000/  ", "http://localhost:8000/v1"),
        ("openai", "http://127.0.0.1:11434/api", "http://127.0.0.1:11434/api/v1"),
        ("openai", "https://proxy.example.com/openai/", "https://proxy.example.com/openai/v1"),
        ("anthropic", "https://api.anthropic.com", "https://api.anthropic.com/v1"),
        ("anthropic", "https://gateway.example.com/anthropic/", "https://gateway.example.com/anthropic/v1"),
        ("gemini", "https://generativelanguage.googleapis.com", "https://generativelanguage.googleapis.com/v1beta"),
        ("gemini", "http://127.0.0.1:9000/", "http://127.0.0.1:9000/v1beta"),
    ],
)
def test_version_segment_is_appended(type_: str, address: str, expected: str) -> None:
    assert resolve_base(type_, address) == expected


@pytest.mark.parametrize(
    ("type_", "address", "expected"),
    [
        ("openai", "http://localhost:8000/v1", "http://localhost:8000/v1"),
        ("openai", "http://localhost:8000/v1/", "http://localhost:8000/v1"),
        ("openai", "https://ark.cn-beijing.volces.com/api/v3", "https://ark.cn-beijing.volces.com/api/v3"),
        ("openai", "https://open.bigmodel.cn/api/paas/v4/", "https://open.bigmodel.cn/api/paas/v4"),
        ("openai", "https://example.com/openai/v1", "https://example.com/openai/v1"),
        ("openai", "https://example.com/v2", "https://example.com/v2"),
        ("openai", "https://example.com/v1/extra", "https://example.com/v1/extra"),
        ("openai", "https://example.com/v1beta", "https://example.com/v1beta"),
        ("anthropic", "https://api.anthropic.com/v1", "https://api.anthropic.com/v1"),
        (
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta/",
            "https://generativelanguage.googleapis.com/v1beta",
        ),
        ("gemini", "https://generativelanguage.googleapis.com/v1", "https://generativelanguage.googleapis.com/v1"),
        (
            "gemini",
            "https://generativelanguage.googleapis.com/v1alpha",
            "https://generativelanguage.googleapis.com/v1alpha",
        ),
    ],
)
def test_existing_version_segment_is_kept(type_: str, address: str, expected: str) -> None:
    assert resolve_base(type_, address) == expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        # "v1" in the host or inside a word is not a version segment of the path
        ("https://v1.example.com", "https://v1.example.com/v1"),
        ("https://example.com/dev1", "https://example.com/dev1/v1"),
        ("https://example.com/version", "https://example.com/version/v1"),
        ("https://example.com/vx", "https://example.com/vx/v1"),
    ],
)
def test_things_that_look_like_versions_but_are_not(address: str, expected: str) -> None:
    assert resolve_base("openai", address) == expected


def test_only_one_trailing_slash_is_dropped() -> None:
    assert resolve_base("openai", "http://h/api/") == "http://h/api/v1"
    assert resolve_base("openai", "http://h/api//") == "http://h/api//v1"


# -- "#": exactly this base ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "address", "expected"),
    [
        ("openai", "http://localhost:8000/custom#", "http://localhost:8000/custom"),
        ("openai", "http://localhost:8000#", "http://localhost:8000"),
        ("openai", "http://localhost:8000/custom/#", "http://localhost:8000/custom/"),
        ("anthropic", "https://gw.example.com/claude#", "https://gw.example.com/claude"),
        ("gemini", "https://gw.example.com/g#", "https://gw.example.com/g"),
        ("openai", "  http://h/x#  ", "http://h/x"),
    ],
)
def test_hash_suffix_means_use_exactly_this_base(type_: str, address: str, expected: str) -> None:
    assert resolve_base(type_, address) == expected


def test_hash_suffix_is_accepted_by_check_address() -> None:
    assert check_address("http://localhost:8000/custom#") == "http://localhost:8000/custom#"


# -- Azure ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("https://res.openai.azure.com", "https://res.openai.azure.com"),
        ("https://res.openai.azure.com/", "https://res.openai.azure.com"),
        ("https://res.openai.azure.com/openai", "https://res.openai.azure.com"),
        ("https://res.openai.azure.com/openai/", "https://res.openai.azure.com"),
        ("https://res.cognitiveservices.azure.com/", "https://res.cognitiveservices.azure.com"),
        # the v1 route is kept as the base
        ("https://res.openai.azure.com/openai/v1", "https://res.openai.azure.com/openai/v1"),
        ("https://res.openai.azure.com/openai/v1/", "https://res.openai.azure.com/openai/v1"),
    ],
)
def test_azure_roots(address: str, expected: str) -> None:
    assert resolve_base("azure", address) == expected


def test_azure_never_gets_a_version_segment_appended() -> None:
    assert not resolve_base("azure", "http://127.0.0.1:9999").endswith("/v1")


# -- check_address: what is accepted ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "http://localhost:8000",
        "https://api.openai.com/v1",
        "http://127.0.0.1:1",
        "http://127.0.0.1:65535/",
        "http://[::1]:8080/v1",
        "HTTPS://EXAMPLE.COM/V1",
        "https://res.openai.azure.com/openai/v1",
    ],
)
def test_valid_addresses_are_returned_trimmed(address: str) -> None:
    assert check_address(address) == address
    assert check_address(f"  {address}\n") == address


def test_blank_is_valid_and_means_default() -> None:
    assert check_address("") == ""
    assert check_address("   ") == ""


# -- check_address: what is refused ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "file://x",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "ftp://",
        "ftp://example.com/",
        "ws://localhost:8000",
        "localhost:8000",
        "example.com/v1",
        "http://local host:8000",
        "http://localhost:8000/my path",
        "http://localhost:8000/\tv1",
        "http://",
        "https:///v1",
        "http://:8000",
        "http://localhost:0",
        "http://localhost:70000",
        "http://localhost:65536",
        "http://localhost:port",
        "http://user:pass@localhost:8000",
        "http://user@localhost:8000",
        "http://localhost:8000/v1?api-version=1",
        "http://localhost:8000/v1?",
        "http://localhost:8000/v1#frag",
        "http://localhost:8000/v1##",
        "http://[::1",
    ],
)
def test_invalid_addresses_raise_value_error_naming_the_field(address: str) -> None:
    with pytest.raises(ValueError, match=r"^base_url: "):
        check_address(address)


def test_credentials_are_not_echoed_in_the_error() -> None:
    with pytest.raises(ValueError) as info:
        check_address("http://alice:s3cret-pass@localhost:8000")
    assert "s3cret-pass" not in str(info.value)
    assert "API key" in str(info.value)


def test_error_messages_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        check_address("ftp://example.com")
    with pytest.raises(ValueError, match="no host"):
        check_address("http://")
    with pytest.raises(ValueError, match="spaces"):
        check_address("http://a b")
    with pytest.raises(ValueError, match="port 0"):
        check_address("http://localhost:0")


# -- properties ----------------------------------------------------------------------------------------------

_hosts = st.sampled_from(["localhost", "127.0.0.1", "example.com", "[::1]", "my-host.internal"])
_segments = st.lists(st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True), max_size=3)


@given(st.sampled_from(["openai", "anthropic", "gemini"]), _hosts, _segments, st.booleans())
def test_resolved_base_ends_with_a_version_and_is_idempotent(
    type_: str, host: str, segments: list[str], slash: bool
) -> None:
    address = f"http://{host}" + "".join(f"/{s}" for s in segments) + ("/" if slash else "")
    assert check_address(address) == address
    base = resolve_base(type_, address)
    # resolving the result again changes nothing: it already holds a version segment
    assert resolve_base(type_, base) == base
    assert not base.endswith("/")
    assert base.startswith(address.rstrip("/"))


@given(st.sampled_from(["openai", "anthropic", "gemini", "azure"]), _hosts, _segments)
def test_hash_always_gives_the_address_verbatim(type_: str, host: str, segments: list[str]) -> None:
    address = f"https://{host}" + "".join(f"/{s}" for s in segments)
    assert check_address(address + "#") == address + "#"
    assert resolve_base(type_, address + "#") == address


@pytest.mark.parametrize("host", ["xn--a.com", "XN--ZZZZZZZZ.example", "api.xn--ls8h.la"])
def test_a_host_in_its_ascii_form_is_checked_as_idna_too(host: str) -> None:
    """An A-label (``xn--...``) that decodes to no valid name is refused as its Unicode form would be."""
    with pytest.raises(
        ValueError, match=f"base_url: the host '{host.lower()}' is not a valid international domain name"
    ):
        check_address(f"https://{host}/v1")
    assert check_address("https://xn--bcher-kva.example/v1") == "https://xn--bcher-kva.example/v1"  # bücher
    assert check_address("http://api.xn--p1ai:8000") == "http://api.xn--p1ai:8000"  # .рф
