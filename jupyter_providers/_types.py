"""Small value types shared by the store, the adapters and the client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypedDict

from .errors import Kind

if TYPE_CHECKING:
    from ._attach import Attachment

__all__ = [
    "Capability", "Detection", "KeyVerdict", "Message", "ModelIds", "Probe", "Usage", "Verification", "VerifyKind",
]  # fmt: skip

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
    #: with ``verify(..., capabilities=True)``: what each tiny probe found (empty otherwise)
    capabilities: tuple[Capability, ...] = field(default_factory=tuple)
    #: on an OK verdict of a type whose list names every model (``TypeSpec.lists_every_model``): whether that list
    #: names ``model``. ``False``: a model it lists answered (the message says so); ``None``: not known (another
    #: verdict or type, or a list that cannot tell: it failed, was empty or cut, or has wildcard routes)
    listed: bool | None = None

    def __str__(self) -> str:
        head = "OK" if self.ok else self.kind.replace("_", " ")
        lines = [f"{head} - {self.message}", *(f"  {c}" for c in self.capabilities)]
        return "\n".join(lines)


#: what a capability probe found: the model does it, does not, or the probe could not tell
CapabilityState = Literal["yes", "no", "unknown"]
#: how the reason of a capability probe that measured nothing starts (:attr:`Capability.measured`)
UNMEASURED = ("not probed", "not measured", "not seen")


@dataclass(frozen=True)
class Capability:
    """One capability probed by ``verify(..., capabilities=True)``: ``name`` (``streaming``, ``stream_usage``,
    ``structured_output``, ``images``, ``reasoning``), ``state`` (``yes`` / ``no`` / ``unknown``) and the
    one-line ``reason`` (never a key)."""

    name: str
    state: CapabilityState
    reason: str

    @property
    def known(self) -> bool | None:
        """``True`` / ``False`` for yes / no, ``None`` when unknown (what :attr:`Model.capabilities` keeps)."""
        return None if self.state == "unknown" else self.state == "yes"

    @property
    def measured(self) -> bool:
        """Whether the probe got an answer to judge, or measured nothing (no answer in time, a rate limit, the
        deadline spent, reasoning not seen: its reason starts with one of :data:`UNMEASURED`). A later verify's
        measured word replaces what the model keeps; an unmeasured unknown leaves it."""
        return self.state != "unknown" or not self.reason.startswith(UNMEASURED)

    def __str__(self) -> str:
        return f"{self.name}: {self.state} - {self.reason}"


@dataclass(frozen=True)
class Probe:
    """One type's probe of :meth:`ProviderStore.detect`: where it went and what came back. ``outcome`` is
    ``"ok"`` (the type's own model list), ``"other"`` (an answer, but not this protocol's), ``"absent"`` (its
    chat route is not there) or the error kind (``auth``, ``bad_url``, ``unreachable``, ...)."""

    type: str
    url: str
    outcome: str
    status: int | None = None
    models: tuple[str, ...] = ()


#: how :class:`Detection`'s message tells a Python caller to give the key (:meth:`Detection.told` rewords it)
KEY_AGAIN = "detect again with api_key="


@dataclass(frozen=True, repr=False)
class Detection:
    """What :meth:`ProviderStore.detect` found at an address. ``str()`` gives the line a person reads.

    ``types``: the provider types that answered there with their own protocol, best first (empty: none);
    ``models``: the ids the first one lists (untrusted text: the server's; checked as model ids);
    ``key_needed``: ``True`` when the server refused the probes without a key (or the key given),
    ``False`` when it answered without one, ``None`` when a key was given and accepted;
    ``address``: the address probed (an endpoint path and any query removed: it never holds a key);
    ``address_note``: what was removed from the address as typed."""

    address: str
    types: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    key_needed: bool | None = None
    message: str = ""
    probes: tuple[Probe, ...] = ()
    address_note: str = ""

    @property
    def type(self) -> str | None:
        """The best type found, or ``None``."""
        return self.types[0] if self.types else None

    @property
    def ok(self) -> bool:
        return bool(self.types)

    def __str__(self) -> str:
        return self.message

    def told(self, key_again: str) -> str:
        """The line, with its advice to "detect again with api_key=" put as this surface gives a key (``%providers
        add``: ``--key-env``; the panel: the address's ``?key=``): the Python API's words elsewhere mislead."""
        return self.message.replace(KEY_AGAIN, key_again)

    def __repr__(self) -> str:
        more = len(self.models) - 10
        shown = ", ".join(repr(m) for m in self.models[:10]) + (f", +{more} more" if more > 0 else "")
        return (
            f"Detection(types={self.types!r}, models=[{shown}], key_needed={self.key_needed!r}, "
            f"address={self.address!r}, message={self.message!r})"
        )
