"""Why the local model server stopped, as one line that says what to do.

The server runs with Python's faulthandler on, so a fatal signal leaves ``Fatal Python error: Illegal
instruction`` (or Segmentation fault, ...) in its log: that is how a server that is not our child (started
detached, or by another kernel) still tells which signal ended it. SIGKILL leaves nothing; then all one can
say is that it is no longer running.
"""

from __future__ import annotations

import platform
import re
import shlex
import signal
import sys
from importlib import metadata
from pathlib import Path

__all__ = ["PORTABLE_CMAKE_ARGS", "death_message", "log_excerpt", "rebuild_command", "signal_from_log"]

#: what faulthandler prints for each signal it catches (Python/faulthandler.c)
_FAULTHANDLER = {
    "Segmentation fault": signal.SIGSEGV,
    "Illegal instruction": signal.SIGILL,
    "Aborted": signal.SIGABRT,
    "Floating-point exception": signal.SIGFPE,
    "Floating point exception": signal.SIGFPE,
    "Bus error": signal.SIGBUS,
}
_FATAL = re.compile(r"^Fatal Python error: (.+?)\s*$", re.MULTILINE)

#: scripts/llama_cmake_args.sh for installs without the repository (a test keeps the two equal)
PORTABLE_CMAKE_ARGS = {
    "x86_64": "-DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_BMI2=ON -DGGML_FMA=ON "
    "-DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF",
    "aarch64": "-DGGML_NATIVE=OFF -DGGML_CPU_ARM_ARCH=armv8-a",
    "": "-DGGML_NATIVE=OFF",
}
_ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}
_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "llama_cmake_args.sh"
_START_AGAIN = "start it again with local.start() or `jupyter-providers local start`"


def signal_from_log(text: str) -> int | None:
    """The signal faulthandler reported last in a server log, if any."""
    found = [int(_FAULTHANDLER[m.group(1)]) for m in _FATAL.finditer(text) if m.group(1) in _FAULTHANDLER]
    return found[-1] if found else None


def log_excerpt(text: str, lines: int = 3, width: int = 200) -> str:
    """The last lines worth reading, on one line: the lines before a faulthandler report, not its traceback."""
    rows = text.splitlines()
    fatal = [i for i, row in enumerate(rows) if _FATAL.match(row)]
    if fatal:
        rows = rows[: fatal[-1] + 1]
    rows = [" ".join(row.split()) for row in rows if row.strip()][-lines:]
    return " | ".join(row if len(row) <= width else row[: width - 3] + "..." for row in rows) or "(empty)"


def rebuild_command(python: str | None = None) -> str:
    """The pip command that rebuilds ``python``'s llama-cpp-python (default: this one's) with the portable baseline."""
    if _SCRIPT.is_file():  # a checkout of the repository: the one source of the flags
        args = f'"$(sh {shlex.quote(str(_SCRIPT))})"'
    else:
        machine = platform.machine().lower()
        args = '"' + PORTABLE_CMAKE_ARGS.get(_ARCH_ALIASES.get(machine, machine), PORTABLE_CMAKE_ARGS[""]) + '"'
    try:
        pin = "==" + metadata.version("llama_cpp_python") if python in (None, sys.executable) else ""
    except metadata.PackageNotFoundError:
        pin = ""
    return (
        f"CMAKE_ARGS={args} {shlex.quote(python or sys.executable)} -m pip install --force-reinstall --no-deps "
        f"--no-cache-dir 'llama-cpp-python[server]{pin}'"
    )


def _advice(sig: int | None, code: int | None, python: str | None) -> str:
    if sig == signal.SIGILL:
        return (
            f"llama-cpp-python was built for another CPU; rebuild it portable: {rebuild_command(python)}, then "
            + _START_AGAIN
        )
    if sig == signal.SIGKILL:
        return f"it was killed (out of memory, or by a user); {_START_AGAIN}"
    if sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP) or code == 0:
        return f"it was stopped; {_START_AGAIN}"
    return f"{_START_AGAIN}; if it dies again, its log says why"


def death_message(pid: int, returncode: int | None, log_path: Path, python: str | None = None) -> str:
    """One line: how the server ended (signal, exit code, or unknown), what to do, and where its log is.

    ``returncode`` follows :attr:`subprocess.Popen.returncode`: ``-N`` for signal N, ``None`` if unknown;
    ``python`` is the interpreter that ran it (the one to rebuild).
    """
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        text = ""
    sig = -returncode if returncode is not None and returncode < 0 else None
    code = returncode if returncode is not None and returncode >= 0 else None
    if sig is None and code is None:
        sig = signal_from_log(text)
    if sig is not None:
        try:
            name, what = signal.Signals(sig).name, (signal.strsignal(sig) or "").lower()
        except ValueError:
            name, what = f"signal {sig}", ""
        how = f"died ({name}, {what})" if what else f"died ({name})"
    elif code is not None:
        how = f"exited with code {code}"
    else:
        how = f"(pid {pid}) is no longer running"
    return (
        f"the local model server {how} - {_advice(sig, code, python)}; log: {log_path}, last lines: {log_excerpt(text)}"
    )
