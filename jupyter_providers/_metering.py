"""Metering: what a call may cost before it is sent (``max_cost``), and what it cost once it ended (the ledger).

:func:`metered` wraps the client's ``chat_provider``, the one place every chat goes through (``chat()``,
conversations, ``%%chat``, ``--compare``, the chat widget, ``chat_map``), so no surface meters on its own:

- Before sending: the call's most cost is estimated - the prompt (every message and the system prompt) at
  :data:`CHARS_PER_TOKEN` characters a token, plus ``max_tokens`` as the most the reply may have (without it, the
  model's context length less the prompt, when known), at the model's prices. It is refused with a
  :class:`~.errors.CostLimitError`, nothing sent, when it would cross the call's ``max_cost``, the map's (a
  :class:`CostBudget` shared by its rows) or the kernel's (``settings.max_cost``, against what this process spent).
- When the reply ends, however it ends: its tokens (the server's usage, else an estimate, flagged), its cost
  (``reply.cost``: ``None`` without prices, 0 when replayed; ``reply.token_cost``: its tokens at the prices, which
  a replay's footer shows as the recorded one did), and a row in the ledger (:mod:`._ledger`).
  A call that failed after something was sent is recorded too, with its latency and error kind and 0 tokens.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec

from . import _ledger
from ._fields import check_price
from ._settings import settings
from .errors import CostLimitError, ProviderConfigError, ProviderError

if TYPE_CHECKING:
    from ._records import Model, Provider
    from ._types import Message
    from .reply import Reply

__all__ = [
    "CHARS_PER_TOKEN", "KERNEL", "CostBudget", "check_priced", "cost_of", "metered", "prompt_tokens", "record_replay",
]  # fmt: skip

#: the estimate of a text's tokens before a server counts them: its characters / 4, rounded up
CHARS_PER_TOKEN = 4

_P = ParamSpec("_P")


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


#: an attached image's estimated tokens: its pixels / 750 (Anthropic's rule; OpenAI's tiles count fewer), or this
#: many when its size is not known
IMAGE_TOKENS = 1600


def prompt_tokens(messages: Sequence[Message], system: str | None) -> int:
    """The estimated input tokens of a call: its messages' and system prompt's characters / 4, and each attached
    image's pixels / 750."""
    chars = sum(len(m["content"]) for m in messages) + len(system or "")
    images = [a for m in messages for a in m.get("attachments", ())]
    pixels = sum(math.ceil(a.width * a.height / 750) if a.width and a.height else IMAGE_TOKENS for a in images)
    return math.ceil(chars / CHARS_PER_TOKEN) + pixels


def cost_of(model: Model | None, input_tokens: int, output_tokens: int) -> float | None:
    """The cost of so many tokens at the model's prices (per million tokens); ``None`` when it has none."""
    if model is None or model.input_price is None or model.output_price is None:
        return None
    return (input_tokens * model.input_price + output_tokens * model.output_price) / 1_000_000


def money(amount: float) -> str:
    """``$1.235``, ``$0.0000021``: at most four significant digits (at least two decimals), never an exponent."""
    if amount == 0:
        return "$0"
    decimals = max(2, 3 - math.floor(math.log10(abs(amount))))
    whole, _, part = f"{amount:.{decimals}f}".partition(".")
    return f"${whole}.{part.rstrip('0').ljust(2, '0')}"


class CostBudget:
    """A cost limit several calls share: what they spent and what the ones in flight may still spend."""

    def __init__(self, limit: float | None, what: str, *, wait: bool = False) -> None:
        self.limit, self.what, self.wait = limit, what, wait
        self.spent = self.reserved = 0.0
        self._cond = threading.Condition()

    def take(self, estimate: float, limit: float | None = None) -> str | None:
        """Reserve ``estimate``; or say why it would cross the limit. With ``wait`` (a map, whose rows in flight
        always end), a call that fits once those rows have settled waits for them instead of being refused."""
        limit = self.limit if limit is None else limit
        with self._cond:
            while limit is not None and self.spent + self.reserved + estimate > limit:
                if not (self.wait and self.reserved > 0 and self.spent + estimate <= limit):
                    in_flight = f" and {money(self.reserved)} held by calls in flight" if self.reserved else ""
                    return (
                        f"{self.what} {money(limit)} would be crossed: {money(self.spent)} spent{in_flight}, "
                        f"this call up to {money(estimate)}"
                    )
                self._cond.wait(0.25)
            self.reserved += estimate
            return None

    def settle(self, reserved: float, cost: float) -> None:
        with self._cond:
            self.reserved = max(0.0, self.reserved - reserved)
            self.spent += cost
            self._cond.notify_all()


#: what this kernel (process) spent, at the prices set, and what its calls in flight may spend
KERNEL = CostBudget(None, "the kernel's max_cost (settings.max_cost)")


def _refuse(p: Provider, why: str) -> CostLimitError:
    return CostLimitError(f"max_cost: {why}; nothing was sent", provider=p.name)


