"""``chat()``: one call from a prompt to a reply, with the store's providers."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ._attach import Attachment, images_of, prepare, with_attachments
from ._fields import check_price
from ._schema_out import OutputSchema, output_schema
from ._types import Message
from .errors import InvalidValueError, NotInStoreError, ProviderConfigError, ProviderError, SchemaError
from .store import ProviderStore, check_timeout, get_store

if TYPE_CHECKING:
    import httpx

    from ._metering import CostBudget
    from .reply import Reply
    from .store import Provider

__all__ = ["chat", "check_chat_options", "check_images", "check_structured", "pick_provider"]

_ROLES = ("system", "user", "assistant")


def pick_provider(
    store: ProviderStore, provider: str | None, model: str | None, default: str | None = None
) -> tuple[Provider, str]:
    """The provider and model to use: the ones named, else the default, else the only enabled one."""
    name = provider or default
    if name is None:
        enabled = [p.name for p in store if p.enabled]
        if len(enabled) != 1:
            hint = f"enabled: {', '.join(enabled)}" if enabled else "add one with get_store().add(...)"
            raise ProviderConfigError(f"provider: name the provider to use ({hint})", kind="config")
        name = enabled[0]
    if name not in store:
        known = ", ".join(store.names()) or "none yet"
        raise NotInStoreError(f"provider: no provider named {name!r} (known: {known})")
    p = store[name]
    if not p.enabled:
        raise ProviderConfigError(f"provider: {name!r} is disabled - enable it first", provider=name, kind="disabled")
    if model is not None and not isinstance(model, str):
        raise InvalidValueError(f"model: {model!r} is not a model id", provider=name)
    chosen = model or (p.model_ids[0] if p.models else None)
    if not chosen:
        raise ProviderConfigError(
            f"model: {name!r} has no model - add one (store.add_models) or pass model=",
            provider=name,
            kind="no_model",
        )
    if any(c.isspace() for c in chosen):
        raise InvalidValueError(f"model: {chosen!r} contains spaces", provider=name)
    return p, chosen


def max_temperature(provider_type: str) -> float:
    """The highest temperature a provider type's API accepts (Anthropic: 1; the others: 2)."""
    from .adapters import spec

    return spec(provider_type).max_temperature


def check_chat_options(temperature: Any, max_tokens: Any) -> tuple[float | None, int | None]:
    """Validate sampling options; raise ``InvalidValueError`` (a ``ValueError``) naming the field."""
    t: float | None = None
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float):
            raise InvalidValueError(f"temperature: {temperature!r} is not a number; use 0 to 2")
        t = float(temperature)
        if not math.isfinite(t) or not 0 <= t <= 2:
            raise InvalidValueError(f"temperature: {temperature!r} is out of range; use 0 to 2")
    m: int | None = None
    if max_tokens is not None:
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
            raise InvalidValueError(f"max_tokens: {max_tokens!r} is not a whole number")
        if max_tokens < 1:
            raise InvalidValueError(f"max_tokens: {max_tokens} must be at least 1")
        m = max_tokens
    return t, m


def _messages(prompt: str | Sequence[Message], history: Sequence[Message] | None) -> list[Message]:
    if isinstance(prompt, bytes) or not isinstance(prompt, str | Sequence):
        raise InvalidValueError(f"prompt: give a string or a list of messages, not {prompt!r}")
    if history is not None and (isinstance(history, str | bytes | dict) or not isinstance(history, Sequence)):
        raise InvalidValueError(f"history: give a list of messages, not {type(history).__name__}")
    msgs: list[Message] = list(history or [])
    if isinstance(prompt, str):
        if not prompt.strip():
            raise InvalidValueError("prompt: the prompt is empty; write something to send")
        msgs.append({"role": "user", "content": prompt})
    else:
        msgs.extend(prompt)
    for m in msgs:
        if not isinstance(m, dict) or m.get("role") not in _ROLES or not isinstance(m.get("content"), str):
            raise InvalidValueError(
                f"messages: {m!r} is not a message; use {{'role': 'user'|'assistant'|'system', 'content': str}}"
            )
        if "attachments" in m and not (
            m["role"] == "user" and all(isinstance(a, Attachment) and a.is_image for a in m["attachments"])
        ):
            raise InvalidValueError("messages: 'attachments' are images on a user message; attach with attach=")
    if not any(m["role"] == "user" for m in msgs):
        raise InvalidValueError("messages: there is no user message to answer")
    return msgs


def _attach_to(msgs: list[Message], attachments: tuple[Attachment, ...]) -> list[Message]:
    """``msgs`` with ``attachments`` on the last user message (tables appended to its text, images beside it)."""
    if not attachments:
        return msgs
    i = max(i for i, m in enumerate(msgs) if m["role"] == "user")
    last = with_attachments(msgs[i]["content"], (*images_of(msgs[i]), *attachments))
    return [*msgs[:i], last, *msgs[i + 1 :]]


def check_images(p: Provider, model: str, msgs: Sequence[Message]) -> None:
    """Refuse, before anything is sent, images for a type that sends none or a model known to read text only."""
    if not any(images_of(m) for m in msgs):
        return
    if not p.spec.image_form:
        raise InvalidValueError(f"attach: the {p.type} type sends no images", provider=p.name)
    record = next((m for m in p.models if m.id == model), None)
    if record is not None and record.takes("images") is False:
        raise InvalidValueError(
            f"attach: {model!r} reads text only and cannot take an image - pick a model that takes images "
            "(a DataFrame is sent as text and works with any model)",
            provider=p.name,
        )


