"""The package's one error tree.

Every error raised while talking to a provider derives from :class:`ProviderError`,
which derives from :class:`Exception` (never ``BaseException``), so ``except Exception``
catches it. Each error carries the provider name, the HTTP status (if any) and the
server's own message, and never an API key::

    ProviderError                      kind
    ├── ProviderConfigError            no_model / disabled / config   (also a ValueError)
    ├── ProviderConnectionError        unreachable
    ├── BadURLError                    bad_url
    ├── AuthenticationError            auth
    ├── ModelNotFoundError             model_not_found
    ├── RateLimitError                 rate_limited
    │   └── QuotaExceededError         rate_limited (never retried)
    ├── ServerError                    server_error
    ├── ProviderTimeoutError           timeout
    └── BadResponseError               bad_response

``kind`` is the same vocabulary :class:`~jupyter_providers.Verification` uses.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BadResponseError",
    "BadURLError",
    "ModelNotFoundError",
    "ProviderConfigError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "ServerError",
]


class ProviderError(Exception):
    """Base class of every error about a provider. ``str(err)`` is one line: ``"NAME: what to do"``."""

    kind: str = "error"

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

    def __str__(self) -> str:
        return f"{self.provider}: {self.message}" if self.provider else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status={self.status!r})"


class ProviderConfigError(ProviderError, ValueError):
    """The request cannot be made as configured: unknown provider, disabled, no model, missing key."""

    kind = "config"

    def __init__(self, message: str, *, kind: str = "config", **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.kind = kind


class ProviderConnectionError(ProviderError):
    """The server could not be reached (refused, DNS failure, TLS error)."""

    kind = "unreachable"


class BadURLError(ProviderError):
    """Something answered, but not the API: a 404 on the path itself or a web page."""

    kind = "bad_url"


class AuthenticationError(ProviderError):
    """The server rejected the key (401/403, Gemini's 400 ``API_KEY_INVALID``)."""

    kind = "auth"


class ModelNotFoundError(ProviderError):
    """The server does not know the model (or the Azure deployment)."""

    kind = "model_not_found"


class RateLimitError(ProviderError):
    """429: too many requests. ``retry_after`` holds the server's hint in seconds, if any."""

    kind = "rate_limited"


class QuotaExceededError(RateLimitError):
    """429 ``insufficient_quota``: retrying will not help, the account needs credit."""


class ServerError(ProviderError):
    """5xx or Anthropic's 529 overloaded, or an error event in the middle of a stream."""

    kind = "server_error"


class ProviderTimeoutError(ProviderError):
    """The server did not connect or answer in time."""

    kind = "timeout"


class BadResponseError(ProviderError):
    """The server answered something the protocol does not allow (not JSON, cut-off stream, ...)."""

    kind = "bad_response"
