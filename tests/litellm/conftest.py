"""The LiteLLM proxy (from .venv-litellm, scripts/litellm_env.sh) in front of the real local model, once per
session (every module here shares it): started on a free 127.0.0.1 port, offline, with its own key.

Two routes to the same llama.cpp server (tests/conftest.py's ``llama_server``):

- ``smollm2`` is ``lm_studio/smollm2``: LiteLLM has no Responses config for ``lm_studio``, so it answers
  ``/v1/responses`` itself by bridging onto the upstream's Chat Completions
  (litellm/responses/litellm_completion_transformation);
- ``smollm2-forward`` is ``hosted_vllm/smollm2``: LiteLLM has a Responses config for ``hosted_vllm``
  (litellm.utils ``get_provider_responses_api_config``) and forwards ``/v1/responses`` upstream, where
  llama.cpp has no such route.
A third route, ``fake``, is ``lm_studio/m`` in front of our OpenAI fake (``upstream``), which records every
request: what LiteLLM made of ours is read there (``/v1/responses`` bridged onto Chat Completions, as above).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jupyter_providers.local import LocalServer, free_port

from .. import _side_env as side_env
from ..conftest import LOCAL_KEY, OUTPUT_DIR
from ..fakes import FakeServer

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("LITELLM_VENV", ROOT / ".venv-litellm"))
#: the key the proxy demands (its master key); the upstream's key reaches it by environment, never a file
PROXY_KEY = "sk-litellm-test-3e9b07c2a4"
START_TIMEOUT = 180.0
CONFIG = """\
model_list:
  - model_name: smollm2
    litellm_params:
      model: lm_studio/smollm2
      api_base: {base}/v1
      api_key: os.environ/JP_UPSTREAM_KEY
  - model_name: smollm2-forward
    litellm_params:
      model: hosted_vllm/smollm2
      api_base: {base}/v1
      api_key: os.environ/JP_UPSTREAM_KEY
  - model_name: fake
    litellm_params:
      model: lm_studio/m
      api_base: {fake}/v1
      api_key: os.environ/JP_UPSTREAM_KEY
general_settings:
  master_key: os.environ/JP_PROXY_KEY
litellm_settings:
  drop_params: true
"""


def unavailable() -> str | None:
    return side_env.unavailable(VENV, VENV / "bin" / "litellm", "LiteLLM", "litellm-env", "litellm_env.sh")


@dataclass
class Proxy:
    port: int
    log_path: Path
    key: str = field(default=PROXY_KEY, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def log_tail(self, lines: int = 20) -> str:
        return side_env.log_tail(self.log_path, lines)


@pytest.fixture(scope="session")
def upstream() -> Iterator[FakeServer]:
    """Our OpenAI fake behind the proxy's ``fake`` route: ``upstream.requests`` is what LiteLLM sent it."""
    with FakeServer("openai", models=["m"], reply="A red square.") as fake:
        yield fake


@pytest.fixture(scope="session")
def litellm(
    llama_server: LocalServer, upstream: FakeServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    """Skipped (with the reason) where LiteLLM cannot be installed; a failure with ``JP_REQUIRE_LITELLM=1``
    (the Makefile sets it once .venv-litellm is built)."""
    reason = unavailable()
    if reason:
        if os.environ.get("JP_REQUIRE_LITELLM") == "1":
            pytest.fail(f"JP_REQUIRE_LITELLM=1 but {reason}")
        pytest.skip(reason)
    config = tmp_path_factory.mktemp("litellm") / "config.yaml"
    config.write_text(CONFIG.format(base=llama_server.base_url, fake=upstream.base_url))
    OUTPUT_DIR.mkdir(exist_ok=True)
    proxy = Proxy(free_port(), OUTPUT_DIR / "litellm.log")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV") and "KEY" not in k}
    env.update(
        JP_UPSTREAM_KEY=LOCAL_KEY, JP_PROXY_KEY=PROXY_KEY,
        LITELLM_LOCAL_MODEL_COST_MAP="True",  # the cost map shipped in the package, not fetched at start-up
        LITELLM_TELEMETRY="False", DO_NOT_TRACK="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
        NO_DOCS="True", DISABLE_ADMIN_UI="True", LITELLM_LOG="INFO",
    )  # fmt: skip
    cmd = [str(VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(proxy.port)]
    with side_env.running("LiteLLM", cmd, env, proxy.log_path, f"{proxy.url}health/liveliness", START_TIMEOUT):
        yield proxy
