"""Ollama's native API: ``/api/chat`` streamed as NDJSON, ``/api/tags``, ``/api/show``.

Shapes from Ollama's ``docs/api.md``, ``docs/api/*.mdx``, ``api/types.go`` and ``server/routes.go``, and
the official Python client (``ollama/_client.py``, ``ollama/_types.py``); tests/fakes/ollama.py lists
them with their sources. In short:

- ``POST /api/chat`` ``{"model", "messages", "stream", "options": {"temperature", "num_predict", "stop"}}``;
  ``stream`` defaults to true on the server, so it is always sent. A streamed answer is one JSON object
  a line (``application/x-ndjson``): ``{"message": {"content", "thinking"?}, "done": false}`` ... then
  ``{"done": true, "done_reason": "stop"|"length", "prompt_eval_count", "eval_count", ...}``. Not
  streamed, that last object alone, with the whole message. An error after the stream began is a line
  ``{"error": "..."}``; before, a status with ``{"error": "..."}``.
- ``GET /api/tags`` ``{"models": [{"name", "model", ...}]}``: no context lengths, no pages.
- ``POST /api/show`` ``{"model"}`` -> ``{"model_info": {"general.architecture": A, "A.context_length": N}}``.
- No key locally; ollama.com (and a proxy in front of Ollama) takes ``Authorization: Bearer KEY``, the
  header the official clients send from ``OLLAMA_API_KEY``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._attach import images_of
from .._types import Message, Usage
from ._base import (
    MAX_CONTEXT_LENGTH,
    SHAPE_ERRORS,
    ChatParams,
    Completion,
    Delta,
    ErrorInfo,
    HTTPRequest,
    Key,
    ProtocolError,
    as_int,
    classify_common,
    load_json,
    obj,
    reveal,
    shape_error,
    stream_error,
)
from ._spec import Endpoint, TypeSpec

if TYPE_CHECKING:
    from .._ndjson import NDJSONLine
    from .._sse import SSEEvent

__all__ = ["SPEC", "OllamaAdapter", "OllamaStreamParser", "resolve_ollama"]

NDJSON = "application/x-ndjson"


def _usage(data: dict[str, Any]) -> Usage:
    return Usage(as_int(data.get("prompt_eval_count")), as_int(data.get("eval_count")))


def _message(data: dict[str, Any]) -> tuple[str, str]:
    """(content, thinking) of an answer's ``message``; either may be absent (Go drops an empty
    ``thinking``), ``null`` or empty. Anything else but a string is the server's error."""
    message = data.get("message")
    if message is None:
        return "", ""
    text, thinking = message.get("content") or "", message.get("thinking") or ""
    if text.__class__ is not str or thinking.__class__ is not str:
        raise TypeError
    return text, thinking


def _done_reason(data: dict[str, Any]) -> str | None:
    reason = data.get("done_reason") or None
    if not (reason is None or reason.__class__ is str):
        raise TypeError
    return reason


class OllamaStreamParser:
    """NDJSON lines of ``/api/chat``; the stream is complete only after a ``"done": true`` line."""

    __slots__ = ("complete",)

    def __init__(self) -> None:
        self.complete = False

    def feed(self, event: NDJSONLine | SSEEvent) -> Delta | str | None:
        data = load_json(event.data)
        if not isinstance(data, dict):
            raise ProtocolError("a stream line is not a JSON object")
        if "error" in data:  # Ollama's error after the answer began (its status is already 200)
            raise stream_error(data)
        if self.complete:
            return None  # nothing counts after the last line
        try:  # costs nothing unless raised: a line of the wrong shape is the server's error, not a crash
            text, thinking = _message(data)
            done = data.get("done")
            if done is True:
                self.complete = True
                return Delta(text, thinking, _done_reason(data), _usage(data))
            if not (done is False or done is None):
                raise TypeError
        except SHAPE_ERRORS:
            raise shape_error("a stream line", event.data) from None
        if thinking:
            return Delta(text, thinking)
        return text or None  # text and nothing else, the usual line: no Delta built (StreamParser.feed)


