"""Anthropic Messages API: /v1/messages and the paginated /v1/models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from .openai import content_text
from .server import Call, Protocol, RecordedRequest, Reply, Response, Route, json_response, sse

MESSAGE_ID = "msg_fake0123456789"
REQUEST_ID = "req_fake0123456789"
SIGNATURE = "fakesignature=="
RATE_LIMITED = (
    "Number of request tokens has exceeded your per-minute rate limit (https://docs.claude.com/en/api/rate-limits);"
    " see the response headers for current usage. Please reduce the prompt length or the maximum tokens "
    "requested, or try again later."
)
OUT_OF_QUOTA = "You have reached your specified API usage limits. You will regain access on 2099-01-01 at 00:00 UTC."
ERRORS = {  # kind -> (status, error type, message)
    "auth": (401, "authentication_error", "invalid x-api-key"),
    "no_key": (401, "authentication_error", "x-api-key header is required"),
    "rate_limit": (429, "rate_limit_error", RATE_LIMITED),
    "quota": (429, "rate_limit_error", OUT_OF_QUOTA),
    "server_error": (500, "api_error", "Internal server error"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
}


def anthropic_error(status: int, type_: str, message: str) -> Response:
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": REQUEST_ID}
    return json_response(status, body, {"request-id": REQUEST_ID})


class Anthropic(Protocol):
    stop_reason, length_reason = "end_turn", "max_tokens"
    overloaded_status = 529
    bad_key_says = "authentication_error"
    no_model_says = '"model: nope"'
    pages_models = True
    stream_end = rb"message_stop"
    text_event = "content_block_delta"

    def route(self, req: RecordedRequest) -> Route | Response | None:
        if req.path == "/v1/messages" and req.method == "POST":
            body = req.body or {}
            return Route("chat", str(body.get("model", "")), body.get("stream") is True)
        return Route("models") if req.path == "/v1/models" and req.method == "GET" else None

    def check(self, req: RecordedRequest, route: Route) -> Response | None:
        key = req.headers.get("x-api-key")
        if not self.key_ok(key):
            return self.error("auth" if key else "no_key", req, route)
        if "anthropic-version" not in req.headers:
            return anthropic_error(400, "invalid_request_error", "anthropic-version: header is required")
        if route.kind == "chat":
            if req.body is None:
                return anthropic_error(400, "invalid_request_error", "There was an error parsing the body")
            for name in ("model", "messages", "max_tokens"):
                if name not in req.body:
                    return anthropic_error(400, "invalid_request_error", f"{name}: Field required")
        if route.kind == "chat" and route.model not in self.fake.models:
            return self.error("not_found", req, route)
        if route.kind == "chat" and "output_config" in req.body and not self.takes_output_config:  # type: ignore[operator]
            return anthropic_error(400, "invalid_request_error", "output_config: Extra inputs are not permitted")
        return None

    #: the server takes ``output_config.format`` (a test sets this False on ``fake.facts``: an older model or proxy)
    takes_output_config = True

    def asked_schema(self, body: dict[str, Any]) -> dict[str, Any] | None:
        fmt = (body.get("output_config") or {}).get("format") or {}
        if fmt.get("type") == "json_schema":
            return fmt.get("schema")
        return self.forced_tool(body).get("input_schema")

    def forced_tool(self, body: dict[str, Any]) -> dict[str, Any]:
        """The tool ``tool_choice`` forces (structured output by a tool call), or {}."""
        choice = body.get("tool_choice") or {}
        tools = [
            t for t in body.get("tools") or [] if choice.get("type") == "tool" and t.get("name") == choice.get("name")
        ]
        return tools[0] if tools else {}

    def error(self, kind: str, req: RecordedRequest, route: Route) -> Response:
        if kind == "not_found":
            return anthropic_error(404, "not_found_error", f"model: {route.model}")
        return anthropic_error(*ERRORS.get(kind, ERRORS["server_error"]))

    def list_models(self, req: RecordedRequest, route: Route) -> Response:
        ids, limit, after = self.fake.models, req.query.get("limit", "20"), req.query.get("after_id")
        if not limit.isdigit() or not 1 <= int(limit) <= 1000:
            return anthropic_error(400, "invalid_request_error", "limit: Input should be between 1 and 1000")
        if after is not None and after not in ids:
            return anthropic_error(400, "invalid_request_error", f"after_id: unknown model {after}")
        start, size = ids.index(after) + 1 if after else 0, min(int(limit), self.fake.page_size or 1000)
        page = [
            {
                "type": "model",
                "id": m,
                "display_name": m.replace("-", " ").title(),
                "created_at": f"2025-02-{ids.index(m) % 28 + 1:02d}T00:00:00Z",
            }
            for m in ids[start : start + size]
        ]
        return json_response(200, {"data": page, "has_more": start + size < len(ids),
                                   "first_id": page[0]["id"] if page else None,
                                   "last_id": page[-1]["id"] if page else None})  # fmt: skip

    def inputs(self, body: dict[str, Any]) -> tuple[list[str], int | None]:
        texts = [content_text(body.get("system"))]
        texts += [content_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]
        max_tokens = body.get("max_tokens")
        return texts, max_tokens if isinstance(max_tokens, int) else None

    def completion(self, req: RecordedRequest, route: Route, reply: Reply) -> Any:
        content: list[dict[str, Any]] = [{"type": "text", "text": reply.text}]
        tool = self.forced_tool(req.body or {})
        if tool and not reply.truncated:  # the forced tool's input is the reply (JSON from the schema)
            content = [
                {"type": "tool_use", "id": "toolu_fake01", "name": tool["name"], "input": json.loads(reply.text)}
            ]
        if reply.reasoning:
            content.insert(0, {"type": "thinking", "thinking": reply.reasoning, "signature": SIGNATURE})
        return {
            "id": MESSAGE_ID, "type": "message", "role": "assistant", "model": route.model, "content": content,
            "stop_reason": "max_tokens" if reply.truncated else "end_turn", "stop_sequence": None,
            "usage": {**self.prompt_usage(reply.prompt_tokens), "output_tokens": reply.output_tokens},
        }  # fmt: skip

    def prompt_usage(self, prompt_tokens: int) -> dict[str, int]:
        """The prompt's tokens as Anthropic counts them: those after the cache apart from those read from it or
        written to it (docs.claude.com prompt caching: their sum is the whole input); llama-server does the same."""
        cached = min(self.fake.cached_tokens, prompt_tokens)
        return {"input_tokens": prompt_tokens - cached, "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": cached}  # fmt: skip

    def stream_events(self, req: RecordedRequest, route: Route, reply: Reply) -> Iterator[tuple[bool, bytes]]:
        def event(name: str, **data: Any) -> bytes:
            return sse({"type": name, **data}, event=name)

        message = {**self.completion(req, route, reply), "content": [], "stop_reason": None}
        message["usage"] = {**self.prompt_usage(reply.prompt_tokens), "output_tokens": 1}
        yield False, event("message_start", message=message)
        blocks: list[tuple[str, list[str]]] = [("thinking", reply.reasoning_pieces)] if reply.reasoning else []
        tool = self.forced_tool(req.body or {}) if reply.pieces else None
        for index, (kind, pieces) in enumerate([*blocks, ("tool_use" if tool else "text", reply.pieces)]):
            if kind == "tool_use":  # the forced tool's input, streamed as partial JSON
                block = {"type": "tool_use", "id": "toolu_fake01", "name": tool["name"], "input": {}}
                yield False, event("content_block_start", index=index, content_block=block)
                for piece in pieces:
                    delta = {"type": "input_json_delta", "partial_json": piece}
                    yield True, event("content_block_delta", index=index, delta=delta)
                yield False, event("content_block_stop", index=index)
                continue
            yield False, event("content_block_start", index=index, content_block={"type": kind, kind: ""})
            if index == 0:
                yield False, event("ping")
            for piece in pieces:
                yield kind == "text", event("content_block_delta", index=index,
                                            delta={"type": f"{kind}_delta", kind: piece})  # fmt: skip
            if kind == "thinking":
                sig = {"type": "signature_delta", "signature": SIGNATURE}
                yield False, event("content_block_delta", index=index, delta=sig)
            yield False, event("content_block_stop", index=index)
        delta = {"stop_reason": "max_tokens" if reply.truncated else "end_turn", "stop_sequence": None}
        yield False, event("message_delta", delta=delta, usage={"output_tokens": reply.output_tokens})
        yield False, event("message_stop")

    def stream_error(self) -> bytes:
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")

    def status_error(self, status: int, message: str) -> Response:
        typ = {403: "permission_error", 529: "overloaded_error"}.get(status, "api_error")
        return anthropic_error(status, typ, message)

    def sample_chat(self, model: str, key: str | None, stream: bool, max_tokens: int | None) -> Call:
        user = {"role": "user", "content": "Say hi please"}
        body: dict[str, Any] = {"model": model, "max_tokens": max_tokens or 100, "system": "Be brief."}
        body["messages"] = [user]
        headers = {"anthropic-version": "2023-06-01"} | ({"x-api-key": key} if key else {})
        return "/v1/messages", headers, body | ({"stream": True} if stream else {})

    def reply_text(self, body: Any, thought: bool = False) -> str:
        return "".join(b.get("thinking" if thought else "text", "") for b in body["content"])

    def stream_text(self, events: list[tuple[str | None, str]], thought: bool = False) -> str:
        chunks = [json.loads(data) for _, data in events if data.startswith("{")]
        deltas = [c["delta"] for c in chunks if c.get("type") == "content_block_delta"]
        return "".join(d.get("thinking" if thought else "text", "") for d in deltas)

    def usage_finish(self, body: Any) -> tuple[int, int, str]:
        usage = body["usage"]
        inp = (
            usage["input_tokens"]
            + usage.get("cache_read_input_tokens", 0)
            + usage.get("cache_creation_input_tokens", 0)
        )
        return inp, usage["output_tokens"], body["stop_reason"]

    def listed(self, body: Any) -> list[str]:
        return [m["id"] for m in body["data"]]
