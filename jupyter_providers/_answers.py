"""What the client makes of an answer once read: its text, an error answer's meaning, how long to wait
before a retry, the deadline of a call and the error when it passes. No I/O beyond reading ``resp``."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import httpx

from . import _bounded as bounded
from ._bounded import Deadline, LimitExceeded
from ._settings import settings
from ._sse import SSELimitError
from ._types import ModelIds
from .adapters._base import ErrorInfo, ProtocolError, looks_like_html
from .errors import BadResponseError, BadURLError, ProviderTimeoutError

__all__ = [
    "check_not_html",
    "classify",
    "deadline_error",
    "deadline_for",
    "error_body",
    "json_of",
    "retry_delay",
    "short_list",
    "stream_failure",
    "text_of",
]


def deadline_for(timeout: float | None, default: str) -> Deadline:
    """The deadline of a whole call: ``timeout=`` if given, else the setting named ``default``."""
    if timeout is not None:
        return Deadline(timeout, f"pass a longer timeout= (now {timeout:g} s)")
    seconds = float(getattr(settings, default))
    return Deadline(seconds, f"raise jupyter_providers.client.settings.{default} (now {seconds:g} s) or pass timeout=")


def deadline_error(provider: str, url: str, dl: Deadline, partial: bool = False) -> ProviderTimeoutError:
    if partial:
        text = f"the reply did not finish within {dl.seconds:g} s, the deadline of the whole call - "
        return ProviderTimeoutError(text + f"the partial reply is kept; {dl.setting}", provider=provider)
    host = httpx.URL(url).host
    text = f"no answer from {host} within {dl.seconds:g} s, the deadline of the whole call - {dl.setting}"
    return ProviderTimeoutError(text, provider=provider)


def stream_failure(provider: str, exc: Exception) -> BadResponseError:
    """A stream that cannot be read on (a protocol error, a nesting bomb, a limit) as one line."""
    kept = "the partial reply is kept"
    if isinstance(exc, SSELimitError):
        exc = LimitExceeded(f"{'a line' if exc.what == 'line' else 'an event'} of the stream",
                            bounded.human_bytes(exc.limit), "max_event_bytes")  # fmt: skip
    if isinstance(exc, LimitExceeded):
        return BadResponseError(f"{exc} - {kept}; {exc.hint()}", provider=provider)
    if isinstance(exc, RecursionError):
        detail = "cannot be read: an event is nested too deeply"
    else:
        detail = f"{'broke the protocol' if isinstance(exc, ProtocolError) else 'cannot be read'}: {exc}"
    return BadResponseError(f"the stream {detail} - {kept}", provider=provider)


def text_of(resp: httpx.Response, body: bytes) -> str:
    """``body`` as text: the charset the answer names (UTF-8 if none), invalid bytes replaced."""
    try:
        return body.decode(resp.charset_encoding or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", "replace")


def error_body(resp: httpx.Response, dl: Deadline) -> tuple[Any, str]:
    """An error answer's JSON (or ``None``) and text: its first ``max_error_body_bytes``, the rest dropped."""
    text = text_of(resp, bounded.read_body(resp, settings.max_error_body_bytes, dl))
    try:
        return bounded.parse_json(text), text
    except ValueError:
        return None, text


def classify(adapter: Any, resp: httpx.Response, body: Any, text: str) -> ErrorInfo:
    """The error answer classified by the adapter; its message one line of at most 1,000 characters."""
    if resp.status_code == 404 and body is None:
        return ErrorInfo("bad_url", bounded.one_line(text, 200))
    try:
        info: ErrorInfo = adapter.classify_error(resp.status_code, body, text, resp.headers)
    except (ValueError, RecursionError):  # a body too deep to print, say: classified by its status and text
        info = adapter.classify_error(resp.status_code, None, text, resp.headers)
    return dataclasses.replace(info, message=bounded.one_line(info.message))


def retry_delay(attempt: int, info: ErrorInfo | None, dl: Deadline) -> float | None:
    """Seconds to wait before the next attempt, or ``None``: not worth it, or past the deadline."""
    if info is not None and info.retry_after is not None:
        delay = info.retry_after if info.retry_after <= settings.max_retry_after else None
    else:
        base: float = min(settings.backoff * (2**attempt), settings.max_backoff)
        delay = base * (0.75 + random.random() / 2)
    return delay if delay is not None and delay < dl.remaining() else None


def json_of(provider: str, resp: httpx.Response, text: str, url: str) -> Any:
    """The JSON of a whole answer; a web page, a non-JSON or a too deeply nested answer is a one-line error."""
    check_not_html(provider, resp, text, url)
    try:
        return bounded.parse_json(text)
    except bounded.NestingError:
        problem = "is JSON nested too deeply to read"
    except ValueError:
        problem = f"is not JSON ({bounded.one_line(text, 60)!r}) - is this the right API type and address?"
    raise BadResponseError(f"the answer from {url} {problem}", provider=provider, status=resp.status_code)


def check_not_html(provider: str, resp: httpx.Response, text: str, url: str) -> None:
    if "html" in resp.headers.get("content-type", "") or looks_like_html(text):
        raise BadURLError(
            f"{url} answered with a web page, not the API - check the API address",
            provider=provider,
            status=resp.status_code,
        )


def short_list(ids: list[str], limit: int = 10) -> str:
    """``a, b, c (+12 more)``; a list cut at ``max_models`` says so."""
    head = ", ".join(ids[:limit])
    more = len(ids) - limit
    tail = f"+{more} more" if more > 0 else ""
    if isinstance(ids, ModelIds) and ids.cut:
        tail += f"{'; ' if tail else ''}the list was cut at {len(ids):,}"
    return head + (f" ({tail})" if tail else "")
