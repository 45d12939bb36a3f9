"""Google Gemini (Generative Language API v1beta): ``x-goog-api-key``, contents/parts, SSE chunks.

The key travels in a header, never in the URL. A bad key is a 400 ``API_KEY_INVALID``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

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
    from .._sse import SSEEvent
    from ._spec import Endpoint

__all__ = ["SPEC", "GeminiAdapter", "GeminiStreamParser", "parse_gemini_response"]


def _model_path(model: str) -> str:
    return quote(model.removeprefix("models/"), safe="{}-._~")


def gemini_listing(data: Any) -> bool:
    """Gemini's model list: ``{"models": [{"name": "models/...", ...}, ...]}``, never empty (Google lists its own)."""
    items = data.get("models") if isinstance(data, dict) else None
    return (
        isinstance(items, list)
        and bool(items)
        and all(isinstance(m, dict) and str(m.get("name", "")).startswith("models/") for m in items)
    )


def parse_gemini_response(data: Any, whole: bool = True) -> Completion:
    """A ``GenerateContentResponse``. A ``whole`` answer has a candidate with its ``content.parts`` or a
    ``finishReason``, or the prompt's ``blockReason``; a stream's chunk may carry only the usage."""
    data = obj(data, "the reply")
    if "error" in data and "candidates" not in data:
        raise ProtocolError(f"the server answered 200 with an error: {data['error']}")
    try:  # costs nothing unless raised: an answer of the wrong shape is the server's error, not a crash
        meta = data.get("usageMetadata") or {}
        usage = Usage(as_int(meta.get("promptTokenCount")), as_int(meta.get("candidatesTokenCount")))
        candidates = data.get("candidates")
        if not candidates:
            block = (data.get("promptFeedback") or {}).get("blockReason")
            if block:
                return Completion("", finish_reason=f"blocked: {block}", usage=usage)
            if meta and not whole:
                return Completion("", usage=usage)
            raise ProtocolError("the reply has no 'candidates'")
        cand = obj(candidates[0], "candidates[0]")
        content = cand.get("content")
        if (
            whole
            and not isinstance(cand.get("finishReason"), str)
            and not (isinstance(content, dict) and isinstance(content.get("parts"), list))
        ):  # a candidate carries its content, or says why it has none (SAFETY, MAX_TOKENS, ...)
            raise ProtocolError("the reply's candidates[0] has no content and no finish reason")
        parts = (content or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and not p.get("thought"))
        thought = "".join(p.get("text", "") for p in parts if isinstance(p, dict) and p.get("thought"))
        finish = cand.get("finishReason")
        if not (finish is None or isinstance(finish, str)):
            raise TypeError
    except SHAPE_ERRORS:
        raise shape_error("the reply", data) from None
    return Completion(text, thought, finish, usage, data.get("modelVersion"))


class GeminiStreamParser:
    """Every chunk is a whole response holding the next piece; the stream ends when the connection closes."""

    __slots__ = ("complete",)

    def __init__(self) -> None:
        self.complete = False

    def feed(self, event: SSEEvent) -> Delta | None:
        data = load_json(event.data)
        if event.event == "error" or (isinstance(data, dict) and "error" in data):
            raise stream_error(data)
        c = parse_gemini_response(data, whole=False)
        if c.finish_reason:
            self.complete = True
        has_usage = c.usage.input_tokens is not None or c.usage.output_tokens is not None
        return Delta(c.text, c.reasoning, c.finish_reason, c.usage if has_usage else None)


def _parts(m: Message) -> list[dict[str, Any]]:
    """A message's parts: its text, then each image as an ``inline_data`` part of base64 bytes
    (ai.google.dev/gemini-api/docs/image-understanding, REST: ``inline_data: {mime_type, data}``)."""
    parts: list[dict[str, Any]] = [{"text": m["content"]}]
    return parts + [{"inline_data": {"mime_type": a.mime, "data": a.base64}} for a in images_of(m)]