def check_priced(p: Provider, model: str, max_tokens: int | None) -> Model:
    """The model's record, if a ``max_cost`` can bound its calls: it has prices, and a reply's most tokens are
    known (``max_tokens``, else its context length, unless its output is free). Else :class:`CostLimitError` -
    a map checks this once, before any row is sent, since every row would be refused the same way."""
    m = p.model(model)
    if m is None or m.input_price is None or m.output_price is None:
        raise _refuse(p, f"{model!r} has no price - set one with store.set_price({p.name!r}, {model!r}, input=..., "
                      "output=...) per million tokens (0 for a free model)")  # fmt: skip
    if max_tokens is None and m.output_price > 0 and not m.context_length:
        raise _refuse(p, "give max_tokens, so the reply's cost has a bound")
    return m


def _admit(
    p: Provider, model: str, est_in: int, max_tokens: int | None, call: Any, budget: CostBudget | None, kernel: Any
) -> list[tuple[CostBudget, float]]:
    """Reserve the call's most cost in every budget that applies (the call's ``max_cost``, a map's
    :class:`CostBudget`, the kernel's ``settings.max_cost``); raise :class:`CostLimitError` if one would be crossed."""
    call = None if call is None else check_price("max_cost", call)
    kernel = None if kernel is None else check_price("settings.max_cost", kernel)
    m = check_priced(p, model, max_tokens)
    bound = max_tokens
    if bound is None and m.output_price and m.context_length:
        bound = max(m.context_length - est_in, 0)
    estimate = cost_of(m, est_in, bound or 0) or 0.0
    if call is not None and estimate > call:
        raise _refuse(
            p, f"this call may cost up to {money(estimate)} (about {est_in} prompt tokens and {bound or 0} reply "
            f"tokens), over max_cost {money(call)}",
        )  # fmt: skip
    held: list[tuple[CostBudget, float]] = []
    for b, limit in ((budget, None), (KERNEL if kernel is not None else None, kernel)):
        if b is None:
            continue
        why = b.take(estimate, limit)
        if why is not None:
            _release(held)
            raise _refuse(p, why)
        held.append((b, estimate))
    return held


def _release(held: list[tuple[CostBudget, float]], cost: float = 0.0) -> None:
    for budget, reserved in held:
        budget.settle(reserved, cost)


def _ended(reply: Reply, p: Provider, m: Model | None, est_in: int, held: list[tuple[CostBudget, float]]) -> None:
    """The reply ended: its tokens and cost, the budgets settled, its row in the ledger."""
    replayed = reply.replayed  # a reply replayed from the answer cache costs nothing
    u = reply.usage
    estimated = u.input_tokens is None or u.output_tokens is None
    tokens = (
        est_in if u.input_tokens is None else u.input_tokens,
        text_tokens(reply.text_so_far + reply.reasoning) if u.output_tokens is None else u.output_tokens,
    )
    priced = cost_of(m, *tokens)
    # what was spent: 0 for a replay (where a price is set) - the budgets and the kernel count only this
    cost = 0.0 if replayed and priced is not None else priced
    reply.cost, reply.token_cost, reply.cost_estimated = cost, priced, estimated and bool(priced)
    _release(held, cost or 0.0)
    if cost and all(b is not KERNEL for b, _ in held):
        KERNEL.settle(0.0, cost)  # the kernel counts every cost, limited or not: a limit set later sees it
    outcome = "cancelled" if reply.cancelled else reply.error.kind if reply.error is not None else "ok"
    if settings.record_usage:
        _ledger.record(
            _ledger.new_entry(p.name, reply.model, p.type, tokens, estimated, reply.latency_s, outcome, replayed)
        )


def record_replay(p: Provider, messages: Sequence[Message], system: str | None, reply: Reply) -> Reply:
    """A reply replayed from the answer cache (``reply.replayed``): nothing is sent, so no ``max_cost`` refuses it;
    it is recorded in the ledger when it ends, flagged replayed, at 0 cost."""
    est_in = prompt_tokens(messages, system)
    reply.on_end(lambda r: _ended(r, p, p.model(r.model), est_in, []))
    return reply


def metered(fn: Callable[Concatenate[Provider, _P], Reply]) -> Callable[Concatenate[Provider, _P], Reply]:
    """Wrap ``chat_provider(p, messages, model, ..., max_cost=, budget=)``: refuse a call over a cost limit before
    it is sent; record every reply in the ledger when it ends, and a failed call when it fails."""

    @functools.wraps(fn)
    def wrapper(p: Provider, /, *args: _P.args, **kwargs: _P.kwargs) -> Reply:
        messages: Sequence[Message] = args[0]  # type: ignore[assignment]
        model: str = args[1]  # type: ignore[assignment]
        opts: dict[str, Any] = kwargs
        est_in = prompt_tokens(messages, opts.get("system"))
        call, budget, kernel = opts.get("max_cost"), opts.get("budget"), settings.max_cost
        held = []
        if call is not None or budget is not None or kernel is not None:
            held = _admit(p, model, est_in, opts.get("max_tokens"), call, budget, kernel)
        started = time.perf_counter()
        try:
            reply = fn(p, *args, **kwargs)
        except ProviderError as exc:
            _release(held)
            sent = not isinstance(exc, ProviderConfigError)  # a config error is raised before anything is sent
            if sent and settings.record_usage:
                latency = time.perf_counter() - started
                _ledger.record(_ledger.new_entry(p.name, model, p.type, (0, 0), False, latency, exc.kind, False))
            raise
        except BaseException:
            _release(held)
            raise
        reply.on_end(lambda r: _ended(r, p, p.model(model), est_in, held))
        return reply

    return wrapper
