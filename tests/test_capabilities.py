"""``store.verify(name, capabilities=True)``: each capability probed with one tiny request on every registry type's
fake, kept on the model and persisted, refused early by attachments and structured output; servers that lie get
no OK and no yes; a key echoed by a gateway is in no reason. What makes a probe say no, unknown or yes, and what a
later verify keeps: tests/test_capabilities_verdicts.py."""

from __future__ import annotations

import html
import json
from pathlib import Path

import httpx
import pytest

from jupyter_providers import Capability, ProviderStore, chat, client
from jupyter_providers._capabilities import COLOURS, NAMES, swatch
from jupyter_providers.adapters import TYPES
from jupyter_providers.errors import InvalidValueError

from .conftest import LOCAL_KEY
from .fakes import FakeServer
from .fakes.echo import EchoServer
from .fakes.liar import answering
from .fakes.server import HTML_200, HTML_404

KEY = "sk-caps-0123456789abcdef"
ALL = sorted({*TYPES, "vllm"})


def _add(store: ProviderStore, srv: FakeServer, kind: str, base: str | None = None) -> None:
    store.add(
        "P", type=kind, base_url=base or srv.base_url, api_key=KEY, models=["model-a"], **srv.facts.store_kwargs()
    )


def _states(v: object) -> dict[str, str]:
    return {c.name: c.state for c in v.capabilities}  # type: ignore[attr-defined]


@pytest.mark.parametrize("protocol", ALL)
def test_every_type_is_probed_through_its_own_forms(protocol: str, store: ProviderStore, tmp_path: Path) -> None:
    kind = "openai" if protocol == "vllm" else protocol
    with FakeServer(protocol, api_key=KEY, models=["model-a"], reply="Red.", reasoning="Let me think.") as srv:
        _add(store, srv, kind)
        v = store.verify("P", capabilities=True, timeout=20)
        bodies = [r.body or {} for r in srv.requests if r.method == "POST"]
    assert v.ok and tuple(c.name for c in v.capabilities) == NAMES
    assert all(isinstance(c, Capability) for c in v.capabilities)
    assert _states(v) == dict.fromkeys(NAMES, "yes"), str(v)
    assert str(v).startswith("OK - ") and "structured_output: yes" in str(v)
    # each image went in the type's own form: its base64 is in one recorded body each, as the adapter wrote it
    sent = [c for b in bodies for c in COLOURS if swatch(c).base64 in json.dumps(b)]
    assert len(sent) == 2 and sent[0] != sent[1], sent
    assert len(bodies) == 5  # the verify chat, a streamed one, a structured one, then one per image
    # kept on the model, and in the providers file
    m = store["P"].model("model-a")
    assert m is not None and dict(m.capabilities) == dict.fromkeys(NAMES, True)
    assert set(m.capability_notes) == set(NAMES)
    back = ProviderStore(tmp_path / "store", admin_paths=[])["P"].model("model-a")
    assert back is not None and back.capabilities == m.capabilities and back.capability_notes == m.capability_notes


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_what_a_model_does_not_show_is_unknown_not_no(protocol: str, store: ProviderStore) -> None:
    """No reasoning text, an answer that does not name the colour (a blind model): unknown (not a false no, not a
    false yes)."""
    with FakeServer(protocol, api_key=KEY, models=["model-a"], reply="Hello there!", sees_images=False) as srv:
        _add(store, srv, protocol)
        v = store.verify("P", capabilities=True, timeout=20)
    states = _states(v)
    assert states["reasoning"] == "unknown" and states["images"] == "unknown" and states["streaming"] == "yes"
    m = store["P"].model("model-a")
    assert m is not None and m.takes("reasoning") is None and m.takes("images") is None
    assert "not seen" in m.capability_notes["reasoning"]


def test_today_s_verify_is_unchanged_without_capabilities(store: ProviderStore) -> None:
    with FakeServer("openai", api_key=KEY, models=["model-a"]) as srv:
        _add(store, srv, "openai")
        v = store.verify("P")
        assert len([r for r in srv.requests if r.method == "POST"]) == 1
    assert v.ok and v.capabilities == () and "\n" not in str(v)
    assert store["P"].models[0].capabilities == {}


def test_a_refused_form_is_a_no_and_structured_output_is_then_refused_early(store: ProviderStore) -> None:
    """A server answering every schema with 400 (no form works) and an image with 400: no, with the reason;
    a later ``chat(schema=...)`` or ``attach=`` is refused before anything is sent."""
    with FakeServer("openai", api_key=KEY, models=["model-a"]) as srv:
        original = srv._proto.check

        def check(req, route):  # type: ignore[no-untyped-def]
            body = req.body or {}
            text = json.dumps(body.get("messages", ""))
            if "response_format" in body or "image_url" in text:
                return srv.facts.status_error(400, "this model takes neither")
            return original(req, route)

        srv._proto.check = check  # type: ignore[method-assign]
        _add(store, srv, "openai")
        v = store.verify("P", capabilities=True, timeout=20)
        assert v.ok and _states(v)["structured_output"] == "no" and _states(v)["images"] == "no", str(v)
        assert "this model takes neither" in store["P"].models[0].capability_notes["structured_output"]
        sent = len(srv.requests)
        refused = r"^P: schema: 'model-a' gave no structured output when verified \(a structured chat failed"
        with pytest.raises(InvalidValueError, match=refused):
            chat("hi", provider="P", store=store, schema={"type": "object", "properties": {}})
        with pytest.raises(InvalidValueError, match="reads text only"):
            chat("hi", provider="P", store=store, attach=[swatch("red").data])
        assert len(srv.requests) == sent
        assert chat("hi", provider="P", store=store).text  # a plain chat still goes


