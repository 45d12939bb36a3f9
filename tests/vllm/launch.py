"""Real vLLM servers (CPU build, SmolLM2), started from .venv-vllm on free 127.0.0.1 ports.

Built by ``scripts/vllm_env.sh`` (``make vllm-env``). Used by the ``vllm_servers`` fixture and, as a
command, to run something against one server (``make pytest`` runs notebooks/vllm.ipynb so)::

    python -m tests.vllm.launch -- python -m pytest --nbval-lax notebooks

which starts a server without a key, sets ``VLLM_URL=http://localhost:PORT/``, runs the command and
stops the server. Where vLLM is not installed, the command runs without ``VLLM_URL`` (the reason is
printed), unless ``JP_REQUIRE_VLLM=1``, which makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from jupyter_providers.local import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("VLLM_VENV", ROOT / ".venv-vllm"))
MODEL_DIR = Path(os.environ.get("VLLM_MODEL_DIR", ROOT / ".vllm-model"))
OUTPUT_DIR = ROOT / "test-output"
MODEL_ID = "smollm2"
MAX_MODEL_LEN = 2048
#: start-up takes ~50 s alone on 2 cores; two at once, beside other work, take longer
START_TIMEOUT = 600.0


def required() -> bool:
    """``JP_REQUIRE_VLLM=1`` (set by the Makefile once vLLM is installed): a missing vLLM is a failure."""
    return os.environ.get("JP_REQUIRE_VLLM") == "1"


def unavailable() -> str | None:
    """Why vLLM cannot run here, or ``None`` when the venv and the converted model are complete."""
    reason_file = VENV / "UNAVAILABLE"
    if reason_file.is_file():
        return f"vLLM cannot be installed here: {reason_file.read_text().strip()}"
    if not any(VENV.glob(".complete-*")) or not (VENV / "bin" / "python").exists():
        return f"{VENV.name} is not built - run `make vllm-env` (scripts/vllm_env.sh)"
    if not (MODEL_DIR / ".complete").is_file():
        return f"{MODEL_DIR.name} holds no converted model - run `make vllm-env` (scripts/vllm_env.sh)"
    return None


@dataclass
class VLLMServer:
    """One vLLM OpenAI-compatible server process (and its engine process, in the same process group)."""

    name: str
    port: int
    log_path: Path
    api_key: str = field(default="", repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The address exactly as the seed has a user type it: ``http://localhost:PORT/``."""
        return f"http://localhost:{self.port}/"

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"vLLM ({self.name}) exited at start-up ({code}):\n{self.log_tail()}")
            if self.healthy():
                return
            time.sleep(0.5)
        raise RuntimeError(f"vLLM ({self.name}) was not healthy within {START_TIMEOUT:g} s:\n{self.log_tail()}")

    def stop(self, timeout: float = 30.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout)


def spawn(name: str, api_key: str = "", port: int | None = None) -> VLLMServer:
    """Start one server without waiting for it (see :func:`running`)."""
    port = port or free_port()
    OUTPUT_DIR.mkdir(exist_ok=True)
    log_path = OUTPUT_DIR / f"{name}.log"
    cmd = [
        str(VENV / "bin" / "python"), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(MODEL_DIR), "--served-model-name", MODEL_ID, "--max-model-len", str(MAX_MODEL_LEN),
        "--dtype", "bfloat16", "--enforce-eager", "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "VLLM_API_KEY")}
    env.update(
        VLLM_CPU_KVCACHE_SPACE="1",  # GiB of KV cache: plenty for 2048-token contexts, small for 2 servers
        HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", VLLM_NO_USAGE_STATS="1", DO_NOT_TRACK="1",
    )  # fmt: skip
    if api_key:
        env["VLLM_API_KEY"] = api_key  # what --api-key sets, by environment so it never shows in `ps`
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    return VLLMServer(name, port, log_path, api_key, proc)


@contextlib.contextmanager
def running(*specs: tuple[str, str]) -> Iterator[list[VLLMServer]]:
    """Servers for ``(name, api_key)`` pairs, started at once and stopped on exit."""
    servers: list[VLLMServer] = []
    try:
        for name, key in specs:
            servers.append(spawn(name, key))
        started = time.monotonic()
        for s in servers:
            s.wait_ready(started + START_TIMEOUT)
        print(f"vLLM: {len(servers)} server(s) ready in {time.monotonic() - started:.0f} s", file=sys.stderr)
        yield servers
    finally:
        for s in servers:
            s.stop()


def main(argv: Sequence[str]) -> int:
    args = list(argv[1:] if argv and argv[0] == "--" else argv)
    if not args:
        print("usage: python -m tests.vllm.launch -- COMMAND ...", file=sys.stderr)
        return 2
    reason = unavailable()
    if reason:
        print(f"vLLM: {reason}", file=sys.stderr)
        if required():
            return 1
        print("vLLM: running without VLLM_URL (the local model stands in)", file=sys.stderr)
        return subprocess.call(args)
    # a SIGTERM (make interrupted, CI cancelled) unwinds through running(), which stops the server
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    with running(("vllm-notebook", "")) as (server,):
        return subprocess.call(args, env={**os.environ, "VLLM_URL": server.url})


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
