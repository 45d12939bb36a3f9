"""The store's records: a :class:`Provider` and its :class:`Model` s, immutable snapshots.

A provider's type facts come from its spec (:mod:`jupyter_providers.adapters`); :attr:`Provider.endpoint`
is the resolved value adapters build requests on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ._address import host_in
from ._secret import Secret
from ._types import Verification
from .adapters import Endpoint, TypeSpec, spec
from .presets import preset

__all__ = ["Model", "Provider"]

_GROUP_SPLIT_RE = re.compile(r"[-:/_.@]")


@dataclass(frozen=True)
class Model:
    """One model of a provider. ``name`` and ``group`` are for display; empty means derived from ``id``.

    ``context_length`` is the context window in tokens, as the server's model list gave it (vLLM's
    ``max_model_len``) when the models were fetched; ``None`` when no server said.

    ``capabilities`` says what the model is known to take or not (``{"images": False}``: text only); a
    capability it does not name is unknown (then the request is sent and the server's answer says).
    ``capability_notes`` holds the one-line reason of each capability ``verify(..., capabilities=True)`` probed,
    the unknown ones included (``{"reasoning": "not seen: ..."}``).

    ``input_price`` and ``output_price`` are what the user set (``store.set_price``): the price of a million
    input and output tokens; ``None`` when not set (there is no built-in price table).
    """

    id: str
    name: str = ""
    group: str = ""
    context_length: int | None = None
    capabilities: Mapping[str, bool] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    input_price: float | None = None
    output_price: float | None = None
    capability_notes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)

    def __post_init__(self) -> None:
        for name in ("capabilities", "capability_notes"):
            if not isinstance(getattr(self, name), MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    def takes(self, capability: str) -> bool | None:
        """``True`` / ``False`` when known (``"images"``), ``None`` when unknown."""
        return self.capabilities.get(capability)

    @property
    def priced(self) -> bool:
        return self.input_price is not None and self.output_price is not None

    @property
    def capability_summary(self) -> str:
        """``"streaming yes, images no"``: the capabilities known (probed or set), ``""`` when none is."""
        return ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in self.capabilities.items())

    @property
    def context_note(self) -> str:
        """``"2,048 tokens"`` when the context length is known, else ``""``."""
        return f"{self.context_length:,} tokens" if self.context_length else ""

    @property
    def display_name(self) -> str:
        return self.name or self.id

    @property
    def group_name(self) -> str:
        if self.group:
            return self.group
        tail = self.id.rsplit("/", 1)[-1]
        return _GROUP_SPLIT_RE.split(tail, maxsplit=1)[0] or self.id


@dataclass(frozen=True)
class Provider:
    """A snapshot of one provider. Change it through the store, which validates and persists."""

    name: str
    type: str
    base_url: str = ""
    #: ``None``: take the key from the SDK's environment variable; ``""``: send no key. A str given
    #: here is kept as a :class:`Secret` (it compares equal to the str; it never prints)
    api_key: Secret | str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    enabled: bool = True
    models: tuple[Model, ...] = ()
    api_version: str | None = None
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    verify_tls: bool = True
    readonly: bool = False
    #: the preset it was added from (:mod:`jupyter_providers.presets`): names its key variable
    preset: str | None = None
    last_verification: Verification | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.api_key, str):
            object.__setattr__(self, "api_key", Secret(self.api_key))

    @property
    def model_ids(self) -> list[str]:
        return [m.id for m in self.models]

    @property
    def spec(self) -> TypeSpec:
        """The facts of this provider's type (:mod:`jupyter_providers.adapters`)."""
        return spec(self.type)

    @property
    def address(self) -> str:
        """The address with blanks filled from the type's variable (Azure's ``AZURE_OPENAI_ENDPOINT``)."""
        return self.spec.filled(self.base_url)

    @property
    def resolved_base(self) -> str:
        return self.spec.base(self.address)

    def option(self, name: str) -> str:
        """One of the type's extra settings (Azure's ``api_version``) with its default applied."""
        extra = self.spec.extra(name)
        return extra.value(getattr(self, name, None)) if extra is not None else ""

    @property
    def endpoint(self) -> Endpoint:
        """What adapters build requests on: the resolved address, custom headers and extra settings."""
        s = self.spec
        options = {f.name: f.value(getattr(self, f.name, None)) for f in s.extra_fields}
        return Endpoint(
            self.type, self.resolved_base, self.address or s.default_address, self.headers,
            MappingProxyType(options), self.name,
        )  # fmt: skip

    def _env_candidates(self) -> tuple[str, ...]:
        """The variables this provider's key may come from: its preset's, then its type's SDK's."""
        found = preset(self.preset) if self.preset else None
        return ((found.key_env,) if found and found.key_env else ()) + self.spec.key_env_vars

    def key_env_names(self) -> tuple[str, ...]:
        """The variables a key is read from when none was entered: the one named with ``api_key_env``,
        else the preset's or the SDK's own, but each only for its official address (the preset's or the
        type's hosts): a local server or a proxy never receives ``$OPENAI_API_KEY`` unless it is named for it."""
        if self.api_key_env:
            return (self.api_key_env,)
        s = self.spec
        found = preset(self.preset) if self.preset else None
        if found and found.key_env and host_in(self.address, found.official_hosts):
            return (found.key_env,)
        if s.env_address and not self.base_url:
            # the address is the type's variable (or none yet): the key comes from the same environment
            return s.key_env_vars
        return s.key_env_vars if s.is_official(self.address) else ()

    @property
    def withheld_env(self) -> str | None:
        """The variable that is set but not sent, because the address is not its official one."""
        if self.api_key or self.api_key == "" or self.api_key_env or self.key_env_names():
            return None
        return next((v for v in self._env_candidates() if os.environ.get(v)), None)

    def key_hint(self) -> str:
        """What to do when no key is found, naming the variables; one line, never a key."""
        where = f"enter a key for {self.name!r} in the panel (or %providers key {self.name})"
        v = self.withheld_env
        if v:
            return f"{where}; ${v} is sent only to the official address - use api_key_env={v!r} to send it here"
        names = " or ".join(self.key_env_names())
        return f"set {names} or {where}" if names else f"{where}, or name its variable with api_key_env"

    def _key_text(self) -> tuple[str, str]:
        """(raw key text, source): an entered key wins, then the variable, ``""`` means none."""
        if self.api_key:
            return self.api_key.reveal() if isinstance(self.api_key, Secret) else self.api_key, "entered"
        if self.api_key == "" and not self.api_key_env:
            return "", "none"
        for var in self.key_env_names():
            if os.environ.get(var):
                return os.environ[var], f"${var}"
        return "", "none"

    @property
    def keys(self) -> list[Secret]:
        """The key(s) requests use: comma-separated keys are several keys. Never printed."""
        return [Secret(k.strip()) for k in self._key_text()[0].split(",") if k.strip()]

    def secret_values(self) -> list[str]:
        """Every secret this provider holds, for scrubbing messages: the key text as entered or read from
        its variable, each key, each custom header value."""
        text = self._key_text()[0]
        return [text, *(k.strip() for k in text.split(",")), *self.headers.values()]

    @property
    def key_source(self) -> str:
        """Where the key comes from, for display: ``entered``, ``$VAR`` or ``none``."""
        return self._key_text()[1]

    @property
    def key_label(self) -> str:
        """:attr:`key_source` for tables and messages, saying when an SDK variable is held back."""
        v = self.withheld_env
        return f"none (${v} is not sent here: --key-env {v} sends it)" if v else self.key_source

    def model(self, model_id: str) -> Model | None:
        return next((m for m in self.models if m.id == model_id), None)
