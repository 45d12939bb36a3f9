"""Ollama's native API (``/api/chat``, ``/api/tags``, ``/api/show``), as Ollama serves it on port 11434.

Facts this fake relies on, with where they come from (ollama/ollama at fb3076099, ollama/ollama-python
at 25b9329; "unverified" marks what no source showed):

- Routes: ``POST /api/chat``, ``GET /api/tags``, ``POST /api/show`` (docs/api.md; ollama-python
  ``_client.py`` ``chat``/``list``/``show``). An unknown path is gin's plain ``404 page not found``
  (gin's default 404 handler; Ollama registers none).
- ``stream`` defaults to true: only ``"stream": false`` gives one JSON object (docs/api.md "Generate a
  chat completion"; docs/api/streaming.mdx). A stream is ``application/x-ndjson``, one object a line
  ending in ``\\n`` (server/routes.go ``streamResponse``: ``json.Marshal`` + ``'\\n'``).
- A chunk: ``{"model", "created_at", "message": {"role": "assistant", "content"}, "done": false}``;
  ``message.thinking`` is present only when not empty (api/types.go ``Message``: ``thinking,omitempty``).
  The last: ``"done": true``, ``"done_reason"`` (``stop`` or ``length``: llm/server.go ``DoneReason``),
  ``total_duration``, ``load_duration``, ``prompt_eval_count``, ``prompt_eval_duration``, ``eval_count``,
  ``eval_duration`` (ns; api/types.go ``Metrics``, docs/api/usage.mdx). ``"stream": false``: that last
  object with the whole message.
- Options ``temperature``, ``num_predict``, ``stop``, ``num_ctx`` go in ``"options"`` (ollama-python
  ``_types.py`` ``Options``; docs/api.md).
- Thinking: a thinking-capable model thinks when ``think`` is absent; ``think: true`` on another model
  is 400 ``{"error": "\\"MODEL\\" does not support thinking"}`` (server/routes.go ``ChatHandler``).
- No messages: the model is loaded and the answer is ``done: true, done_reason: "load"`` (ChatHandler).
- ``/api/tags``: ``{"models": [{"name", "model", "modified_at", "size", "digest", "details":
  {"parent_model", "format", "family", "families", "parameter_size", "quantization_level"}}]}`` (docs/api.md
  "List Local Models"; api/types.go ``ListModelResponse``).
- ``/api/show`` ``{"model"}`` (``name`` is the old spelling): ``{"modelfile", "parameters", "template",
  "details", "model_info": {"general.architecture": A, "A.context_length": N, ...}, "capabilities",
  "modified_at"}`` (docs/api.md "Show Model Information"; api/types.go ``ShowResponse``).
- Errors are ``{"error": "..."}`` (docs/api/errors.mdx): unknown model 404 ``model 'NAME' not found``
  (routes.go ChatHandler and ShowHandler; older servers said ``model "NAME" not found, try pulling it
  first``); no model 400 ``model is required``; empty body 400 ``missing request body``; a busy server
  503 ``server busy, please try again.  maximum pending requests exceeded`` (server/sched.go ``ErrMaxQueue``).
- Once the stream began, an error is one more line ``{"error": "..."}`` and the status stays 200
  (docs/api/errors.mdx; routes.go ``streamResponse``); ``an error was encountered while running the
  model`` is the docs' example message.
- Keys: none locally. ollama.com takes ``Authorization: Bearer KEY`` (docs/api/authentication.mdx;
  ollama-python ``BaseClient`` sends ``OLLAMA_API_KEY`` so). 401 is ``{"error": "unauthorized",
  "signin_url": ...}`` and 429 ``{"error": "rate limit exceeded"}`` (api/client_test.go fixtures); a
  402 means the usage limit (app/ui/ui.go ``getError``; the body's wording is unverified).
- Model names: a name without a tag means ``:latest`` (docs/api.md "Model names").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from .openai import content_text
from .server import Call, Protocol, RecordedRequest, Reply, Response, Route, json_response

CREATED_AT = "2025-05-10T08:06:48.639712648-07:00"
SERVER_ERROR = "an error was encountered while running the model"
RUNNER_DIED = "llama runner process has terminated: exit status 2"
BUSY = "server busy, please try again.  maximum pending requests exceeded"
USAGE_LIMIT = "you've reached your usage limit, please upgrade to continue"  # wording unverified
NOT_FOUND_PAGE = Response(404, b"404 page not found", "text/plain")


def ollama_error(status: int, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": message, **extra})


def line(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class Ollama(Protocol):
    stream_content_type = "application/x-ndjson"
    quota_status = 402  # the usage limit of ollama.com
    output_counts_reasoning = True  # eval_count: every token generated, thinking too
    bad_key_says = '"unauthorized"'
    no_model_says = "model 'nope' not found"
    stream_end = rb'"done":true'
    models_path = "/api/tags"
    context_length = 8192
    architecture = "llama"

    def asked_schema(self, body: dict[str, Any]) -> dict[str, Any] | None:
        fmt = body.get("format")
        return fmt if isinstance(fmt, dict) else None  # "json" asks for JSON of no particular schema

    def route(self, req: RecordedRequest) -> Route | Response | None:
        body = req.body or {}
        if req.path == "/api/chat" and req.method == "POST":
            return Route("chat", str(body.get("model", "")), body.get("stream") is not False)
        if req.path == "/api/tags" and req.method == "GET":
            return Route("models")
        if req.path == "/api/show" and req.method == "POST":
            return Route("models", str(body.get("model") or body.get("name") or ""), variant="show")
        return NOT_FOUND_PAGE

    def given_key(self, req: RecordedRequest) -> str | None:
        auth = req.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def known(self, model: str) -> str | None:
        """The listed name ``model`` means (no tag: ``:latest``), or None."""
        names = self.fake.models
        if model in names:
            return model
        if ":" not in model and f"{model}:latest" in names:
            return f"{model}:latest"
        base = model.removesuffix(":latest")
        return base if base != model and base in names else None

    def check(self, req: RecordedRequest, route: Route) -> Response | None:
        if not self.key_ok(self.given_key(req)):
            return self.error("auth", req, route)
        if route.kind == "models" and not route.variant:
            return None
        if req.body is None:
            return ollama_error(400, "missing request body" if not req.raw_body else "invalid character in body")
        if not route.model:
            return ollama_error(400, "model is required")
        if self.known(route.model) is None:
            return self.error("not_found", req, route)
        think = req.body.get("think")
        if route.kind == "chat" and think is True and not self.fake.reasoning:
            return ollama_error(400, json.dumps(route.model) + " does not support thinking")
        return None

    def error(self, kind: str, req: RecordedRequest, route: Route) -> Response:
        if kind in ("auth", "no_key"):
            return ollama_error(401, "unauthorized", signin_url="https://ollama.com/connect?name=fake")
        if kind == "rate_limit":
            return ollama_error(429, "rate limit exceeded")
        if kind == "quota":
            return ollama_error(402, USAGE_LIMIT)
        if kind == "overloaded":
            return ollama_error(503, BUSY)
        if kind == "not_found":
            return ollama_error(404, f"model '{route.model}' not found")
        return ollama_error(500, SERVER_ERROR)

    def details(self, name: str) -> dict[str, Any]:
        family = self.architecture
        return {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                "parameter_size": "3.2B", "quantization_level": "Q4_K_M"}  # fmt: skip

    def list_models(self, req: RecordedRequest, route: Route) -> Response:
        if route.variant == "show":
            return json_response(200, self.show(self.known(route.model) or route.model))
        models = [
            {"name": m, "model": m, "modified_at": CREATED_AT, "size": 2019393189,
             "digest": hashlib.sha256(m.encode()).hexdigest(), "details": self.details(m)}
            for m in self.fake.models
        ]  # fmt: skip
        return json_response(200, {"models": models})

    def show(self, name: str) -> dict[str, Any]:
        arch = self.architecture
        info = {"general.architecture": arch, "general.file_type": 15, "general.parameter_count": 3212749888,
                f"{arch}.block_count": 28, f"{arch}.context_length": self.context_length,
                f"{arch}.embedding_length": 3072, "tokenizer.ggml.model": "gpt2"}  # fmt: skip
        return {
            "modelfile": f'# Modelfile generated by "ollama show"\nFROM {name}\n',
            "parameters": 'stop                           "<|eot_id|>"',
            "template": "{{ .Prompt }}",
            "details": self.details(name),
            "model_info": info,
            "capabilities": ["completion", *(["thinking"] if self.fake.reasoning else [])],
            "modified_at": CREATED_AT,
        }

    def inputs(self, body: dict[str, Any]) -> tuple[list[str], int | None]:
        texts = [content_text(m.get("content")) for m in body.get("messages") or [] if isinstance(m, dict)]
        max_tokens = (body.get("options") or {}).get("num_predict")
        return texts, max_tokens if isinstance(max_tokens, int) and max_tokens >= 0 else None

    @staticmethod
    def thinks(req: RecordedRequest, reply: Reply) -> bool:
        """A thinking model thinks unless told ``think: false``."""
        return bool(reply.reasoning) and (req.body or {}).get("think") is not False

    def chunk(self, route: Route, message: dict[str, Any], done: bool = False) -> dict[str, Any]:
        return {"model": route.model, "created_at": CREATED_AT,
                "message": {"role": "assistant", **message}, "done": done}  # fmt: skip

    def final(self, route: Route, reply: Reply, message: dict[str, Any], thinks: bool) -> dict[str, Any]:
        out = reply.output_tokens + (reply.reasoning_tokens if thinks else 0)
        return {
            **self.chunk(route, message, True), "done_reason": "length" if reply.truncated else "stop",
            "total_duration": 4883583458, "load_duration": 1334875, "prompt_eval_count": reply.prompt_tokens,
            "prompt_eval_duration": 342546000, "eval_count": out, "eval_duration": 4535599000,
        }  # fmt: skip

    def completion(self, req: RecordedRequest, route: Route, reply: Reply) -> Any:
        if not (req.body or {}).get("messages"):
            return {**self.chunk(route, {"content": ""}, True), "done_reason": "load"}
        thinks = self.thinks(req, reply)
        message = {"content": reply.text, **({"thinking": reply.reasoning} if thinks else {})}
        return self.final(route, reply, message, thinks)

    def stream_events(self, req: RecordedRequest, route: Route, reply: Reply) -> Iterator[tuple[bool, bytes]]:
        if not (req.body or {}).get("messages"):
            yield False, line(self.completion(req, route, reply))
            return
        thinks = self.thinks(req, reply)
        for piece in reply.reasoning_pieces if thinks else []:
            yield False, line(self.chunk(route, {"content": "", "thinking": piece}))
        for piece in reply.pieces:
            yield True, line(self.chunk(route, {"content": piece}))
        yield False, line(self.final(route, reply, {"content": ""}, thinks))

    def stream_error(self) -> bytes:
        return line({"error": SERVER_ERROR})

    def runner_error(self) -> bytes:
        """The ``llamacpp_error`` fault: Ollama runs llama.cpp itself and reports its death as an error line."""
        return line({"error": RUNNER_DIED})

    # -- its facts and a client of it -------------------------------------------------------------------------------
    @classmethod
    def stream_event(cls, data: bytes) -> bytes:
        return data + b"\n"

    def status_error(self, status: int, message: str) -> Response:
        return ollama_error(status, message)

    def sample_chat(self, model: str, key: str | None, stream: bool, max_tokens: int | None) -> Call:
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi please"}]
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
        body |= {"options": {"num_predict": max_tokens}} if max_tokens else {}
        return "/api/chat", {"authorization": f"Bearer {key}"} if key else {}, body

    def reply_text(self, body: Any, thought: bool = False) -> str:
        return str(body["message"].get("thinking" if thought else "content", ""))

    def stream_text(self, events: list[tuple[str | None, str]], thought: bool = False) -> str:
        chunks = [json.loads(data) for _, data in events if data.startswith("{")]
        return "".join(self.reply_text(c, thought) for c in chunks if "message" in c)

    def usage_finish(self, body: Any) -> tuple[int, int, str]:
        return body["prompt_eval_count"], body["eval_count"], body["done_reason"]

    def listed(self, body: Any) -> list[str]:
        return [m["name"] for m in body["models"]]
