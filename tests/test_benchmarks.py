"""The benchmark scripts run (a smoke test: timings are never asserted here)."""

from __future__ import annotations

import importlib.util
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
