"""llama.cpp's own server, ``llama-server`` (C++; scripts/llama_server_env.sh builds it into .llama-server/bin from
the llama.cpp sources the llama-cpp-python sdist vendors), serving the embedded SmolLM2 once per session on a free
127.0.0.1 port, with a key. It is not llama-cpp-python's server (tests/conftest.py's ``llama_server``): its
errors, model list, structured output, streams and extra routes (``/v1/responses``, ``/v1/messages``) are its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jupyter_providers.local import find_model_file, free_port

from .. import _side_env as side_env
from ..conftest import OUTPUT_DIR, WORKER

ROOT = Path(__file__).resolve().parents[2]
DIR = Path(os.environ.get("LLAMA_SERVER_DIR", ROOT / ".llama-server"))
#: the key the server demands
SERVER_KEY = "sk-llamaserver-test-8d1e6b"
ALIAS = "smollm2"
START_TIMEOUT = 120.0


def unavailable() -> str | None:
    program = DIR / "bin" / "llama-server"
    return side_env.unavailable(DIR, program, "llama-server", "llama-server-env", "llama_server_env.sh")


@dataclass
class LlamaServer:
    port: int
    log_path: Path
    key: str = field(default=SERVER_KEY, repr=False)

    @property
    def url(self) -> str:
        """The address a person pastes: the server's root (the types add ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        return side_env.log_tail(self.log_path, lines)


@pytest.fixture(scope="session")
def llama_cpp_server() -> Iterator[LlamaServer]:
    """Skipped (with the reason) where llama-server cannot be built; a failure with ``JP_REQUIRE_LLAMA_SERVER=1``
    (the Makefile sets it once .llama-server is built)."""
    reason = unavailable()
    if reason:
        if os.environ.get("JP_REQUIRE_LLAMA_SERVER") == "1":
            pytest.fail(f"JP_REQUIRE_LLAMA_SERVER=1 but {reason}")
        pytest.skip(reason)
    OUTPUT_DIR.mkdir(exist_ok=True)
    server = LlamaServer(free_port(), OUTPUT_DIR / f"llama-server{'-' + WORKER if WORKER else ''}.log")
    cmd = [
        str(DIR / "bin" / "llama-server"), "-m", str(find_model_file()), "--alias", ALIAS,
        "--host", "127.0.0.1", "--port", str(server.port), "--api-key", server.key,
        "-c", "4096", "-np", "2", "-t", "1", "--no-webui", "--jinja",  # one thread: the other core runs a browser
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if "KEY" not in k}
    with side_env.running("llama-server", cmd, env, server.log_path, f"{server.url}/health", START_TIMEOUT, 20):
        yield server
