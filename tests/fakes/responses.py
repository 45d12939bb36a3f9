"""OpenAI's Responses API: ``POST /v1/responses`` (and OpenAI's ``/v1/models``, auth and error bodies).

Facts and where they come from:

- shapes of the request, the response object and every stream event: openai-python
  ``src/openai/types/responses/`` (``response.py``, ``response_usage.py``, ``response_reasoning_item.py``,
  ``response_text_delta_event.py``, ``response_reasoning_summary_text_delta_event.py``,
  ``response_completed_event.py``, ``response_incomplete_event.py``, ``response_failed_event.py``,
  ``response_error.py``, ``response_error_event.py``), commit e43b422 (2026-08);
- events are ``event: TYPE`` + ``data: {"type": TYPE, ..., "sequence_number": n}``, no ``[DONE]``, as real
  vLLM 0.32 sends them (tests/vllm checks the fake's names and order against it; LiteLLM's bridge sends
  the data alone, without ``event:`` lines or most sequence numbers, tests/litellm); the order
  (created, in_progress, output_item.added, content_part.added, output_text.delta..., output_text.done,
  content_part.done, output_item.done, completed) as LiteLLM's bridge documents OpenAI's
  (litellm/responses/litellm_completion_transformation/streaming_iterator.py, 1.106.12) and vLLM emits it
  (vllm/entrypoints/openai/responses/simple_streaming_events.py);
- OpenAI's reasoning models stream summaries (``response.reasoning_summary_*``) and put them in the
  reasoning item's ``summary``; vLLM streams ``response.reasoning_text.delta`` and fills ``content``;
- a mid-stream error as OpenAI sends it: ``event: error`` with the fields NESTED under ``error``
  (openai-dotnet#881, Effect-TS/effect#7262), although the reference documents them flat; a failed
  response: ``event: response.failed`` whose ``response.error`` is ``{"code", "message"}``;
- an unknown model: 404 ``model_not_found`` (LiteLLM#39457: OpenAI answered 400 before), message
  "The requested model 'X' does not exist." (skorokithakis/sysaidmin#9);
- a missing ``input``: 400 "Missing required parameter: 'input'." (OpenAI's wording for a missing parameter).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from .openai import CREATED, SERVER_ERROR, OpenAI, content_text, openai_error
from .server import Call, RecordedRequest, Reply, Response, Route, json_response, sse

RESPONSE_ID = "resp_fake0123456789"
MESSAGE_ID = "msg_fake0123456789"
REASONING_ID = "rs_fake0123456789"


def input_texts(value: Any) -> list[str]:
    """Texts of ``input``: a string, or messages whose content is a string or input_text/output_text parts."""
    if isinstance(value, str):
        return [value]
    items = value if isinstance(value, list) else []
    return [content_text(m.get("content")) for m in items if isinstance(m, dict)]


class Responses(OpenAI):
    """``midstream`` picks how the ``midstream_error`` fault ends a stream: ``"error"`` (an error event, as
    OpenAI sends it) or ``"failed"`` (``response.failed``)."""

    midstream = "error"
    output_counts_reasoning = True
    stream_end = rb"response\.completed"  # no [DONE]
    text_event = "response.output_text.delta"

    def asked_schema(self, body: dict[str, Any]) -> dict[str, Any] | None:
        fmt = (body.get("text") or {}).get("format") or {}
        return fmt.get("schema") if fmt.get("type") == "json_schema" else None

    def route(self, req: RecordedRequest) -> Route | Response | None:
        if req.path == f"{self.prefix}/responses" and req.method == "POST":
            body = req.body or {}
            return Route("chat", str(body.get("model", "")), body.get("stream") is True)
        return Route("models") if req.path == f"{self.prefix}/models" and req.method == "GET" else None

    def check(self, req: RecordedRequest, route: Route) -> Response | None:
        key = self.given_key(req)
        if not self.key_ok(key):
            return self.error("auth" if key else "no_key", req, route)
        if route.kind == "chat" and not (req.body or {}).get("input"):
            msg = "Missing required parameter: 'input'." if req.body else "We could not parse the JSON body."
            return openai_error(400, msg, "invalid_request_error")
        if route.kind == "chat" and route.model not in self.fake.models:
            return self.error("not_found", req, route)
        fmt = ((req.body or {}).get("text") or {}).get("format") or {}
        if route.kind == "chat" and not self.takes_json_schema and fmt.get("type") == "json_schema":
            # a proxy in front of llama-cpp-python (LiteLLM's bridge, tests/litellm/test_litellm_structured.py):
            # ``text.format`` became ``response_format``, which that server refuses with a 500
            return self.refuses_format({"response_format": {"type": "json_schema"}})
        return None

    def error(self, kind: str, req: RecordedRequest, route: Route) -> Response:
        if kind == "not_found":
            body = {"message": f"The requested model '{route.model}' does not exist.",
                    "type": "invalid_request_error", "param": "model", "code": "model_not_found"}  # fmt: skip
            return json_response(404, {"error": body})
        return super().error(kind, req, route)

    def inputs(self, body: dict[str, Any]) -> tuple[list[str], int | None]:
        texts = input_texts(body.get("input"))
        if isinstance(body.get("instructions"), str):
            texts.insert(0, body["instructions"])
        max_tokens = body.get("max_output_tokens")
        return texts, max_tokens if isinstance(max_tokens, int) else None

    @staticmethod
    def response_usage(reply: Reply) -> dict[str, Any]:
        return {
            "input_tokens": reply.prompt_tokens, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": reply.output_tokens + reply.reasoning_tokens,
            "output_tokens_details": {"reasoning_tokens": reply.reasoning_tokens},
            "total_tokens": reply.prompt_tokens + reply.output_tokens + reply.reasoning_tokens,
        }  # fmt: skip

    @staticmethod
    def message(text: str, status: str) -> dict[str, Any]:
        content = [{"type": "output_text", "annotations": [], "logprobs": [], "text": text}] if status else []
        return {"id": MESSAGE_ID, "type": "message", "status": status or "in_progress", "content": content,
                "role": "assistant"}  # fmt: skip

    def response(self, req: RecordedRequest, route: Route, reply: Reply | None) -> dict[str, Any]:
        """The response object: in progress (``reply`` None, as ``response.created`` carries it) or finished."""
        body = req.body or {}
        output: list[dict[str, Any]] = []
        status, incomplete = "in_progress", None
        if reply is not None:
            if reply.reasoning:
                summary = [{"type": "summary_text", "text": reply.reasoning}]
                output.append({"id": REASONING_ID, "type": "reasoning", "summary": summary})
            output.append(self.message(reply.text, "incomplete" if reply.truncated else "completed"))
            status = "incomplete" if reply.truncated else "completed"
            incomplete = {"reason": "max_output_tokens"} if reply.truncated else None
        return {
            "id": RESPONSE_ID, "object": "response", "created_at": CREATED, "status": status, "background": False,
            "error": None, "incomplete_details": incomplete, "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"), "model": route.model, "output": output,
            "parallel_tool_calls": True, "previous_response_id": None, "reasoning": {"effort": None, "summary": None},
            "store": body.get("store", True), "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}}, "tool_choice": "auto", "tools": [], "top_p": 1.0,
            "truncation": "disabled", "usage": self.response_usage(reply) if reply else None, "user": None,
            "metadata": {},
        }  # fmt: skip

    def completion(self, req: RecordedRequest, route: Route, reply: Reply) -> Any:
        return self.response(req, route, reply)

    def stream_events(self, req: RecordedRequest, route: Route, reply: Reply) -> Iterator[tuple[bool, bytes]]:
        seq = itertools.count()

        def event(name: str, **data: Any) -> bytes:
            return sse({"type": name, **data, "sequence_number": next(seq)}, event=name)

        yield False, event("response.created", response=self.response(req, route, None))
        yield False, event("response.in_progress", response=self.response(req, route, None))
        index = 0
        if reply.reasoning:
            item = {"id": REASONING_ID, "type": "reasoning", "summary": []}
            where = {"item_id": REASONING_ID, "output_index": 0, "summary_index": 0}
            yield False, event("response.output_item.added", output_index=0, item=item)
            yield False, event("response.reasoning_summary_part.added", **where,
                               part={"type": "summary_text", "text": ""})  # fmt: skip
            for piece in reply.reasoning_pieces:
                yield False, event("response.reasoning_summary_text.delta", **where, delta=piece)
            yield False, event("response.reasoning_summary_text.done", **where, text=reply.reasoning)
            part = {"type": "summary_text", "text": reply.reasoning}
            yield False, event("response.reasoning_summary_part.done", **where, part=part)
            yield False, event("response.output_item.done", output_index=0, item={**item, "summary": [part]})
            index = 1
        where = {"item_id": MESSAGE_ID, "output_index": index, "content_index": 0}
        yield False, event("response.output_item.added", output_index=index, item=self.message("", ""))
        empty = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
        yield False, event("response.content_part.added", **where, part=empty)
        for piece in reply.pieces:
            yield True, event("response.output_text.delta", **where, delta=piece, logprobs=[])
        yield False, event("response.output_text.done", **where, text=reply.text, logprobs=[])
        yield False, event("response.content_part.done", **where, part={**empty, "text": reply.text})
        status = "incomplete" if reply.truncated else "completed"
        yield False, event("response.output_item.done", output_index=index, item=self.message(reply.text, status))
        yield False, event(f"response.{status}", response=self.response(req, route, reply))

    def stream_error(self) -> bytes:
        if self.midstream == "failed":
            response = {"id": RESPONSE_ID, "object": "response", "created_at": CREATED, "status": "failed",
                        "error": {"code": "server_error", "message": SERVER_ERROR}, "incomplete_details": None,
                        "output": [], "usage": None}  # fmt: skip
            return sse({"type": "response.failed", "response": response, "sequence_number": 9}, "response.failed")
        error = {"type": "server_error", "code": "server_error", "message": SERVER_ERROR, "param": None}
        return sse({"type": "error", "error": error, "sequence_number": 9}, "error")

    # -- a client of it -----------------------------------------------------------------------------------------
    def finish_words(self) -> tuple[str, str]:
        return "completed", "max_output_tokens"  # status, or incomplete_details.reason; the package says stop, length

    def sample_chat(self, model: str, key: str | None, stream: bool, max_tokens: int | None) -> Call:
        body: dict[str, Any] = {"model": model, "instructions": "Be brief.", "input": "Say hi please", "store": False}
        body |= {"stream": True} if stream else {}
        body |= {"max_output_tokens": max_tokens} if max_tokens else {}
        return f"{self.prefix}/responses", {"authorization": f"Bearer {key}"} if key else {}, body

    def reply_text(self, body: Any, thought: bool = False) -> str:
        kind, parts = ("reasoning", "summary") if thought else ("message", "content")
        return "".join(p["text"] for item in body["output"] if item["type"] == kind for p in item[parts])

    def stream_text(self, events: list[tuple[str | None, str]], thought: bool = False) -> str:
        name = "response.reasoning_summary_text.delta" if thought else "response.output_text.delta"
        chunks = [json.loads(data) for _, data in events if data.startswith("{")]
        return "".join(c["delta"] for c in chunks if c.get("type") == name)

    def usage_finish(self, body: Any) -> tuple[int, int, str]:
        usage, details = body["usage"], body["incomplete_details"]
        return usage["input_tokens"], usage["output_tokens"], details["reason"] if details else body["status"]
