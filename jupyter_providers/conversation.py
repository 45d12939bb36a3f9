"""A conversation with one model: the history the magic and the chat widget share.

Every turn is recorded, whatever happens: a reply stopped by the user or cut by an
error keeps its partial text in the history, marked as such, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._attach import Attachment, prepare, with_attachments
from ._types import Message

if TYPE_CHECKING:
    from .reply import Reply
    from .store import ProviderStore

__all__ = ["Conversation", "Turn", "conversations", "get_conversation", "reset_conversations"]


@dataclass
class Turn:
    """One exchange: the prompt and the reply text (partial if ``status`` is not ``"done"``)."""

    prompt: str
    reply: str = ""
    status: str = "pending"  # pending, streaming, done, stopped, error
    error: str | None = None
    usage: dict[str, int | None] = field(default_factory=dict)
    latency_s: float | None = None
    #: what went with the prompt (``attach=``), as sent: sent again with the history
    attachments: tuple[Attachment, ...] = ()


class Conversation:
    """Messages exchanged with ``provider``/``model``; :meth:`send` adds a turn and returns the reply.

    >>> conv = Conversation("vLLM", "smollm2")              # doctest: +SKIP
    >>> print(conv.send("Hello").text)                      # doctest: +SKIP
    """

    def __init__(
        self,
        provider: str,
        model: str,
        *,
        system: str | None = None,
        store: ProviderStore | None = None,
    ) -> None:
        self.provider = provider
        self.model = model
        self.system = system
        self.store = store
        self.turns: list[Turn] = []

    @property
    def messages(self) -> list[Message]:
        """The history as chat messages (the system prompt first); partial replies included."""
        out: list[Message] = [{"role": "system", "content": self.system}] if self.system else []
        for t in self.turns:
            if t.status == "pending" or not t.reply:
                continue  # a turn that got no answer is not sent back as history
            out.append(with_attachments(t.prompt, t.attachments))
            if t.reply:
                out.append({"role": "assistant", "content": t.reply})
        return out

    def _history(self) -> list[Message]:
        return [m for m in self.messages if m["role"] != "system"]

    def send(self, prompt: str, *, stream: bool = True, attach: Any = None, **options: Any) -> Reply:
        """Send ``prompt`` with the history and add the turn; iterate the returned reply to stream it.
        ``attach`` as for :func:`~jupyter_providers.chat`; the attachments go again with later turns' history.

        The reply records itself in the turn when it ends, however it ends (finished, an error, cancelled,
        Ctrl-C, the loop left early, or at once without ``stream``), so a caller only reads it.
        """
        from .api import chat
        from .errors import ProviderError

        turn = Turn(prompt, status="pending")
        try:
            turn.attachments = prepare(attach) if attach is not None else ()
            reply = chat(
                prompt,
                attach=turn.attachments or None,
                provider=self.provider,
                model=self.model,
                system=self.system,
                history=self._history(),
                stream=stream,
                store=self.store,
                **options,
            )
        except ProviderError as exc:
            turn.status, turn.error = "error", str(exc)
            self.turns.append(turn)  # kept for the record; not sent again as history
            raise
        except KeyboardInterrupt:
            turn.status = "stopped"  # stopped before the server answered: no reply, not sent again
            self.turns.append(turn)
            raise
        turn.status = "streaming"
        self.turns.append(turn)
        reply.on_end(lambda r: self._record(turn, r))
        return reply

    def stream(self, prompt: str, **options: Any) -> Iterator[str]:
        """Yield the reply's pieces (the turn is recorded by the reply, as after :meth:`send`)."""
        yield from self.send(prompt, stream=True, **options)

    @staticmethod
    def _record(turn: Turn, reply: Reply) -> None:
        """Store how ``reply`` ended (done, stopped or error) in its ``turn``; the reply calls this once."""
        turn.reply = reply.text_so_far
        turn.status = "error" if reply.error else "stopped" if reply.cancelled else "done"
        turn.error = str(reply.error) if reply.error else None
        turn.usage = {"input_tokens": reply.usage.input_tokens, "output_tokens": reply.usage.output_tokens}
        turn.latency_s = reply.latency_s

    def reset(self) -> None:
        """Forget the history (the provider, model and system prompt stay)."""
        self.turns.clear()

    def __len__(self) -> int:
        return len(self.turns)

    def __repr__(self) -> str:
        return f"<Conversation {self.provider}/{self.model}, {len(self.turns)} turns>"


_conversations: dict[tuple[str, str], Conversation] = {}


def get_conversation(provider: str, model: str, *, create: bool = True) -> Conversation | None:
    """The ``%%chat`` conversation with ``provider``/``model`` in this kernel (created on first use)."""
    key = (provider, model)
    if key not in _conversations and create:
        _conversations[key] = Conversation(provider, model)
    return _conversations.get(key)


def conversations() -> list[Conversation]:
    """Every ``%%chat`` conversation of this kernel."""
    return list(_conversations.values())


def reset_conversations() -> None:
    """Forget every ``%%chat`` conversation."""
    _conversations.clear()