def check_structured(p: Provider, model: str, out: OutputSchema | None) -> None:
    """Refuse, before anything is sent, a schema for a model whose probe found no structured output
    (``verify(..., capabilities=True)``: ``Model.capabilities["structured_output"]`` is ``False``)."""
    record = p.model(model)
    if out is not None and record is not None and record.takes("structured_output") is False:
        why = record.capability_notes.get("structured_output")
        known = f"gave no structured output when verified ({why})" if why else "is set to give no structured output"
        raise InvalidValueError(
            f"schema: {model!r} {known} - pick another model, or verify it again with capabilities=True",
            provider=p.name,
        )


def chat(
    prompt: str | Sequence[Message],
    provider: str | None = None,
    model: str | None = None,
    *,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = False,
    history: Sequence[Message] | None = None,
    timeout: float | None = None,
    store: ProviderStore | None = None,
    http: httpx.Client | None = None,
    retries: int | None = None,
    schema: Any = None,
    attach: Any = None,
    cache: bool = False,
    refresh: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    max_cost: float | None = None,
    budget: CostBudget | None = None,
) -> Reply:
    """Ask a model. ``prompt`` is a string or a list of ``{"role", "content"}`` messages.

    With ``stream=True`` iterate the reply to get text pieces as they arrive; ``.text``
    always gives the whole reply. Errors raise a :class:`~jupyter_providers.ProviderError`.
    ``timeout`` (seconds) is the deadline of the whole call, retries and the whole stream included
    (``jupyter_providers.client.settings.call_timeout`` when not given). ``retries``: how many times a
    429/5xx answer is sent again (``settings.max_retries`` when not given; ``chat_map`` gives 0 and retries itself).

    ``schema`` asks for structured output: a JSON Schema dict, a pydantic model class, a dataclass or a TypedDict.
    Each provider type is sent its own form of it; ``reply.data`` is the parsed, validated value (an instance of
    the class), and a reply that is not JSON or does not match raises :class:`~jupyter_providers.SchemaError`
    (a stream at its end), its raw text kept.

    ``attach`` (one object or a list) goes with the prompt: a matplotlib figure, a PNG / JPEG / WebP file path or
    bytes, a PIL image or an ``IPython.display.Image`` is sent as an image in the type's own form (downscaled past
    ``attach_limits``); a pandas or polars DataFrame as a text table appended to the prompt. A model known to read
    text only is refused an image before anything is sent.

    ``cache=True`` replays a reply recorded for the same question (type, address, model, messages, parameters,
    schema: never the key) without a request (``reply.replayed``), and records a new one when it ends whole.
    ``refresh=True`` asks again and replaces the entry (``reply.replaced`` is the old text). ``cache_dir``: the
    folder of the cache file (else ``$JUPYTER_PROVIDERS_CACHE``, else ``cache/`` in the config dir).

    ``max_cost`` refuses the call with :class:`~jupyter_providers.CostLimitError`, nothing sent, when its
    estimated most cost (the prompt at ~4 characters a token, plus ``max_tokens``, at the prices set with
    ``store.set_price``) is over it; ``jupyter_providers.client.settings.max_cost`` is the kernel's limit.
    ``budget`` is a limit shared by several calls (``chat_map(max_cost=)`` passes its own).
    """
    from .client import chat_provider

    t, m = check_chat_options(temperature, max_tokens)
    if system is not None and not isinstance(system, str):
        raise InvalidValueError(f"system: give the system prompt as a string, not {system!r}")
    if not isinstance(stream, bool):
        raise InvalidValueError(f"stream: give True or False, not {stream!r}")
    timeout = check_timeout(timeout)
    if max_cost is not None:
        max_cost = check_price("max_cost", max_cost)
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or retries < 0):
        raise InvalidValueError(f"retries: {retries!r} is not a whole number of at least 0")
    msgs = _messages(prompt, history)
    msgs = _attach_to(msgs, prepare(attach) if attach is not None else ())
    out = output_schema(schema) if schema is not None else None
    p, chosen = pick_provider(store if store is not None else get_store(), provider, model)
    check_images(p, chosen, msgs)
    check_structured(p, chosen, out)
    for name, flag in (("cache", cache), ("refresh", refresh)):
        if not isinstance(flag, bool):
            raise InvalidValueError(f"{name}: give True or False, not {flag!r}")
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise InvalidValueError(f"cache_dir: give a folder (a str or a path), not {cache_dir!r}")
    send: Callable[..., Reply] = chat_provider
    if cache or refresh:
        from ._replay import cached_chat

        send = functools.partial(cached_chat, cache_dir=cache_dir, refresh=refresh)
    images = sum(len(images_of(x)) for x in msgs)
    try:
        reply = send(
            p,
            msgs,
            chosen,
            system=system,
            temperature=t,
            max_tokens=m,
            stream=stream,
            timeout=timeout,
            http=http,
            retries=retries,
            schema=out,
            max_cost=max_cost,
            budget=budget,
        )
    except ProviderError as exc:
        if images:
            explain_image_failure(exc, chosen, images)
        raise
    if images:
        reply.on_end(lambda r: explain_image_failure(r.error, chosen, images) if r.error else None)
    return reply


def explain_image_failure(exc: ProviderError, model: str, images: int) -> None:
    """A request that carried images and failed on the server's side (a 4xx/5xx that is not auth, rate or model,
    or a broken answer) says so: the model may not read images. Servers word this every way (llama-cpp-python
    answers 500 "can only concatenate str (not "list") to str"), so what it said stays in the message."""
    if exc.kind not in ("server_error", "bad_response") or isinstance(exc, SchemaError) or "image" in exc.message:
        return
    detail = " ".join((exc.server_message or exc.message).split())[:200]
    what = "an image" if images == 1 else f"{images} images"
    exc.message = (
        f"the request with {what} failed ({detail}) - {model!r} may not read images: send it without attach=, "
        "or pick a model that does"
    )
