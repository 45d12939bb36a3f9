"""``verify``: the smallest chat the protocol allows, per key, classified into a verdict (never raised).

The client's :func:`~.client.verify` wraps it in the redacting choke point, which scrubs the provider's keys and
header values out of every verdict; ``list_models`` (the client's, redacting too) is passed in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ._answers import deadline_for, short_list
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


def _verify_key(p: Provider, key: Secret, model: str, deadline: Deadline, http: httpx.Client | None) -> Verification:
    adapter = adapter_for(p.type)
    params = ChatParams(model, [{"role": "user", "content": "Hi"}], max_tokens=settings.verify_max_tokens)
    req = adapter.chat_request(p.endpoint, key, params, stream=False)
    dl = deadline.copy()  # one watchdog per request: the keys are tried in parallel
    started = time.perf_counter()
    try:
        resp = send(p, req, model=model, key=key, http=http, deadline=dl, retries=0)
        parse_completion(p, json_body(p, resp, req.url, dl), req.url, key, model)
    except ProviderError as exc:
        return _verdict_from_error(exc, model, p)
    finally:
        dl.cancel()
    latency = time.perf_counter() - started
    return Verification(True, "ok", f"{model} answered in {latency * 1000:.0f} ms", latency, model, p.name, 200)


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
            offered = list_models(p, http=http, deadline=dl.copy())
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
        result = _verify_key(p, keys[0], model, dl, http)
    else:
        with ThreadPoolExecutor(max_workers=min(len(keys), 8)) as pool:
            results = list(pool.map(lambda k: _verify_key(p, k, model, dl, http), keys))
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
    if result.kind == "model_not_found":
        try:
            offered = list_models(p, http=http, deadline=dl.copy())
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
