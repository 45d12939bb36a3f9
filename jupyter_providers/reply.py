"""A model's reply: iterate it to stream text pieces; ``.text`` waits for the whole reply.

Whatever happens (an error mid-stream, :meth:`Reply.cancel`, Ctrl-C), the text received
so far stays on the reply, and a raised :class:`ProviderError` carries it as ``partial_text``.

A reply *ends* once: its stream ran out, failed, was cancelled (from any thread) or abandoned, or it
was never a stream. From then on its text, error, usage and latency no longer change, and the
callbacks given to :meth:`Reply.on_end` run, once (a :class:`~.conversation.Conversation` records
its turn that way, whichever surface reads the reply).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._types import Usage
from .adapters._base import Delta
from .errors import ProviderError, SchemaError

if TYPE_CHECKING:
    from ._schema_out import OutputSchema

__all__ = ["Reply"]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


class Reply:
    """What :func:`jupyter_providers.chat` returns. Thread-safe to :meth:`cancel` from another thread."""

    def __init__(
        self,
        provider: str,
        model: str,
        deltas: Iterator[Delta | str] | None = None,
        *,
        on_cancel: Callable[[], None] | None = None,
        started: float | None = None,
        schema: OutputSchema | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self._deltas = deltas
        self._on_cancel = on_cancel
        self._pieces: list[str] = []
        self._reasoning: list[str] = []
        self._text_cache: tuple[int, str] = (0, "")  # the text of the first n pieces
        self.finish_reason: str | None = None
        self.usage = Usage()
        self.error: ProviderError | None = None
        self.cancelled = False
        self._done = deltas is None  # ended: nothing about the reply changes any more
        self._iterating = False
        self._ending: list[Callable[[Reply], None]] = []
        self._lock = threading.Lock()  # guards _done, _iterating, _ending and each piece taken
        self._end_lock = threading.RLock()  # held by the thread that ends the reply, until its callbacks ran
        self.started = started if started is not None else time.perf_counter()
        self.first_token_s: float | None = None
        self.latency_s: float | None = None if deltas is not None else 0.0
        #: the schema of a structured reply (``chat(schema=...)``); its value is :attr:`data`
        self.schema = schema
        self._data: Any = None
        #: answered from the answer cache (``chat(cache=True)``), not by a request; ``replaced``: with
        #: ``refresh=True``, the cached text this reply replaces (``None`` when there was none)
        self.replayed: bool = False
        self.replaced: str | None = None
        #: what the reply cost at its model's prices, set when it ends (``None`` without prices; 0 when replayed:
        #: nothing was spent); ``token_cost``: what its tokens cost at those prices, a replay's too (the footer's)
        self.cost: float | None = None
        self.token_cost: float | None = None
        self.cost_estimated = False  # the server sent no usage: the cost is of ~4 characters a token

    # -- building (client side) --------------------------------------------------------------
    def _apply(self, d: Delta | str) -> str:
        if isinstance(d, str):  # text and nothing else (StreamParser.feed): the usual increment
            text = d
        else:
            text = d.text
            if d.reasoning:
                self._reasoning.append(d.reasoning)
            if d.finish_reason:
                self.finish_reason = d.finish_reason
            if d.usage is not None:
                self.usage = d.usage
        if text:
            if self.first_token_s is None:
                self.first_token_s = time.perf_counter() - self.started
            self._pieces.append(text)
        return text

    def _finish(self) -> None:
        """End the reply (once, whichever thread gets here first) and run the :meth:`on_end` callbacks."""
        with self._end_lock:  # a second caller waits here until the first one's callbacks have run
            with self._lock:
                if self._done:
                    return
                self._done = True
                if self.latency_s is None:
                    self.latency_s = time.perf_counter() - self.started
                self._deltas = None
                ending, self._ending = self._ending, []
            for callback in ending:
                callback(self)

    def on_end(self, callback: Callable[[Reply], None]) -> None:
        """Call ``callback(reply)`` once, when the reply ends; at once if it has ended already.

        It runs in the thread that ends the reply (the one reading it, or the one calling :meth:`cancel`)
        and must not wait for another thread.
        """
        with self._lock:
            if not self._done:
                self._ending.append(callback)
                return
        callback(self)

    # -- reading -----------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self._done

    def __iter__(self) -> Iterator[str]:
        """Yield text pieces as they arrive (a finished reply yields its pieces again)."""
        with self._lock:
            deltas = None if self._done else self._deltas
            if deltas is not None:
                if self._iterating:
                    raise RuntimeError("this reply is already being read; read .text after it finishes")
                self._iterating = True
            pieces = list(self._pieces)
        if deltas is None:
            yield from pieces
            return
        # Each piece is taken under the lock: a cancel() from another thread ends the reply between two
        # pieces, never during one (bound methods, not `with`: this runs once per streamed chunk).
        take, give = self._lock.acquire, self._lock.release
        try:
            for d in deltas:
                take()
                try:
                    if self._done:
                        break
                    piece = self._apply(d)
                finally:
                    give()
                if piece:
                    yield piece
            else:  # the stream ran out (not cancelled): a structured reply's value is read now
                self._parse_data()
        except ProviderError as exc:
            with self._lock:  # an error after a cancel() is the cancel's doing: the reply has stopped
                failed = not self._done and not self.cancelled
                if failed:
                    exc.partial_text = self.text_so_far
                    self.error = exc
            if failed:
                raise
        except BaseException:
            # Ctrl-C or the consumer abandoning the stream: keep what arrived, stop the download.
            self.cancelled = True
            raise
        finally:
            try:
                close = getattr(deltas, "close", None)
                if close is not None:
                    close()
            finally:
                with self._lock:
                    self._iterating = False
                self._finish()

    def _parse_data(self) -> None:
        """Parse and validate a structured reply's text (raises :class:`~.errors.SchemaError`)."""
        if self.schema is not None and not self.cancelled:
            from ._schema_out import parse_output

            try:
                self._data = parse_output(self.schema, self.text_so_far)
            except SchemaError as exc:
                exc.finish_reason = self.finish_reason
                raise

    @property
    def data(self) -> Any:
        """A structured reply's value (``chat(schema=S)``): parsed, validated, an instance of ``S`` when ``S`` is a
        class. On a stream not yet read, this reads it to the end first; a reply that did not match raises its
        :class:`~.errors.SchemaError` (the raw text stays in :attr:`text`). ``None`` without a schema, or when
        the reply was stopped before its end."""
        if self.schema is not None and not self._done and not self._iterating and self.error is None:
            self.wait()
        if self.schema is not None and self.error is not None:
            raise self.error
        return self._data

    def wait(self) -> Reply:
        """Read the rest of the stream (raises the stream's error, if any) and return the reply."""
        for _ in self:
            pass
        return self

    @property
    def text_so_far(self) -> str:
        # Pieces are only ever appended: a cache that counts them is never stale, whichever thread reads.
        n, text = self._text_cache
        if n != len(self._pieces):
            pieces = self._pieces[:]
            self._text_cache = n, text = len(pieces), "".join(pieces)
        return text

    @property
    def text(self) -> str:
        """The whole reply text. On a stream not yet read, this reads it to the end first."""
        if not self._done and not self._iterating and self.error is None:
            self.wait()
        return self.text_so_far

    @property
    def reasoning(self) -> str:
        """Reasoning ("thinking") text the model sent apart from the answer, if any."""
        return "".join(self._reasoning)

    def cancel(self) -> None:
        """Stop the stream now; the text received so far is kept. When this returns the reply has ended
        and its :meth:`on_end` callbacks have run, whichever thread ran them."""
        with self._lock:
            live = not self._done  # an ended reply stays as it ended
            if live:
                self.cancelled = True
        if live:
            if self._on_cancel is not None:
                with contextlib.suppress(Exception):
                    self._on_cancel()  # wakes a thread blocked reading the stream
            with self._lock:
                deltas, iterating = self._deltas, self._iterating
                if not iterating:
                    self._deltas = None
            if not iterating:  # a reading thread closes its own stream (it may be running it now)
                close = getattr(deltas, "close", None)
                if close is not None:
                    close()
        self._finish()

    def close(self) -> None:
        if not self._done:
            self.cancel()

    def __enter__(self) -> Reply:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stats(self) -> str:
        """``first token 120 ms · total 1.43 s · 12 in / 48 out tokens``: what every surface shows under a
        reply (while it streams, the total so far)."""
        total = self.latency_s if self.latency_s is not None else time.perf_counter() - self.started
        bits = [f"first token {_duration(self.first_token_s)}", f"total {_duration(total)}"]
        u = self.usage
        if u.input_tokens is not None or u.output_tokens is not None:
            bits.append(
                f"{u.input_tokens if u.input_tokens is not None else '?'} in / {u.output_tokens or 0} out tokens"
            )
        else:
            bits.append("token usage not reported by the server")
        if self.token_cost is not None:  # a replay shows what its recorded reply showed (it spent nothing)
            from ._metering import money

            bits.append(("~" if self.cost_estimated else "") + money(self.token_cost))
        return " · ".join(bits)

    def __str__(self) -> str:
        """The text made safe to print (``print(reply)`` in a terminal): escape sequences removed, other control
        characters shown as U+FFFD. :attr:`text` is the reply as the server sent it."""
        from ._render import terminal_text

        return terminal_text(self.text)

    def __repr__(self) -> str:
        from ._render import terminal_text

        state = "cancelled" if self.cancelled else "error" if self.error else "done" if self._done else "streaming"
        return terminal_text(
            f"<Reply {self.provider}/{self.model} {state}, {len(self.text_so_far)} chars, "
            f"finish_reason={self.finish_reason!r}>"
        )

    def _repr_html_(self) -> str:
        """The reply rendered by the one safe path (never ``text/markdown``: a front end renders that trusted)."""
        from ._render import HTML_CLASSES, markdown_html

        return f'<div class="jp-providers-reply {HTML_CLASSES}">{markdown_html(self.text)}</div>'
