"""``verify(..., capabilities=True)``: what a model does, each found with a tiny request or two.

Requests of ``settings.verify_max_tokens`` tokens (8) each, sent through the one chat path
(:func:`~.client.chat_provider`, passed in: the same adapters, redaction and deadline as any chat), all within
one deadline (``timeout`` or ``settings.verify_timeout``):

* a streamed "Say hi.": ``streaming`` (the stream ended with text or a finish reason), ``stream_usage`` (its
  end carried token counts);
* a tiny schema through ``chat(schema=...)``: ``structured_output``, with the form the server took (the
  type's ``schema_forms`` are tried in turn, as any structured chat does);
* two small one-colour PNGs, one a request, of two colours drawn at random from :data:`COLOURS`: ``images`` is
  ``yes`` only when each answer names its image's colour and no other (a blind model, or a server that drops the
  image, cannot answer two different colours right by saying the same thing);
* ``reasoning`` is ``yes`` when any of these replies carried reasoning text apart from the answer, else
  ``unknown`` (not seen: a model that did not reason here may on a harder question), never ``no``.

An answer cut at that limit shows nothing yet (a reasoning model spends it thinking; a small model may write its
JSON with much whitespace): it is asked once more with :data:`RETRY_TOKENS` (256), and the probes after it get
that budget too. A cut answer is never a ``no``: it is ``unknown`` if the second one is cut as well (a model that
thinks longer: raise ``settings.verify_max_tokens``). One retry, and a fixed ceiling, keep a verify cheap and
quick on a paid reasoning model, which is billed for its thinking.

``no`` needs proof: the server refused the request with a 4xx that is not auth, rate or model (or, for
structured output, an error the type's adapter reads as refusing the schema's form), or a structured answer
ended on its own as text that is not JSON. Anything else is ``unknown``: a 5xx, an answer of the wrong shape,
and a probe that measured nothing (no answer in time, a rate limit, the deadline spent: not
:attr:`~._types.Capability.measured`, so a value saved before stays). Nothing here names a provider type: each
type's forms are its adapter's.
"""

from __future__ import annotations

import logging
import random
import re
import struct
import time
import zlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._attach import Attachment
from ._bounded import one_line
from ._schema_out import output_schema
from ._secret import redactor_for
from ._settings import settings
from ._types import Capability, Message
from .adapters import adapter_for
from .errors import ProviderError, SchemaError

if TYPE_CHECKING:
    import httpx

    from .reply import Reply
    from .store import Provider

__all__ = ["COLOURS", "NAMES", "RETRY_TOKENS", "probe", "swatch"]

log = logging.getLogger("jupyter_providers")

#: the capabilities probed, in the order they are shown
NAMES = ("streaming", "stream_usage", "structured_output", "images", "reasoning")
#: the colours the ``images`` probe draws two of: far apart, each named one way by people and models
COLOURS: Mapping[str, tuple[int, int, int]] = {
    "red": (220, 20, 20),
    "green": (20, 160, 40),
    "blue": (20, 40, 220),
    "yellow": (250, 220, 0),
}

#: errors that say nothing about the model: the probe could not tell
_TRANSIENT = frozenset({"unreachable", "timeout", "rate_limited", "cost_limit"})
#: finish reasons (lowercased) of an answer cut at the token limit: Chat Completions and Ollama's ``length``,
#: Anthropic's ``max_tokens``, Gemini's ``MAX_TOKENS``
_CUT = frozenset({"length", "max_tokens", "max_output_tokens"})
#: finish reasons (lowercased) of an answer that ended on its own: ``stop``, Anthropic's ``end_turn``,
#: Gemini's ``STOP``
_ENDED = frozenset({"stop", "end_turn", "stop_sequence"})
#: a probe is not started with less time than this left of the deadline
_MIN_SECONDS = 0.5
#: the token budget a probe is asked again with, once, after an answer cut at ``settings.verify_max_tokens``
RETRY_TOKENS = 256
_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
_SIDE = 64  # the swatches' width and height: servers refuse images below a minimum (Qwen2-VL's 28 px)
_QUESTION = "What colour is this image? Answer with one word."


