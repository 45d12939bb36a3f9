"""OpenAI's Responses API (``POST {base}/responses``), as OpenAI, vLLM and LiteLLM's proxy serve it.

The same service as Chat Completions (:mod:`.openai`): the same ``Authorization: Bearer`` key, the same
``GET {base}/models`` list and the same ``{"error": {"message", "type", "code"}}`` bodies, so those come
from :class:`~.openai.OpenAIAdapter`; only the chat request and its answer differ. Facts, from openai-python
``src/openai/types/responses/`` (``response.py``, ``response_*_event.py``, ``easy_input_message.py``):

- body: ``model``, ``input`` (a string or a list of messages ``{"type": "message", "role": "user"|"assistant"|
  "system"|"developer", "content": str}``; ``type`` is optional in OpenAI's schema but llama.cpp's llama-server
  refuses an assistant turn without it, 400 "Cannot determine type of 'item'", so it is always sent),
  ``instructions`` (the system prompt), ``max_output_tokens``, ``temperature``, ``stream``, ``store``
  (``false``: the history is ours, the service keeps no copy);
  OpenAI takes ``max_output_tokens`` from 16 up, so a smaller limit is raised to 16 there.
  There is no ``stop`` parameter (OpenAI answers 400 to unknown parameters), so stop sequences are not sent;
  no surface of the package takes stop sequences today (``chat()``, ``%%chat`` and the widgets have no such
  option; only ``ChatParams.stop`` does): one that adds them must refuse them for this type, not drop them;
- answer: ``{"object": "response", "status": "completed"|"incomplete"|"failed"|"in_progress"|...,
  "output": [{"type": "message", "content": [{"type": "output_text", "text"}|{"type": "refusal",
  "refusal"}]}, {"type": "reasoning", "content": [{"type": "reasoning_text", "text"}], "summary":
  [{"type": "summary_text", "text"}]}], "usage": {"input_tokens", "output_tokens", "total_tokens"},
  "incomplete_details": {"reason": "max_output_tokens"|"content_filter"}, "error": {"code", "message"}}``;
  a ``"failed"`` answer raises the error of its kind, as the stream's ``response.failed`` does;
- stream: ``event: NAME`` with the same ``type`` in the data (LiteLLM's proxy sends the data alone: the
  ``type`` is what counts); text in ``response.output_text.delta``
  (``delta``), reasoning in ``response.reasoning_text.delta`` (vLLM) or
  ``response.reasoning_summary_text.delta`` (OpenAI, LiteLLM's bridge); the stream ends with
  ``response.completed`` or ``response.incomplete`` (the whole response, with its usage) and has no
  ``[DONE]``; ``response.failed`` carries ``response.error``; an ``error`` event is documented flat
  (``{"type": "error", "code", "message", "param"}``) but OpenAI sends it nested (``{"type": "error",
  "error": {"type", "code", "message"}}``; openai-dotnet#881, openai-node#2020): both are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .._address import host_in
from .._attach import images_of
from .._types import Message, Usage
from ._base import (
    SHAPE_ERRORS,
    ChatParams,
    Completion,
    Delta,
    ErrorInfo,
    ProtocolError,
    StreamErrorEvent,
    as_int,
    load_json,
    obj,
    shape_error,
    stream_error,
)
from ._spec import TypeSpec
from .openai import OPENAI_HOSTS, OpenAIAdapter, openai_listing

if TYPE_CHECKING:
    from .._sse import SSEEvent
    from ._spec import Endpoint

__all__ = ["SPEC", "ResponsesAdapter", "ResponsesStreamParser", "parse_response"]

#: ``incomplete_details.reason`` -> the finish reason the package reports (Chat Completions' words)
_INCOMPLETE = {"max_output_tokens": "length", "content_filter": "content_filter"}
_REASONING_DELTAS = ("response.reasoning_text.delta", "response.reasoning_summary_text.delta")
_ENDS = ("response.completed", "response.incomplete")
#: OpenAI refuses ``max_output_tokens`` below 16 (400 ``integer_below_min_value``: vectorize-io/hindsight#58,
#: QuantumNous/new-api#2866); vLLM and LiteLLM take 1 (tests/vllm, tests/litellm), which verify sends
OPENAI_MIN_OUTPUT_TOKENS = 16


def _is_openai(e: Endpoint) -> bool:
    """The endpoint is OpenAI's own service (over http too: the limit is the server's, not a secret's)."""
    return host_in(e.address, OPENAI_HOSTS, https=False)


