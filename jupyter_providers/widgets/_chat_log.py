"""The chat widget's log: a row per bubble, and each turn's reply bubble from pending to streaming to shown.

While a reply streams, its bubble is a :class:`._live.LiveText` (text nodes, each piece sent once); when
it ends, the bubble is rendered once by the one safe path, :func:`~jupyter_providers._render.markdown_html`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import ipywidgets as w  # type: ignore[import-untyped]

from .._data_view import DataTable
from .._render import attachments_html, markdown_html
from ._common import close_tree, esc
from ._live import LiveText

if TYPE_CHECKING:
    from .._attach import Attachment
    from ..conversation import Conversation
    from ..reply import Reply

__all__ = ["ChatLog", "TurnView"]

_PENDING = '<span class="jp-providers-note">…</span>'


def caption(model: str) -> str:
    return f'<div class="jp-providers-note">{esc(model)}</div>'


@dataclass(eq=False)
class TurnView:
    """One question and its reply, as the widget shows them (``lock`` guards the reply's bubble)."""

    conv: Conversation
    prompt: str
    user: Any
    bot: Any
    reply: Reply | None = None
    live: LiveText | None = None  # the bubble's body while the reply streams
    row: Any = None  # the row holding the reply's bubble
    stop_requested: bool = False
    closed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished: threading.Event = field(default_factory=threading.Event)


class ChatLog:
    """The bubbles of the conversation shown, in ``box`` (a VBox), one row each."""

    def __init__(self, box: Any, lock: threading.RLock) -> None:
        self.box = box
        self._lock = lock
        #: the HTML widgets of the conversation, in order (user and assistant bubbles)
        self.bubbles: list[Any] = []

    def turn(self, conv: Conversation, prompt: str, attachments: tuple[Attachment, ...] = ()) -> TurnView:
        """Add the question's bubble (with thumbnails of the attachments sent) and a pending reply bubble."""
        user = self.add("user", markdown_html(prompt) + (attachments_html(attachments) if attachments else ""))
        bot = self.add("assistant", caption(conv.model) + _PENDING)
        bot.add_class("jp-providers-pending")
        return TurnView(conv, prompt, user, bot)

    def add(self, role: str, html: str) -> Any:
        bubble = w.HTML(html, layout=w.Layout(width="auto", max_width="80%"))
        bubble.add_class("jp-providers-bubble")
        bubble.add_class(f"jp-providers-{role}")
        row = w.HBox(
            [bubble], layout=w.Layout(width="100%", justify_content="flex-end" if role == "user" else "flex-start")
        ).add_class("jp-providers-bubble-row")
        with self._lock:
            self.bubbles.append(bubble)
            self.box.children = (*self.box.children, row)
        return bubble

    def note(self, html: str, cls: str) -> None:
        """A line between turns (not a bubble)."""
        with self._lock:
            self.box.children = (*self.box.children, w.HTML(html).add_class(cls))

    def rows_holding(self, *bubbles: Any) -> list[Any]:
        """The rows that hold any of ``bubbles`` (notes between turns are rows without children)."""
        return [r for r in self.box.children if any(b in getattr(r, "children", ()) for b in bubbles)]

    def remove(self, turn: TurnView) -> None:
        """Take a turn's bubbles away (its request failed before anything was sent)."""
        with self._lock:
            rows = self.rows_holding(turn.user, turn.bot)
            self.box.children = tuple(r for r in self.box.children if r not in rows)
            self.bubbles = [b for b in self.bubbles if b not in (turn.user, turn.bot)]
            for r in rows:
                close_tree(r)

    def clear(self) -> None:
        with self._lock:
            old = list(self.box.children)
            self.box.children = ()
            self.bubbles = []
            for widget in old:
                close_tree(widget)

    def grow(self, turn: TurnView) -> bool:
        """The streaming bubble grows by what arrived since the last call (never re-sent); call it holding
        ``turn.lock``. True when the first text has just appeared."""
        text = turn.reply.text_so_far if turn.reply is not None else ""
        if not text:
            return False
        first = turn.live is None
        if turn.live is None:
            # one widget (and its layout): each widget made costs a comm_open with its whole state
            live = turn.live = LiveText(caption=turn.conv.model, layout=w.Layout(width="auto", max_width="80%"))
            live.add_class("jp-providers-bubble")
            live.add_class("jp-providers-assistant")
            [turn.row] = self.rows_holding(turn.bot)
            turn.row.children = (live,)
        turn.live.extend(text)
        return first

    @staticmethod
    def settle(turn: TurnView, reply: Reply, error_line: str | None) -> None:
        """Show the ended reply in its bubble, rendered, with the error or "(stopped)" under it; call it
        holding ``turn.lock``."""
        note = ""
        if error_line is not None:
            note = f'<div class="jp-providers-error">{esc(error_line)}</div>'
        elif reply.cancelled:
            note = '<div class="jp-providers-note">(stopped)</div>'
        text = reply.text_so_far
        body = markdown_html(text) if text else ("" if note else '<span class="jp-providers-note">(empty)</span>')
        with turn.bot.hold_sync():
            turn.bot.value = caption(reply.model) + body + _data_html(reply, error_line) + note
            turn.bot.remove_class("jp-providers-pending")
        if turn.live is not None:  # the rendered reply takes the place of the live text
            turn.row.children = (turn.bot,)
            close_tree(turn.live)


def _data_html(reply: Reply, error_line: str | None) -> str:
    """A structured reply's value as a small table under its text (each cell through the safe path); none
    when there is no schema, or the reply failed or was stopped (the error line says why)."""
    if reply.schema is None or error_line is not None or reply.cancelled or reply.error is not None:
        return ""
    return DataTable(reply.data)._repr_html_()
