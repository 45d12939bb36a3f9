"""Presets: well-known services and local servers, as data over the provider types (not types of their own).

A preset fills in what a person would otherwise look up: the type, the address, the key variable. Its
key variable is read only while the provider's address is the preset's own service (``official_hosts``,
over https), as a type's SDK variable is: ``$GROQ_API_KEY`` never goes to another host because a
provider was once added from the Groq preset. Local servers take no key by default.

Addresses are the ones each service documents for its OpenAI-compatible API, and the key variables the ones
its docs and SDKs read; each entry names where (checked 2026-12). The chat URL is the address +
``/chat/completions`` (tests/test_presets.py).
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
        # openrouter.ai/docs/quickstart: base_url https://openrouter.ai/api/v1, key in OPENROUTER_API_KEY
        Preset("openrouter", "OpenRouter", "openai", "https://openrouter.ai/api/v1", "OPENROUTER_API_KEY",
               ("openrouter.ai",)),
        # console.groq.com/docs/openai: base_url https://api.groq.com/openai/v1, os.environ["GROQ_API_KEY"]
        Preset("groq", "Groq", "openai", "https://api.groq.com/openai/v1", "GROQ_API_KEY", ("api.groq.com",)),
        # api-docs.deepseek.com: base_url https://api.deepseek.com, "or https://api.deepseek.com/v1 for OpenAI
        # compatibility (the v1 has nothing to do with the model version)"; $DEEPSEEK_API_KEY in its examples
        Preset("deepseek", "DeepSeek", "openai", "https://api.deepseek.com/v1", "DEEPSEEK_API_KEY",
               ("api.deepseek.com",)),
        # https://api.mistral.ai/v1 and MISTRAL_API_KEY: the default of Mistral's SDK and of the AI SDK's
        # @ai-sdk/mistral ("The default prefix is https://api.mistral.ai/v1"); docs.mistral.ai was not reachable
        Preset("mistral", "Mistral AI", "openai", "https://api.mistral.ai/v1", "MISTRAL_API_KEY", ("api.mistral.ai",)),
        # docs.together.ai/docs/inference/openai-compatibility: base_url https://api.together.ai/v1 and
        # TOGETHER_API_KEY; api.together.xyz, the older documented host, is still the service's own
        Preset("together", "Together AI", "openai", "https://api.together.ai/v1", "TOGETHER_API_KEY",
               ("api.together.ai", "api.together.xyz")),
        # https://api.fireworks.ai/inference/v1 and FIREWORKS_API_KEY: as Fireworks' integrations document them
        # (LangChain's langchain-fireworks, Pipecat, Strands); Fireworks' own page was not reachable
        Preset("fireworks", "Fireworks AI", "openai", "https://api.fireworks.ai/inference/v1", "FIREWORKS_API_KEY",
               ("api.fireworks.ai",)),
        # docs.x.ai/api/integrations and docs.x.ai/developers/quickstart: https://api.x.ai/v1, XAI_API_KEY
        Preset("xai", "xAI", "openai", "https://api.x.ai/v1", "XAI_API_KEY", ("api.x.ai",)),
        # vllm/entrypoints/launchers/cli_args.py: `vllm serve` listens on ``port: int = 8000``, under /v1
        Preset("vllm", "vLLM (local)", "openai", "http://localhost:8000/v1", local=True,
               note="vllm serve MODEL; a key only if it was started with --api-key"),
        # llama.cpp tools/server README: llama-server listens on 127.0.0.1:8080 (--port), /v1/chat/completions
        Preset("llama.cpp", "llama.cpp server (local)", "openai", "http://localhost:8080/v1", local=True,
               note="llama-server -m MODEL.gguf"),
        # ollama/ollama docs/openai.md: base_url http://localhost:11434/v1/ (no key: "required but ignored")
        Preset("ollama-openai", "Ollama, OpenAI route (local)", "openai", "http://localhost:11434/v1", local=True,
               note="Ollama's OpenAI-compatible route; the ollama type speaks its native API"),
        # lmstudio.ai/docs/api/openai-api: base_url http://localhost:1234/v1 (the server's default port)
        Preset("lm-studio", "LM Studio (local)", "openai", "http://localhost:1234/v1", local=True),
        # docs.litellm.ai/docs/simple_proxy: "Proxy running on http://0.0.0.0:4000"; proxy_cli.py --port default=4000
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
