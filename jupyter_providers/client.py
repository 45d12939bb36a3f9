"""The client: chat, stream, list models, verify - the only part of the package that talks to servers (httpx).

Its parts: :mod:`._transport` sends and reads, :mod:`._failures` names what went wrong, :mod:`._verify` gives
a verify's verdict.

It turns every httpx failure and every error answer into the package's error tree,
retries what is worth retrying (429/5xx/529 with backoff, honouring ``retry-after``,
never ``insufficient_quota``), rotates through several keys, and scrubs keys out of
every message it builds: each public function passes its errors and verdicts through
one redactor (:mod:`._secret`), and keys travel as :class:`~._secret.Secret` values.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from . import _bounded as bounded
from . import _capabilities, _verify
from ._answers import deadline_for
from ._bounded import Deadline
from ._metering import CostBudget, metered
from ._probe import detect
from ._secret import Secret, cut_frames, redactor_for, scrub_error, scrub_verdict, stream_scrubber, watch
from ._settings import Settings, settings
from ._transport import http_client, json_body, next_key, parse_completion, resolve, send, stream_deltas
from ._types import Capability, Message, ModelIds, Verification
from .adapters import adapter_for
from .adapters._base import ChatParams, Delta, ProtocolError, model_context_lengths
from .errors import BadResponseError, ProviderConfigError, ProviderError
from .reply import Reply

if TYPE_CHECKING:
    import httpx

    from ._schema_out import OutputSchema
    from .adapters._base import Adapter, HTTPRequest
    from .store import Provider

__all__ = ["Settings", "capabilities", "chat_provider", "detect", "http_client", "list_models", "settings", "verify"]

log = logging.getLogger("jupyter_providers")


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _redacting(fn: Callable[Concatenate[Provider, _P], _T]) -> Callable[Concatenate[Provider, _P], _T]:
    """The choke point: every error ``fn`` raises and every verdict it returns is scrubbed of the
    provider's keys and custom header values, whatever status or path built it. The error's traceback
    starts here: the frames below hold the server's answer and the request in their locals, which a
    ``%xmode Verbose`` traceback would print."""

    @functools.wraps(fn)
    def wrapper(p: Provider, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        red = watch(p)
        try:
            result = fn(p, *args, **kwargs)
        except ProviderError as exc:
            raise scrub_error(exc, red).with_traceback(None)  # noqa: B904 - the same error
        except BaseException as exc:  # Ctrl-C while a request waits, or a bug: no frame below prints its locals
            raise cut_frames(exc)  # noqa: B904 - the same error
        if isinstance(result, Verification):
            return scrub_verdict(result, red)  # type: ignore[return-value]
        return result

    return wrapper


def _redacted_stream(p: Provider, deltas: Iterator[Delta | str]) -> Iterator[Delta | str]:
    """A stream through the same choke point: its errors, and its text too - a gateway that echoes a key
    into the reply (or its reasoning) shows ``***``, even when the key arrives split over two pieces."""
    red = redactor_for(p)
    text, reasoning = stream_scrubber(p), stream_scrubber(p)
    try:
        if not red:
            yield from deltas
            return
        for d in deltas:
            if isinstance(d, str):
                if piece := text.feed(d):
                    yield piece
            else:
                yield Delta(text.feed(d.text), reasoning.feed(d.reasoning), d.finish_reason, d.usage)
        if (tail := Delta(text.flush(), reasoning.flush())).text or tail.reasoning:
            yield tail
    except ProviderError as exc:
        if (tail := Delta(text.flush(), reasoning.flush())).text or tail.reasoning:
            yield tail  # what was held back is part of the partial reply, kept
        raise scrub_error(exc, red).with_traceback(None)  # noqa: B904 - the same error
    except GeneratorExit:
        raise
    except BaseException as exc:
        raise cut_frames(exc)  # noqa: B904 - the same error
    finally:
        deltas.close()  # type: ignore[attr-defined]


@_redacting
@metered
def chat_provider(
    p: Provider,
    messages: list[Message],
    model: str,
    *,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = False,
    timeout: float | None = None,
    retries: int | None = None,
    http: httpx.Client | None = None,
    schema: OutputSchema | None = None,
    max_cost: float | None = None,
    budget: CostBudget | None = None,
) -> Reply:
    """Send a conversation to one provider; the request goes out now, a stream is read on iteration.

    With ``schema`` the reply is structured (:attr:`Reply.data`); a whole reply that does not match raises
    :class:`~.errors.SchemaError` here, a stream at its end. ``max_cost`` and ``budget`` (a map's) are
    enforced, and the reply recorded in the usage ledger, by :func:`~._metering.metered`."""
    resolve(p)
    adapter, top = adapter_for(p.type), p.spec.max_temperature
    if temperature is not None and temperature > top:
        raise ProviderConfigError(
            f"temperature: {temperature:g} is out of range ({p.type} takes 0 to {top:g}); use a lower one",
            provider=p.name,
        )
    key = next_key(p)
    params = ChatParams(model, messages, system, temperature, max_tokens, schema=schema)
    dl = deadline_for(timeout, "call_timeout")
    started = time.perf_counter()
    try:
        retries = settings.max_retries if retries is None else retries
        req, resp = _send_chat(p, adapter, key, params, stream, http, dl, retries)
        if not stream:
            c = parse_completion(p, json_body(p, resp, req.url, dl), req.url, key, model)
            reply = Reply(p.name, model, started=started, schema=schema)
            red = redactor_for(p)  # a gateway that echoes a key into the reply shows ***
            reply._apply(Delta(red(c.text), red(c.reasoning), c.finish_reason, c.usage))
            reply.latency_s = time.perf_counter() - started
            if schema is not None:
                try:
                    reply._parse_data()
                except ProviderError as exc:
                    exc.provider, exc.partial_text, reply.error = p.name, reply.text, exc
                    raise
            return reply
    finally:
        if not stream:
            dl.cancel()
    cancelled = threading.Event()

    def cancel() -> None:
        cancelled.set()
        bounded.shutdown(resp)  # wakes a thread blocked reading a stalled socket, which close() does not
        resp.close()

    deltas = _redacted_stream(p, stream_deltas(p, resp, req.url, dl, cancelled, key, model))
    reply = Reply(p.name, model, deltas, on_cancel=cancel, started=started, schema=schema)
    if schema is not None:
        reply.on_end(lambda r: _name_provider(r, p.name))
    return reply


def _name_provider(reply: Reply, name: str) -> None:
    if reply.error is not None and reply.error.provider is None:  # a SchemaError: raised by the reply, not here
        reply.error.provider = name


#: the structured-output form each provider's server took, by (provider name, address): a server that refuses
#: the type's native form (llama-cpp-python's server: 422 on ``json_schema``) is sent the next one from then on
_schema_forms: dict[tuple[str, str], str] = {}


def _send_chat(
    p: Provider,
    adapter: Adapter,
    key: Secret,
    params: ChatParams,
    stream: bool,
    http: httpx.Client | None,
    dl: Deadline,
    retries: int,
) -> tuple[HTTPRequest, httpx.Response]:
    """Send a chat; a structured one in the first form of the type's ``schema_forms`` the server takes,
    starting from the one it took last time. A server's refusal of the last form is the error."""
    forms: tuple[str, ...] = getattr(adapter, "schema_forms", ()) if params.schema is not None else ()
    where = (p.name, p.resolved_base)
    if forms and _schema_forms.get(where) in forms:
        forms = forms[forms.index(_schema_forms[where]) :]
    i = 0
    while True:
        form = forms[i] if forms else None
        if form is not None:
            params = dataclasses.replace(params, schema_form=form)
        req = adapter.chat_request(p.endpoint, key, params, stream)
        try:
            resp = send(p, req, model=params.model, key=key, http=http, deadline=dl, retries=retries)
        except ProviderError as exc:
            refused = getattr(adapter, "schema_refused", None)
            if i + 1 >= len(forms) or refused is None or not refused(form, exc.status, exc.server_message or ""):
                raise
            i += 1
            log.info("jupyter-providers: %s refused structured output as %s; trying %s", p.name, form, forms[i])
            continue
        if form is not None:
            _schema_forms[where] = form
        return req, resp


def capabilities(
    p: Provider, model: str, *, timeout: float | None = None, http: httpx.Client | None = None
) -> tuple[Capability, ...]:
    """What ``model`` does, each probed with one tiny chat (:mod:`._capabilities`) within one deadline."""
    return _capabilities.probe(p, model, chat_provider, _schema_forms, timeout=timeout, http=http)


# -- models and verify ------------------------------------------------------------------------------
@_redacting
def list_models(
    p: Provider,
    *,
    timeout: float | None = None,
    http: httpx.Client | None = None,
    context_lengths: dict[str, int] | None = None,
    deadline: Deadline | None = None,
) -> ModelIds:
    """The model ids the server lists, all pages followed, within the deadline: at most
    ``settings.max_models`` of them (``.cut`` says the server listed more). ``context_lengths`` (if given)
    receives the context window of each model whose entry states one (:func:`~.adapters._base.context_lengths`).

    An id holding a piece of a key or header value (a proxy that lists what it was sent) is left out: a list
    is returned, not scrubbed, and shown in the panel, ``%providers`` and the saved config."""
    if p.spec.needs_address and not p.address:
        resolve(p)
    adapter = adapter_for(p.type)
    key = next_key(p)
    dl = deadline or deadline_for(timeout, "verify_timeout")
    ids: dict[str, None] = {}
    page: str | None = None
    cut, most = False, settings.max_models
    red = redactor_for(p)
    try:
        for _ in range(100):
            req = adapter.models_request(p.endpoint, key, page)
            resp = send(p, req, model="", key=key, http=http, deadline=dl, retries=0)
            try:
                data = json_body(p, resp, req.url, dl)
                found, page = adapter.parse_models(data)
            except (ProtocolError, RecursionError) as exc:
                raise BadResponseError(f"unexpected model list from {req.url}: {exc}", provider=p.name) from None
            ids.update(dict.fromkeys(m for m in found if len(m) <= 512 and red(m) == m))
            if context_lengths is not None:
                lengths = getattr(adapter, "context_lengths", model_context_lengths)(data)
                context_lengths.update({m: n for m, n in lengths.items() if m in ids})
            if len(ids) >= most:
                cut = len(ids) > most or bool(page)
                break
            if not page:
                break
        if context_lengths is not None and hasattr(adapter, "show_request"):
            context_lengths.update(_shown_lengths(p, adapter, key, list(ids)[:MAX_SHOWN], http, dl))
    finally:
        if deadline is None:
            dl.cancel()
    return ModelIds(list(ids)[:most], cut=cut)


#: models asked for their details after a listing (one request each: Ollama's ``/api/show``)
MAX_SHOWN = 50


def _shown_lengths(
    p: Provider, adapter: Any, key: Secret, ids: list[str], http: httpx.Client | None, dl: Deadline
) -> dict[str, int]:
    """Context lengths from a type that states them per model, not in its list (Ollama's ``/api/show``),
    within the listing's deadline. A model whose details cannot be read has no length; the listing stands."""
    found: dict[str, int] = {}
    for model in ids:
        if dl.remaining() <= 0:
            break
        req = adapter.show_request(p.endpoint, key, model)
        try:
            n = adapter.parse_show(
                json_body(p, send(p, req, model=model, key=key, http=http, deadline=dl, retries=0), req.url, dl)
            )
        except (ProviderError, ProtocolError, RecursionError):
            continue
        if n:
            found[model] = n
            # the same model by its other names (Ollama's ``llama3.2`` is the listed ``llama3.2:latest``)
            found.update(dict.fromkeys(getattr(adapter, "model_aliases", _no_aliases)(model), n))
    return found


def _no_aliases(model: str) -> tuple[str, ...]:
    return ()


@_redacting
def verify(
    p: Provider, model: str | None = None, *, timeout: float | None = None, http: httpx.Client | None = None
) -> Verification:
    """Send the smallest chat the protocol allows and classify the outcome (never raises for the server),
    all within one deadline: ``timeout`` or ``settings.verify_timeout`` (:mod:`._verify`)."""
    return _verify.verify(p, model, list_models, timeout=timeout, http=http)