def context_length(model_info: Any) -> int | None:
    """The context window ``/api/show`` states: ``model_info["<arch>.context_length"]`` where ``<arch>``
    is ``general.architecture`` (else the first ``*.context_length`` key); ``None`` if none is believable."""
    if not isinstance(model_info, dict):
        return None
    arch = model_info.get("general.architecture")
    candidates = [f"{arch}.context_length"] if isinstance(arch, str) else []
    candidates += [k for k in model_info if isinstance(k, str) and k.endswith(".context_length")]
    for name in candidates:
        n = as_int(model_info.get(name))
        if n is not None and 0 < n <= MAX_CONTEXT_LENGTH:
            return n
    return None


def _wire_message(m: Message) -> dict[str, Any]:
    """A message; its images go in ``images``, a list of base64 strings beside the text
    (github.com/ollama/ollama docs/api.md, "Chat request (with images)")."""
    out: dict[str, Any] = {"role": m["role"], "content": m["content"]}
    if images := images_of(m):
        out["images"] = [a.base64 for a in images]
    return out


class OllamaAdapter:
    type = "ollama"
    max_temperature = 2.0  # Ollama takes any temperature; the usual upper end is kept

    def chat_url(self, e: Endpoint, model: str, stream: bool) -> str:
        return e.base + "/api/chat"

    def _headers(self, e: Endpoint, key: Key, accept: str = "application/json") -> dict[str, str]:
        headers = {"content-type": "application/json", "accept": accept}
        if key:
            headers["authorization"] = "Bearer " + reveal(key)
        headers.update(e.headers)
        return headers

    def body(self, params: ChatParams, stream: bool) -> dict[str, Any]:
        system, turns = params.split_system()
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages += [_wire_message(m) for m in turns]
        # "stream" is always sent: the server streams when it is missing
        body: dict[str, Any] = {"model": params.model, "messages": messages, "stream": stream}
        options: dict[str, Any] = {}
        if params.temperature is not None:
            options["temperature"] = params.temperature
        if params.max_tokens is not None:
            options["num_predict"] = params.max_tokens
        if params.stop:
            options["stop"] = params.stop
        if options:
            body["options"] = options
        if params.schema is not None:  # structured output: ``format`` takes a JSON Schema (Ollama >= 0.5:
            body["format"] = params.schema.schema  # ollama.com/blog/structured-outputs, ollama-python ``format=``)
        return body

    def chat_request(self, e: Endpoint, key: Key, params: ChatParams, stream: bool) -> HTTPRequest:
        headers = self._headers(e, key, NDJSON if stream else "application/json")
        return HTTPRequest("POST", self.chat_url(e, params.model, stream), headers, self.body(params, stream))

    def models_request(self, e: Endpoint, key: Key, page: str | None) -> HTTPRequest:
        return HTTPRequest("GET", e.base + "/api/tags", self._headers(e, key))

    def parse_models(self, data: Any) -> tuple[list[str], str | None]:
        data = obj(data, "the model list")
        if "models" not in data:
            raise ProtocolError("the model list has no 'models' array")
        items = data["models"]
        if items is None:  # Go writes a nil slice as null: a server with no model pulled yet
            return [], None
        if not isinstance(items, list):
            raise ProtocolError("the model list has no 'models' array")
        ids = []
        for m in items:
            name = (m.get("name") or m.get("model")) if isinstance(m, dict) else None
            if isinstance(name, str) and name:
                ids.append(name)
        return ids, None  # /api/tags has no pages

    def show_request(self, e: Endpoint, key: Key, model: str) -> HTTPRequest:
        """``POST /api/show`` for one model: its details, and the context length (:meth:`parse_show`)."""
        return HTTPRequest("POST", e.base + "/api/show", self._headers(e, key), {"model": model})

    def parse_show(self, data: Any) -> int | None:
        """The context length in a ``/api/show`` answer, if it states a believable one."""
        return context_length(obj(data, "the model details").get("model_info"))

    def model_aliases(self, model: str) -> tuple[str, ...]:
        """The other name a listed model is asked for by: a name without a tag means ``:latest`` (docs/api.md
        "Model names"), so ``llama3.2`` added by hand gets the context length ``llama3.2:latest`` has."""
        base = model.removesuffix(":latest")
        return (base,) if base != model and base else ()

    def parse_completion(self, data: Any) -> Completion:
        data = obj(data, "the reply")
        if "error" in data and "message" not in data:
            raise ProtocolError(f"the server answered 200 with an error: {str(data['error'])[:200]}")
        if not isinstance(data.get("message"), dict):
            raise ProtocolError("the reply has no 'message'")
        if "content" not in data["message"]:  # Go writes it always (api/types.go Message: no omitempty)
            raise ProtocolError("the reply's message has no 'content'")
        try:
            text, thinking = _message(data)
            reason = _done_reason(data)
        except SHAPE_ERRORS:
            raise shape_error("the reply", data) from None
        if data.get("done") is False:  # one line of a stream: the answer was not finished
            raise ProtocolError("the reply is one unfinished piece of a stream ('done': false)")
        model = data.get("model")
        return Completion(text, thinking, reason, _usage(data), model if isinstance(model, str) else None)

    def stream_parser(self) -> OllamaStreamParser:
        return OllamaStreamParser()

    def classify_error(self, status: int, body: Any, text: str, headers: Mapping[str, str]) -> ErrorInfo:
        info = classify_common(status, body, text, headers)
        if status == 402:  # ollama.com: the plan's usage limit (the Ollama app reads a 402 so)
            return ErrorInfo("rate_limited", info.message, info.code, info.retry_after, quota=True)
        if status == 400 and info.message.strip().lower() == "invalid model name":
            return ErrorInfo("model_not_found", info.message, info.code)
        return info


