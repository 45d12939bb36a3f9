"""What a provider type declares about itself: a frozen :class:`TypeSpec`, and the :class:`Endpoint` it builds on.

Each adapter module ends with ``SPEC = TypeSpec(...)``; :mod:`jupyter_providers.adapters` lists the specs
once (the registry), and every table of types in the package (the store's validation, address rules, key
variables, the panel's type list, the ``%providers`` usage, the generated docs, the tests' matrices) is
derived from it. A new type is one adapter file and one registry line.

Adapters never see the store's records: the client hands them an :class:`Endpoint`, the resolved value
of what a request needs (base URL, custom headers, the type's extra settings).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from .._address import host_in, resolve_base

if TYPE_CHECKING:
    from ._base import Adapter

__all__ = ["IMAGE_FORMS", "Endpoint", "ExtraField", "TypeSpec"]

#: the native forms of an image in a request: OpenAI's ``image_url`` content part (a data URI), the Responses
#: API's ``input_image``, Anthropic's base64 ``image`` block, Gemini's ``inline_data`` part, Ollama's ``images``
IMAGE_FORMS = ("image_url", "input_image", "image", "inline_data", "images")


@dataclass(frozen=True)
class ExtraField:
    """A setting only some types have (Azure's API version): stored on the provider under ``name``.

    ``env`` is read when the setting is blank, then ``default``."""

    name: str
    label: str
    default: str = ""
    env: str | None = None
    placeholder: str = ""
    #: the query parameter that carries this setting in a pasted endpoint URL (Azure's ``api-version``):
    #: the address doctor (:mod:`jupyter_providers._doctor`) keeps its value here
    query: str | None = None

    def value(self, given: str | None) -> str:
        return given or (os.environ.get(self.env, "").strip() if self.env else "") or self.default


def _no_check(model_id: str) -> None:
    """Every model id the store accepts is fine for most types."""


def _no_listing(data: Any) -> bool:
    """A type that declares no listing shape is never detected."""
    return False


@dataclass(frozen=True)
class TypeSpec:
    """One provider type's facts. ``name`` is what the store records; the rest is read by the surfaces.

    Hooks, for what one type does differently:

    - ``check_model(id)`` raises ``ValueError`` for an id the API cannot take (Azure's deployment names);
    - ``resolve(address)`` turns the address (blank: ``default_address``) into the base every path is
      appended to; ``None`` uses the common rule (:func:`jupyter_providers._address.resolve_base`);
    - ``env_address`` names the variable read when no address was typed (``AZURE_OPENAI_ENDPOINT``):
      its value is trusted as the type's own service for the type's key variables;
    - ``endpoint_paths`` are the API's paths as people paste them after the base (``/chat/completions``;
      ``{model}`` stands for a model or deployment id): the address doctor (:mod:`jupyter_providers._doctor`)
      cuts them off an address and keeps the model;
    - ``own_listing(data)`` says whether a model list answer (the JSON of ``models_request``) is this
      protocol's own, not merely parseable: what ``store.detect`` believes (a web page, ``{}`` or another
      protocol's list is not a match).
    """

    name: str
    label: str
    adapter: Adapter = field(repr=False, compare=False)
    aliases: tuple[str, ...] = ()
    #: blank: every account has its own address (Azure), and one must be given
    default_address: str = ""
    version_segment: str = "/v1"
    #: hosts of the type's own service (a leading dot: any host under it); its key variables go only there
    official_hosts: tuple[str, ...] = ()
    #: the official SDK's variables, tried in order when a provider has no key of its own
    key_env_vars: tuple[str, ...] = ()
    needs_key: bool = True
    max_temperature: float = 2.0
    #: the panel's address placeholder and hint (plain text; the panel escapes it)
    placeholder: str = ""
    address_hint: str = ""
    extra_fields: tuple[ExtraField, ...] = ()
    env_address: str | None = None
    #: how a streamed answer is framed: server-sent events, or one JSON document per line (Ollama)
    stream_format: Literal["sse", "ndjson"] = "sse"
    #: the stream's closing events carry the whole reply again (the Responses API's ``*.done`` and
    #: ``response.completed``): one event may be as long as the reply so far, on top of ``max_event_bytes``
    events_repeat_reply: bool = False
    #: how a user message's images are sent (``chat(attach=...)``), one of :data:`IMAGE_FORMS`; ``""``: the type
    #: sends no images, and a request with one is refused before anything is sent
    image_form: str = ""
    check_model: Callable[[str], object] = field(default=_no_check, repr=False, compare=False)
    resolve: Callable[[str], str] | None = field(default=None, repr=False, compare=False)
    endpoint_paths: tuple[str, ...] = ()
    own_listing: Callable[[Any], bool] = field(default=_no_listing, repr=False, compare=False)
    #: the model list names every model a chat can ask for (an OpenAI-compatible ``/v1/models``): a chat that
    #: answered a name the list lacks was answered by a model it lists, which ``verify`` says. Not Azure's (its
    #: deployments are not listed), nor the native APIs' (Anthropic, Gemini, Ollama): they refuse a name they do
    #: not serve, so a name they answer but do not list is an alias, served as itself
    lists_every_model: bool = False

    @property
    def needs_address(self) -> bool:
        return not self.default_address

    def filled(self, typed: str) -> str:
        """The address as typed, or when blank the one from ``env_address`` (Azure's endpoint variable)."""
        typed = typed.strip()
        if not typed and self.env_address:
            return os.environ.get(self.env_address, "").strip()
        return typed

    def base(self, address: str) -> str:
        """The base URL for ``address`` (blank: the default address)."""
        text = address.strip() or self.default_address
        return self.resolve(text) if self.resolve is not None else resolve_base(text, self.version_segment)

    def is_official(self, address: str, *, https: bool = True) -> bool:
        """True when ``address`` (blank: the default address) is the type's own service."""
        return host_in(address.strip() or self.default_address, self.official_hosts, https=https)

    def extra(self, name: str) -> ExtraField | None:
        return next((f for f in self.extra_fields if f.name == name), None)


@dataclass(frozen=True)
class Endpoint:
    """Where and how one provider's requests go, resolved: what adapters build on (never a key).

    ``address`` is the address as typed with blanks filled (for official-host checks), ``base`` the
    version-qualified base URL, ``options`` the type's extra settings with their defaults applied."""

    type: str
    base: str
    address: str = ""
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    options: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    name: str = ""

    def option(self, name: str) -> str:
        return self.options.get(name, "")