# -- servers that lie: no OK verdict, and the probes (asked anyway) give no yes -------------------------------
LIARS = {
    "200 on the list, 404 on chat": (404, HTML_404.encode(), "text/html"),
    "200 on the list, a JSON 404 on chat": (404, b'{"detail": "Not Found"}', "application/json"),
    "a web page": (200, HTML_200.encode(), "text/html; charset=utf-8"),
    "a web page called JSON": (200, HTML_200.encode(), "application/json"),
    "an empty 200": (200, b"", "application/json"),
    "an empty event stream": (200, b"", "text/event-stream"),
}


@pytest.mark.parametrize("liar", list(LIARS))
@pytest.mark.parametrize("protocol", sorted(TYPES))
def test_a_server_that_lies_gets_no_ok_and_no_yes(liar: str, protocol: str, store: ProviderStore) -> None:
    with FakeServer(protocol, api_key=KEY, models=["model-a"], reply="Red.") as srv:
        listing = srv.base_url if liar.startswith("200 on the list") else None
        with answering(*LIARS[liar], listing=listing) as url:
            _add(store, srv, protocol, base=url)
            if listing is not None:
                assert store.fetch_models("P") == ["model-a"]  # the list is real
            v = store.verify("P", capabilities=True, timeout=5)
            assert not v.ok and v.capabilities == (), str(v)
            assert store["P"].models[0].capabilities == {}
            found = client.capabilities(store["P"], "model-a", timeout=5)  # asked anyway: nothing to believe
    assert "yes" not in {c.state for c in found}, "\n".join(map(str, found))


# -- a gateway that echoes the key: in no reason ----------------------------------------------------------------
@pytest.mark.parametrize("where", ["ok_model", "200_error", "4xx", "5xx", "midstream"])
@pytest.mark.parametrize("protocol", sorted(TYPES))
def test_a_key_echoed_back_is_in_no_reason(where: str, protocol: str, store: ProviderStore, tmp_path: Path) -> None:
    with EchoServer(protocol, where, api_key=KEY, models=["model-a"]) as srv:
        _add(store, srv, protocol)
        found = client.capabilities(store["P"], "model-a", timeout=10)
        v = store.verify("P", capabilities=True, timeout=10)
        saved = (tmp_path / "store" / "providers.json").read_text()
    text = "\n".join(map(str, found)) + str(v) + repr(store["P"].models) + saved
    assert found and KEY not in text and KEY[3:15] not in text


# -- the real local model (SmolLM2 via llama-cpp-python) -------------------------------------------------------
def test_the_real_local_model(local_store: ProviderStore) -> None:
    """What llama-cpp-python's server with SmolLM2 does, the same in every run: no usage in a stream, the schema
    taken as json_object (json_schema refused with 422), and an image answered with a 500 (its chat formatter
    fails on content parts): a server error is no refusal of images, so unknown, not a no."""
    v = local_store.verify("vLLM", capabilities=True, timeout=60)
    print(v)
    assert v.ok and LOCAL_KEY not in str(v)
    assert _states(v) == {
        "streaming": "yes", "stream_usage": "no", "structured_output": "yes", "images": "unknown",
        "reasoning": "unknown",  # SmolLM2 sends no reasoning text: not seen, not a false no
    }, str(v)  # fmt: skip
    reasons = {c.name: c.reason for c in v.capabilities}
    assert "sent as json_object" in reasons["structured_output"]
    said = "PNG failed (server error, not a refusal of it, so not a no): server error (500: can only concatenate str"
    assert said in reasons["images"]
    m = local_store["vLLM"].model("smollm2")
    assert m is not None and m.takes("streaming") is True and m.takes("images") is None


# -- surfaces: %providers and the panel -------------------------------------------------------------------------
def test_providers_verify_capabilities_and_the_listing(store: ProviderStore) -> None:
    from jupyter_providers._providers_cmd import ProvidersCommand

    with FakeServer("openai", api_key=KEY, models=["model-a"], reply="Red.") as srv:
        _add(store, srv, "openai")
        cmd = ProvidersCommand(store)
        plain = cmd.run(["verify", "P"])
        assert isinstance(plain, str) and plain.startswith("P: OK - ") and "\n" not in plain
        out = cmd.run(["verify", "P", "--capabilities"])
        listing = cmd.run([])
        table = html.unescape(listing._repr_html_())  # type: ignore[union-attr]  # the text table cuts cells
    assert isinstance(out, str) and out.startswith("P: OK - ")
    assert "\n  streaming: yes - " in out and "\n  images: yes - it named the colours of a " in out
    assert "model-a (streaming yes, stream_usage yes, structured_output yes, images yes" in table
    assert KEY not in out + table


