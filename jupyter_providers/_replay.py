"""Record and replay: ``chat(..., cache=True)`` answers from the answer cache (:mod:`._cache`) when it can.

A hit is replayed without a request: a :class:`~.reply.Reply` with ``replayed`` set, which streams when a stream
was asked for (a few pieces, at once) and carries the usage, finish reason and timings recorded with it, so a
replayed cell shows what the recorded one showed. A structured reply's text is validated again and its ``data``
rebuilt; a stored text that no longer validates is asked again. A miss (or ``refresh=True``) sends the request;
the reply is recorded when it ends, only if it ended whole: no error, not cancelled, not cut by a length limit
or a content filter. A cache that cannot be used never fails the chat: one warning, and the reply is not cached.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ._cache import AnswerCache, CacheError, Entry, answer_key, count_replay, open_cache
from ._metering import CostBudget, record_replay
from ._secret import redactor_for
from .adapters._base import Delta
from .client import chat_provider
from .errors import ProviderError
from .reply import Reply

if TYPE_CHECKING:
    import httpx

    from ._records import Provider
    from ._schema_out import OutputSchema
    from ._types import Message

__all__ = ["CacheWarning", "cached_chat", "complete"]

log = logging.getLogger("jupyter_providers")

#: finish reasons of a reply that did not end whole (lower case): it is not recorded
_CUT = ("length", "max_tokens", "incomplete", "content_filter", "safety", "recitation", "blocked", "prohibited")
#: the most characters in one replayed piece (cut at a blank where there is one)
_PIECE = 256


class CacheWarning(UserWarning):
    """The answer cache cannot be used: the reply is not cached (the warning says why and what to do)."""


_warned: set[str] = set()


def _warn(exc: BaseException) -> None:
    """One warning per distinct trouble (a kernel asking every cell is told once); each is logged at INFO, which
    Python's last-resort handler leaves out: a notebook shows the warning once, not a log line every cell."""
    text = f"{exc}; replies are not cached"
    log.info("jupyter-providers: %s", text)
    if text not in _warned:
        _warned.add(text)
        warnings.warn(text, CacheWarning, stacklevel=2)


def complete(reply: Reply) -> bool:
    """A reply worth keeping: it ended on its own, without an error, not cut short."""
    reason = (reply.finish_reason or "").lower()
    return reply.done and reply.error is None and not reply.cancelled and not any(w in reason for w in _CUT)


def _pieces(text: str) -> Iterator[str]:
    start = 0
    while start < len(text):
        end = min(start + _PIECE, len(text))
        if end < len(text):
            blank = max(text.rfind(" ", start, end), text.rfind("\n", start, end))
            end = blank + 1 if blank > start else end
        yield text[start:end]
        start = end


def _replayed_deltas(e: Entry) -> Iterator[Delta | str]:
    if e.reasoning:
        yield Delta(reasoning=e.reasoning)
    yield from _pieces(e.text)
    yield Delta(finish_reason=e.finish_reason, usage=e.usage)


def replay(e: Entry, provider: str, model: str, *, stream: bool, schema: OutputSchema | None) -> Reply | None:
    """The stored reply as a :class:`Reply`; ``None`` when a structured reply's text no longer validates."""
    if schema is not None:
        from ._schema_out import parse_output

        try:
            data = parse_output(schema, e.text)
        except ProviderError:
            return None
    if stream:
        reply = Reply(provider, model, _replayed_deltas(e), schema=schema)
    else:
        reply = Reply(provider, model, schema=schema)
        reply._apply(Delta(e.text, e.reasoning, e.finish_reason, e.usage))
        if schema is not None:
            reply._data = data
    reply.replayed = True
    # the recorded timings, so a replayed cell's footer is the recorded one's (its own time is ~0)
    reply.first_token_s, reply.latency_s = e.first_token_s, e.latency_s if e.latency_s is not None else 0.0
    return reply


def _record(cache: AnswerCache, key: str, p: Provider, reply: Reply) -> None:
    if not complete(reply):
        return
    red = redactor_for(p)  # the client scrubbed it already: this is the file's own guarantee
    e = Entry(
        red(reply.text_so_far), red(reply.reasoning), reply.finish_reason, reply.usage, reply.first_token_s,
        reply.latency_s, p.name, reply.model, time.time(),
    )  # fmt: skip
    try:
        cache.put(key, e)
    except CacheError as exc:
        _warn(exc)


def cached_chat(
    p: Provider,
    messages: list[Message],
    model: str,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    refresh: bool = False,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = False,
    timeout: float | None = None,
    retries: int | None = None,
    http: httpx.Client | None = None,
    schema: OutputSchema | None = None,
    attachments: Any = None,
    max_cost: float | None = None,
    budget: CostBudget | None = None,
) -> Reply:
    """:func:`~.client.chat_provider` through the answer cache: a stored reply is replayed (unless
    ``refresh``), else the request is sent and its reply recorded when it ends whole. With ``refresh`` the
    reply's ``replaced`` is the text it replaces (``None`` when nothing was stored)."""
    key = answer_key(
        p, model, messages, system=system, temperature=temperature, max_tokens=max_tokens,
        schema=None if schema is None else {"name": schema.name, "schema": schema.schema, "strict": schema.strict},
        attachments=attachments,
    )  # fmt: skip
    cache: AnswerCache | None = None
    stored: Entry | None = None
    try:
        cache = open_cache(cache_dir)
        stored = cache.get(key)
    except CacheError as exc:
        _warn(exc)
    if stored is not None and not refresh:
        replayed = replay(stored, p.name, model, stream=stream, schema=schema)
        if replayed is not None:
            count_replay()
            return record_replay(p, messages, system, replayed)  # in the usage ledger, at no cost, past max_cost
        log.info("jupyter-providers: a cached structured reply no longer validates; asking again")
    reply = chat_provider(
        p, messages, model, system=system, temperature=temperature, max_tokens=max_tokens, stream=stream,
        timeout=timeout, retries=retries, http=http, schema=schema, max_cost=max_cost, budget=budget,
    )  # fmt: skip
    if refresh:
        reply.replaced = stored.text if stored is not None else None
    if cache is not None:
        reply.on_end(lambda r: _record(cache, key, p, r))
    return reply
