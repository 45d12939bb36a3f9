"""Small value types shared by the store, the adapters and the client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict

from .errors import Kind

if TYPE_CHECKING:
    from ._attach import Attachment

__all__ = ["KeyVerdict", "Message", "ModelIds", "Usage", "Verification", "VerifyKind"]

#: A verification's outcome: ``"ok"``, or the :data:`~jupyter_providers.errors.Kind` of the failure.
VerifyKind = Literal["ok", Kind]


class ModelIds(list[str]):
    """Model ids a server lists. ``cut`` is true when it listed more than
    ``jupyter_providers.client.settings.max_models`` and only that many were kept."""

    def __init__(self, ids: list[str] | None = None, *, cut: bool = False) -> None:
        super().__init__(ids or [])
        self.cut = cut


class _MessageBase(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class Message(_MessageBase, total=False):
    """A chat message. A user message may carry images (``chat(attach=...)``), each sent in its type's form."""

    attachments: tuple[Attachment, ...]


@dataclass(frozen=True)
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.input_tokens is None and self.output_tokens is None:
            return None
        return (self.input_tokens or 0) + (self.output_tokens or 0)


@dataclass(frozen=True)
class KeyVerdict:
    """The outcome for one key when a provider holds several (``key 2 of 3``); never the key itself."""

    index: int
    ok: bool
    kind: VerifyKind
    message: str


@dataclass(frozen=True)
class Verification:
    """The verdict of :meth:`ProviderStore.verify`. ``str()`` gives the line a person reads."""

    ok: bool
    kind: VerifyKind
    message: str
    latency_s: float | None = None
    model: str | None = None
    provider: str | None = None
    status: int | None = None
    keys: tuple[KeyVerdict, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        head = "OK" if self.ok else self.kind.replace("_", " ")
        return f"{head} - {self.message}"