def _usage(u: Any) -> Usage:
    if not isinstance(u, dict):
        return Usage()
    return Usage(as_int(u.get("input_tokens")), as_int(u.get("output_tokens")))


def finish_reason(status: Any, details: Any) -> str | None:
    """``completed`` -> ``stop``; ``incomplete`` -> ``length`` (out of ``max_output_tokens``),
    ``content_filter``, or the server's own reason; anything else (``in_progress``, ...) -> ``None``."""
    if status == "completed":
        return "stop"
    if status != "incomplete":
        return None
    reason = details.get("reason") if isinstance(details, dict) else None
    return _INCOMPLETE.get(reason, reason) if isinstance(reason, str) and reason else "incomplete"


def _texts(parts: Any, kind: str, field: str = "text") -> str:
    if not isinstance(parts, list):
        return ""
    return "".join(
        p[field] for p in parts if isinstance(p, dict) and p.get("type") == kind and isinstance(p.get(field), str)
    )


def output_texts(output: Any) -> tuple[str, str]:
    """(text, reasoning) of a response's ``output`` items. A refusal is what the model said: it is text.
    Reasoning is the reasoning text where the server gives it (vLLM), else the summary (OpenAI)."""
    if not isinstance(output, list):
        raise ProtocolError("the reply has no 'output' array")
    text: list[str] = []
    reasoning: list[str] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            parts = item.get("content")
            text.append(_texts(parts, "output_text") + _texts(parts, "refusal", "refusal"))
        elif item.get("type") == "reasoning":
            said = _texts(item.get("content"), "reasoning_text")
            reasoning.append(said or _texts(item.get("summary"), "summary_text"))
    return "".join(text), "".join(reasoning)


def error_event(err: Any) -> StreamErrorEvent:
    """The exception for an ``error`` event or a failed response's ``error``: flat or nested (module doc)."""
    if isinstance(err, dict) and isinstance(err.get("error"), dict):
        inner = err["error"]
        err = {k: inner.get(k) or err.get(k) for k in ("message", "code", "type")}
    if err is None or err == "":
        return StreamErrorEvent(ErrorInfo("server_error", "the response failed (the server gave no reason)"))
    if not isinstance(err, dict):
        return stream_error(err)
    code = err.get("code") if err.get("code") is not None else err.get("type")
    message = str(err.get("message") or code or "the response failed")
    words = f"{code} {err.get('type')}".lower()
    if "insufficient_quota" in words:
        return StreamErrorEvent(ErrorInfo("rate_limited", message, str(code), quota=True))
    if "rate_limit" in words or "too_many_requests" in words:
        return StreamErrorEvent(ErrorInfo("rate_limited", message, str(code)))
    return stream_error({"message": message, "type": code})


def parse_response(data: Any) -> Completion:
    """A whole response object (a non-streamed answer, or the one a stream ends with)."""
    data = obj(data, "the reply")
    if "output" not in data and "error" in data:
        raise ProtocolError(f"the server answered 200 with an error: {str(data['error'])[:300]}")
    if data.get("status") == "failed":  # as a stream's response.failed: the error's kind (auth, rate, server)
        raise error_event(data.get("error"))
    text, reasoning = output_texts(data.get("output"))
    if not isinstance(data.get("status"), str):  # an item of an unknown type is skipped; a response has a status
        raise ProtocolError("the reply has no 'status'")
    model = data.get("model")
    return Completion(
        text=text,
        reasoning=reasoning,
        finish_reason=finish_reason(data.get("status"), data.get("incomplete_details")),
        usage=_usage(data.get("usage")),
        model=model if isinstance(model, str) else None,
    )


