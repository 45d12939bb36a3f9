"""The package's one error tree, and its one vocabulary of kinds.

Every error the package raises derives from :class:`ProviderError`, which derives from
:class:`Exception` (never ``BaseException``), so ``except Exception`` catches it. ``str(err)``
is one line saying what to do; an error carries the provider name, the HTTP status (if any) and
the server's own message, and never an API key::

    ProviderError                      kind
    ├── ProviderConfigError            config / no_model / disabled   (also a ValueError)
    │   ├── InvalidValueError          config                         (also a ValueError)
    │   └── NotInStoreError            config                         (also a KeyError)
    ├── StoreFileError                 store_file                     (also a RuntimeError)
    ├── LocalServerError               local_server                   (also a RuntimeError)
    ├── ProviderConnectionError        unreachable
    ├── BadURLError                    bad_url
    ├── AuthenticationError            auth
    ├── ModelNotFoundError             model_not_found
    ├── RateLimitError                 rate_limited
    │   └── QuotaExceededError         rate_limited (never retried)
    ├── ServerError                    server_error
    ├── ProviderTimeoutError           timeout
    ├── BadResponseError               bad_response
    │   └── SchemaError                bad_response
    └── CostLimitError                 cost_limit     (nothing was sent)

:data:`Kind` is the vocabulary, defined here once: the ``kind`` of every error, the ``kind`` of a
failed :class:`~jupyter_providers.Verification` (a passed one is ``"ok"``), and what the adapters
classify a server's answer as. :data:`ERROR_CLASSES` gives the class for a kind, read off the
classes above.

Outside the tree the package raises only Python's own errors for misusing an object (a ``TypeError``
when a key is pickled, a ``RuntimeError`` when one reply is read by two loops at once); internal
exceptions (the adapters' ``ProtocolError``, the client's limits) are turned into the tree before
they leave. ``tests/test_errors.py`` reads every ``raise`` in the package to keep it so.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Literal, get_args

__all__ = [
    "ERROR_CLASSES",
    "KINDS",
    "AuthenticationError",
    "BadResponseError",
    "BadURLError",
    "ConfigKind",
    "CostLimitError",
    "InvalidValueError",
    "Kind",
    "LocalServerError",
    "ModelNotFoundError",
    "NotInStoreError",
    "ProviderConfigError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "SchemaError",
    "ServerError",
    "StoreFileError",
]

#: The kinds of :class:`ProviderConfigError`: a request that cannot be made as configured.
ConfigKind = Literal["config", "no_model", "disabled"]
#: What went wrong, in one word: the ``kind`` of an error and of a failed verification.
Kind = Literal[
    ConfigKind,
    "store_file",
    "local_server",
    "unreachable",
    "bad_url",
    "auth",
    "model_not_found",
    "rate_limited",
    "server_error",
    "timeout",
    "bad_response",
    "cost_limit",
]
#: every :data:`Kind`, in the order above
KINDS: tuple[Kind, ...] = get_args(Kind)


class ProviderError(Exception):
    """Base class of every error the package raises. ``str(err)`` is one line: ``"NAME: what to do"``."""

    #: the base's kind is the client's fallback for a failure it cannot classify
    kind: Kind = "bad_response"
    #: the kinds an instance of the class may carry (``kind`` unless a class says more)
    kinds: ClassVar[tuple[Kind, ...]] = ()

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
        retry_after: float | None = None,
        partial_text: str = "",
    ) -> None:
        self.message = message
        self.provider = provider
        self.status = status
        self.server_message = server_message
        self.retry_after = retry_after
        #: text already streamed before the failure (the reply keeps it too)
        self.partial_text = partial_text
        super().__init__(message)

    def __str__(self) -> str:  # before KeyError's in the MRO: never "'quoted'"
        return f"{self.provider}: {self.message}" if self.provider else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status={self.status!r})"


class ProviderConfigError(ProviderError, ValueError):
    """The request cannot be made as configured: disabled, no model, no address, a key that cannot be sent."""

    kind: Kind = "config"
    kinds: ClassVar[tuple[Kind, ...]] = get_args(ConfigKind)

    def __init__(self, message: str, *, kind: ConfigKind = "config", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.kind = kind


class InvalidValueError(ProviderConfigError):
    """A value given to the package is refused: a provider's name, type, base_url, key, headers, model id,
    timeout, or a chat option. The message starts with the field: ``"base_url: ... ; use http(s)://..."``."""

    kinds: ClassVar[tuple[Kind, ...]] = ("config",)


class NotInStoreError(ProviderConfigError, KeyError):
    """The store holds no provider of that name, or the provider no model of that id.
    Also a ``KeyError`` (``store["x"]``), but ``str(err)`` is the message, not its ``repr``."""

    kinds: ClassVar[tuple[Kind, ...]] = ("config",)


class StoreFileError(ProviderError, RuntimeError):
    """The store's files cannot be read or written: unreadable (kept, not overwritten), or the folder
    or the disk refuses (nothing was changed). ``str()`` is one line saying what to do."""

    kind: Kind = "store_file"


class LocalServerError(ProviderError, RuntimeError):
    """The local model server cannot be started or has died; the message says what to do."""

    kind: Kind = "local_server"

    def __init__(self, message: str, server: Any = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        #: the :class:`~jupyter_providers.local.LocalServer` that failed, when there was one
        #: (dead, or stopped after failing its first completion)
        self.server = server


class ProviderConnectionError(ProviderError):
    """The server could not be reached (refused, DNS failure, TLS error)."""

    kind: Kind = "unreachable"


class BadURLError(ProviderError):
    """Something answered, but not the API: a 404 on the path itself or a web page."""

    kind: Kind = "bad_url"


class AuthenticationError(ProviderError):
    """The server rejected the key (401/403, Gemini's 400 ``API_KEY_INVALID``)."""

    kind: Kind = "auth"


class ModelNotFoundError(ProviderError):
    """The server does not know the model (or the Azure deployment)."""

    kind: Kind = "model_not_found"


class RateLimitError(ProviderError):
    """429: too many requests. ``retry_after`` holds the server's hint in seconds, if any."""

    kind: Kind = "rate_limited"


class QuotaExceededError(RateLimitError):
    """429 ``insufficient_quota``: retrying will not help, the account needs credit."""


class ServerError(ProviderError):
    """5xx or Anthropic's 529 overloaded, or an error event in the middle of a stream."""

    kind: Kind = "server_error"


class ProviderTimeoutError(ProviderError):
    """The server did not connect or answer in time."""

    kind: Kind = "timeout"


class BadResponseError(ProviderError):
    """The server answered something the protocol does not allow (not JSON, cut-off stream, ...)."""

    kind: Kind = "bad_response"


class SchemaError(BadResponseError):
    """A structured reply (``chat(schema=...)``) is not JSON or does not match the schema. Nothing is lost:
    ``raw_text`` is the reply's text as it came (``reply.text`` too), ``validation`` says what did not match,
    ``finish_reason`` why the reply ended (``"length"``: cut at ``max_tokens``, before its JSON was finished)."""

    def __init__(self, message: str, *, raw_text: str = "", validation: str = "", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.raw_text = raw_text
        self.validation = validation
        self.finish_reason: str | None = None


class CostLimitError(ProviderError):
    """A call refused before anything was sent: its estimated cost (the prompt's tokens at about 4 characters
    each, plus ``max_tokens`` as the most the reply may have, at the model's prices) would cross ``max_cost`` -
    the call's, the map's, or the kernel's (``jupyter_providers.client.settings.max_cost``)."""

    kind: Kind = "cost_limit"


def _classes_by_kind() -> Mapping[Kind, type[ProviderError]]:
    """Each kind's class: the most general class that carries it (``rate_limited``: RateLimitError,
    not its QuotaExceededError; ``config``: ProviderConfigError, not its subclasses)."""
    found: dict[Kind, type[ProviderError]] = {}
    todo: list[type[ProviderError]] = [ProviderError]
    while todo:  # breadth first: a class is met before its subclasses
        cls = todo.pop(0)
        if cls is not ProviderError:
            for kind in cls.kinds or (cls.kind,):
                found.setdefault(kind, cls)
        todo.extend(c for c in cls.__subclasses__() if c.__module__ == __name__)
    return MappingProxyType({k: found[k] for k in KINDS})


#: the class of each :data:`Kind` (every kind has one)
ERROR_CLASSES: Mapping[Kind, type[ProviderError]] = _classes_by_kind()
