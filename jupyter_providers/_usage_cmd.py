"""``%providers usage`` and ``%providers price``: the usage ledger as a table, a model's prices set or shown.

The cost of a row is its tokens at the prices set on its model *now* (``store.set_price``), so a price set
after the fact prices the earlier replies too; a replayed reply costs 0. No IPython here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _ledger
from ._metering import cost_of, money
from ._table import Table
from .errors import InvalidValueError, NotInStoreError

if TYPE_CHECKING:
    from ._ledger import Entry
    from .store import ProviderStore

__all__ = ["UsageTable", "price_command", "usage_table"]


@dataclass
class _Sum:
    replies: int = 0
    replayed: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    estimated: bool = False
    cost: float | None = 0.0


class UsageTable(Table):
    """Tokens and cost per provider and model, and the total."""

    columns = ("provider", "model", "replies", "replayed", "errors", "input tokens", "output tokens", "cost")
    empty = "No usage recorded yet."

    def __init__(self, rows: list[list[str]], sums: dict[tuple[str, str], _Sum]) -> None:
        super().__init__(rows)
        #: the sums behind the rows, by (provider, model): what tests and code read
        self.sums = sums


def _tokens(n: int, estimated: bool) -> str:
    return f"~{n:,}" if estimated else f"{n:,}"


def summarise(store: ProviderStore, entries: Iterable[Entry]) -> dict[tuple[str, str], _Sum]:
    """The entries summed per (provider, model), each priced with its model's prices now."""
    sums: dict[tuple[str, str], _Sum] = {}
    for e in entries:
        s = sums.setdefault((e.provider, e.model), _Sum())
        s.replies += 1
        s.replayed += e.replayed
        s.errors += e.outcome not in ("ok", "cancelled")
        s.input_tokens += e.input_tokens
        s.output_tokens += e.output_tokens
        s.estimated |= e.estimated
        if e.replayed or s.cost is None:
            continue
        p = store.get(e.provider)
        cost = cost_of(p.model(e.model) if p is not None else None, e.input_tokens, e.output_tokens)
        s.cost = None if cost is None else s.cost + cost
    return sums


def usage_table(store: ProviderStore, *, today: bool = False, notebook: bool = False) -> UsageTable:
    """The ledger's rows (``today``: since local midnight; ``notebook``: this notebook's or kernel's) summed."""
    since = dt.datetime.combine(dt.date.today(), dt.time()).timestamp() if today else None
    where = None
    if notebook:
        nb, kernel = _ledger.origin()
        where = nb or kernel
    sums = summarise(store, _ledger.read_entries(since=since, notebook=where))
    rows = []
    total = _Sum()
    for (provider, model), s in sums.items():
        cost = money(s.cost) if s.cost is not None else "no price"
        rows.append([
            provider, model, f"{s.replies:,}", f"{s.replayed:,}", f"{s.errors:,}",
            _tokens(s.input_tokens, s.estimated), _tokens(s.output_tokens, s.estimated), cost,
        ])  # fmt: skip
        total.replies += s.replies
        total.input_tokens += s.input_tokens
        total.output_tokens += s.output_tokens
        total.cost = (total.cost or 0.0) + (s.cost or 0.0)
    if len(rows) > 1:
        unpriced = any(s.cost is None for s in sums.values())
        rows.append([
            "total", "", f"{total.replies:,}", "", "", f"{total.input_tokens:,}", f"{total.output_tokens:,}",
            money(total.cost or 0.0) + (" (priced models)" if unpriced else ""),
        ])  # fmt: skip
    return UsageTable(rows, sums)


def _amount(field: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidValueError(f"{field}: {text!r} is not a number; give an amount of at least 0, e.g. 0.15") from None


def price_command(
    store: ProviderStore, name: str, model: str, input_: str | None, output: str | None, clear: bool
) -> str:
    """``%providers price NAME MODEL [--input X --output Y | --clear]``: set, clear or show a model's prices."""
    if clear:
        store.set_price(name, model, input=None, output=None)
    elif input_ is not None or output is not None:
        if input_ is None or output is None:
            raise InvalidValueError("price: give both --input and --output (per million tokens; 0 for a free side)")
        store.set_price(name, model, input=_amount("input", input_), output=_amount("output", output))
    p = store[name]
    m = p.model(model)
    if m is None:
        raise NotInStoreError(f"model: {name!r} has no model {model!r}; it has: {', '.join(p.model_ids) or '-'}")
    if m.input_price is None or m.output_price is None:
        return f"{name} {model}: no price set"
    per = "per million"
    return f"{name} {model}: {money(m.input_price)} {per} input tokens, {money(m.output_price)} {per} output tokens"
