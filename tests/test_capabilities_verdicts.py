"""What makes a capability probe say no, unknown or yes, on every registry type's fake, and what a later verify
keeps: a reasoning model's answer cut at the token limit is asked again and never a no; a 5xx or an answer of the
wrong shape is unknown, a 4xx refusal no; a blind model never a yes, whatever colours are drawn; an answer with
the protocol's fields but nothing in them is no OK; a fresh verify replaces what it measured, keeps what it could
not measure and what was set by hand; a model the provider does not list is added with what it does."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers import ProviderStore, client
from jupyter_providers._capabilities import COLOURS, RETRY_TOKENS, swatch
from jupyter_providers.adapters import TYPES

from .fakes import FakeServer
from .fakes._vision import colour_of, images_in
from .fakes.liar import HOLLOW, answering
from .fakes.server import Response, json_response

KEY = "sk-caps-0123456789abcdef"
ALL = sorted({*TYPES, "vllm"})
LONG_THOUGHT = "Let me think about this step by step before I answer. " * 40  # 440 words: more than the retry's


def _add(store: ProviderStore, srv: FakeServer, kind: str, base: str | None = None) -> None:
    kind = "openai" if kind == "vllm" else kind
    store.add(
        "P", type=kind, base_url=base or srv.base_url, api_key=KEY, models=["model-a"], **srv.facts.store_kwargs()
    )


def _states(found: Any) -> dict[str, str]:
    return {c.name: c.state for c in found}


def _answering(srv: FakeServer, resp: Response) -> None:
    """``srv`` answers ``resp`` to each chat asking for structured output or carrying an image: a server that
    breaks on those two probes only."""
    original = srv._proto.check

    def check(req, route):  # type: ignore[no-untyped-def]
        body = req.body or {}
        return resp if srv.facts.asked_schema(body) is not None or images_in(body) else original(req, route)

    srv._proto.check = check  # type: ignore[method-assign]


# -- a reasoning model ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ALL)
def test_a_model_that_thinks_past_the_limit_is_unknown_never_no(protocol: str, store: ProviderStore) -> None:
    """Its answers are reasoning only, cut (``length``) at 8 tokens and again at the retry's 256: unknown, with
    what to do; the streamed one still says the stream works."""
    with FakeServer(protocol, api_key=KEY, models=["model-a"], reasoning=LONG_THOUGHT, thinks_first=True) as srv:
        _add(store, srv, protocol)
        v = store.verify("P", capabilities=True, timeout=20)
        budgets = [srv.facts.inputs(r.body or {})[1] for r in srv.requests if r.method == "POST"]
    states = _states(v.capabilities)
    assert v.ok and "no" not in states.values(), str(v)
    assert states["streaming"] == "yes" and states["structured_output"] == states["images"] == "unknown", str(v)
    why = {c.name: c.reason for c in v.capabilities}
    assert why["structured_output"].startswith(f"the answer was cut at {RETRY_TOKENS} tokens (no text, finish: ")
    assert "raise settings.verify_max_tokens and verify again" in why["images"]
    assert budgets == [8, 8, 8, RETRY_TOKENS, RETRY_TOKENS]  # verify, stream, schema, its retry, one image
    m = store["P"].model("model-a")
    assert m is not None and m.takes("structured_output") is None and m.takes("images") is None


@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini", "openai-responses", "ollama"])
def test_a_model_that_thinks_a_little_is_asked_again_and_answers(protocol: str, store: ProviderStore) -> None:
    thought = "Hmm, water, wet, JSON: the user wants a boolean, so I will answer true."  # 14 words: over 8
    with FakeServer(protocol, api_key=KEY, models=["model-a"], reasoning=thought, thinks_first=True) as srv:
        _add(store, srv, protocol)
        v = store.verify("P", capabilities=True, timeout=20)
    assert _states(v.capabilities) == dict.fromkeys(_states(v.capabilities), "yes"), str(v)
    structured = next(c for c in v.capabilities if c.name == "structured_output")
    assert structured.reason.endswith(f"(with {RETRY_TOKENS} tokens, an answer cut at 8 asked again)")


# -- errors: a refusal is a no, anything else unknown ---------------------------------------------------------
BROKEN = {
    "500": (json_response(500, {"error": {"message": "boom", "type": "server_error"}}), "unknown"),
    "502 page": (Response(502, b"<html>Bad Gateway</html>", "text/html"), "unknown"),
    "200 of the wrong shape": (Response(200, b'{"ok": true}'), "unknown"),
    "429": (json_response(429, {"error": {"message": "slow down", "type": "rate_limit"}}), "unknown"),
    "400": (json_response(400, {"error": {"message": "not for this model", "type": "invalid_request"}}), "no"),
    "422": (json_response(422, {"detail": "unprocessable"}), "no"),
}


@pytest.mark.parametrize("case", list(BROKEN))
@pytest.mark.parametrize("protocol", ["openai", "anthropic", "gemini"])
def test_only_a_refusal_is_a_no(case: str, protocol: str, store: ProviderStore) -> None:
    resp, want = BROKEN[case]
    with FakeServer(protocol, api_key=KEY, models=["model-a"]) as srv:
        _answering(srv, resp)
        _add(store, srv, protocol)
        found = client.capabilities(store["P"], "model-a", timeout=10)
    states = _states(found)
    assert (states["structured_output"], states["images"]) == (want, want), "\n".join(map(str, found))
    assert states["streaming"] == "yes"


# -- images: a blind model, a model that names every colour, the colours drawn ------------------------------------
@pytest.mark.parametrize("protocol", ALL)
def test_a_blind_model_is_never_a_yes(protocol: str, store: ProviderStore) -> None:
    """It says "Red." whatever it is shown: two different colours are drawn, so it misses one, every time."""
    with FakeServer(protocol, api_key=KEY, models=["model-a"], reply="Red.", sees_images=False) as srv:
        _add(store, srv, protocol)
        seen = Counter(_states(client.capabilities(store["P"], "model-a", timeout=10))["images"] for _ in range(8))
    assert seen == {"unknown": 8}


def test_naming_every_colour_is_not_a_yes(store: ProviderStore) -> None:
    with FakeServer("openai", api_key=KEY, models=["model-a"]) as srv:
        srv.reply_for = lambda body: "Red, green, blue or yellow."
        _add(store, srv, "openai")
        found = client.capabilities(store["P"], "model-a", timeout=10)
    assert _states(found)["images"] == "unknown"


def test_the_colours_are_drawn_at_random_and_the_fake_sees_them(store: ProviderStore) -> None:
    with FakeServer("openai", api_key=KEY, models=["model-a"]) as srv:
        _add(store, srv, "openai")
        for _ in range(12):
            assert _states(client.capabilities(store["P"], "model-a", timeout=10))["images"] == "yes"
        images = [i for r in srv.requests for i in images_in(r.body or {})]
    pairs = [tuple(colour_of(i) for i in images[n : n + 2]) for n in range(0, len(images), 2)]
    assert len(pairs) == 12 and all(a != b and {a, b} <= set(COLOURS) for a, b in pairs)
    assert len(set(pairs)) > 1  # 12 draws of the same pair: (1/12) ** 11
    assert {colour_of(swatch(c).data) for c in COLOURS} == set(COLOURS)  # each swatch reads as its name


# -- answers with a protocol's fields and nothing in them ---------------------------------------------------------
@pytest.mark.parametrize(("protocol", "hollow"), [(t, h) for t in sorted(TYPES) for h in HOLLOW[t]], ids=str)
def test_a_hollow_answer_is_no_ok(protocol: str, hollow: dict[str, Any], store: ProviderStore) -> None:
    with (
        FakeServer(protocol, api_key=KEY, models=["model-a"]) as srv,
        answering(200, json.dumps(hollow).encode(), "application/json", listing=srv.base_url) as url,
    ):
        _add(store, srv, protocol, base=url)
        v = store.verify("P", capabilities=True, timeout=5)
    assert not v.ok and v.kind == "bad_response" and v.capabilities == (), str(v)


# -- what a later verify keeps ------------------------------------------------------------------------------------
def test_a_later_verify_replaces_what_it_measured(store: ProviderStore, tmp_path: Path) -> None:
    refusal = json_response(400, {"error": {"message": "not for this model", "type": "invalid_request"}})
    with FakeServer("openai", api_key=KEY, models=["model-a"]) as srv:
        _add(store, srv, "openai")
        original = srv._proto.check

        def kept() -> dict[str, bool]:
            m = ProviderStore(tmp_path / "store", admin_paths=[])["P"].model("model-a")  # as saved
            assert m is not None
            return {k: v for k, v in m.capabilities.items() if k in ("structured_output", "images")}

        _answering(srv, refusal)
        store.verify("P", capabilities=True, timeout=10)
        assert kept() == {"structured_output": False, "images": False}
        srv._proto.check = original  # type: ignore[method-assign]  # fixed: a fresh verify's yes replaces the no
        store.verify("P", capabilities=True, timeout=10)
        assert kept() == {"structured_output": True, "images": True}
        _answering(srv, BROKEN["429"][0])  # measured nothing: what was saved stays
        store.verify("P", capabilities=True, timeout=10)
        assert kept() == {"structured_output": True, "images": True}
        assert store["P"].models[0].capability_notes["images"].startswith("it named the colours")
        store.set_capabilities("P", "model-a", images=False)  # by hand: an unknown leaves it
        _answering(srv, BROKEN["500"][0])  # an answer it cannot judge: the probe's yes is gone
        v = store.verify("P", capabilities=True, timeout=10)
        assert _states(v.capabilities)["structured_output"] == "unknown"
        assert kept() == {"images": False}
        notes = store["P"].models[0].capability_notes
        assert "not a refusal" in notes["structured_output"] and "images" not in notes


def test_a_model_not_listed_is_added_with_what_it_does(store: ProviderStore, tmp_path: Path) -> None:
    with FakeServer("openai", api_key=KEY, models=["model-a", "model-b"]) as srv:
        _add(store, srv, "openai")
        v = store.verify("P", model="model-b", capabilities=True, timeout=10)
    assert v.ok and v.message.endswith("; 'model-b' was added to the models of 'P', to keep what it does"), v.message
    back = ProviderStore(tmp_path / "store", admin_paths=[])["P"]
    assert back.model_ids == ["model-a", "model-b"]
    m = back.model("model-b")
    assert m is not None and m.takes("images") is True and m.takes("structured_output") is True


def test_a_read_only_provider_s_verdict_says_nothing_was_kept(tmp_path: Path) -> None:
    with FakeServer("openai", models=["model-a"]) as srv:
        admin = tmp_path / "etc" / "providers.json"
        admin.parent.mkdir()
        corp = {"name": "Corp", "type": "openai", "base_url": srv.base_url, "models": ["model-a"]}
        admin.write_text(json.dumps({"version": 1, "providers": [corp]}))
        store = ProviderStore(tmp_path / "store", admin_paths=[admin])
        v = store.verify("Corp", capabilities=True, timeout=10)
    assert v.ok and _states(v.capabilities)["images"] == "yes"
    assert v.message.endswith("; what 'model-a' does is not kept: 'Corp' is managed by your administrator (read-only)")
    assert store["Corp"].models[0].capabilities == {}
