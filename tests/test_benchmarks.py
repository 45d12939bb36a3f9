"""The benchmark scripts run (a smoke test: timings are never asserted here)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def load(name: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_startup_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    results = load("startup").main(["--runs", "1"])
    out = capsys.readouterr().out
    assert results["%load_ext jupyter_providers"] is not None and results["%load_ext jupyter_providers"] > 0
    assert "%load_ext jupyter_providers" in out and "ratio to ours" in out


def test_streaming_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    results = load("streaming").main(["--chunks", "300", "--repeat", "1", "--no-sdk"])
    out = capsys.readouterr().out
    for protocol in ("openai", "anthropic"):
        assert (results[f"{protocol}: floor: httpx iter_lines + json.loads"] or 0) > 0
        assert (results[f"{protocol}: jupyter_providers chat(stream=True)"] or 0) > 0
        assert f"{protocol}: ours costs" in out
    assert "skipped" in out  # the SDK rows


def test_streaming_benchmark_runs_the_official_sdks(capsys: pytest.CaptureFixture[str]) -> None:
    for sdk in ("openai", "anthropic"):
        pytest.importorskip(sdk, reason=f"{sdk} SDK not installed here: it is in .venv-bench (make bench)")
    results = load("streaming").main(["--chunks", "300", "--repeat", "1"])
    sdk_rows = {name: us for name, us in results.items() if "SDK" in name}
    assert len(sdk_rows) == 3 and all(us is not None and us > 0 for us in sdk_rows.values())
    assert "SDK" in capsys.readouterr().out


def test_display_benchmark_runs() -> None:
    # In a child process: the in-process kernel makes its own IPython shell singleton, which must not
    # replace the InteractiveShell the magic tests use in this process.
    pytest.importorskip("ipykernel")
    done = subprocess.run(
        [sys.executable, str(BENCH / "display.py"), "--chunks", "400", "--seconds", "0.5"],
        capture_output=True, text=True, timeout=240, check=True,
    )  # fmt: skip
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line.split()}
    for path in ("%%chat", "ChatWidget"):
        assert path in rows, done.stdout
        assert int(rows[path][2]) > 0 and int(rows[path][4].replace(",", "")) > 0  # messages, bytes
    assert "the final text" in done.stdout


def test_fanout_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    results = load("fanout").main(["--providers", "3", "--models", "2", "--delay", "0.05"])
    for case in ("verify", "compare"):
        r = results[case]
        assert r["one"] > 0 and r["fan_out"] > 0 and r["one_by_one"] > 0
    out = capsys.readouterr().out
    assert "%providers verify (3 providers)" in out and "%%chat --compare (2 models)" in out


def test_memory_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    results = load("memory").main(["--turns", "8", "--megabytes", "0.2", "--no-huge"])
    assert [r["size"] for r in results["conversation"]] == [2, 4, 8]
    assert len(results["reply"]) == 3 and all(r["peak"] > 0 for r in results["reply"])
    out = capsys.readouterr().out
    assert "Conversation:" in out and "One streamed reply" in out


def test_local_build_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The portable build against itself (a second interpreter path to the same build): the ratio is printed."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (the `local` extra)")
    args = ["--build", f"again={sys.executable}", "--completions", "1", "--max-tokens", "8"]
    results = load("local_build").main(args)
    out = capsys.readouterr().out
    assert (results["portable"] or 0) > 0 and (results["again"] or 0) > 0
    assert "portable / build" in out and "CPU:" in out


def test_map_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--rows", "64", "--concurrency", "8", "--delay", "0.02", "--memory-rows", "16", "--no-sdk"]
    results = load("map").main(args)
    out = capsys.readouterr().out
    ours = results["jupyter_providers chat_map"]
    assert ours["wall_s"] > 0 and ours["cpu_ms_per_request"] > 0 and ours["bytes_per_request_in_flight"] > 0
    assert "ideal" in out and "openai SDK: skipped" in out


def test_replay_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    results = load("replay").main(["--cells", "3", "--chunks", "20"])
    out = capsys.readouterr().out
    assert results["requests while replaying"] == 0 and results["replayed cell ms (median)"] > 0
    assert "a replayed cell takes" in out
