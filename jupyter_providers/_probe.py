"""Detecting what answers at an address: each type's model list asked for, believed only in the type's own shape.

The client's part of :meth:`~.store.ProviderStore.detect`. Every type in the registry is probed the same
way, from its adapter and spec (no branch per type): its ``models_request`` on the address as that type
resolves it, sent through the client's transport (one deadline, bounded reads, no redirects), and its
``own_listing`` shape check on the JSON. A web page, an empty body, JSON of another shape or another
protocol's list is no match. Types whose probes are the same request (OpenAI's Chat Completions and
Responses APIs share ``/v1/models``) are told apart by their chat routes: each is sent an empty JSON
object it cannot take (:func:`_route_there`), which no server answers with a reply: a 404 or 405 says the
route is not there.

Everything the server sends is untrusted: only statuses, shapes and model ids (checked as the store
checks them, and scrubbed of the key) are kept, never a server's message.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from ._answers import deadline_for, short_list
from ._fields import check_model_id
from ._records import Provider
from ._secret import Secret, redactor_for
from ._transport import json_body, send
from ._types import KEY_AGAIN, Detection, Probe
from .adapters import TYPES
from .adapters._base import ChatParams, HTTPRequest, ProtocolError
from .errors import ProviderError

if TYPE_CHECKING:
    import httpx

    from ._bounded import Deadline
    from .adapters import TypeSpec

__all__ = ["detect"]

#: statuses that say a route is not there (an empty JSON body sent to a chat route that exists gets a 400/422)
_ABSENT = (404, 405)


def _provider(t: TypeSpec, address: str, key: Secret) -> Provider:
    return Provider(name=f"detect:{t.name}", type=t.name, base_url=address, api_key=key)


def _same(req: HTTPRequest) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    return req.method, req.url, tuple(sorted(req.headers.items()))


def _ids(found: list[str], p: Provider) -> tuple[str, ...]:
    """The listed ids the store would accept as model ids, once each, none holding a piece of the key."""
    red, out = redactor_for(p), dict[str, None]()
    for m in found:
        try:
            clean = check_model_id(m)
        except ValueError:
            continue
        if len(clean) <= 512 and red(clean) == clean:
            out[clean] = None
    return tuple(out)


def _listing(t: TypeSpec, p: Provider, req: HTTPRequest, key: Secret, dl: Deadline, http: Any) -> tuple[Any, Probe]:
    """(the answer's JSON or None, the probe's outcome) of one model list request."""
    try:
        resp = send(p, req, model="", key=key, http=http, deadline=dl, retries=0)
        data = json_body(p, resp, req.url, dl)
    except ProviderError as exc:
        return None, Probe(t.name, req.url, exc.kind, exc.status)
    return data, Probe(t.name, req.url, "other", 200)


def _judge(t: TypeSpec, p: Provider, data: Any, probe: Probe) -> Probe:
    """The probe's outcome for type ``t`` given the JSON its request got."""
    if data is None or probe.outcome != "other":
        return dataclasses.replace(probe, type=t.name)
    try:
        if not t.own_listing(data):
            return dataclasses.replace(probe, type=t.name, outcome="other")
        found, _ = t.adapter.parse_models(data)
    except (ProtocolError, ValueError, TypeError, RecursionError):
        return dataclasses.replace(probe, type=t.name, outcome="other")
    return dataclasses.replace(probe, type=t.name, outcome="ok", models=_ids(found, p))


def _route_there(t: TypeSpec, p: Provider, key: Secret, dl: Deadline, http: Any) -> bool:
    """Whether the type's chat route exists: a request no server can take (no model, the conversation not a
    list, one token at most) is refused there with a 400 or 422, where a missing route is a 404 or 405. Not an
    empty object: llama-cpp-python's server fills in every field of one and generates a reply."""
    req = t.adapter.chat_request(p.endpoint, key, ChatParams("", [], max_tokens=1), stream=False)
    body = {k: 0 if isinstance(v, list) else v for k, v in (req.json or {}).items()}
    req = HTTPRequest(req.method, req.url, req.headers, body)
    try:
        send(p, req, model="", key=key, http=http, deadline=dl, retries=0).close()
    except ProviderError as exc:
        return exc.status is not None and exc.status not in _ABSENT
    return True


