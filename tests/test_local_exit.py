"""How a dead local server's end is named: real faulthandler output, real exit codes, the real build script."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from jupyter_providers import _local_exit
from jupyter_providers._local_exit import PORTABLE_CMAKE_ARGS, death_message, log_excerpt, signal_from_log

ROOT = Path(__file__).resolve().parent.parent
SIGNALS = [signal.SIGSEGV, signal.SIGILL, signal.SIGABRT, signal.SIGFPE, signal.SIGBUS]


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_every_signal_faulthandler_reports_is_read_back(sig: signal.Signals, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        code = subprocess.run(
            [sys.executable, "-c", f"print('INFO: serving', flush=True); import os; os.kill(os.getpid(), {int(sig)})"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONFAULTHANDLER="1"),
        ).returncode
    assert code == -sig
    assert signal_from_log(log.read_text()) == sig
    said = death_message(4242, None, log)  # not our child: the log is all there is
    assert said.startswith(f"the local model server died ({sig.name}, {signal.strsignal(sig).lower()}) - "), said
    assert said.rpartition("last lines: ")[2].startswith("INFO: serving | Fatal Python error: "), said
    assert death_message(4242, code, log) == said  # the parent's returncode says the same


def test_exit_code_and_unknown_end(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("INFO: Uvicorn running\nValueError: bad model file\n")
    assert death_message(7, 1, log) == (
        "the local model server exited with code 1 - start it again with local.start() or `jupyter-providers "
        f"local start`; if it dies again, its log says why; log: {log}, last lines: INFO: Uvicorn running | "
        "ValueError: bad model file"
    )
    said = death_message(7, None, tmp_path / "gone.log")
    assert said.startswith("the local model server (pid 7) is no longer running - start it again")
    assert said.endswith("last lines: (empty)")
    assert "it was killed (out of memory" in death_message(7, -signal.SIGKILL, log)
    assert "it was stopped" in death_message(7, -signal.SIGTERM, log)


def test_excerpt_is_one_bounded_line() -> None:
    text = "\n".join(f"line {i} " + "x" * 500 for i in range(50)) + "\n\n"
    one = log_excerpt(text)
    assert "\n" not in one and one.count(" | ") == 2 and len(one) <= 3 * 200 + 6
    assert one.startswith("line 47 ")


def _script(uname: str, tmp_path: Path) -> str:
    """scripts/llama_cmake_args.sh as it prints on a machine whose `uname -m` says ``uname``."""
    bin_dir = tmp_path / uname
    bin_dir.mkdir()
    (bin_dir / "uname").write_text(f"#!/bin/sh\necho {uname}\n")
    (bin_dir / "uname").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "LLAMA_CMAKE_ARGS"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    script = ROOT / "scripts" / "llama_cmake_args.sh"
    return subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env, check=True).stdout.strip()


@pytest.mark.parametrize(("uname", "key"), [("x86_64", "x86_64"), ("aarch64", "aarch64"), ("riscv64", "")])
def test_inline_flags_equal_the_build_script(uname: str, key: str, tmp_path: Path) -> None:
    assert PORTABLE_CMAKE_ARGS[key] == _script(uname, tmp_path)


def test_rebuild_command_without_the_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(_local_exit, "_SCRIPT", tmp_path / "absent.sh")
    monkeypatch.setattr(_local_exit.platform, "machine", lambda: "x86_64")
    cmd = _local_exit.rebuild_command()
    assert cmd.startswith(f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS["x86_64"]}" {sys.executable} -m pip install ')
    assert "-DGGML_NATIVE=OFF" in cmd and "--no-cache-dir" in cmd
