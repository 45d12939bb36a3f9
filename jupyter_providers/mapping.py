"""``chat_map()``: one prompt template over a list or a DataFrame, a reply per row, in the input's shape.

The rows are sent by :class:`~._scheduler.Scheduler` (adaptive concurrency, retries, stop, token budget);
the shapes in and out are in :mod:`._frames` (pandas and polars are imported only when one is passed).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._attach import prepare, with_attachments
from ._fields import check_price
from ._frames import columns_of, frame_out, rows_of
from ._metering import CostBudget, check_priced, prompt_tokens
from ._progress import MapProgress, TextBar, in_notebook
from ._scheduler import Outcome, Scheduler
from ._schema_out import OutputSchema, output_schema
from ._settings import settings
from ._template import render_prompts
from ._types import Usage
from .api import chat, check_chat_options, check_images, check_structured, pick_provider
from .errors import InvalidValueError
from .store import check_timeout, get_store

if TYPE_CHECKING:
    from .store import ProviderStore

__all__ = ["MAX_CONCURRENCY", "MapResult", "chat_map"]

#: the most rows in flight at once (one worker thread each, each with its own client: _transport.ThreadClients)
MAX_CONCURRENCY = 128


@dataclass(frozen=True)
class MapResult:
    """One row's result: the reply's ``text`` (and ``data`` with a schema), or the ``error`` it ended with."""

    text: str | None = None
    data: Any = None
    error: str | None = None
    latency_s: float | None = None
    usage: Usage = field(default_factory=Usage)
    attempts: int = 0  # requests sent for this row (retries included; 0 when replayed from the answer cache)

    @property
    def ok(self) -> bool:
        return self.error is None


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        span = f"{low} to {high}" if high is not None else f"at least {low}"
        raise InvalidValueError(f"{name}: {value!r} is not a whole number {span}")
    return value


def _output(schema: Any) -> OutputSchema | None:
    """The schema, converted and checked once for every row; a field named like a result column fails now."""
    if schema is None:
        return None
    out = output_schema(schema)
    columns_of([], out.check)
    return out


def _progress(progress: Any) -> MapProgress | None:
    if progress is True:
        if in_notebook():
            from .widgets.map_progress import MapProgressBar  # the notebook's bar (docs/architecture.md)

            return MapProgressBar()
        return TextBar()
    if progress is False or progress is None:
        return None
    if all(callable(getattr(progress, m, None)) for m in ("show", "close", "on_stop")):
        return progress  # type: ignore[no-any-return]
    raise InvalidValueError(f"progress: give True, False or a display with show/close/on_stop, not {progress!r}")


def chat_map(
    items: Any,
    prompt: str | None = None,
    *,
    provider: str | None = None,
    model: str | None = None,
    schema: Any = None,
    attach: Any = None,
    system: str | None = None,
    concurrency: int = 8,
    max_tokens: int | None = None,
    temperature: float | None = None,
    max_tokens_total: int | None = None,
    max_cost: float | None = None,
    retries: int = 4,
    timeout: float | None = None,
    progress: Any = True,
    store: ProviderStore | None = None,
    cache: bool = False,
    refresh: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Any:
    """Ask the model once per row of ``items`` and return the replies in the same shape, in the same order.

    ``items``: a list of strings or of dicts, or a pandas or polars DataFrame (or a pandas Series).
    ``prompt``: a template over each row's fields (``"Classify this review: {text}"``, ``str.format`` rules:
    ``{{`` and ``}}`` are literal braces; ``{}`` or ``{item}`` is a string row); without one each row is the
    prompt. Every row is filled in before anything is sent: a missing field raises at once. A field is a column by
    its whole name first (``{0}`` is the column ``0``, ``{a.b}`` the column ``a.b``). A row whose value in a field
    the template uses is missing (``None``, NaN, ``pd.NA``, a polars null) is not sent: its ``error`` says which
    column, its ``attempts`` is 0, and the other rows are sent.

    A list gives a list of :class:`MapResult`; a DataFrame gives a DataFrame with the same index (polars:
    the same row order) and the columns ``reply`` (or one per ``schema`` field), ``error``, ``latency_s``,
    ``input_tokens``, ``output_tokens`` - ``df.join(result)`` puts them next to the data. ``schema`` asks for
    structured output as ``chat(schema=)`` does: each row's value is its result's ``data`` (a DataFrame gets one
    column per field of the schema), and a reply that does not match is that row's error (``SchemaError``).
    ``attach`` (as ``chat(attach=)``: images, figures, DataFrames as tables) goes with every row's prompt.

    At most ``concurrency`` rows are in flight; a 429 halves that (the row waits the server's ``retry-after``
    and is sent again) and it grows back by one after as many successes. Rate limits, server errors, timeouts
    and lost connections are retried per row (``retries`` times, with backoff); any other error ends that row
    only, as its ``error`` string. Nothing is raised for one row. ``max_tokens_total`` stops sending once
    the tokens used (as the server reports them) plus those reserved by the rows in flight would pass it; a
    row's estimate before it is sent is its prompt's, attached tables' and system prompt's characters / 4 (and
    its images' tokens), plus ``max_tokens``
    (without it, the mean output of the rows answered so far, none before the first: give ``max_tokens`` for
    a hard cap). ``max_cost`` is the most the whole map may cost, at the prices set with ``store.set_price``:
    a row whose estimated most cost (as for ``chat(max_cost=)``) would cross it, with what was spent and what the
    rows in flight may spend, is not sent - its ``error`` is the :class:`~.errors.CostLimitError`'s line. A model
    without a price (or, without ``max_tokens``, without a known context length) raises that error once, before
    any row is sent.
    ``progress``: a bar (a widget in a notebook, a line on stderr in a terminal), or ``False``.
    Ctrl-C (or the Stop button, which lets the rows in flight finish) returns what is done: the other rows'
    ``error`` says they were not run.

    ``cache=True`` answers each row as ``chat(cache=True)`` does: a row answered before (in this kernel or an
    earlier one, with the same question) is replayed without a request, so a map re-run after a stop, an error
    or a kernel restart sends only the rows not answered yet; ``cache_dir`` and ``refresh`` as in ``chat()``.
    """
    kind, rows, index = rows_of(items)
    rendered = render_prompts(rows, prompt, kind)
    prompts = rendered.prompts
    t, mt = check_chat_options(temperature, max_tokens)
    if system is not None and not isinstance(system, str):
        raise InvalidValueError(f"system: give the system prompt as a string, not {system!r}")
    n_parallel = _check_int("concurrency", concurrency, 1, MAX_CONCURRENCY)
    n_retries = _check_int("retries", retries, 0, 100)
    budget = None if max_tokens_total is None else _check_int("max_tokens_total", max_tokens_total, 1)
    timeout = check_timeout(timeout)
    cost_budget = (
        None if max_cost is None else CostBudget(check_price("max_cost", max_cost), "the map's max_cost", wait=True)
    )
    out_schema = _output(schema)
    display = _progress(progress)
    st = store if store is not None else get_store()
    p, chosen = pick_provider(st, provider, model)  # a provider that cannot be used fails the map at once
    # What would fail every row the same way fails the map once, before any row is sent.
    attachments = prepare(attach) if attach is not None else ()
    shared = with_attachments("", attachments)  # what every row carries besides its own prompt
    check_images(p, chosen, [shared])
    check_structured(p, chosen, out_schema)
    if max_cost is not None or settings.max_cost is not None:
        check_priced(p, chosen, mt)

    def estimate(row: int, mean_out: float) -> int:  # as _metering counts a call: prompt, tables, images, system
        asked = prompt_tokens([with_attachments(prompts[row], attachments)], system)
        return asked + (mt if mt is not None else math.ceil(mean_out))

    from ._transport import ThreadClients  # httpx: imported when a map runs, never with the package

    clients = ThreadClients(p.verify_tls)  # a connection per worker: no shared pool to search at each request

    def send(row: int) -> Outcome:
        # retries=0: the scheduler owns retries, so one 429 slows the whole map instead of each thread sleeping
        reply = chat(
            prompts[row], p.name, chosen, system=system, temperature=t, max_tokens=mt, timeout=timeout,
            store=st, retries=0, schema=out_schema, attach=attachments or None, cache=cache, refresh=refresh,
            cache_dir=cache_dir, budget=cost_budget, http=clients.get(),
        )  # fmt: skip
        data = getattr(reply, "data", None)
        return Outcome(reply.text, data, None, reply.latency_s, reply.usage, replayed=reply.replayed)

    skipped = {i: Outcome(error=why) for i, why in rendered.skipped.items()}  # never sent: 0 attempts
    sched = Scheduler(
        len(prompts), send, concurrency=n_parallel, retries=n_retries, estimate=estimate, budget=budget, ended=skipped
    )
    try:
        outcomes = sched.run(display)
    finally:
        clients.close()
    results = [MapResult(o.text, o.data, o.error, o.latency_s, o.usage, o.attempts) for o in outcomes]
    if kind == "list":
        return results
    return frame_out(kind, index, results, None if out_schema is None else out_schema.check)