def ollama_listing(data: Any) -> bool:
    """``/api/tags``: ``{"models": [{"name", "model", "modified_at", "size", "digest", ...}]}``, or ``null`` /
    ``[]`` on a server with no model pulled yet (api/types.go ``ListModelResponse``)."""
    if not isinstance(data, dict) or "models" not in data:
        return False
    items = data["models"]
    if items is None:
        return True
    return isinstance(items, list) and all(
        isinstance(m, dict)
        and isinstance(m.get("name") or m.get("model"), str)
        and not str(m.get("name", "")).startswith("models/")
        and ("digest" in m or "modified_at" in m)
        for m in items
    )


def resolve_ollama(address: str) -> str:
    """The root every ``/api/...`` path is appended to: the address (blank: the local server) without a
    trailing ``/``, ``/api`` (ollama.com's docs name ``https://ollama.com/api`` its API) or ``/v1``
    (Ollama's OpenAI-compatible root, the address people copy most). An address ending in ``#`` is
    taken exactly as typed, without the ``#``: a proxy whose prefix really is ``/api`` or ``/v1``."""
    text = address.strip() or SPEC.default_address
    if text.endswith("#"):
        return text[:-1]
    text = text.rstrip("/")
    for suffix in ("/api", "/v1"):
        text = text.removesuffix(suffix)
    return text.rstrip("/")


SPEC = TypeSpec(
    name="ollama",
    label="Ollama",
    adapter=OllamaAdapter(),
    default_address="http://localhost:11434",
    version_segment="",
    official_hosts=("ollama.com",),
    key_env_vars=("OLLAMA_API_KEY",),
    needs_key=False,
    placeholder="http://localhost:11434",
    address_hint="Ollama's own API (not its OpenAI-compatible /v1); https://ollama.com needs an API key",
    stream_format="ndjson",
    resolve=resolve_ollama,
    image_form="images",
    # its own API, then its OpenAI-compatible one under /v1 (the addresses people copy), which resolve drops
    endpoint_paths=(
        *(f"/api/{p}" for p in ("chat", "generate", "tags", "show", "embed", "embeddings", "ps", "version")),
        *(f"/{p}" for p in ("chat/completions", "completions", "models", "embeddings", "responses")),
    ),
    own_listing=ollama_listing,
)
