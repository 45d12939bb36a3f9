"""What every adapter builds and parses. Adapters do no I/O: requests out, parsed values in."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Protocol

from .._secret import Secret
from .._types import Message, Usage
from ..errors import Kind

if TYPE_CHECKING:
    from .._schema_out import OutputSchema
    from .._sse import SSEEvent
    from ._spec import Endpoint

__all__ = [
    "SHAPE_ERRORS",
    "ChatParams",
    "Completion",
    "Delta",
    "ErrorInfo",
    "HTTPRequest",
    "ProtocolError",
    "StreamErrorEvent",
    "StreamParser",
    "as_delta",
]


@dataclass(frozen=True)
class HTTPRequest:
    method: str
    url: str  # never holds a key
    headers: dict[str, str] = field(repr=False)  # may hold a key
    json: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChatParams:
    model: str
    messages: list[Message]  # user/assistant turns; a system message here is moved to ``system``
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    #: structured output: the JSON Schema (``schema.schema``) with its ``name`` and ``strict``, and the form
    #: the adapter sends it in (one of its ``schema_forms``, the first by default: the native one)
    schema: OutputSchema | None = None
    schema_form: str | None = None

    def split_system(self) -> tuple[str | None, list[Message]]:
        """The system prompt (argument and system messages joined) and the other turns."""
        systems = [m["content"] for m in self.messages if m["role"] == "system"]
        if self.system:
            systems.insert(0, self.system)
        turns = [m for m in self.messages if m["role"] != "system"]
        return ("\n\n".join(systems) if systems else None), turns


@dataclass
class Delta:
    """One parsed stream increment."""

    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None


@dataclass(frozen=True)
class Completion:
    text: str
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    model: str | None = None


@dataclass(frozen=True)
class ErrorInfo:
    """A server's error, classified. ``kind`` is one of the package's :data:`~..errors.Kind`."""

    kind: Kind
    message: str
    code: str | None = None
    retry_after: float | None = None
    quota: bool = False


class ProtocolError(ValueError):
    """The server's answer does not follow the protocol."""


#: what reading an answer of the wrong shape raises (``"x".get``, ``5[0]``, ``"".join([1])``): parsers turn
#: these into :class:`ProtocolError` with :func:`shape_error`, so a server's garbage never escapes as a bug
SHAPE_ERRORS = (AttributeError, TypeError, KeyError, IndexError)


def shape_error(what: str, data: Any) -> ProtocolError:
    return ProtocolError(f"{what} has an unexpected shape: {str(data)[:80]!r}")


class StreamErrorEvent(Exception):
    """An error event arrived in the middle of a stream."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.message)
        self.info = info


class StreamParser(Protocol):
    complete: bool  # the protocol's end-of-stream marker has been seen

    def feed(self, event: SSEEvent) -> Delta | str | None:
        """The increment ``event`` carries, if any. A plain ``str`` is text and nothing else: the hot
        path of a stream builds no :class:`Delta` for it (:func:`as_delta` makes one)."""
        ...


def as_delta(item: Delta | str) -> Delta:
    """A parser's increment as a :class:`Delta` (a ``str`` is text and nothing else)."""
    return Delta(item) if isinstance(item, str) else item


class Adapter(Protocol):
    """Builds requests on an :class:`~._spec.Endpoint` and parses answers (see docs/architecture.md)."""

    def chat_url(self, e: Endpoint, model: str, stream: bool) -> str: ...
    def chat_request(self, e: Endpoint, key: Key, params: ChatParams, stream: bool) -> HTTPRequest: ...
    def models_request(self, e: Endpoint, key: Key, page: str | None) -> HTTPRequest: ...
    def parse_models(self, data: Any) -> tuple[list[str], str | None]: ...
    def parse_completion(self, data: Any) -> Completion: ...
    def stream_parser(self) -> StreamParser: ...
    def classify_error(self, status: int, body: Any, text: str, headers: Mapping[str, str]) -> ErrorInfo: ...


# -- helpers shared by the adapters ------------------------------------------------------------
#: a key as adapters receive it: a :class:`Secret` from the client (a plain str from tests)
Key = Secret | str


def reveal(key: Key) -> str:
    """The key's text, taken out of its :class:`Secret` only here, where a header is built."""
    return key.reveal() if isinstance(key, Secret) else key


def base_headers(e: Endpoint, extra: Mapping[str, str]) -> dict[str, str]:
    headers = {"content-type": "application/json", "accept": "application/json"}
    headers.update(extra)
    headers.update(e.headers)
    return headers


_raw_decode = json.JSONDecoder().raw_decode


def load_json(data: str) -> Any:
    """One stream event's JSON. Called once per streamed chunk, so the usual case (the data is
    exactly one JSON document, as every provider sends it) goes straight to the decoder:
    ``json.loads`` would add a type check and two whitespace regex matches, about 0.7 µs, as
    much as the decoding of a small chunk itself. Anything else takes the exact ``json.loads``
    path (leading or trailing whitespace is allowed; trailing garbage and non-JSON are not)."""
    try:
        value, end = _raw_decode(data)
        if end == len(data):
            return value
    except ValueError:
        pass
    except RecursionError:  # a nesting bomb, [[[[...
        raise ProtocolError("the stream sent an event nested too deeply to read") from None
    try:
        return json.loads(data)
    except ValueError:
        raise ProtocolError(f"the stream sent an event that is not JSON: {data[:80]!r}") from None


def obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"expected a JSON object for {what}, got {type(value).__name__}")
    return value


