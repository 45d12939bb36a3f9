"""The package's error for each way a request fails: a server's error answer, an httpx failure, a read gone wrong.

One actionable line each; the messages are scrubbed of keys where they leave the client (:mod:`.client`).
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING

import httpx

from ._answers import deadline_error
from ._bounded import Deadline, LimitExceeded
from ._checks import unsendable
from ._fields import BEARER_SAYS, key_problem
from ._secret import Secret
from .adapters._base import ErrorInfo
from .errors import (
    ERROR_CLASSES,
    BadResponseError,
    ProviderConfigError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
)

if TYPE_CHECKING:
    from .store import Provider

__all__ = ["ERRORS", "check_variable_key", "error_from_info", "read_failed", "transport_error", "unsendable_error"]


ERRORS = ERROR_CLASSES  # kind -> class, read off the error tree


def read_failed(p: Provider, exc: Exception, url: str, dl: Deadline) -> ProviderError:
    """A failure while reading an answer, as the package's error: the deadline, a limit, or the transport."""
    if dl.caused(exc):
        return deadline_error(p.name, url, dl)
    if isinstance(exc, httpx.HTTPError):
        return transport_error(p, exc, url, dl.last)
    if isinstance(exc, LimitExceeded):
        return BadResponseError(f"the answer from {url} is over {exc.limit} - {exc.hint()}", provider=p.name)
    return BadResponseError(f"the answer from {url} cannot be read: {exc}", provider=p.name)


def check_variable_key(p: Provider, key: Secret) -> None:
    """The store checks the keys it is given (:func:`~._fields.key_problem`), not one read from a variable
    (``$VAR``): that one gets the same check here, before it is sent. An ``Authorization`` value pasted whole,
    ``Bearer sk-...``, would go out as ``Bearer Bearer sk-...`` and come back as a puzzling 401; a space or a
    character HTTP headers cannot carry is refused too: :class:`~.errors.ProviderConfigError`, one line naming the
    variable."""
    source = p.key_source
    if not source.startswith("$") or not key:
        return
    why = key_problem(key.reveal())
    if why is not None:
        fix = "the key alone" if why.startswith(BEARER_SAYS) else "the key as plain ASCII"
        raise ProviderConfigError(f"the key ({source}) cannot be sent: it has {why} - set {source} to {fix}",
                                  provider=p.name)  # fmt: skip


def unsendable_error(p: Provider, key: Secret) -> ProviderConfigError:
    """A key or header value HTTP cannot carry (a key read from a variable is not checked by the store)."""
    why = unsendable(key.reveal(), spaces=False)
    where = f"the key ({p.key_source})"
    if why is None:
        where, why = next(
            ((f"the custom header {k!r}", w) for k, v in p.headers.items() if (w := unsendable(v, spaces=True))),
            ("a header", "a character HTTP headers cannot carry"),
        )
    return ProviderConfigError(f"{where} cannot be sent: it has {why} - enter it again as plain ASCII", provider=p.name)


def error_from_info(
    p: Provider, info: ErrorInfo, status: int | None, url: str, model: str, key: Secret
) -> ProviderError:
    msg = info.message  # scrubbed where it leaves the client (_redacting)
    where = f"{status}: {msg}" if status else msg
    kind = info.kind
    if kind == "auth":
        text = f"the server rejected the key ({where}) - " + (
            "no key was sent; " + p.key_hint() if not key else "check the key"
        )
    elif kind == "model_not_found":
        text = f"model {model!r} not found ({where}) - pick another model or fetch the server's list"
    elif kind == "bad_url":
        text = f"nothing answers at {url} ({status}) - check the API address"
    elif kind == "rate_limited" and info.quota:
        return QuotaExceededError(
            f"out of quota ({where}) - check the account's plan and billing",
            provider=p.name,
            status=status,
            server_message=msg,
        )
    elif kind == "rate_limited":
        after = f"; retry in {info.retry_after:g} s" if info.retry_after is not None else ""
        text = f"rate limited ({where}){after}"
    elif kind == "server_error":
        text = f"server error ({where}) - try again later"
    elif kind == "timeout":
        text = f"the server timed out ({where}) - try again later"
    else:
        kind = "bad_response"
        text = f"the server refused the request ({where})"
    cls = ERRORS.get(kind, BadResponseError)
    return cls(text, provider=p.name, status=status, server_message=msg, retry_after=info.retry_after)


def transport_error(p: Provider, exc: httpx.HTTPError, url: str, timeout: httpx.Timeout) -> ProviderError:
    """Translate an httpx failure into one actionable line."""
    req_url = httpx.URL(url)
    host = req_url.host
    base = p.resolved_base
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderTimeoutError(
            f"no connection to {host} within {timeout.connect:g} s - check the address and your network",
            provider=p.name,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(
            f"no answer from {host} within {timeout.read:g} s - the server is slow or stuck; "
            "try again or raise jupyter_providers.client.settings.read_timeout",
            provider=p.name,
        )
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError):
        from .local import death_notice  # lazy and stdlib-only: the embedded server, if this is its address, died

        if notice := death_notice(base):
            return ProviderConnectionError(notice, provider=p.name)  # scrubbed where it leaves (_redacting)
    if isinstance(exc, httpx.ConnectError):
        low = text.lower()
        if isinstance(cause, ssl.SSLError) or "ssl" in low or "certificate" in low:
            reason = cause.args[1] if isinstance(cause, ssl.SSLError) and len(cause.args) > 1 else text
            return ProviderConnectionError(
                f"TLS error talking to {host} ({reason}) - check the address (http vs https) or the certificate",
                provider=p.name,
            )
        if any(
            s in low
            for s in (
                "name or service not known",
                "nodename nor servname",
                "getaddrinfo",
                "name resolution",
                "no address associated",
                "temporary failure in name",
            )
        ):
            return ProviderConnectionError(f"cannot resolve host {host!r} - check the API address", provider=p.name)
        return ProviderConnectionError(f"connection refused at {base} - is the server running?", provider=p.name)
    if isinstance(exc, httpx.LocalProtocolError):  # h11 refused what we would send (it quotes it: scrubbed)
        return ProviderConfigError(
            f"the request to {host} cannot be sent ({text}) - a key or custom header holds a character "
            "HTTP does not allow; enter it again",
            provider=p.name,
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return BadResponseError(f"the server closed the connection mid-reply ({text}) - try again", provider=p.name)
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.NetworkError)):
        return ProviderConnectionError(f"the connection to {host} failed ({text}) - try again", provider=p.name)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ProviderConfigError(f"the address {url} cannot be used ({text})", provider=p.name)
    return ProviderConnectionError(f"request to {host} failed ({text})", provider=p.name)