def detect(
    address: str, key: Secret | None, *, timeout: float | None = None, http: httpx.Client | None = None
) -> Detection:
    """Probe every registered type at ``address`` with ``key`` (``None``: none), all within one deadline."""
    specs = list(TYPES.values())
    given = _provider(specs[0], address, key if key is not None else Secret("")).keys
    key = given[0] if given else Secret("")  # several comma-separated keys: the first one probes
    dl = deadline_for(timeout, "verify_timeout")
    providers = {t.name: _provider(t, address, key) for t in specs}
    requests = {t.name: t.adapter.models_request(providers[t.name].endpoint, key, None) for t in specs}
    groups: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[TypeSpec]] = {}
    for t in specs:
        groups.setdefault(_same(requests[t.name]), []).append(t)
    try:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            answers = list(
                pool.map(
                    lambda g: _listing(g[0], providers[g[0].name], requests[g[0].name], key, dl.copy(), http),
                    groups.values(),
                )
            )
        probes: dict[str, Probe] = {}
        for group, (data, probe) in zip(groups.values(), answers, strict=True):
            for t in group:
                probes[t.name] = _judge(t, providers[t.name], data, probe)
        # types whose listing is the same request cannot be told apart by it: ask their chat routes
        for group in groups.values():
            matched = [t for t in group if probes[t.name].outcome == "ok"]
            if len(matched) > 1:
                with ThreadPoolExecutor(max_workers=len(matched)) as pool:
                    there = list(pool.map(lambda t: _route_there(t, providers[t.name], key, dl.copy(), http), matched))
                if any(there):
                    for t, yes in zip(matched, there, strict=True):
                        if not yes:
                            probes[t.name] = dataclasses.replace(probes[t.name], outcome="absent")
    finally:
        dl.cancel()
    return _summary(address, bool(key), [probes[t.name] for t in specs])


def _summary(address: str, keyed: bool, probes: list[Probe]) -> Detection:
    found = [p for p in probes if p.outcome == "ok"]
    refused = [p for p in probes if p.outcome == "auth"]
    if found:
        types = tuple(p.type for p in found)
        models = found[0].models
        labels = ", ".join(f"{TYPES[t].label} ({t})" for t in types)
        listed = f"{len(models)} model{'' if len(models) == 1 else 's'} listed" + (
            f": {short_list(list(models))}" if models else ""
        )
        key_note = "with the key given" if keyed else "no key needed to list them"
        message = f"{labels} {'answers' if len(types) == 1 else 'answer'} at {address}: {listed} ({key_note})"
        return Detection(address, types, models, None if keyed else False, message, tuple(probes))
    if refused:
        where = refused[0].url.split("?", 1)[0]
        if keyed:
            message = f"the key given was refused at {where} ({refused[0].status}): check it"
        else:
            message = f"{where} asks for a key ({refused[0].status}): {KEY_AGAIN} to learn its type"
        return Detection(address, (), (), True, message, tuple(probes))
    kinds = {p.outcome for p in probes}
    failed = [p for p in probes if p.outcome == "server_error"]
    if failed:  # LiteLLM's proxy set up from a config file answers a request without its key with a plain 500
        where = failed[0].url.split("?", 1)[0]
        message = f"no model list came back at {address}: {where} failed ({failed[0].status})"
        if not keyed:
            message += f" - a proxy may answer so without its key: {KEY_AGAIN}"
        return Detection(address, (), (), None, message, tuple(probes))
    if kinds <= {"unreachable", "timeout"}:
        message = f"nothing answers at {address} - is the server running, and is the address right?"
        if "timeout" in kinds:
            message = f"no answer from {address} within the deadline - is the server running?"
    else:
        message = f"no known API answers at {address}: no model list of any provider type came back there"
    return Detection(address, (), (), None, message, tuple(probes))
