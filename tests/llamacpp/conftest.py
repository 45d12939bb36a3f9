"""llama.cpp's own server, ``llama-server`` (C++; scripts/llama_server_env.sh builds it into .llama-server/bin from
the llama.cpp sources the llama-cpp-python sdist vendors), serving the embedded SmolLM2 once per session on a free
127.0.0.1 port, with a key. It is not llama-cpp-python's server (tests/conftest.py's ``llama_server``): its
errors, model list, structured output, streams and extra routes (``/v1/responses``, ``/v1/messages``) are its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from jupyter_providers.local import find_model_file, free_port

from ..conftest import OUTPUT_DIR, WORKER

ROOT = Path(__file__).resolve().parents[2]
DIR = Path(os.environ.get("LLAMA_SERVER_DIR", ROOT / ".llama-server"))
#: the key the server demands
SERVER_KEY = "sk-llamaserver-test-8d1e6b"
ALIAS = "smollm2"
START_TIMEOUT = 120.0


def unavailable() -> str | None:
    reason = DIR / "UNAVAILABLE"
    if reason.is_file():
        return f"llama-server cannot be built here: {reason.read_text().strip()}"
    if not any(DIR.glob(".complete-*")) or not (DIR / "bin" / "llama-server").exists():
        return f"{DIR.name} is not built - run `make llama-server-env` (scripts/llama_server_env.sh)"
    return None


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
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(20)


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
        "-c", "4096", "-np", "2", "-t", "2", "--no-webui", "--jinja",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if "KEY" not in k}
    with open(server.log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)  # fmt: skip
    try:
        deadline, started = time.monotonic() + START_TIMEOUT, time.monotonic()
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama-server exited at start-up ({proc.returncode}):\n{server.log_tail()}")
            try:
                if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama-server was not ready within {START_TIMEOUT:g} s:\n{server.log_tail()}")
            time.sleep(0.3)
        print(f"llama-server: ready in {time.monotonic() - started:.1f} s")
        yield server
    finally:
        _stop(proc)
