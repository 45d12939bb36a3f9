"""``verify(..., capabilities=True)``: what a model does, each found with one tiny request.

Three requests, each of at most ``settings.verify_max_tokens`` tokens, sent through the one chat path
(:func:`~.client.chat_provider`, passed in: the same adapters, redaction and deadline as any chat), all within
one deadline (``timeout`` or ``settings.verify_timeout``):

* a streamed "Say hi.": ``streaming`` (the stream ended with text or a finish reason), ``stream_usage`` (its
  end carried token counts);
* a tiny schema through ``chat(schema=...)``: ``structured_output``, with the form the server took (the
  type's ``schema_forms`` are tried in turn, as any structured chat does);
* a 1x1 red PNG through the attachments path: ``images`` is ``yes`` only when the answer names the colour
  (a server that drops the image silently is not a yes), ``no`` on a refusal or an error;
* ``reasoning`` is ``yes`` when any of these replies carried reasoning text apart from the answer, else
  ``unknown`` (not seen: a model that did not reason here may on a harder question), never ``no``.

A probe that could not tell (no answer in time, a rate limit, the deadline spent) is ``unknown``. Nothing here
names a provider type: each type's forms are its adapter's.
"""

from __future__ import annotations

import logging
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
from ._types import Capability, CapabilityState, Message
from .adapters import adapter_for
from .errors import ProviderError, SchemaError

if TYPE_CHECKING:
    import httpx

    from .reply import Reply
    from .store import Provider

__all__ = ["NAMES", "PIXEL", "probe"]

log = logging.getLogger("jupyter_providers")

#: the capabilities probed, in the order they are shown
NAMES = ("streaming", "stream_usage", "structured_output", "images", "reasoning")

#: errors that say nothing about the model: the probe could not tell
_TRANSIENT = frozenset({"unreachable", "timeout", "rate_limited", "cost_limit"})
#: a probe is not started with less time than this left of the deadline
_MIN_SECONDS = 0.5
_SCHEMA = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def _png(rgb: tuple[int, int, int]) -> bytes:
    """A 1x1 PNG of one colour (no Pillow needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes((0, *rgb))))
        + chunk(b"IEND", b"")
    )


#: the image the ``images`` probe sends: one red pixel
PIXEL = Attachment("capability probe", "image/png", _png((255, 0, 0)), 1, 1)

Chat = Callable[..., "Reply"]


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
    tokens = max(1, min(8, settings.verify_max_tokens))
    reasoned: list[str] = []

    def send(messages: list[Message], **kw: Any) -> Reply | str:
        """The reply, or why nothing was sent (the deadline spent)."""
        left = end - time.monotonic()
        if left < _MIN_SECONDS:
            return "not probed: the verify deadline was spent by the probes before it"
        kw.setdefault("stream", False)
        reply = chat(p, messages, model, max_tokens=tokens, timeout=left, retries=0, http=http, **kw)
        if kw["stream"]:
            reply.wait()
        if reply.reasoning:
            reasoned.append(reply.reasoning)
        return reply

    found = [
        *_guarded(("streaming", "stream_usage"), lambda: _streaming(send)),
        *_guarded(("structured_output",), lambda: [_structured(p, send, forms)]),
        *_guarded(("images",), lambda: [_images(p, send)]),
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


def _failed(name: str, exc: ProviderError, what: str) -> Capability:
    state: CapabilityState = "unknown" if exc.kind in _TRANSIENT else "no"
    return Capability(name, state, f"{what} failed ({exc.kind.replace('_', ' ')}): {one_line(exc.message, 140)}")


def _streaming(send: Callable[..., Reply | str]) -> list[Capability]:
    try:
        reply = send([{"role": "user", "content": "Say hi."}], stream=True)
    except ProviderError as exc:
        failed = _failed("streaming", exc, "a streamed chat")
        return [failed, Capability("stream_usage", "unknown", "not seen: the stream did not work")]
    if isinstance(reply, str):
        return [Capability("streaming", "unknown", reply), Capability("stream_usage", "unknown", reply)]
    if not reply.text and not reply.reasoning and reply.finish_reason is None:
        return [
            Capability("streaming", "no", "the stream ended with no text and no finish reason"),
            Capability("stream_usage", "unknown", "not seen: the stream carried no answer"),
        ]
    streamed = Capability("streaming", "yes", f"a streamed reply came back whole (finish: {reply.finish_reason})")
    u = reply.usage
    if u.input_tokens is None and u.output_tokens is None:
        return [streamed, Capability("stream_usage", "no", "the stream ended without token counts")]
    counts = f"in {u.input_tokens if u.input_tokens is not None else '?'}, out {u.output_tokens}"
    return [streamed, Capability("stream_usage", "yes", f"the stream's end carried token counts ({counts})")]


def _structured(p: Provider, send: Callable[..., Reply | str], forms: Mapping[tuple[str, str], str]) -> Capability:
    name = "structured_output"
    try:
        reply = send([{"role": "user", "content": "Is water wet? Answer in JSON."}], schema=output_schema(_SCHEMA))
    except SchemaError as exc:
        raw = (exc.raw_text or exc.partial_text or "").lstrip()
        if raw.startswith(("{", "[")):
            return Capability(name, "unknown", "the answer was JSON but did not match a tiny schema (cut short?)")
        return Capability(name, "no", "the server took the schema, but the answer was not JSON (not enforced)")
    except ProviderError as exc:
        return _failed(name, exc, "a structured chat")
    if isinstance(reply, str):
        return Capability(name, "unknown", reply)
    tried = getattr(adapter_for(p.type), "schema_forms", ())
    form = forms.get((p.name, p.resolved_base)) if tried else None
    how = f"as {form}" if form else f"in the {p.type} type's own form"
    return Capability(name, "yes", f"a value matching a tiny schema came back, sent {how}")


def _images(p: Provider, send: Callable[..., Reply | str]) -> Capability:
    name = "images"
    if not p.spec.image_form:
        return Capability(name, "no", f"the {p.type} type sends no images")
    message: Message = {"role": "user", "content": "What colour is this image? One word.", "attachments": (PIXEL,)}
    try:
        reply = send([message])
    except ProviderError as exc:
        return _failed(name, exc, "a chat with a 1x1 PNG")
    if isinstance(reply, str):
        return Capability(name, "unknown", reply)
    if re.search(r"\bred\b", reply.text, re.I):
        return Capability(name, "yes", "it named the colour of a 1x1 red PNG")
    return Capability(name, "unknown", "the server took a 1x1 red PNG, but the answer did not show the model saw it")
