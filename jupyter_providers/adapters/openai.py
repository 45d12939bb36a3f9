"""OpenAI Chat Completions, as served by OpenAI, vLLM, llama.cpp, Ollama, LiteLLM, ..."""

from __future__ import annotations

from collections.abc import Mapping
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
    HTTPRequest,
    Key,
    ProtocolError,
    StreamParser,
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

__all__ = ["OPENAI_HOSTS", "SPEC", "OpenAIAdapter", "OpenAIStreamParser", "openai_listing", "parse_openai_completion"]

#: OpenAI's own service: ``$OPENAI_API_KEY`` is sent only there
OPENAI_HOSTS = ("api.openai.com", ".api.openai.com")


def openai_listing(data: Any) -> bool:
    """An OpenAI model list: ``{"object": "list", "data": [{"id": ...}, ...]}`` (OpenAI, vLLM, llama.cpp,
    LiteLLM, Ollama's ``/v1``, Azure's ``/openai/models`` all write ``object``)."""
    if not isinstance(data, dict) or data.get("object") != "list" or not isinstance(data.get("data"), list):
        return False
    return all(isinstance(m, dict) and isinstance(m.get("id"), str) for m in data["data"])


def _usage(u: Any) -> Usage | None:
    if not isinstance(u, dict):
        return None
    return Usage(as_int(u.get("prompt_tokens")), as_int(u.get("completion_tokens")))


def _reasoning(d: dict[str, Any]) -> str:
    r = d.get("reasoning_content") or d.get("reasoning")
    return r if isinstance(r, str) else ""


