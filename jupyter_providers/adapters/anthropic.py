"""Anthropic Messages API: ``x-api-key``, a top-level system prompt, named SSE events."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .._attach import images_of
from .._types import Message, Usage
from ._base import (
    SHAPE_ERRORS,
    ChatParams,
    Completion,
    Delta,
    ErrorInfo,
    HTTPRequest,
    Key,
    ProtocolError,
    as_int,
    base_headers,
    classify_common,
    json_schema_refused,
    load_json,
    obj,
    reveal,
    shape_error,
    stream_error,
)
from ._spec import TypeSpec

if TYPE_CHECKING:
    from .._schema_out import OutputSchema
    from .._sse import SSEEvent
    from ._spec import Endpoint

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "SPEC",
    "AnthropicAdapter",
    "AnthropicStreamParser",
]

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096  # the API requires max_tokens


#: Nearly every event of a stream is a text delta, and Anthropic writes each one in exactly this compact
#: form. When the whole data matches and the text holds no escape, quote or control character, the
#: match IS the decoded JSON string (json.loads would give the same), so the JSON decoder is skipped:
#: 0.25 instead of 0.75 µs an event (benchmarks/streaming.py), and the text goes on as a plain str.
#: Anything else takes the general path.
_TEXT_DELTA = re.compile(
    r'\{"type":"content_block_delta","index":(?:0|[1-9][0-9]*),'
    r'"delta":\{"type":"text_delta","text":"([^"\\\x00-\x1f]*)"\}\}'
).fullmatch


def input_tokens(usage: Mapping[str, Any]) -> int | None:
    """The prompt's tokens: Anthropic counts those read from its prompt cache and those written to it apart from
    ``input_tokens`` (docs.claude.com, prompt caching: the three add up to the whole input), and llama-server
    reports the prompt it reused so (``cache_read_input_tokens``). Their sum, as OpenAI's ``prompt_tokens``
    includes its cached tokens; ``None`` without ``input_tokens``."""
    inp = as_int(usage.get("input_tokens"))
    if inp is None:
        return None
    cached = (as_int(usage.get(k)) for k in ("cache_creation_input_tokens", "cache_read_input_tokens"))
    return inp + sum(n for n in cached if n is not None and n > 0)


def anthropic_listing(data: Any) -> bool:
    """Anthropic's model list: ``{"data": [{"type": "model", "id": ...}], "has_more": bool, ...}``
    (an OpenAI list has ``object`` and no ``has_more``)."""
    if not isinstance(data, dict) or not isinstance(data.get("has_more"), bool) or "object" in data:
        return False
    items = data.get("data")
    return isinstance(items, list) and all(
        isinstance(m, dict) and m.get("type") == "model" and isinstance(m.get("id"), str) for m in items
    )


class AnthropicStreamParser:
    __slots__ = ("complete", "input_tokens", "output_tokens", "tool_blocks")

    def __init__(self) -> None:
        self.complete = False
        self.tool_blocks: set[Any] = set()  # indices of tool_use blocks (structured output's forced tool)
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None

    def feed(self, event: SSEEvent) -> Delta | str | None:
        m = _TEXT_DELTA(event.data)
        if m is not None and event.event != "error":
            return m[1]  # text and nothing else: no Delta built (StreamParser.feed)
        return self.feed_json(event)

    def feed_json(self, event: SSEEvent) -> Delta | None:
        """Any event, through the JSON decoder (what :meth:`feed` does when its fast path does not apply)."""
        data = load_json(event.data)
        if not isinstance(data, dict):
            raise ProtocolError("a stream event is not a JSON object")
        typ = data.get("type") or event.event
        if event.event == "error":
            typ = "error"
        try:  # costs nothing unless raised: an event of the wrong shape is the server's error, not a crash
            if typ == "content_block_delta":
                d = data.get("delta") or {}
                dt = d.get("type")
                if dt == "text_delta":  # nearly every event: first, with positional arguments
                    text = d.get("text") or ""
                    if text.__class__ is str:
                        return Delta(text)
                    raise TypeError
                if dt == "thinking_delta":
                    thinking = d.get("thinking") or ""
                    if thinking.__class__ is str:
                        return Delta("", thinking)
                    raise TypeError
                if dt == "input_json_delta" and data.get("index") in self.tool_blocks:
                    part = d.get("partial_json") or ""  # the forced tool's input (structured output): the text
                    if part.__class__ is str:
                        return Delta(part)
                    raise TypeError
                return None
            if typ == "content_block_start" and (data.get("content_block") or {}).get("type") == "tool_use":
                self.tool_blocks.add(data.get("index"))
                return None
            if typ == "message_start":
                usage = (data.get("message") or {}).get("usage") or {}
                self.input_tokens = input_tokens(usage)
                self.output_tokens = as_int(usage.get("output_tokens"))
                return Delta(usage=Usage(self.input_tokens, self.output_tokens))
            if typ == "message_delta":
                usage = data.get("usage") or {}
                out = as_int(usage.get("output_tokens"))
                self.output_tokens = out if out is not None else self.output_tokens
                inp = input_tokens(usage)
                self.input_tokens = inp if inp is not None else self.input_tokens
                stop = (data.get("delta") or {}).get("stop_reason")
                if not (stop is None or isinstance(stop, str)):
                    raise TypeError
                return Delta(finish_reason=stop, usage=Usage(self.input_tokens, self.output_tokens))
        except SHAPE_ERRORS:
            raise shape_error("a stream event", data) from None
        if typ == "message_stop":
            self.complete = True
            return None
        if typ == "error":
            raise stream_error(data)
        return None  # ping, content_block_start/stop, and event types added later


def _content(m: Message) -> str | list[dict[str, Any]]:
    """A message's content: its text, or with images base64 ``image`` blocks then the text, the order Anthropic
    advises (docs.anthropic.com/en/docs/build-with-claude/vision; anthropic-sdk ``ImageBlockParam``)."""
    images = images_of(m)
    if not images:
        return m["content"]
    blocks: list[dict[str, Any]] = [
        {"type": "image", "source": {"type": "base64", "media_type": a.mime, "data": a.base64}} for a in images
    ]
    return [*blocks, {"type": "text", "text": m["content"]}]


class AnthropicAdapter:
    def chat_url(self, e: Endpoint, model: str, stream: bool) -> str:
        return e.base + "/messages"

    def _headers(self, e: Endpoint, key: Key) -> dict[str, str]:
        extra = {"anthropic-version": API_VERSION}
        if key:
            extra["x-api-key"] = reveal(key)
        return base_headers(e, extra)

    def chat_request(self, e: Endpoint, key: Key, params: ChatParams, stream: bool) -> HTTPRequest:
        system, turns = params.split_system()
        body: dict[str, Any] = {
            "model": params.model,
            "max_tokens": params.max_tokens if params.max_tokens is not None else DEFAULT_MAX_TOKENS,
            "messages": [{"role": m["role"], "content": _content(m)} for m in turns],
        }
        if system:
            body["system"] = system
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.stop:
            body["stop_sequences"] = params.stop
        if params.schema is not None:
            body.update(self.schema_fields(params.schema, params.schema_form))
        headers = self._headers(e, key)
        if stream:
            body["stream"] = True
            headers["accept"] = "text/event-stream"
        return HTTPRequest("POST", self.chat_url(e, params.model, stream), headers, body)

    #: structured output, in the order tried: ``output_config.format`` (GA, no beta header: Anthropic's
    #: "Structured outputs" guide, platform.claude.com/docs/en/build-with-claude/structured-outputs, and
    #: anthropic-sdk-python ``types/output_config_param.py`` / ``json_output_format_param.py``; the JSON is the
    #: text block), then, where a server or model refuses it (older models, proxies), a forced tool call whose
    #: ``tool_use.input`` is the value (``tools`` + ``tool_choice: {"type": "tool", "name"}``)
    schema_forms = ("output_config", "tool")

    def schema_fields(self, out: OutputSchema, form: str | None) -> dict[str, Any]:
        if form == "tool":
            tool = {
                "name": out.name,
                "description": "Give the answer as this tool's input.",
                "input_schema": out.schema,
            }
            return {"tools": [tool], "tool_choice": {"type": "tool", "name": out.name}}
        return {"output_config": {"format": {"type": "json_schema", "schema": out.schema}}}

    def schema_refused(self, form: str | None, status: int | None, message: str) -> bool:
        """Anthropic's 400 naming the form; or a proxy's error of any status (LiteLLM's /v1/messages answers
        500) quoting the OpenAI-style ``response_format`` / ``json_schema`` it translated the form into, which
        the server behind it refused (llama-cpp-python's "Input should be 'text' or 'json_object'")."""
        low = message.lower()
        if status == 400 and any(w in low for w in ("output_config", "output_format", "structured output")):
            return True
        return json_schema_refused(status, message)

    def models_request(self, e: Endpoint, key: Key, page: str | None) -> HTTPRequest:
        query = {"limit": "1000", **({"after_id": page} if page else {})}
        return HTTPRequest("GET", f"{e.base}/models?{urlencode(query)}", self._headers(e, key))

    def parse_models(self, data: Any) -> tuple[list[str], str | None]:
        data = obj(data, "the model list")
        items = data.get("data")
        if not isinstance(items, list):
            raise ProtocolError("the model list has no 'data' array")
        ids = [str(m["id"]) for m in items if isinstance(m, dict) and m.get("id")]
        more = data.get("has_more") and data.get("last_id")
        return ids, str(data["last_id"]) if more else None

    def parse_completion(self, data: Any) -> Completion:
        data = obj(data, "the reply")
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise ProtocolError("the reply has no 'content' array")
        if data.get("type", "message") != "message" or data.get("role", "assistant") != "assistant":
            raise ProtocolError("the reply is not an assistant's message")
        if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in blocks):
            raise ProtocolError("a content block of the reply has no 'type'")
        if not blocks and not isinstance(data.get("stop_reason"), str):
            raise ProtocolError("the reply has no content and no stop reason")
        try:
            text = "".join(b.get("text", "") for b in blocks if isinstance(b, dict) and b.get("type") == "text")
            if not text:  # a forced tool call (structured output): its input is the answer
                inputs = [b.get("input") for b in blocks if isinstance(b, dict) and b.get("type") == "tool_use"]
                text = json.dumps(inputs[0]) if inputs else ""
            thinking = "".join(
                b.get("thinking", "") for b in blocks if isinstance(b, dict) and b.get("type") == "thinking"
            )
            usage = data.get("usage") or {}
            stop = data.get("stop_reason")
            if not (stop is None or isinstance(stop, str)):
                raise TypeError
            return Completion(
                text=text,
                reasoning=thinking,
                finish_reason=stop,
                usage=Usage(input_tokens(usage), as_int(usage.get("output_tokens"))),
                model=data.get("model"),
            )
        except SHAPE_ERRORS:
            raise shape_error("the reply", data) from None

    def stream_parser(self) -> AnthropicStreamParser:
        return AnthropicStreamParser()

    def classify_error(self, status: int, body: Any, text: str, headers: Mapping[str, str]) -> ErrorInfo:
        info = classify_common(status, body, text, headers)
        low = info.message.lower()
        if status in (400, 429) and ("usage limit" in low or "credit balance" in low):
            # spend limit reached or no credit left: retrying cannot help
            return ErrorInfo("rate_limited", info.message, info.code, info.retry_after, quota=True)
        if status == 529:
            return ErrorInfo("server_error", info.message, info.code, info.retry_after)
        if status == 404 and info.code == "not_found_error" and "model" not in info.message.lower():
            return ErrorInfo("bad_url", info.message, info.code)
        return info


SPEC = TypeSpec(
    name="anthropic",
    label="Anthropic",
    adapter=AnthropicAdapter(),
    aliases=("claude",),
    default_address="https://api.anthropic.com",
    official_hosts=("api.anthropic.com",),
    key_env_vars=("ANTHROPIC_API_KEY",),
    max_temperature=1.0,  # the Messages API answers 400 above 1
    placeholder="https://api.anthropic.com",
    address_hint="Anthropic's Messages API, or a proxy that speaks it",
    image_form="image",
    endpoint_paths=("/messages", "/messages/count_tokens", "/complete", "/models"),
    own_listing=anthropic_listing,
)