def as_int(value: Any) -> int | None:
    """A count from a server: an int from 0 to 10**15, else ``None`` (a 4,000-digit "token count" is not one)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**15 else None


#: where OpenAI-style model lists state a model's context window: vLLM, OpenRouter, Groq and Together
CONTEXT_FIELDS = ("max_model_len", "context_length", "context_window")
MAX_CONTEXT_LENGTH = 1 << 30  # a larger number from a server is not believed


def model_context_lengths(data: Any) -> dict[str, int]:
    """``{id: tokens}`` for the entries of an OpenAI-style model list (``{"data": [...]}``) that state one."""
    items = data.get("data") if isinstance(data, dict) else None
    found: dict[str, int] = {}
    for m in items if isinstance(items, list) else ():
        if isinstance(m, dict) and isinstance(m.get("id"), str):
            n = next((v for f in CONTEXT_FIELDS if (v := as_int(m.get(f))) is not None), None)
            if n is not None and 0 < n <= MAX_CONTEXT_LENGTH:
                found[m["id"]] = n
    return found


def server_message(body: Any, text: str) -> tuple[str, str | None, str | None]:
    """(message, code, type) from the usual error shapes: OpenAI, Anthropic, Gemini, FastAPI, plain."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, str):
            return err, None, None
        if isinstance(err, dict):
            msg = err.get("message") or err.get("detail") or body.get("detail") or body.get("message")
            code = err.get("code")
            typ = err.get("type") or err.get("status")
            return (
                str(msg) if msg else json.dumps(err)[:300],
                str(code) if code is not None else None,
                str(typ) if typ is not None else None,
            )
    stripped = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    return stripped[:300], None, None


def json_schema_refused(status: int | None, message: str) -> bool:
    """An error answer refusing an OpenAI-style ``response_format`` / ``json_schema`` (then a type's next
    structured-output form is tried): a 400 or 422, llama-cpp-python's 500 carrying the request's validation error
    ("Input should be 'text' or 'json_object'"), or a proxy's error quoting it - LiteLLM translates each type's
    native form into ``response_format`` for the server behind it and answers 500 with that server's words."""
    low = message.lower()
    return status is not None and status >= 400 and ("response_format" in low or "json_schema" in low)


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:200].lower()
    return head.startswith("<!doctype html") or head.startswith("<html") or "<body" in head


#: the longest ``retry-after`` taken as it is: a longer hint says "a day" (and is never waited for)
MAX_RETRY_AFTER = 86400.0


def _seconds(value: float) -> float | None:
    """A server's hint in seconds, clamped to 0 .. one day; ``None`` for NaN."""
    return None if value != value else min(max(value, 0.0), MAX_RETRY_AFTER)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), clamped to 0 .. one
    day; ``None`` when absent or unreadable (NaN, garbage), so the usual backoff applies."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            seconds = _seconds(float(ms) / 1000)
            if seconds is not None:
                return seconds
        except ValueError:
            pass
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return _seconds(float(value))
    except ValueError:
        pass
    try:
        from datetime import datetime, timezone

        when = parsedate_to_datetime(value)
        if when.tzinfo is None:  # "-0000": UTC, as RFC 5322 says
            when = when.replace(tzinfo=timezone.utc)
        return _seconds((when - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


_EVENT_KINDS: dict[str, Kind] = {
    "authentication_error": "auth",
    "permission_error": "auth",
    "unauthenticated": "auth",
    "permission_denied": "auth",
    "not_found_error": "model_not_found",
    "rate_limit_error": "rate_limited",
    "rate_limit_exceeded": "rate_limited",
    "resource_exhausted": "rate_limited",
    "429": "rate_limited",
    "timeout_error": "timeout",
    "deadline_exceeded": "timeout",
}


def stream_error(data: Any) -> StreamErrorEvent:
    """The exception for an error event in a stream, whatever its shape.

    Shapes: OpenAI/Gemini ``{"error": {...}}``, Anthropic ``{"type": "error", "error": {...}}``,
    llama.cpp's ``error:`` field ``{"code", "message", "type"}``, or a bare string.
    """
    err = data.get("error", data) if isinstance(data, dict) else data
    if not isinstance(err, dict):
        return StreamErrorEvent(ErrorInfo("server_error", str(err)))
    message = str(err.get("message") or err.get("type") or err)
    code = err.get("type") or err.get("status") or err.get("code")
    kind = _EVENT_KINDS.get(str(code).lower(), "server_error")
    return StreamErrorEvent(ErrorInfo(kind, message, str(code) if code is not None else None))


def kind_for_status(status: int) -> Kind:
    if status in (401, 403):
        return "auth"
    if status == 404:
        return "bad_url"
    if status == 429:
        return "rate_limited"
    if status in (408, 504):
        return "timeout" if status == 408 else "server_error"
    if status >= 500:
        return "server_error"
    if status in (405,):
        return "bad_url"
    return "bad_response"


#: a 5xx that refuses what the request carries, not a failure of the server: llama.cpp's llama-server answers an
#: image (or audio) sent to a model without its projector with 500 "image input is not supported - hint: ..."
_INPUT_REFUSED = re.compile(r"\b(image|audio|video|file) input is not supported\b", re.I)


def classify_common(
    status: int, body: Any, text: str, headers: Mapping[str, str], model_words: tuple[str, ...] = ("model",)
) -> ErrorInfo:
    """The classification every protocol shares; adapters adjust it for their quirks."""
    message, code, typ = server_message(body, text)
    kind = kind_for_status(status)
    if status >= 500 and _INPUT_REFUSED.search(message):
        kind = "bad_response"  # the model takes no such input: asking again cannot help
    if status == 404 and isinstance(body, dict):
        low = f"{message} {code} {typ}".lower()
        if any(w in low for w in model_words):
            kind = "model_not_found"
    quota = status == 429 and "insufficient_quota" in f"{code} {typ}"
    return ErrorInfo(kind, message, code or typ, retry_after(headers), quota)
