"""Azure OpenAI: classic deployment routes (?api-version=) and the /openai/v1 routes, `api-key` auth."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .openai import CREATED, OpenAI
from .server import Call, RecordedRequest, Reply, Response, Route, json_response, sse

_SAFE = {"filtered": False, "severity": "safe"}
FILTERS = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
PROMPT_FILTERS = [{"prompt_index": 0, "content_filter_results": FILTERS}]
ACCESS_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key "
    "for an active subscription and use a correct regional API endpoint for your resource."
)
NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the deployment within the last "
    "5 minutes, please wait a moment and try again."
)


def azure_error(status: int, code: str, message: str, **extra: Any) -> Response:
    return json_response(status, {"error": {"code": code, "message": message, **extra}})


class Azure(OpenAI):
    prefix = "/openai/v1"
    bad_key_says = "Access denied due to invalid subscription key"
    no_model_says = "DeploymentNotFound"
    sends_reasoning = False  # Azure OpenAI sends no reasoning text (the fake inherits OpenAI's field)
    lists_models = False  # a key cannot list the deployments a chat names
    models_path = "/openai/v1/models"

    def route(self, req: RecordedRequest) -> Route | Response | None:
        if req.path.startswith("/openai/v1/"):
            route = super().route(req)
            if isinstance(route, Route):
                route.variant = "v1"
            return route
        match = re.fullmatch(r"/openai/deployments/([^/]+)/chat/completions", req.path)
        chat = match is not None and req.method == "POST"
        if not chat and not (req.path == "/openai/models" and req.method == "GET"):
            return None
        if "api-version" not in req.query:
            return azure_error(404, "404", "Resource not found")
        if match and chat:
            return Route("chat", match.group(1), (req.body or {}).get("stream") is True, "classic")
        return Route("models", variant="classic")

    def given_key(self, req: RecordedRequest) -> str | None:
        return req.headers.get("api-key")

    def error(self, kind: str, req: RecordedRequest, route: Route) -> Response:
        if kind in ("auth", "no_key"):
            return azure_error(401, "401", ACCESS_DENIED)
        if kind == "rate_limit":
            version = req.query.get("api-version", "v1")
            msg = (
                f"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version {version} "
                "have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after "
                "1 second. Please go here: https://aka.ms/oai/quotaincrease if you would like to further "
                "increase the default rate limit."
            )
            return azure_error(429, "429", msg)
        if kind == "quota":
            msg = "You exceeded your current quota, please check your plan and billing details."
            return azure_error(429, "insufficient_quota", msg, type="insufficient_quota", param=None)
        if kind == "not_found":
            return azure_error(404, "DeploymentNotFound", NO_DEPLOYMENT)
        return super().error(kind, req, route)

    def list_models(self, req: RecordedRequest, route: Route) -> Response:
        if route.variant != "classic":
            return super().list_models(req, route)
        data = [
            {"id": m, "object": "model", "created_at": CREATED, "status": "succeeded",
             "capabilities": {"chat_completion": True, "completion": False, "embeddings": False,
                              "fine_tune": False, "inference": True},
             "lifecycle_status": "generally-available", "deprecation": {"inference": CREATED + 10**8}}
            for m in self.fake.models
        ]  # fmt: skip
        return json_response(200, {"data": data, "object": "list"})

    def choice(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**super().choice(delta, finish), "content_filter_results": FILTERS if delta.get("content") else {}}

    def completion(self, req: RecordedRequest, route: Route, reply: Reply) -> Any:
        body = super().completion(req, route, reply)
        body["choices"][0]["content_filter_results"] = FILTERS
        return {**body, "prompt_filter_results": PROMPT_FILTERS}

    def stream_events(self, req: RecordedRequest, route: Route, reply: Reply) -> Iterator[tuple[bool, bytes]]:
        first = {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                 "prompt_filter_results": PROMPT_FILTERS}  # fmt: skip
        yield False, sse(first)
        yield from super().stream_events(req, route, reply)

    def status_error(self, status: int, message: str) -> Response:
        return azure_error(status, str(status), message)

    def sample_chat(self, model: str, key: str | None, stream: bool, max_tokens: int | None) -> Call:
        _, _, body = super().sample_chat(model, key, stream, max_tokens)
        path = f"/openai/deployments/{model}/chat/completions?api-version=2024-10-21"
        return path, {"api-key": key} if key else {}, body
