"""A local model server that dies is reported as dead, with its signal, its log and what to do.

Against the REAL llama-cpp-python server: killed with SIGILL (what a build for another CPU gets), as our
child and detached (another process's child), and made to die at its first completion (where an AMX build
dies while ``/v1/models`` still answers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest

from jupyter_providers import ProviderConnectionError, chat, get_store, local
from jupyter_providers.__main__ import main

ROOT = Path(__file__).resolve().parent.parent
START_AGAIN = "start it again with local.start() or `jupyter-providers local start`"
FATAL_SIGILL = "Fatal Python error: Illegal instruction"


def sigill_prefix(log: Path) -> str:
    """The message a user reads for a SIGILL, up to the log excerpt."""
    version = metadata.version("llama_cpp_python")
    return (
        "the local model server died (SIGILL, illegal instruction) - llama-cpp-python was built for another CPU; "
        f'rebuild it portable: CMAKE_ARGS="$(sh {ROOT}/scripts/llama_cmake_args.sh)" {sys.executable} -m pip '
        f"install --force-reinstall --no-deps --no-cache-dir 'llama-cpp-python[server]=={version}', then "
        f"{START_AGAIN}; log: {log}, last lines: "
    )


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while local._pid_is_server(pid):
        assert time.monotonic() < deadline, f"pid {pid} still runs"
        time.sleep(0.1)


def status(capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["local", "status"])
    return code, capsys.readouterr().out.strip()


def test_sigill_after_start_is_reported_by_status_chat_and_verify(capsys: pytest.CaptureFixture[str]) -> None:
    server = local.start(local.free_port())
    try:
        assert chat("Say hi.", provider="local", max_tokens=4).text.strip()
        os.kill(server.pid, signal.SIGILL)
        assert server.process is not None and server.process.wait(30) == -signal.SIGILL

        code, said = status(capsys)
        assert code == 1
        assert said.startswith(sigill_prefix(server.log_path)) and said.endswith(FATAL_SIGILL), said
        assert "\n" not in said

        with pytest.raises(ProviderConnectionError) as err:
            chat("Hi", provider="local")
        assert str(err.value) == f"local: {said}"
        v = get_store().verify("local")
        assert (v.ok, v.kind, v.message) == (False, "unreachable", said)

        # any provider typed at the same address (the README's vLLM steps) reads the same
        get_store().add("vLLM", type="openai", base_url=f"http://localhost:{server.port}/", api_key="", models=["x"])
        assert get_store().verify("vLLM").message == said
        with pytest.raises(ProviderConnectionError, match=r"^vLLM: the local model server died \(SIGILL"):
            chat("Hi", provider="vLLM", stream=True)

        again = local.start()  # what the message says to do works
        assert again.pid != server.pid and again.running
        assert chat("Say hi.", provider="local", max_tokens=4).text.strip()
        again.stop()
    finally:
        server.stop()


def test_detached_server_killed_is_reported_by_another_process(capsys: pytest.CaptureFixture[str]) -> None:
    """Started by `jupyter-providers local start` (not our child): the signal comes from its log."""
    cli = [sys.executable, "-m", "jupyter_providers", "local", "start", "--port", str(local.free_port())]
    subprocess.run(cli, check=True, capture_output=True, timeout=180)
    server = local.recorded_server()
    assert server is not None and server.process is None and server.running
    try:
        os.kill(server.pid, signal.SIGILL)
        wait_gone(server.pid)
        code, said = status(capsys)
        assert code == 1
        assert said.startswith(sigill_prefix(server.log_path)) and said.endswith(FATAL_SIGILL), said
        with pytest.raises(ProviderConnectionError) as err:
            chat("Hi", provider="local")
        assert str(err.value) == f"local: {said}"
    finally:
        server.stop()

    # SIGKILL leaves no trace in the log: then it is "no longer running", never "connection refused"
    subprocess.run(cli, check=True, capture_output=True, timeout=180)
    server = local.recorded_server()
    assert server is not None and server.running
    try:
        os.kill(server.pid, signal.SIGKILL)
        wait_gone(server.pid)
        code, said = status(capsys)
        assert code == 1
        assert said.startswith(
            f"the local model server (pid {server.pid}) is no longer running - {START_AGAIN}; if it dies again, "
            f"its log says why; log: {server.log_path}, last lines: "
        ), said
        v = get_store().verify("local")
        assert (v.kind, v.message) == ("unreachable", said)
    finally:
        server.stop()


#: the real server, made to die where an AMX build dies: inside its first completion, after /v1/models answered
DIE_AT_COMPLETION = """
import os, signal
import llama_cpp

def _die(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGILL)

llama_cpp.Llama.create_chat_completion = _die
"""


def test_server_dying_at_first_completion_fails_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(DIE_AT_COMPLETION)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path / "hook"), os.environ.get("PYTHONPATH", "")]))

    with pytest.raises(local.LocalServerError) as err:
        local.start(local.free_port())
    dead = err.value.server
    assert dead is not None and dead.returncode == -signal.SIGILL
    said = str(err.value)
    assert said.startswith(sigill_prefix(dead.log_path)) and said.endswith(FATAL_SIGILL), said
    assert '"GET /v1/models HTTP/1.1" 200' in dead.log_path.read_text()  # it did look up
    assert "local" not in get_store()  # never registered as working
    assert status(capsys) == (1, said)

    capsys.readouterr()
    assert main(["local", "start", "--port", str(local.free_port())]) == 2
    err_text = capsys.readouterr().err
    assert err_text.startswith("error: the local model server died (SIGILL, illegal instruction) - llama-cpp-python")
    assert err_text.count("\n") == 1