class GeminiAdapter:
    #: structured output, in the order tried: ``responseJsonSchema`` with the JSON MIME type, then, where a
    #: server refuses the schema (a proxy in front of a server without JSON Schema), the MIME type alone: JSON of
    #: any shape, which the client validates against the schema (``SchemaError`` when it does not match)
    schema_forms = ("schema", "json")

    def schema_refused(self, form: str | None, status: int | None, message: str) -> bool:
        low = message.lower()
        return json_schema_refused(status, message) or (status == 400 and "responsejsonschema" in low)

    def chat_url(self, e: Endpoint, model: str, stream: bool) -> str:
        verb = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{e.base}/models/{_model_path(model)}:{verb}"

    def _headers(self, e: Endpoint, key: Key) -> dict[str, str]:
        return base_headers(e, {"x-goog-api-key": reveal(key)} if key else {})

    def chat_request(self, e: Endpoint, key: Key, params: ChatParams, stream: bool) -> HTTPRequest:
        system, turns = params.split_system()
        body: dict[str, Any] = {
            "contents": [{"role": "model" if m["role"] == "assistant" else "user", "parts": _parts(m)} for m in turns]
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        config: dict[str, Any] = {}
        if params.temperature is not None:
            config["temperature"] = params.temperature
        if params.max_tokens is not None:
            config["maxOutputTokens"] = params.max_tokens
        if params.stop:
            config["stopSequences"] = params.stop
        if params.schema is not None:
            # structured output: ``responseJsonSchema`` takes JSON Schema as it is (``responseSchema`` takes only
            # Google's OpenAPI subset), with ``responseMimeType: application/json`` (ai.google.dev/gemini-api/docs/
            # structured-output; google-genai ``GenerateContentConfig.response_json_schema``)
            config["responseMimeType"] = "application/json"
            if params.schema_form != "json":  # the fallback: JSON of any shape, validated against the schema
                config["responseJsonSchema"] = params.schema.schema
        if config:
            body["generationConfig"] = config
        headers = self._headers(e, key)
        if stream:
            headers["accept"] = "text/event-stream"
        return HTTPRequest("POST", self.chat_url(e, params.model, stream), headers, body)

    def models_request(self, e: Endpoint, key: Key, page: str | None) -> HTTPRequest:
        query = {"pageSize": "1000", **({"pageToken": page} if page else {})}
        return HTTPRequest("GET", f"{e.base}/models?{urlencode(query)}", self._headers(e, key))

    def parse_models(self, data: Any) -> tuple[list[str], str | None]:
        data = obj(data, "the model list")
        items = data.get("models", [])
        if not isinstance(items, list):
            raise ProtocolError("the model list has no 'models' array")
        try:
            ids = [
                str(m["name"]).removeprefix("models/")
                for m in items
                if isinstance(m, dict)
                and m.get("name")
                and "generateContent" in (m.get("supportedGenerationMethods") or ["generateContent"])
            ]
        except SHAPE_ERRORS:
            raise shape_error("the model list", data) from None
        token = data.get("nextPageToken") or None
        if not (token is None or isinstance(token, str)):
            raise ProtocolError("the model list's 'nextPageToken' is not a string")
        return ids, token

    def parse_completion(self, data: Any) -> Completion:
        return parse_gemini_response(data)

    def stream_parser(self) -> GeminiStreamParser:
        return GeminiStreamParser()

    def classify_error(self, status: int, body: Any, text: str, headers: Mapping[str, str]) -> ErrorInfo:
        info = classify_common(status, body, text, headers, ("models/", "model"))
        err = body.get("error") if isinstance(body, dict) else None
        if not isinstance(err, dict):
            return info
        details = err.get("details")  # a list of objects, if the server keeps to the format
        details = [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []
        reasons = [d.get("reason") for d in details]
        if "API_KEY_INVALID" in reasons or (status == 400 and "api key not valid" in info.message.lower()):
            return ErrorInfo("auth", info.message, "API_KEY_INVALID")
        delay = next(
            (d.get("retryDelay") for d in details if d.get("retryDelay")),
            None,
        )
        retry = info.retry_after
        if retry is None and isinstance(delay, str) and re.fullmatch(r"\d+(\.\d+)?s", delay):
            retry = float(delay[:-1])
        kind = info.kind
        if status == 404 and not any(w in info.message.lower() for w in ("model", "models/")):
            kind = "bad_url"
        # A daily quota will not come back in a few seconds: report it, do not retry.
        quota_ids = [
            str(v.get("quotaId", ""))
            for d in details
            if isinstance(d.get("violations"), list)
            for v in d["violations"]
            if isinstance(v, dict)
        ]
        quota = status == 429 and any("PerDay" in q for q in quota_ids)
        return ErrorInfo(kind, info.message, info.code, retry, quota)


SPEC = TypeSpec(
    name="gemini",
    label="Gemini",
    adapter=GeminiAdapter(),
    aliases=("google", "google-gemini"),
    default_address="https://generativelanguage.googleapis.com",
    version_segment="/v1beta",
    official_hosts=("generativelanguage.googleapis.com",),
    key_env_vars=("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    placeholder="https://generativelanguage.googleapis.com",
    address_hint="Google's Gemini API (generateContent), or a proxy that speaks it",
    image_form="inline_data",
    endpoint_paths=(
        *(f"/models/{{model}}:{verb}" for verb in ("generateContent", "streamGenerateContent", "countTokens")),
        *(f"/models/{{model}}:{verb}" for verb in ("embedContent", "batchEmbedContents")),
        "/models/{model}",
        "/models",
    ),
    own_listing=gemini_listing,
)
