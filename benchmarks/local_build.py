"""Tokens/s of the portable llama-cpp-python build vs a native one, both serving SmolLM2 in the same run.

    python benchmarks/local_build.py [--build native=.venv-native/bin/python] [--completions 8]

Each ``--build NAME=PYTHON`` is an interpreter whose llama-cpp-python serves the model; ``portable`` (this
interpreter, built with scripts/llama_cmake_args.sh) is always the first. The servers start together
(through ``local.launch``, so a build that dies at its first completion is reported with the signal and
what to do), then get the same prompt in turn, round-robin, so the machine's other load hits all of them
alike. tokens/s = completion tokens / wall time of a non-streamed completion; the median over
``--completions`` is compared as portable / NAME. Without ``--build``, ``.venv-native`` is used if present
(``make venv-native``: native with AVX-512, without AMX; see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from jupyter_providers import local  # noqa: E402

PROMPT = "Write a long story about a lighthouse keeper and a storm. Use many sentences."


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_features(python: str) -> str:
    """What ggml reports it was built with (its system_info line), from that interpreter."""
    code = "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    return done.stdout.strip() or done.stderr.strip()[-300:]


def completion(base_url: str, max_tokens: int) -> tuple[int, float]:
    body = {
        "model": local.MODEL_ALIAS,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "seed": 1,
    }
    started = time.perf_counter()
    resp = httpx.post(f"{base_url}/v1/chat/completions", json=body, timeout=300)
    elapsed = time.perf_counter() - started
    resp.raise_for_status()
    return int(resp.json()["usage"]["completion_tokens"]), elapsed


def main(argv: list[str] | None = None) -> dict[str, float | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", default=[], metavar="NAME=PYTHON")
    parser.add_argument("--completions", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log-dir", type=Path, default=ROOT / "test-output")
    args = parser.parse_args(argv)
    builds = {"portable": sys.executable}
    native = ROOT / ".venv-native" / "bin" / "python"
    for item in args.build or ([f"native={native}"] if native.exists() else []):
        name, _, python = item.partition("=")
        builds[name] = python
    args.log_dir.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_model()}; {args.threads} thread(s); {args.completions} completions of up to {args.max_tokens}")

    servers: dict[str, local.LocalServer] = {}
    results: dict[str, float | None] = {}
    try:
        for name, python in builds.items():
            print(f"{name:12} {python}\n{'':12} {cpu_features(python)}")
            try:
                servers[name] = local.launch(
                    local.free_port(), threads=args.threads, python=python, log_path=args.log_dir / f"bench-{name}.log"
                )
            except local.LocalServerError as exc:
                print(f"{'':12} did not serve: {exc}")
                results[name] = None
        rates: dict[str, list[float]] = {name: [] for name in servers}
        for _ in range(args.completions):
            for name, server in servers.items():
                tokens, seconds = completion(server.base_url, args.max_tokens)
                rates[name].append(tokens / seconds)
        for name, values in rates.items():
            results[name] = statistics.median(values)
    finally:
        for server in servers.values():
            server.stop()

    portable = results.get("portable")
    print(f"\n{'build':12} {'tokens/s':>9} {'portable / build':>17}")
    for name, rate in results.items():
        if rate is None:
            print(f"{name:12} {'died':>9}")
            continue
        ratio = f"{portable / rate:.2f}" if portable else ""
        print(f"{name:12} {rate:9.1f} {ratio:>17}")
    return results


if __name__ == "__main__":
    main()
