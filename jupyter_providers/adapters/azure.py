"""Azure OpenAI: OpenAI's bodies and stream, Azure's routes and ``api-key`` header.

The model a person picks is the DEPLOYMENT name. Classic route:
``{root}/openai/deployments/{deployment}/chat/completions?api-version=...``; an
address ending with ``/openai/v1`` selects the v1 route (model in the body).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._address import resolve_base
from .._checks import check_azure_deployment
from ._base import ChatParams, ErrorInfo, HTTPRequest, Key, base_headers, classify_common, reveal
from ._spec import ExtraField, TypeSpec
from .openai import OpenAIAdapter, openai_listing

if TYPE_CHECKING:
    from ._spec import Endpoint

__all__ = ["DEFAULT_API_VERSION", "SPEC", "AzureAdapter"]

DEFAULT_API_VERSION = "2024-10-21"


def _is_v1(e: Endpoint) -> bool:
    return e.base.rstrip("/").endswith("/openai/v1")


class AzureAdapter(OpenAIAdapter):
    def chat_url(self, e: Endpoint, model: str, stream: bool) -> str:
        base = e.base
        if _is_v1(e):
            return base + "/chat/completions"
        dep = quote(model, safe="{}")
        version = quote(e.option("api_version"))
        return f"{base}/openai/deployments/{dep}/chat/completions?api-version={version}"

    def auth_headers(self, key: Key) -> dict[str, str]:
        return {"api-key": reveal(key)} if key else {}

    def max_tokens_field(self, e: Endpoint) -> str:
        """Azure takes ``max_completion_tokens`` (which its o-series deployments require) from API
        version 2024-09-01-preview on, and on the v1 route; older versions know only ``max_tokens``."""
        return "max_completion_tokens" if _is_v1(e) or e.option("api_version") >= "2024-09-01" else "max_tokens"

    def chat_request(self, e: Endpoint, key: Key, params: ChatParams, stream: bool) -> HTTPRequest:
        req = super().chat_request(e, key, params, stream)
        if not _is_v1(e) and req.json is not None:
            req.json.pop("model", None)  # the deployment in the path chooses the model
        return req

    def models_url(self, e: Endpoint) -> str:
        if _is_v1(e):
            return e.base + "/models"
        return f"{e.base}/openai/models?api-version={quote(e.option('api_version'))}"

    def models_request(self, e: Endpoint, key: Key, page: str | None) -> HTTPRequest:
        return HTTPRequest("GET", self.models_url(e), base_headers(e, self.auth_headers(key)))

    def classify_error(self, status: int, body: Any, text: str, headers: Mapping[str, str]) -> ErrorInfo:
        return classify_common(status, body, text, headers, ("deploymentnotfound", "deployment", "model"))


def _azure_base(address: str) -> str:
    """The resource root (classic route) or the ``/openai/v1`` base: a typed ``/openai`` is the root's."""
    base = resolve_base(address, "")
    if address.strip().endswith("#"):
        return base
    return base[: -len("/openai")] if base.endswith("/openai") else base


SPEC = TypeSpec(
    name="azure",
    label="Azure OpenAI",
    adapter=AzureAdapter(),
    aliases=("azure openai", "azure-openai", "azure_openai"),
    default_address="",  # every Azure resource has its own address
    version_segment="",
    official_hosts=(
        ".openai.azure.com",
        ".cognitiveservices.azure.com",
        ".services.ai.azure.com",
        ".openai.azure.us",
        ".openai.azure.cn",
    ),
    key_env_vars=("AZURE_OPENAI_API_KEY",),
    placeholder="https://RESOURCE.openai.azure.com",
    address_hint=(
        "Your resource, e.g. https://RESOURCE.openai.azure.com (empty: $AZURE_OPENAI_ENDPOINT). The model is the "
        "deployment name. An address ending with /openai/v1 uses the v1 API; end it with # to use it exactly as typed."
    ),
    extra_fields=(
        ExtraField(
            "api_version", "API version", default=DEFAULT_API_VERSION, env="OPENAI_API_VERSION", query="api-version"
        ),
    ),
    env_address="AZURE_OPENAI_ENDPOINT",
    check_model=check_azure_deployment,
    resolve=_azure_base,
    image_form="image_url",  # the Chat Completions form, as OpenAI's (learn.microsoft.com: gpt-with-vision)
    endpoint_paths=(
        *(f"/openai/deployments/{{model}}/{p}" for p in ("chat/completions", "completions", "embeddings")),
        "/openai/deployments/{model}",
        "/openai/models",
        "/chat/completions",  # the v1 route: after /openai/v1
        "/responses",
        "/models",
    ),
    own_listing=openai_listing,
)