def _png(rgb: tuple[int, int, int], side: int = _SIDE) -> bytes:
    """A ``side`` x ``side`` PNG of one colour (no Pillow needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    rows = (b"\x00" + bytes(rgb) * side) * side  # each row: filter type 0, then its pixels
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def swatch(colour: str) -> Attachment:
    """The image the ``images`` probe sends for ``colour`` (a name in :data:`COLOURS`)."""
    return Attachment(f"capability probe ({colour})", "image/png", _png(COLOURS[colour]), _SIDE, _SIDE)


Chat = Callable[..., "Reply"]


class _Budget:
    """The probes' token budget: ``settings.verify_max_tokens``, raised once to :data:`RETRY_TOKENS` after an
    answer cut at it (a reasoning model's thinking, a JSON written with much whitespace), for the probes after."""

    def __init__(self, tokens: int) -> None:
        self.tokens = self.first = tokens

    def more(self, finish: str | None) -> bool:
        """Whether an answer that ended with ``finish`` is to be asked again, with the budget raised."""
        if (finish or "").lower() not in _CUT or self.tokens >= RETRY_TOKENS:
            return False
        self.tokens = RETRY_TOKENS
        return True

    def note(self) -> str:
        return f" (with {self.tokens} tokens, an answer cut at {self.first} asked again)" if self.raised else ""

    @property
    def raised(self) -> bool:
        return self.tokens != self.first


def probe(
    p: Provider,
    model: str,
    chat: Chat,
    forms: Mapping[tuple[str, str], str],
    *,
    timeout: float | None = None,
    http: httpx.Client | None = None,
) -> tuple[Capability, ...]:
    """What ``model`` of ``p`` does, one :class:`Capability` per name in :data:`NAMES`, reasons scrubbed of
    the provider's keys. ``forms`` is where the client keeps the structured-output form each server took."""
    end = time.monotonic() + (settings.verify_timeout if timeout is None else timeout)
    budget = _Budget(max(1, settings.verify_max_tokens))
    reasoned: list[str] = []

    def send(messages: list[Message], **kw: Any) -> Reply | str:
        """The reply, or why nothing was sent (the deadline spent)."""
        left = end - time.monotonic()
        if left < _MIN_SECONDS:
            return "not probed: the verify deadline was spent by the probes before it"
        kw.setdefault("stream", False)
        reply = chat(p, messages, model, max_tokens=budget.tokens, timeout=left, retries=0, http=http, **kw)
        if kw["stream"]:
            reply.wait()
        if reply.reasoning:
            reasoned.append(reply.reasoning)
        return reply

    found = [
        *_guarded(("streaming", "stream_usage"), lambda: _streaming(send)),
        *_guarded(("structured_output",), lambda: [_structured(p, send, forms, budget)]),
        *_guarded(("images",), lambda: [_images(p, send, budget)]),
    ]
    if reasoned:
        found.append(Capability("reasoning", "yes", "reasoning text came back apart from the answer"))
    else:
        why = "not seen: no reasoning text in the probes' replies (it may show on a harder question)"
        found.append(Capability("reasoning", "unknown", why))
    red = redactor_for(p)
    return tuple(Capability(c.name, c.state, red(one_line(c.reason, 200))) for c in found)


def _guarded(names: tuple[str, ...], run: Callable[[], list[Capability]]) -> list[Capability]:
    """``run()``, or each of ``names`` unknown when it fails in a way no server error explains (a bug, an answer
    no parser expected): a verify gives a verdict, whatever the server did."""
    try:
        return run()
    except Exception as exc:
        log.warning("jupyter-providers: the %s probe failed unexpectedly (%s)", names[0], type(exc).__name__)
        return [Capability(n, "unknown", f"the probe's answer could not be read ({type(exc).__name__})") for n in names]


def _refused(exc: ProviderError) -> bool:
    """The server refused the request itself: a 4xx that is not auth (401/403), a wrong address or model (404),
    a timeout (408) or a rate limit (429) - those are their own kinds - or a 5xx the adapter read as a refusal
    (llama-server's 500 "image input is not supported"; adapters/_base.py ``classify_common``)."""
    return exc.kind == "bad_response" and exc.status is not None and 400 <= exc.status < 600


def _failed(name: str, exc: ProviderError, what: str, refused: bool) -> Capability:
    """A probe whose request failed: ``no`` when ``refused`` (the server turned the feature down), ``unknown``
    otherwise: a 5xx or an answer of the wrong shape says something broke, not that the model cannot."""
    kind, message = exc.kind.replace("_", " "), one_line(exc.message, 140)
    if exc.kind in _TRANSIENT:
        return Capability(name, "unknown", f"not measured: {what} failed ({kind}): {message}")
    if refused:
        return Capability(name, "no", f"{what} failed ({kind}): {message}")
    return Capability(name, "unknown", f"{what} failed ({kind}, not a refusal of it, so not a no): {message}")


def _cut(finish: str | None, text: str, reasoning: bool | None, tokens: int) -> str | None:
    """Why an answer shows nothing to judge (cut at the token limit, or no text: reasoning only), else ``None``.
    ``reasoning`` is whether reasoning came back (``None``: not known)."""
    if (finish or "").lower() in _CUT:
        only = "no text, " if not text.strip() else ""
        return f"the answer was cut at {tokens} tokens ({only}finish: {finish})"
    if not text.strip():
        return "the answer had reasoning only" if reasoning else "the answer had no text"
    return None


_RAISE = "a reasoning model may think longer: raise settings.verify_max_tokens and verify again"


def _streaming(send: Callable[..., Reply | str]) -> list[Capability]:
    try:
        reply = send([{"role": "user", "content": "Say hi."}], stream=True)
    except ProviderError as exc:
        failed = _failed("streaming", exc, "a streamed chat", _refused(exc))
        usage = "the stream did not work" if failed.measured else "not measured: the stream did not work"
        return [failed, Capability("stream_usage", "unknown", usage)]
    if isinstance(reply, str):
        return [Capability("streaming", "unknown", reply), Capability("stream_usage", "unknown", reply)]
    if not reply.text and not reply.reasoning and reply.finish_reason is None:
        why = "the stream ended with no text and no finish reason (an answer of the wrong shape, not a refusal)"
        return [
            Capability("streaming", "unknown", why),
            Capability("stream_usage", "unknown", "the stream carried no answer"),
        ]
    streamed = Capability("streaming", "yes", f"a streamed reply came back whole (finish: {reply.finish_reason})")
    u = reply.usage
    if u.input_tokens is None and u.output_tokens is None:
        return [streamed, Capability("stream_usage", "no", "the stream ended without token counts")]
    counts = f"in {u.input_tokens if u.input_tokens is not None else '?'}, out {u.output_tokens}"
    return [streamed, Capability("stream_usage", "yes", f"the stream's end carried token counts ({counts})")]


def _structured(
    p: Provider, send: Callable[..., Reply | str], forms: Mapping[tuple[str, str], str], budget: _Budget
) -> Capability:
    name = "structured_output"
    while True:
        try:
            ask: Message = {"role": "user", "content": "Is water wet? Answer in JSON."}
            reply = send([ask], schema=output_schema(_SCHEMA))
            break
        except SchemaError as exc:
            if budget.more(exc.finish_reason):
                continue
            return _not_json(exc, budget.tokens)
        except ProviderError as exc:
            refused = getattr(adapter_for(p.type), "schema_refused", None)
            by_form = refused is not None and refused(None, exc.status, exc.server_message or "")
            return _failed(name, exc, "a structured chat", _refused(exc) or by_form)
    if isinstance(reply, str):
        return Capability(name, "unknown", reply)
    tried = getattr(adapter_for(p.type), "schema_forms", ())
    form = forms.get((p.name, p.resolved_base)) if tried else None
    how = f"as {form}" if form else f"in the {p.type} type's own form"
    return Capability(name, "yes", f"a value matching a tiny schema came back, sent {how}{budget.note()}")


def _not_json(exc: SchemaError, tokens: int) -> Capability:
    """A structured answer that is not a value of the schema: ``no`` only when it ended on its own as text that is
    not JSON (a server that keeps to a schema starts with ``{``); cut, empty or JSON: unknown."""
    name = "structured_output"
    raw = (exc.raw_text or exc.partial_text or "").lstrip()
    cut = _cut(exc.finish_reason, raw, None, tokens)
    if cut:
        return Capability(name, "unknown", f"{cut}: it could not show whether the schema is kept ({_RAISE})")
    if raw.startswith(("{", "[")):
        return Capability(name, "unknown", "the answer was JSON but did not match a tiny schema")
    if (exc.finish_reason or "").lower() not in _ENDED or raw.startswith("<think"):
        why = f"finish: {exc.finish_reason}" if not raw.startswith("<think") else "reasoning in the answer"
        return Capability(name, "unknown", f"the answer was not JSON, but may not have ended on its own ({why})")
    return Capability(name, "no", "the server took the schema, but the whole answer was not JSON (not enforced)")


def _colours_named(text: str) -> set[str]:
    return {c for c in COLOURS if re.search(rf"\b{c}\b", text, re.I)}


def _images(p: Provider, send: Callable[..., Reply | str], budget: _Budget) -> Capability:
    name = "images"
    if not p.spec.image_form:
        return Capability(name, "no", f"the {p.type} type sends no images")
    colours = random.sample(sorted(COLOURS), 2)  # two different ones: the same answer twice cannot name both
    for colour in colours:
        message: Message = {"role": "user", "content": _QUESTION, "attachments": (swatch(colour),)}
        while True:
            try:
                reply = send([message])
            except ProviderError as exc:
                return _failed(name, exc, f"a chat with a {colour} PNG", _refused(exc))
            if isinstance(reply, str):
                return Capability(name, "unknown", reply)
            if _colours_named(reply.text) == {colour} or not budget.more(reply.finish_reason):
                break
        if _colours_named(reply.text) == {colour}:
            continue
        cut = _cut(reply.finish_reason, reply.text, bool(reply.reasoning), budget.tokens)
        if cut:
            return Capability(name, "unknown", f"{cut}: it did not name the colour of a {colour} PNG ({_RAISE})")
        said = one_line(reply.text, 40)
        return Capability(name, "unknown", f"the server took a {colour} PNG, but the answer ({said!r}) did not name it")
    return Capability(name, "yes", f"it named the colours of a {colours[0]} and a {colours[1]} PNG{budget.note()}")