def test_the_panel_probes_and_lists_them(store: ProviderStore) -> None:
    pytest.importorskip("ipywidgets")
    from jupyter_providers.widgets import ProvidersPanel
    from jupyter_providers.widgets._common import descendants

    from .widgets import text

    with FakeServer("openai", api_key=KEY, models=["model-a"], reply="Red.") as srv:
        _add(store, srv, "openai")
        panel = ProvidersPanel(store=store)
        try:
            panel.select("P")
            panel.detail.verify_caps.value = True
            panel.detail.verify_button.click()
            assert panel.wait(60)
            verdict = text(panel.detail.verdict.value)
            shown = descendants(panel.detail.models.list)
            listed = " ".join(text(x.value) for x in shown if "model-capabilities" in str(getattr(x, "value", "")))
        finally:
            panel.close()
    assert "✓ OK - " in verdict and "\nstructured_output: yes - " in verdict
    assert "streaming yes, stream_usage yes, structured_output yes, images yes" in listed


STREAM_LIES = {
    "a web page": (200, HTML_200.encode(), "text/html; charset=utf-8"),
    "an empty 200": (200, b"", "text/event-stream"),
    "an empty JSON object": (200, b"{}", "application/json"),
}


@pytest.mark.parametrize("lie", list(STREAM_LIES))
@pytest.mark.parametrize("protocol", sorted(TYPES))
def test_a_stream_that_is_not_one_is_not_a_yes(lie: str, protocol: str, store: ProviderStore) -> None:
    """The plain chat is well formed (OK), the streamed one is not that protocol's stream: streaming is unknown (an
    answer of the wrong shape is no refusal: not a no, and not a yes), and the usage in it unknown."""
    from .fakes.server import Response

    status, body, ctype = STREAM_LIES[lie]
    with FakeServer(protocol, api_key=KEY, models=["model-a"], reply="Red.") as srv:
        original = srv._proto.check

        def check(req, route):  # type: ignore[no-untyped-def]
            if (req.body or {}).get("stream") is True or "stream" in req.path.lower():
                return Response(status, body, ctype)
            return original(req, route)

        srv._proto.check = check  # type: ignore[method-assign]
        _add(store, srv, protocol)
        v = store.verify("P", capabilities=True, timeout=10)
    states = _states(v)
    assert v.ok and states["streaming"] == "unknown" and states["stream_usage"] == "unknown", str(v)
    assert store["P"].models[0].takes("streaming") is None
    assert states["structured_output"] == "yes"  # the other probes are not streamed


def _completion_of(protocol: str) -> bytes:
    """A whole, well-formed chat answer of ``protocol``, as its fake sends it."""
    with FakeServer(protocol, api_key=KEY, models=["model-a"], reply="Red.") as srv:
        path, headers, body = srv.facts.sample_chat("model-a", KEY, False, 8)
        r = httpx.post(srv.base_url + path, headers=headers, json=body)
    assert r.status_code == 200, r.text
    return r.content


@pytest.mark.parametrize("protocol", sorted(TYPES))
def test_another_protocol_s_answer_is_not_ok(protocol: str, store: ProviderStore) -> None:
    """Every chat answered with another type's well-formed answer (the model list is this type's own): no OK. A type
    whose answer has this one's fields, or this one has all of its (Azure OpenAI's adds ``prompt_filter_results`` to
    OpenAI's), speaks the same answer protocol."""
    own = set(json.loads(_completion_of(protocol)))
    others = {o: _completion_of(o) for o in sorted(set(TYPES) - {protocol})}
    different = {o: a for o, a in others.items() if not (own <= set(json.loads(a)) or set(json.loads(a)) <= own)}
    assert len(different) >= len(TYPES) - 2
    for other, answer in different.items():
        with (
            FakeServer(protocol, api_key=KEY, models=["model-a"]) as srv,
            answering(200, answer, "application/json", listing=srv.base_url) as url,
        ):
            store.add("P", type=protocol, base_url=url, api_key=KEY, models=["model-a"], **srv.facts.store_kwargs())
            v = store.verify("P", capabilities=True, timeout=5)
            store.remove("P")
        assert not v.ok and v.capabilities == (), f"{protocol} answered as {other}: {v}"


def test_a_probe_that_breaks_is_unknown_and_verify_still_answers(store: ProviderStore) -> None:
    from jupyter_providers import _capabilities

    def broken(*args: object, **kw: object) -> object:
        raise RuntimeError("a bug, not the server")

    with FakeServer("openai", api_key=KEY, models=["model-a"]) as srv:
        _add(store, srv, "openai")
        found = _capabilities.probe(store["P"], "model-a", broken, {}, timeout=5)
    states = {c.name: c.state for c in found}
    assert states == {**dict.fromkeys(NAMES, "unknown")}
    assert all("could not be read (RuntimeError)" in c.reason for c in found if c.name != "reasoning")
