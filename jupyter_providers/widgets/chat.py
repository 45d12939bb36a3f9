"""The chat widget: pick a provider and model, talk, watch the reply stream in, stop it.

The reply is read in a background thread (the kernel stays free) and shown a few times a
second (:class:`~jupyter_providers._throttle.Throttle`), not once per token. Model output is
untrusted: while it streams it is added as text nodes (:class:`._live.LiveText`), then shown
once through the one rendering path, :func:`~jupyter_providers._render.markdown_html` (CommonMark
with raw HTML off, safe links only, no images, then the nh3 sanitizer); names, model ids and
error lines go through :func:`~jupyter_providers._render.text_html`. The bubbles are kept by
:mod:`._chat_log`; the reply records itself in the conversation when it ends, so this only shows it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import ipywidgets as w  # type: ignore[import-untyped]

from .._attach import prepare
from .._render import HTML_CLASSES
from .._throttle import Throttle
from ..api import check_chat_options, max_temperature
from ..conversation import Conversation
from ..store import get_store
from ._chat_log import ChatLog, TurnView
from ._common import button, close_tree, error_text, esc, message_html, style_widget
from ._upload import attach_button, clear_uploads, uploaded

if TYPE_CHECKING:
    from .._types import Message
    from ..reply import Reply
    from ..store import ProviderStore

__all__ = ["ChatWidget"]

_NO_PROVIDER = "no enabled provider: add or enable one (jupyter_providers.panel())"


class ChatWidget(w.VBox):  # type: ignore[misc]
    """Chat with a provider's model in a notebook.

    >>> from jupyter_providers.widgets import ChatWidget
    >>> chat = ChatWidget(provider="vLLM")      # doctest: +SKIP
    >>> chat.send("Hello"); chat.wait()         # doctest: +SKIP
    >>> chat.messages, chat.last_reply.usage    # doctest: +SKIP
    """

    def __init__(
        self,
        provider: str | None = None,
        model: str | None = None,
        store: ProviderStore | None = None,
        *,
        system: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        schema: Any = None,
    ) -> None:
        self.store = store if store is not None else get_store()
        #: ask for structured replies (as ``chat(schema=)``): each one's value shows as a table under it
        self.schema = schema
        self._lock = threading.RLock()
        #: the conversation shown (a new one when the provider or model changes, or on New chat)
        self.conversation: Conversation | None = None
        #: the last reply (streaming or finished)
        self.last_reply: Reply | None = None
        self._turn: TurnView | None = None
        self._wanted_model = model
        self._refreshing = False
        self._provider_options: list[str] = []
        self._model_options: list[tuple[str, str]] = []

        tight = {"description_width": "initial"}
        self.provider = w.Dropdown(description="Provider", layout=w.Layout(width="240px"), style=tight)
        self.provider.add_class("jp-providers-chat-provider")
        self.model = w.Dropdown(description="Model", layout=w.Layout(width="260px"), style=tight)
        self.model.add_class("jp-providers-chat-model")
        self.new_chat = button("New chat", "jp-providers-new-chat", icon="plus")
        self.new_chat.on_click(lambda _b: self.reset())

        self.system = w.Textarea(
            value=system or "", placeholder="System prompt (optional)", rows=3, layout=w.Layout(width="98%")
        ).add_class("jp-providers-chat-system")
        self.temperature = w.FloatSlider(
            value=0.7 if temperature is None else temperature, min=0.0, max=2.0, step=0.05,
            description="Temperature", disabled=temperature is None, readout_format=".2f",
        ).add_class("jp-providers-chat-temperature")  # fmt: skip
        self.default_temperature = w.Checkbox(
            value=temperature is None, description="model default", indent=False, layout=w.Layout(width="auto")
        ).add_class("jp-providers-chat-temperature-default")
        self.default_temperature.observe(lambda c: setattr(self.temperature, "disabled", c["new"]), names="value")
        self.max_tokens = w.BoundedIntText(
            value=max_tokens or 0, min=0, max=10_000_000, description="Max tokens",
            tooltip="0: the model's own limit", layout=w.Layout(width="220px"),
        ).add_class("jp-providers-chat-max-tokens")  # fmt: skip
        options = w.VBox(
            [self.system, w.HBox([self.temperature, self.default_temperature]), self.max_tokens],
        )
        self.options = w.Accordion([options], titles=("Options: system prompt, temperature",), selected_index=None)
        self.options.add_class("jp-providers-chat-options")

        self.history = w.VBox(layout=w.Layout(width="100%")).add_class("jp-providers-log")
        self._chat_log = ChatLog(self.history, self._lock)
        self.input = w.Textarea(
            placeholder="Ask something… then press Send", rows=3, layout=w.Layout(width="auto", flex="1 1 auto")
        ).add_class("jp-providers-chat-input")
        self.send_button = button("Send", "jp-providers-send", icon="paper-plane", style="primary")
        self.send_button.on_click(lambda _b: self.send())
        self.stop_button = button("Stop", "jp-providers-stop", icon="stop")
        self.stop_button.disabled = True
        self.stop_button.on_click(lambda _b: self.stop())
        self.status = w.HTML().add_class("jp-providers-status")
        self.upload = attach_button()

        super().__init__(
            [
                style_widget(),
                w.HBox([self.provider, self.model, self.new_chat], layout=w.Layout(flex_flow="row wrap")),
                self.options,
                self.history,
                w.HBox(
                    [self.input, w.VBox([self.send_button, self.stop_button, self.upload])],
                    layout=w.Layout(width="100%", align_items="flex-start"),
                ),
                self.status,
            ],
            layout=w.Layout(width="100%", max_width="900px"),
        )
        self.add_class("jp-providers-root")
        for cls in HTML_CLASSES.split():  # no TeX typesetting of server text
            self.add_class(cls)
        self.add_class("jp-providers-chat")
        self.refresh(provider)
        self.provider.observe(self._on_choice, names="value")
        self.model.observe(self._on_choice, names="value")
        self._unsubscribe = self.store.on_change(lambda _event, _name: self.refresh())

    # -- what Python reads ----------------------------------------------------------------------
    @property
    def messages(self) -> list[Message]:
        """The conversation as ``{"role", "content"}`` messages (system prompt first, if any)."""
        if self.conversation is None:
            return []
        return [{"role": m["role"], "content": m["content"]} for m in self.conversation.messages]

    @property
    def bubbles(self) -> list[Any]:
        """The HTML widgets of the conversation, in order (user and assistant bubbles)."""
        return self._chat_log.bubbles

    @property
    def streaming(self) -> bool:
        """Whether a reply is on its way (Send is disabled meanwhile)."""
        turn = self._turn
        return turn is not None and not turn.finished.is_set()

    # -- providers and models -------------------------------------------------------------------
    def refresh(self, provider: str | None = None) -> None:
        """Offer the store's enabled providers and the chosen provider's models (called on store changes)."""
        with self._lock:
            self._refreshing = True
            try:
                self._refresh_choices(provider)
            finally:
                self._refreshing = False
            self._follow_choice()
            if self.streaming:
                return
            if not self._provider_options:
                self._set_status(_NO_PROVIDER, "muted")
            elif esc(_NO_PROVIDER) in self.status.value:
                self._set_status("", "muted")

    def _refresh_choices(self, provider: str | None) -> None:
        names = [p.name for p in self.store if p.enabled]
        wanted = provider or self.provider.value
        if names != self._provider_options:
            self._provider_options = names
            self.provider.options = names
        choice = wanted if wanted in names else (names[0] if names else None)
        if self.provider.value != choice:
            self.provider.value = choice
        p = self.store.get(self.provider.value) if self.provider.value else None
        models = [(m.display_name, m.id) for m in p.models] if p is not None else []
        if self._wanted_model and p is not None and self._wanted_model not in p.model_ids:
            models.append((self._wanted_model, self._wanted_model))
        current = self.model.value
        if models != self._model_options:
            self._model_options = models
            self.model.options = models
        ids = [i for _, i in models]
        want = self._wanted_model if self._wanted_model in ids else current
        choice = want if want in ids else (ids[0] if ids else None)
        if self.model.value != choice:
            self.model.value = choice

    def _on_choice(self, change: dict[str, Any]) -> None:
        if self._refreshing:
            return  # the refresh in progress follows the choice itself
        if change["owner"] is self.provider:
            self.refresh()
        else:
            self._follow_choice()

    def _follow_choice(self) -> None:
        """A new :class:`Conversation` for a new provider/model; the history so far carries over."""
        with self._lock:
            provider, model = self.provider.value, self.model.value
            if self.model.value is not None and self.model.value != self._wanted_model:
                self._wanted_model = None  # a choice made in the widget wins from now on
            if provider is None or model is None:
                return
            p = self.store.get(provider)
            if p is not None:  # the slider stops where the API does (a higher value is brought down)
                self.temperature.max = max_temperature(p.type)
            old = self.conversation
            if old is not None and (old.provider, old.model) == (provider, model):
                return
            conv = Conversation(provider, model, system=self._system(), store=self.store)
            if old is not None:
                conv.turns = list(old.turns)
                if old.turns:
                    note = message_html(f"now talking to {provider} / {model}", "muted")
                    self._chat_log.note(note, "jp-providers-switch")
            self.conversation = conv

    def _system(self) -> str | None:
        return self.system.value.strip() or None

    # -- talking --------------------------------------------------------------------------------
    def send(self, text: str | None = None, attach: Any = None) -> bool:
        """Send ``text`` (default: what is typed in the input), as pressing Send does; ``attach`` as for
        :func:`~jupyter_providers.chat` (default: the images picked with **Attach**, cleared once sent); the
        question's bubble shows thumbnails of exactly what was sent.

        Returns whether a request started; the reply streams in the background (see :meth:`wait`).
        The input is cleared only once the server took the request.
        """
        with self._lock:
            if self.streaming:
                self._set_status("a reply is still coming: wait for it or press Stop", "error")
                return False
            if text is not None:
                self.input.value = text
            prompt = self.input.value
            error = self._check(prompt)
            if error:
                self._set_status(error, "error")
                return False
            conv = self.conversation
            assert conv is not None  # _check made sure
            conv.system = self._system()
            try:
                temperature, max_tokens = check_chat_options(
                    None if self.default_temperature.value else self.temperature.value, self.max_tokens.value or None
                )
                picked, names = uploaded(self.upload) if attach is None else ([], [])
                attachments = prepare(attach) if attach is not None else prepare(picked, names) if picked else ()
            except ValueError as exc:
                self._set_status(error_text(exc), "error")
                return False
            turn = self._turn = self._chat_log.turn(conv, prompt, attachments)
            self._busy(True)
            self._set_status(f"waiting for {conv.provider} / {conv.model}…", "busy")
            options = {"temperature": temperature, "max_tokens": max_tokens, "schema": self.schema}
            options["attach"] = attachments or None
            if picked:
                clear_uploads(self.upload)
            threading.Thread(
                target=self._stream, args=(turn, options), name="jupyter-providers chat", daemon=True
            ).start()
            return True

    def _check(self, prompt: str) -> str:
        if not prompt.strip():
            return "write something to send"
        if self.provider.value is None:
            return _NO_PROVIDER
        if self.model.value is None:
            return f"{self.provider.value} has no model: add one in the panel (Models)"
        return ""

    def _stream(self, turn: TurnView, options: dict[str, Any]) -> None:
        """The background thread of one turn: send, read the stream, show it a few times a second.

        The reply records itself in the conversation when it ends (here, or by Stop): this only shows it.
        """
        try:
            reply = turn.conv.send(turn.prompt, stream=True, **options)
        except Exception as exc:  # nothing was sent: the bubbles go, the typed text stays in the input
            self._chat_log.remove(turn)
            self._set_status(error_text(exc), "error")
            self._busy(False)
            turn.finished.set()
            return
        with turn.lock:
            turn.reply = self.last_reply = reply
            stop = turn.stop_requested
        if stop:
            reply.cancel()
        if self.input.value == turn.prompt:
            self.input.value = ""  # the server took it: the input is free for the next question
        # trailing: a piece followed by a pause (a model thinking, a stalled stream) still shows
        throttle = Throttle(lambda: self._show_progress(turn), trailing=True)
        failure: Exception | None = None
        try:
            for _piece in reply:
                throttle.tick()
        except Exception as exc:  # a ProviderError is also kept on reply.error, with the partial text
            failure = exc
        throttle.cancel()  # the end is shown whole, by _finish
        self._finish(turn, reply.error or failure)

    def _show_progress(self, turn: TurnView) -> None:
        """The streaming bubble grows by what arrived since the last update."""
        with turn.lock:
            if not turn.closed and turn.reply is not None and self._chat_log.grow(turn):
                self._set_status(f"streaming from {turn.reply.provider} / {turn.reply.model}…", "busy")

    def _finish(self, turn: TurnView, error: Exception | None) -> None:
        """Show the ended reply and the status, once (the stream's end or Stop, whichever comes first)."""
        with turn.lock:
            if turn.closed or turn.reply is None:
                return
            turn.closed = True
            reply = turn.reply
            self._chat_log.settle(turn, reply, None if error is None else error_text(error))
            stats = f"{reply.model} · {reply.stats()}"
            if error is not None:
                self.status.value = message_html(error_text(error)) + " " + message_html(stats, "muted")
            else:
                self._set_status(stats + (" · stopped" if reply.cancelled else ""), "muted")
            self._busy(False)
            turn.finished.set()

    def stop(self) -> None:
        """Stop the reply now; the text received so far stays (marked "(stopped)").

        Before the server has answered the request, the reply is stopped as soon as it does.
        """
        turn = self._turn
        if turn is None or turn.finished.is_set():
            return
        with turn.lock:
            turn.stop_requested = True
            reply = turn.reply
        self.stop_button.disabled = True
        if reply is None:
            self._set_status("stopping as soon as the server answers…", "busy")
            return
        reply.cancel()  # the reply has ended (and recorded itself) when this returns
        self._finish(turn, reply.error)  # an error that came just before Stop is still shown

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the current reply has finished (or was stopped); ``True`` if it has."""
        turn = self._turn
        return turn is None or turn.finished.wait(timeout)

    def reset(self) -> None:
        """New chat: forget the conversation and clear the bubbles (the typed text stays)."""
        with self._lock:
            if self.streaming:
                self._set_status("stop the reply first", "error")
                return
            self._chat_log.clear()
            if self.conversation is not None:
                c = self.conversation
                self.conversation = Conversation(c.provider, c.model, system=self._system(), store=self.store)
            self.last_reply = None
            self._set_status("", "muted")

    # -- state ------------------------------------------------------------------------------------
    def _busy(self, busy: bool) -> None:
        self.send_button.disabled = busy
        self.stop_button.disabled = not busy
        for x in (self.provider, self.model, self.new_chat):
            x.disabled = busy

    def _set_status(self, text: str, kind: str) -> None:
        self.status.value = message_html(text, kind)

    # -- lifetime -------------------------------------------------------------------------------
    def close(self) -> None:
        """Stop any reply, stop following the store and close every widget."""
        unsubscribe = getattr(self, "_unsubscribe", None)
        if unsubscribe is not None:
            unsubscribe()
        if getattr(self, "_turn", None) is not None:
            self.stop()
        for child in self.children:
            close_tree(child)
        super().close()
