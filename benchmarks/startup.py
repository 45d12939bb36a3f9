"""Start-up cost: a fresh process doing `%load_ext X` (and `import X`), measured in the same run.

    python benchmarks/startup.py [--runs 7]

Each measurement is the median wall time of fresh interpreter processes; the baseline
(an IPython shell with no extension, or a bare interpreter) is subtracted so only the
extension's own cost is compared. Extensions that are not installed are reported as such:
`pip install 'jupyter-ai-magics<3' openai anthropic` (or `make bench`) to compare with them.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import time

SHELL = "from IPython.core.interactiveshell import InteractiveShell as S; ip = S.instance()"
LOAD = "ip.extension_manager.load_extension"
CASES = {
    "ipython shell (baseline)": (SHELL, None),
    "%load_ext jupyter_providers": (f"{SHELL}; {LOAD}('jupyter_providers')", "jupyter_providers"),
    "%load_ext jupyter_ai_magics": (f"{SHELL}; {LOAD}('jupyter_ai_magics')", "jupyter_ai_magics"),
    "python (baseline)": ("pass", None),
    "import jupyter_providers": ("import jupyter_providers", "jupyter_providers"),
    "import jupyter_providers + chat client": ("import jupyter_providers.client", "jupyter_providers"),
    "import openai": ("import openai", "openai"),
    "import anthropic": ("import anthropic", "anthropic"),
}


def measure(code: str, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    results: dict[str, float | None] = {}
    for name, (code, module) in CASES.items():
        results[name] = None if module and importlib.util.find_spec(module) is None else measure(code, args.runs)
    shell, bare = results["ipython shell (baseline)"], results["python (baseline)"]
    assert shell is not None and bare is not None
    ours_ext = (results["%load_ext jupyter_providers"] or 0) - shell
    ours_imp = (results["import jupyter_providers"] or 0) - bare
    print(f"{'case':42} {'median s':>9} {'own cost s':>11} {'ratio to ours':>14}")
    for name, value in results.items():
        if value is None:
            print(f"{name:42} {'not installed':>9}")
            continue
        base = shell if name.startswith("%") or name.startswith("ipython") else bare
        own = value - base
        ref = ours_ext if name.startswith("%") else ours_imp
        ratio = f"{own / ref:14.1f}x" if "baseline" not in name and ref > 0 else ""
        print(f"{name:42} {value:9.3f} {own:11.3f} {ratio}")
    theirs = results["%load_ext jupyter_ai_magics"]
    if theirs is not None:
        share = ours_ext / (theirs - shell)
        verdict = "meets" if share < 1 / 3 else "MISSES"
        print(f"\n%load_ext jupyter_providers costs {share:.2f} of jupyter_ai_magics' ({verdict} the < 1/3 target)")
    return results


if __name__ == "__main__":
    main()