class ResponsesStreamParser:
    """Named events (module doc). Complete only after ``response.completed`` or ``response.incomplete``."""

    __slots__ = ("complete", "streamed")

    def __init__(self) -> None:
        self.complete = False
        self.streamed = False  # some text or reasoning came in deltas

    def feed(self, event: SSEEvent) -> Delta | str | None:
        data = load_json(event.data)
        if not isinstance(data, dict):
            raise ProtocolError("a stream event is not a JSON object")
        typ = data.get("type") or event.event
        if typ == "error" or event.event == "error" or data.get("error"):
            raise error_event(data)  # a top-level "error" too, as the SDK reads one (Chat Completions' shape)
        try:  # costs nothing unless raised: an event of the wrong shape is the server's error, not a crash
            if typ == "response.output_text.delta" or typ == "response.refusal.delta":
                delta = data["delta"]
                if delta.__class__ is not str:
                    raise TypeError
                self.streamed = True
                return delta  # text and nothing else: no Delta built (StreamParser.feed)
            if typ in _REASONING_DELTAS:
                delta = data["delta"]
                if delta.__class__ is not str:
                    raise TypeError
                self.streamed = True
                return Delta("", delta)
        except SHAPE_ERRORS:
            raise shape_error("a stream event", data) from None
        if typ == "response.failed":
            raise error_event(obj(data.get("response"), "the response.failed event's response").get("error"))
        if typ in _ENDS:
            response = obj(data.get("response"), f"the {typ} event's response")
            if self.streamed and not isinstance(response.get("output"), list):
                response = {**response, "output": []}  # the text came in deltas: a trimmed response will do
            final = parse_response({"status": typ.removeprefix("response."), **response})  # the event says it
            self.complete = True
            finish = final.finish_reason or ("stop" if typ == "response.completed" else "incomplete")
            if self.streamed:  # the deltas carried the text already
                return Delta("", "", finish, final.usage)
            return Delta(final.text, final.reasoning, finish, final.usage)  # a server that sent no deltas
        return None  # response.created, output_item/content_part events, *.done, and event types added later


def _content(m: Message) -> str | list[dict[str, Any]]:
    """A message's content: its text, or with images ``input_text`` and ``input_image`` parts, each image a data
    URI (platform.openai.com/docs/guides/images-vision, Responses tab; openai-python ``ResponseInputImageParam``)."""
    images = images_of(m)
    if not images:
        return m["content"]
    parts: list[dict[str, Any]] = [{"type": "input_text", "text": m["content"]}]
    return parts + [{"type": "input_image", "image_url": a.data_uri, "detail": "auto"} for a in images]


class ResponsesAdapter(OpenAIAdapter):
    """Chat through ``/responses``; the key, the model list and error bodies as :class:`OpenAIAdapter`."""

    def chat_url(self, e: Endpoint, model: str, stream: bool) -> str:
        return e.base + "/responses"

    def body(self, e: Endpoint, params: ChatParams, stream: bool) -> dict[str, Any]:
        system, turns = params.split_system()
        body: dict[str, Any] = {
            "model": params.model,
            "input": [{"type": "message", "role": m["role"], "content": _content(m)} for m in turns],
            "store": False,
        }
        if system:
            body["instructions"] = system
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.max_tokens is not None:
            low = OPENAI_MIN_OUTPUT_TOKENS if _is_openai(e) else 0
            body["max_output_tokens"] = max(params.max_tokens, low)
        if stream:
            body["stream"] = True
        if (out := params.schema) is not None:  # structured output: ``text.format`` (openai-python
            # types/responses/response_format_text_json_schema_config_param.py: type, name, schema, strict)
            fmt = {"type": "json_schema", "name": out.name, "schema": out.schema, "strict": out.strict}
            body["text"] = {"format": {"type": "json_object"} if params.schema_form == "json_object" else fmt}
        return body

    def parse_completion(self, data: Any) -> Completion:
        return parse_response(data)

    def classify_error(self, status: int, body: Any, text: str, headers: Mapping[str, str]) -> ErrorInfo:
        """OpenAI's, and an unknown model whatever the status: OpenAI answered one with 400 ``model_not_found``
        before it moved to 404 (LiteLLM#39457); LiteLLM's proxy answers 400 "Invalid model name passed in
        model=X" (tests/litellm)."""
        info = super().classify_error(status, body, text, headers)
        if info.code == "model_not_found" or (status == 400 and "invalid model name" in info.message.lower()):
            return replace(info, kind="model_not_found")
        return info

    def stream_parser(self) -> ResponsesStreamParser:
        return ResponsesStreamParser()


SPEC = TypeSpec(
    name="openai-responses",
    label="OpenAI Responses API",
    adapter=ResponsesAdapter(),
    aliases=("responses", "openai-response"),
    default_address="https://api.openai.com",
    version_segment="/v1",
    official_hosts=OPENAI_HOSTS,
    key_env_vars=("OPENAI_API_KEY",),
    placeholder="https://api.openai.com",
    address_hint="OpenAI, or a server that speaks its Responses API (/v1/responses: vLLM, LiteLLM's proxy, ...)",
    events_repeat_reply=True,  # output_text.done, content_part.done, output_item.done, response.completed
    image_form="input_image",
    endpoint_paths=("/responses", "/models"),
    own_listing=openai_listing,  # the same list as Chat Completions: store.detect asks the route itself
    lists_every_model=True,  # the same /v1/models as Chat Completions, on the same servers
)
