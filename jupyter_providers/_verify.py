"""``verify``: the smallest chat the protocol allows, per key, classified into a verdict (never raised).

The client's :func:`~.client.verify` wraps it in the redacting choke point, which scrubs the provider's keys and
header values out of every verdict; ``list_models`` (the client's, redacting too) is passed in.

An OK chat of a type whose model list names every model (``TypeSpec.lists_every_model``: OpenAI-compatible) is
checked against that list, one GET within the same deadline: llama-cpp-python's server and llama.cpp's
llama-server answer any model name with the model they serve (and echo the name back), so ``gpt-5`` verifies
there. The verdict stays OK (chats with that name will be answered), and its message says which model does. A
list that cannot tell (failed, empty, cut, with a wildcard route) or an answer through a LiteLLM proxy (which
routes names it does not list) leaves the verdict as it was.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ._answers import deadline_for, short_list
from ._bounded import one_line
from ._failures import ERRORS
from ._secret import Secret
from ._settings import settings
from ._transport import json_body, parse_completion, resolve, send
from ._types import KeyVerdict, ModelIds, Verification
from .adapters import adapter_for
from .adapters._base import ChatParams
from .errors import ProviderConfigError, ProviderError

if TYPE_CHECKING:
    import httpx

    from ._bounded import Deadline
    from .store import Provider

__all__ = ["verify"]

log = logging.getLogger("jupyter_providers")

#: the client's ``list_models``: (provider, *, http, deadline) -> the ids the server lists
ListModels = Callable[..., ModelIds]


def verify(
    p: Provider, model: str | None, list_models: ListModels, *, timeout: float | None, http: httpx.Client | None
) -> Verification:
    """Send the smallest chat the protocol allows and classify the outcome (never raises for the server),
    all within one deadline: ``timeout`` or ``settings.verify_timeout``."""
    dl = deadline_for(timeout, "verify_timeout")
    try:
        return _verify(p, model, list_models, dl, http)
    except Exception as exc:  # the contract: a verdict, whatever the server did
        log.warning("jupyter-providers: verify %s failed unexpectedly", p.name, exc_info=True)
        text = f"the answer could not be read ({type(exc).__name__}) - is this the right API type and address?"
        return Verification(False, "bad_response", text, provider=p.name)


def _verdict_from_error(exc: ProviderError, model: str | None, p: Provider) -> Verification:
    kind = exc.kind if exc.kind in ERRORS else "bad_response"
    return Verification(False, kind, exc.message, None, model, p.name, exc.status)


def _verify_key(
    p: Provider, key: Secret, model: str, deadline: Deadline, http: httpx.Client | None
) -> tuple[Verification, bool]:
    """The verdict of one key, and whether a router answered (:func:`_routes_unlisted`)."""
    adapter = adapter_for(p.type)
    params = ChatParams(model, [{"role": "user", "content": "Hi"}], max_tokens=settings.verify_max_tokens)
    req = adapter.chat_request(p.endpoint, key, params, stream=False)
    dl = deadline.copy()  # one watchdog per request: the keys are tried in parallel
    started = time.perf_counter()
    try:
        resp = send(p, req, model=model, key=key, http=http, deadline=dl, retries=0)
        parse_completion(p, json_body(p, resp, req.url, dl), req.url, key, model)
    except ProviderError as exc:
        return _verdict_from_error(exc, model, p), False
    finally:
        dl.cancel()
    latency = time.perf_counter() - started
    verdict = Verification(True, "ok", f"{model} answered in {latency * 1000:.0f} ms", latency, model, p.name, 200)
    return verdict, _routes_unlisted(resp.headers)


def _routes_unlisted(headers: httpx.Headers) -> bool:
    """Whether the answer came through a router that serves names it does not list: a LiteLLM proxy (its
    ``x-litellm-*`` headers) lists a wildcard route (``openai/*``) as the provider models it knows, and routes
    any other name the wildcard matches too."""
    return any(name.startswith("x-litellm-") for name in headers)


def _verify(
    p: Provider, model: str | None, list_models: ListModels, dl: Deadline, http: httpx.Client | None
) -> Verification:
    try:
        resolve(p)
    except ProviderConfigError as exc:
        return Verification(False, exc.kind, exc.message, provider=p.name)
    model = model or (p.model_ids[0] if p.models else None)
    if not model:
        try:
            offered = _listing(p, list_models, dl, http)
        except ProviderError as exc:
            return _verdict_from_error(exc, None, p)
        listing = f" (the server offers: {short_list(offered)})" if offered else ""
        return Verification(
            False,
            "no_model",
            f"the server answered, but {p.name!r} has no model to test - add one or fetch the list{listing}",
            provider=p.name,
        )
    keys = p.keys or [Secret("")]
    if len(keys) == 1:
        result, routed = _verify_key(p, keys[0], model, dl, http)
    else:
        with ThreadPoolExecutor(max_workers=min(len(keys), 8)) as pool:
            pairs = list(pool.map(lambda k: _verify_key(p, k, model, dl, http), keys))
        results, routed = [r for r, _ in pairs], any(router for _, router in pairs)
        verdicts = tuple(KeyVerdict(i + 1, r.ok, r.kind, r.message) for i, r in enumerate(results))
        bad = [v for v in verdicts if not v.ok]
        first = results[0] if not bad else results[bad[0].index - 1]
        n = len(keys)
        if bad:
            which = ", ".join(str(v.index) for v in bad)
            message = f"key {which} of {n} failed: {first.message}"
        else:
            message = f"all {n} keys work; {first.message}"
        result = Verification(not bad, first.kind, message, first.latency_s, model, p.name, first.status, verdicts)
    if result.ok and p.spec.lists_every_model and not routed:
        return _against_the_list(p, result, model, list_models, dl, http)
    if result.kind == "model_not_found":
        try:
            offered = _listing(p, list_models, dl, http)
        except ProviderError:
            offered = ModelIds()
        if model in offered:  # listed, yet refused: the list would contradict "not found" (a proxy's dead route)
            text = f"the server lists {model!r} but could not serve it - {result.message}"
        else:
            text = f"model {model!r} not found; the server offers: {short_list(offered)}"
        if offered:
            result = Verification(
                False,
                "model_not_found",
                text,
                None,
                model,
                p.name,
                result.status,
                result.keys,
            )
    return result


def _listing(p: Provider, list_models: ListModels, dl: Deadline, http: httpx.Client | None) -> ModelIds:
    """The server's list within the verify's deadline, on a watchdog of its own, stopped once the list is read: one
    left armed would shut the list's connection, back in the pool by then, down when the deadline came."""
    own = dl.copy()
    try:
        return list_models(p, http=http, deadline=own)
    finally:
        own.cancel()


def _against_the_list(
    p: Provider, v: Verification, model: str, list_models: ListModels, dl: Deadline, http: httpx.Client | None
) -> Verification:
    """``v`` (OK for ``model``) with :attr:`~._types.Verification.listed`, and, when the list lacks the model, a
    message saying which model answers. A list that cannot tell leaves ``v`` as it is: one that failed (no failure
    added: the chat answered), is empty, was cut at ``max_models``, or has a wildcard route (``openai/*``: a router
    serves names it does not list, each as itself)."""
    try:
        offered = _listing(p, list_models, dl, http)
    except Exception as exc:  # the chat answered: a list that fails (whatever failed) changes nothing
        log.debug("jupyter-providers: verify %s: no model list to check against (%s)", p.name, type(exc).__name__)
        return v
    if not offered or offered.cut or any("*" in m for m in offered):
        return v
    if _names(offered, model):
        return dataclasses.replace(v, listed=True)
    if len(offered) == 1:
        why = f"the server lists only {offered[0]}: it serves its own model whatever name is asked"
    else:
        why = f"the server lists only {short_list(offered)}: it answers a name it does not list with one of these"
    return dataclasses.replace(v, message=f"{v.message}, but {one_line(why)}", listed=False)


def _names(ids: list[str], model: str) -> bool:
    """Whether ``ids`` name ``model`` as the servers that list them take them: in any case, and a tag or a prefix
    apart (Ollama's ``/v1`` lists ``llama3.2:latest`` for ``llama3.2``, OpenRouter serves ``x:free`` as ``x``,
    Gemini's OpenAI-compatible list says ``models/x``). A doubt counts as named, which adds no note."""

    def bare(name: str) -> str:
        return name.lower().rsplit("/", 1)[-1].split(":", 1)[0]

    asked = bare(model)
    return any(bare(m) == asked for m in ids)
