"""Azure OpenAI: OpenAI's bodies and stream, Azure's routes and ``api-key`` header.

The model a person picks is the DEPLOYMENT name. Classic route:
``{root}/openai/deployments/{deployment}/chat/completions?api-version=...``; an
address ending with ``/openai/v1`` selects the v1 route (model in the body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ._base import ChatParams, ErrorInfo, HTTPRequest, Key, base_headers, classify_common, reveal
from .openai import OpenAIAdapter

if TYPE_CHECKING:
    from ..store import Provider

__all__ = ["AzureAdapter"]


def _is_v1(p: Provider) -> bool:
    return p.resolved_base.rstrip("/").endswith("/openai/v1")


class AzureAdapter(OpenAIAdapter):
    type = "azure"

    def chat_url(self, p: Provider, model: str, stream: bool) -> str:
        base = p.resolved_base
        if _is_v1(p):
            return base + "/chat/completions"
        dep = quote(model, safe="{}")
        return f"{base}/openai/deployments/{dep}/chat/completions?api-version={quote(p.effective_api_version)}"

    def auth_headers(self, key: Key) -> dict[str, str]:
        return {"api-key": reveal(key)} if key else {}

    def max_tokens_field(self, p: Provider) -> str:
        """Azure takes ``max_completion_tokens`` (which its o-series deployments require) from API
        version 2024-09-01-preview on, and on the v1 route; older versions know only ``max_tokens``."""
        return "max_completion_tokens" if _is_v1(p) or p.effective_api_version >= "2024-09-01" else "max_tokens"

    def chat_request(self, p: Provider, key: Key, params: ChatParams, stream: bool) -> HTTPRequest:
        req = super().chat_request(p, key, params, stream)
        if not _is_v1(p) and req.json is not None:
            req.json.pop("model", None)  # the deployment in the path chooses the model
        return req

    def models_url(self, p: Provider) -> str:
        if _is_v1(p):
            return p.resolved_base + "/models"
        return f"{p.resolved_base}/openai/models?api-version={quote(p.effective_api_version)}"

    def models_request(self, p: Provider, key: Key, page: str | None) -> HTTPRequest:
        return HTTPRequest("GET", self.models_url(p), base_headers(p, self.auth_headers(key)))

    def classify_error(self, status: int, body: Any, text: str, headers: Mapping[str, str]) -> ErrorInfo:
        return classify_common(status, body, text, headers, ("deploymentnotfound", "deployment", "model"))
