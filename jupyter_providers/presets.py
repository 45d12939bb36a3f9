"""Presets: well-known services and local servers, as data over the provider types (not types of their own).

A preset fills in what a person would otherwise look up: the type, the address, the key variable. Its
key variable is read only while the provider's address is the preset's own service (``official_hosts``,
over https), as a type's SDK variable is: ``$GROQ_API_KEY`` never goes to another host because a
provider was once added from the Groq preset. Local servers take no key by default.

Addresses are the ones each service documents for its OpenAI-compatible API.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PRESETS", "Preset", "preset", "preset_names"]


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    type: str
    address: str
    key_env: str | None = None
    #: the service's own hosts (a leading dot: any host under it), where ``key_env`` is sent
    official_hosts: tuple[str, ...] = ()
    #: a server on this machine: no key unless one is entered
    local: bool = False
    note: str = ""


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("openrouter", "OpenRouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
               ("openrouter.ai",)),
        Preset("groq", "Groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", ("api.groq.com",)),
        Preset("deepseek", "DeepSeek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY",
               ("api.deepseek.com",)),
        Preset("mistral", "Mistral AI", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", ("api.mistral.ai",)),
        Preset("together", "Together AI", "openai", "https://api.together.xyz/v1", "TOGETHER_API_KEY",
               ("api.together.xyz",)),
        Preset("fireworks", "Fireworks AI", "openai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY",
               ("api.fireworks.ai",)),
        Preset("xai", "xAI", "openai", "https://api.x.ai/v1", "XAI_API_KEY", ("api.x.ai",)),
        Preset("vllm", "vLLM (local)", "openai", "http://localhost:8000/v1", local=True,
               note="vllm serve MODEL; a key only if it was started with --api-key"),
        Preset("llama.cpp", "llama.cpp server (local)", "openai", "http://localhost:8080/v1", local=True,
               note="llama-server -m MODEL.gguf"),
        Preset("ollama-openai", "Ollama, OpenAI route (local)", "openai", "http://localhost:11434/v1", local=True,
               note="Ollama's OpenAI-compatible route; the ollama type speaks its native API"),
        Preset("lm-studio", "LM Studio (local)", "openai", "http://localhost:1234/v1", local=True),
        Preset("litellm", "LiteLLM proxy (local)", "openai", "http://localhost:4000/v1", local=True,
               note="enter the proxy's key if it was started with a master key"),
    )
}  # fmt: skip


def preset_names() -> tuple[str, ...]:
    return tuple(PRESETS)


def preset(name: str) -> Preset | None:
    """The preset called ``name`` (any case, ``_`` or ``-``), ``None`` if there is none."""
    key = str(name).strip().lower().replace("_", "-")
    return PRESETS.get(key) or next((p for p in PRESETS.values() if p.name.replace(".", "") == key), None)
