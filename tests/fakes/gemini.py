"""Google Gemini (Generative Language API v1beta): generateContent, SSE streaming, paginated models."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

from .server import Call, Protocol, RecordedRequest, Reply, Response, Route, json_response, sse

EMBEDDING_MODEL = "gemini-embedding-001"  # listed, but lacks generateContent
CHAT_METHODS = ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"]
RESPONSE_ID = "fakeResponseId0123"
NL = "\r\n"  # Gemini frames its SSE events with CRLF
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
BAD_KEY = "API key not valid. Please pass a valid API key."
NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
QUOTA = (
    "You exceeded your current quota, please check your plan and billing details. For more information on "
    "this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
INTERNAL = (
    "An internal error has occurred. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
)


def gemini_error(code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json_response(code, {"error": error})


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def _offset(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(text.removeprefix("offset:")) if text.startswith("offset:") else None
    except ValueError:
        return None


class Gemini(Protocol):
    stop_reason, length_reason = "STOP", "MAX_TOKENS"
    bad_key_status = 400  # INVALID_ARGUMENT, reason API_KEY_INVALID
    no_key_status = 403
    bad_key_says = "API_KEY_INVALID"
    no_model_says = "models/nope is not found for API version v1beta"
    pages_models = True
    marks_stream_end = False  # the stream simply ends; its last chunk has a finishReason
    stream_end = rb"finishReason"
    models_path = "/v1beta/models"

    def asked_schema(self, body: dict[str, Any]) -> dict[str, Any] | None:
        config = body.get("generationConfig") or {}
        if config.get("responseMimeType") != "application/json":
            return None
        return config.get("responseJsonSchema") or config.get("responseSchema")

    def all_models(self) -> list[str]:
        return [*self.fake.models, *([EMBEDDING_MODEL] if EMBEDDING_MODEL not in self.fake.models else [])]

    def route(self, req: RecordedRequest) -> Route | Response | None:
        if req.path == "/v1beta/models" and req.method == "GET":
            return Route("models")
        match = re.fullmatch(r"/v1beta/models/([^/:]+):(generateContent|streamGenerateContent)", req.path)
        if match is None or req.method != "POST":
            return None
        return Route("chat", match.group(1), match.group(2) == "streamGenerateContent")

    def check(self, req: RecordedRequest, route: Route) -> Response | None:
        key = req.headers.get("x-goog-api-key") or req.query.get("key")
        if not self.key_ok(key):
            return self.error("auth" if key else "no_key", req, route)
        if route.kind == "chat" and not (req.body or {}).get("contents"):
            msg = "* GenerateContentRequest.contents: contents is not specified\n"
            return gemini_error(400, "INVALID_ARGUMENT", msg if req.body else "Invalid JSON payload received.")
        if route.kind == "chat" and route.model not in self.fake.models:
            return self.error("not_found", req, route)
        config = (req.body or {}).get("generationConfig") or {}
        if route.kind == "chat" and not self.takes_json_schema and "responseJsonSchema" in config:
            msg = "Invalid JSON payload received. Unknown name \"responseJsonSchema\" at 'generation_config': "
            msg += "Cannot find field."
            return gemini_error(400, "INVALID_ARGUMENT", msg)
        return None

    #: the server takes ``responseJsonSchema`` (a test sets this False on ``fake.facts``: an API version or a
    #: proxy without it, answering as the API does to a field it does not know)
    takes_json_schema = True

    def error(self, kind: str, req: RecordedRequest, route: Route) -> Response:
        if kind == "auth":
            info = {"@type": ERROR_INFO, "reason": "API_KEY_INVALID", "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"}}  # fmt: skip
            localized = {"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US",
                         "message": BAD_KEY}  # fmt: skip
            return gemini_error(400, "INVALID_ARGUMENT", BAD_KEY, [info, localized])
        if kind == "no_key":
            return gemini_error(403, "PERMISSION_DENIED", NO_KEY)
        if kind == "rate_limit":
            msg = "Resource has been exhausted (e.g. check quota)."
            return gemini_error(429, "RESOURCE_EXHAUSTED", msg, [{"@type": RETRY_INFO, "retryDelay": "1s"}])
        if kind == "quota":
            failure = {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{
                "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "quotaValue": "250"}]}  # fmt: skip
            return gemini_error(429, "RESOURCE_EXHAUSTED", QUOTA, [failure, {"@type": RETRY_INFO, "retryDelay": "27s"}])
        if kind == "overloaded":
            return gemini_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        if kind == "not_found":
            msg = (
                f"models/{route.model} is not found for API version v1beta, or is not supported for "
                "generateContent. Call ListModels to see the list of available models and their supported methods."
            )
            return gemini_error(404, "NOT_FOUND", msg)
        return gemini_error(500, "INTERNAL", INTERNAL)

    def model_entry(self, model: str) -> dict[str, Any]:
        methods = ["embedContent", "countTextTokens", "countTokens"] if model == EMBEDDING_MODEL else CHAT_METHODS
        return {
            "name": f"models/{model}", "version": "001", "displayName": model.replace("-", " ").title(),
            "description": f"Fake {model}", "inputTokenLimit": 1_048_576, "outputTokenLimit": 65_536,
            "supportedGenerationMethods": methods, "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2,
        }  # fmt: skip

    def list_models(self, req: RecordedRequest, route: Route) -> Response:
        models = self.all_models()
        asked = req.query.get("pageSize", "")
        size = min(int(asked) if asked.isdigit() and int(asked) else 50, 1000, self.fake.page_size or 1000)
        token = req.query.get("pageToken")
        start = _offset(token) if token else 0
        if start is None:
            return gemini_error(400, "INVALID_ARGUMENT", "Invalid page token.")
        body: dict[str, Any] = {"models": [self.model_entry(m) for m in models[start : start + size]]}
        if start + size < len(models):
            body["nextPageToken"] = _token(start + size)
        return json_response(200, body)

    def inputs(self, body: dict[str, Any]) -> tuple[list[str], int | None]:
        system = body.get("systemInstruction") or {}
        contents = [system, *(body.get("contents") or [])]
        texts = [str(p.get("text", "")) for c in contents if isinstance(c, dict) for p in c.get("parts") or []
                 if isinstance(p, dict)]  # fmt: skip
        max_tokens = (body.get("generationConfig") or {}).get("maxOutputTokens")
        return texts, max_tokens if isinstance(max_tokens, int) else None

    def _chunk(self, route: Route, reply: Reply, parts: list[dict[str, Any]], last: bool) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
        chunk: dict[str, Any] = {"candidates": [candidate]}
        if last:
            candidate["finishReason"] = "MAX_TOKENS" if reply.truncated else "STOP"
            chunk["usageMetadata"] = usage = {
                "promptTokenCount": reply.prompt_tokens, "candidatesTokenCount": reply.output_tokens,
                "totalTokenCount": reply.prompt_tokens + reply.output_tokens + reply.reasoning_tokens,
            }  # fmt: skip
            if reply.reasoning:
                usage["thoughtsTokenCount"] = reply.reasoning_tokens
        return {**chunk, "modelVersion": route.model, "responseId": RESPONSE_ID}

    def _chunks(self, route: Route, reply: Reply) -> Iterator[tuple[bool, dict[str, Any]]]:
        for piece in reply.reasoning_pieces:
            yield False, self._chunk(route, reply, [{"text": piece, "thought": True}], False)
        pieces = reply.pieces or [""]
        for i, piece in enumerate(pieces):
            yield bool(reply.pieces), self._chunk(route, reply, [{"text": piece}], i == len(pieces) - 1)

    def completion(self, req: RecordedRequest, route: Route, reply: Reply) -> Any:
        parts: list[dict[str, Any]] = [{"text": reply.text}]
        if reply.reasoning:
            parts.insert(0, {"text": reply.reasoning, "thought": True})
        return self._chunk(route, reply, parts, True)

    def stream_events(self, req: RecordedRequest, route: Route, reply: Reply) -> Iterator[tuple[bool, bytes]]:
        for is_text, chunk in self._chunks(route, reply):
            yield is_text, sse(chunk, nl=NL)

    def stream_error(self) -> bytes:
        return sse({"error": {"code": 500, "message": INTERNAL, "status": "INTERNAL"}}, nl=NL)

    def status_error(self, status: int, message: str) -> Response:
        return gemini_error(status, {403: "PERMISSION_DENIED"}.get(status, "UNAVAILABLE"), message)

    def sample_chat(self, model: str, key: str | None, stream: bool, max_tokens: int | None) -> Call:
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "Say hi please"}]}],
                                "systemInstruction": {"parts": [{"text": "Be brief."}]}}  # fmt: skip
        body |= {"generationConfig": {"maxOutputTokens": max_tokens}} if max_tokens else {}
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/v1beta/models/{model}:{method}", {"x-goog-api-key": key} if key else {}, body

    def reply_text(self, body: Any, thought: bool = False) -> str:
        parts = body["candidates"][0]["content"]["parts"]
        return "".join(p["text"] for p in parts if bool(p.get("thought")) == thought)

    def stream_text(self, events: list[tuple[str | None, str]], thought: bool = False) -> str:
        chunks = [json.loads(data) for _, data in events if data.startswith("{")]
        return "".join(self.reply_text(c, thought) for c in chunks if "candidates" in c)

    def usage_finish(self, body: Any) -> tuple[int, int, str]:
        usage, finish = body["usageMetadata"], body["candidates"][0]["finishReason"]
        return usage["promptTokenCount"], usage["candidatesTokenCount"], finish

    def listed(self, body: Any) -> list[str]:
        chat = [m for m in body["models"] if "generateContent" in m["supportedGenerationMethods"]]
        return [m["name"].removeprefix("models/") for m in chat]
