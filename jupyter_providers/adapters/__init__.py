"""One adapter per provider type. Each builds requests and parses answers; none does I/O."""

from __future__ import annotations

from ._base import Adapter
from .anthropic import AnthropicAdapter
from .azure import AzureAdapter
from .gemini import GeminiAdapter
from .openai import OpenAIAdapter

__all__ = ["ADAPTERS", "Adapter"]

ADAPTERS: dict[str, Adapter] = {
    "openai": OpenAIAdapter(),
    "azure": AzureAdapter(),
    "anthropic": AnthropicAdapter(),
    "gemini": GeminiAdapter(),
}