def parse_openai_completion(data: Any) -> Completion:
    """A ``chat.completion``: its first choice must carry a ``message`` whose ``content`` is a string, or ``null``
    beside what the message says instead (``tool_calls``, ``refusal``, reasoning) or a ``finish_reason`` (a reply
    cut before any text); ``{"choices": [{}]}`` is no answer (openai-python ``types/chat/chat_completion.py``)."""
    data = obj(data, "the reply")
    if "error" in data and "choices" not in data:
        raise ProtocolError(f"the server answered 200 with an error: {data['error']}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ProtocolError("the reply has no 'choices'")
    choice = obj(choices[0], "choices[0]")
    if not isinstance(choice.get("message"), dict):
        raise ProtocolError("the reply's choices[0] has no 'message'")
    message, finish = choice["message"], choice.get("finish_reason")
    content = message.get("content")
    if not (finish is None or isinstance(finish, str)) or not (content is None or isinstance(content, str)):
        raise shape_error("choices[0]", choice)
    other = message.get("tool_calls") or message.get("refusal") or _reasoning(message) or finish
    if content is None and not other:
        raise ProtocolError("the reply's message has no 'content' (and no tool calls, refusal or finish reason)")
    return Completion(
        text=content or "",
        reasoning=_reasoning(message),
        finish_reason=finish,
        usage=_usage(data.get("usage")) or Usage(),
        model=data.get("model"),
    )


class OpenAIStreamParser:
    """``data:`` chunks with ``choices[0].delta``, a usage chunk with ``choices: []``, then ``[DONE]``."""

    __slots__ = ("complete",)

    def __init__(self) -> None:
        self.complete = False

    def feed(self, event: SSEEvent) -> Delta | str | None:
        data = event.data
        if data == "[DONE]":
            self.complete = True
            return None
        chunk = load_json(data)
        if not isinstance(chunk, dict):
            raise ProtocolError("a stream chunk is not a JSON object")
        if event.event == "error" or "error" in chunk:
            raise stream_error(chunk)
        # One Delta built in one call (this runs once per streamed chunk).
        usage = chunk.get("usage")
        usage = _usage(usage) if usage is not None else None
        choices = chunk.get("choices")
        if not choices:
            return Delta("", "", None, usage)  # the usage chunk (``choices: []``)
        try:  # costs nothing unless raised: a chunk of the wrong shape is the server's error, not a crash
            choice = choices[0]
            d = choice.get("delta") or {}
            text, finish = d.get("content") or "", choice.get("finish_reason") or None
            if text.__class__ is not str or not (finish is None or finish.__class__ is str):
                raise TypeError
        except SHAPE_ERRORS:
            raise shape_error("a stream chunk", data) from None
        reasoning = _reasoning(d)
        if not (reasoning or finish or usage):
            return text  # text and nothing else, the usual chunk: no Delta built (StreamParser.feed)
        return Delta(text, reasoning, finish, usage)


def openai_content(m: Message) -> str | list[dict[str, Any]]:
    """A message's content: its text, or with images content parts, each image an ``image_url`` data URI
    (platform.openai.com/docs/guides/images-vision; openai-python ``ChatCompletionContentPartImageParam``)."""
    images = images_of(m)
    if not images:
        return m["content"]
    parts: list[dict[str, Any]] = [{"type": "text", "text": m["content"]}]
    return parts + [{"type": "image_url", "image_url": {"url": a.data_uri}} for a in images]


class OpenAIAdapter:
    def chat_url(self, e: Endpoint, model: str, stream: bool) -> str:
        return e.base + "/chat/completions"

    def auth_headers(self, key: Key) -> dict[str, str]:
        return {"authorization": "Bearer " + reveal(key)} if key else {}

    def max_tokens_field(self, e: Endpoint) -> str:
        """OpenAI deprecates ``max_tokens`` and its reasoning models (o-series, GPT-5) refuse it;
        compatible servers (Ollama, older vLLM) read only ``max_tokens``."""
        return "max_completion_tokens" if host_in(e.address, OPENAI_HOSTS, https=False) else "max_tokens"

    def body(self, e: Endpoint, params: ChatParams, stream: bool) -> dict[str, Any]:
        system, turns = params.split_system()
        messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
        messages += [{"role": m["role"], "content": openai_content(m)} for m in turns]
        body: dict[str, Any] = {"model": params.model, "messages": messages}
        if params.temperature is not None:
            body["temperature"] = params.temperature
        if params.max_tokens is not None:
            body[self.max_tokens_field(e)] = params.max_tokens
        if params.stop:
            body["stop"] = params.stop
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if params.schema is not None:
            body["response_format"] = self.response_format(params.schema, params.schema_form)
        return body

    #: structured output, in the order tried (the client falls back on a refusal and remembers the form taken):
    #: ``json_schema`` is OpenAI's (openai-python ``types/shared_params/response_format_json_schema.py``: name,
    #: schema, strict), which vLLM (guided decoding) and llama.cpp's server take too; llama-cpp-python's server
    #: refuses it (422 "Input should be 'text' or 'json_object'") and takes ``{"type": "json_object", "schema"}``
    #: (llama_cpp/server/types.py ``ChatCompletionRequestResponseFormat``)
    schema_forms = ("json_schema", "json_object")

    def response_format(self, out: OutputSchema, form: str | None) -> dict[str, Any]:
        if form == "json_object":
            return {"type": "json_object", "schema": out.schema}
        return {"type": "json_schema", "json_schema": {"name": out.name, "schema": out.schema, "strict": out.strict}}

    def schema_refused(self, form: str | None, status: int | None, message: str) -> bool:
        """Whether an error answer refuses the ``response_format`` form itself (then the next form is tried):
        a 400 or 422, or llama-cpp-python's server's 500 carrying the request's validation error."""
        return json_schema_refused(status, message)

    def chat_request(self, e: Endpoint, key: Key, params: ChatParams, stream: bool) -> HTTPRequest:
        headers = base_headers(e, self.auth_headers(key))
        if stream:
            headers["accept"] = "text/event-stream"
        return HTTPRequest("POST", self.chat_url(e, params.model, stream), headers, self.body(e, params, stream))

    def models_url(self, e: Endpoint) -> str:
        return e.base + "/models"

    def models_request(self, e: Endpoint, key: Key, page: str | None) -> HTTPRequest:
        return HTTPRequest("GET", self.models_url(e), base_headers(e, self.auth_headers(key)))

    def parse_models(self, data: Any) -> tuple[list[str], str | None]:
        items = obj(data, "the model list").get("data")
        if not isinstance(items, list):
            raise ProtocolError("the model list has no 'data' array")
        return [str(m["id"]) for m in items if isinstance(m, dict) and m.get("id")], None

    def parse_completion(self, data: Any) -> Completion:
        return parse_openai_completion(data)

    def stream_parser(self) -> StreamParser:
        return OpenAIStreamParser()

    def classify_error(self, status: int, body: Any, text: str, headers: Mapping[str, str]) -> ErrorInfo:
        info = classify_common(status, body, text, headers, ("model", "does not exist"))
        low = info.message.lower()
        if status >= 500 and "validation error" in low and "'body'" in low:
            # llama-cpp-python's server answers 500 with the request's own validation error ("1 validation error:
            # {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), ...}"): the request is refused,
            # and sending it again cannot help
            return ErrorInfo("bad_response", info.message, info.code)
        return info


SPEC = TypeSpec(
    name="openai",
    label="OpenAI",
    adapter=OpenAIAdapter(),
    aliases=("openai-compatible", "openai_compatible"),
    default_address="https://api.openai.com",
    official_hosts=OPENAI_HOSTS,
    key_env_vars=("OPENAI_API_KEY",),
    placeholder="https://api.openai.com",
    address_hint="OpenAI, or any server that speaks its Chat Completions API (vLLM, llama.cpp, LiteLLM, ...)",
    image_form="image_url",
    endpoint_paths=("/chat/completions", "/completions", "/models", "/embeddings"),
    own_listing=openai_listing,
    lists_every_model=True,  # llama-cpp-python's and llama.cpp's servers answer any name with their model
)
