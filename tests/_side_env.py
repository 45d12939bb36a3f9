"""What the tests of a server built outside .venv share (tests/litellm, tests/llamacpp): whether its environment
is there, starting it and waiting until it answers, the end of its log, and stopping its process group."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


def unavailable(directory: Path, program: Path, what: str, target: str, script: str) -> str | None:
    """Why ``what`` cannot run here (its set-up script's recorded reason, or not built yet), ``None`` if it can."""
    reason = directory / "UNAVAILABLE"
    if reason.is_file():
        return f"{what} cannot be set up here: {reason.read_text().strip()}"
    if not any(directory.glob(".complete-*")) or not program.exists():
        return f"{directory.name} is not built - run `make {target}` (scripts/{script})"
    return None


def log_tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def stop_group(proc: subprocess.Popen[bytes], wait: float = 30) -> None:
    """SIGTERM to the process group ``proc`` leads (started with ``start_new_session``), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(wait)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(wait)


@contextlib.contextmanager
def running(
    what: str, cmd: list[str], env: dict[str, str], log_path: Path, health: str, timeout: float, wait: float = 30
) -> Iterator[subprocess.Popen[bytes]]:
    """``cmd`` started in a process group of its own, its output in ``log_path``, until ``health`` answers 200; a
    test failure (with the log's end) if it exits or is not ready within ``timeout`` s; stopped on leaving."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)  # fmt: skip
    try:
        deadline, started = time.monotonic() + timeout, time.monotonic()
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{what} exited at start-up ({proc.returncode}):\n{log_tail(log_path)}")
            try:
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"{what} was not ready within {timeout:g} s:\n{log_tail(log_path)}")
            time.sleep(0.3)
        print(f"{what}: ready in {time.monotonic() - started:.1f} s")
        yield proc
    finally:
        stop_group(proc, wait)
