"""Fan-out: `%providers verify` over many providers, and `%%chat --compare` over several models, at once.

    python benchmarks/fanout.py [--providers 20] [--models 5] [--delay 0.2]

Each provider is a loopback fake server (``tests/fakes``) that takes ``--delay`` seconds to
answer any request. Measured in the same run: one request alone, the fan-out (``%providers
verify`` with no name, which verifies every enabled provider; ``%%chat --compare`` over
``--models`` models), both the median of ``--repeat`` runs, and the same requests one after
another. Target: the fan-out takes about as long as one request, not as long as the sum.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.fakes
from jupyter_providers import ProviderStore, chat
from jupyter_providers._providers_cmd import ProvidersCommand
from tests.fakes import FakeServer

MODEL = "bench-model"


def timed(work: Callable[[], object], repeat: int = 1) -> float:
    """Median wall time of ``repeat`` runs of ``work``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class Compare:
    """``%%chat --compare`` in an IPython shell (a terminal one: the replies are printed, and swallowed here)."""

    def __init__(self, store: ProviderStore, names: list[str]) -> None:
        from IPython.core.interactiveshell import InteractiveShell

        from jupyter_providers.magics import ChatMagics

        self.names = names
        self.shell = InteractiveShell.instance()
        self.shell.register_magics(ChatMagics(self.shell, store=store))

    def __call__(self) -> None:
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            self.shell.run_cell_magic("chat", "--new --compare " + ",".join(f"{n}:{MODEL}" for n in self.names), "Hi")
        if out.getvalue().count("Hello there") != len(self.names):
            raise AssertionError(f"--compare did not give {len(self.names)} replies:\n{out.getvalue()}")

    def close(self) -> None:
        from jupyter_providers.magics import unload_ipython_extension

        unload_ipython_extension(self.shell)


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=20, help="providers to verify")
    parser.add_argument("--models", type=int, default=5, help="models to --compare")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds each server takes to answer")
    parser.add_argument("--repeat", type=int, default=3, help="runs of one request and of the fan-out (median)")
    args = parser.parse_args(argv)
    if args.models < 2 or args.models > args.providers:
        parser.error("--models must be at least 2 and at most --providers")
    servers = [FakeServer("openai", models=[MODEL]).start() for _ in range(args.providers)]
    results: dict[str, dict[str, float]] = {}
    try:
        store = ProviderStore(persist=False, admin_paths=[])
        names = [f"p{i:02}" for i in range(args.providers)]
        for name, srv in zip(names, servers, strict=True):
            store.add(name, type="openai", base_url=srv.base_url, api_key="", models=[MODEL])
            store.verify(name)  # opens the connection: every case below finds it in the pool
            srv.delay = args.delay
        command = ProvidersCommand(store)
        compared = names[: args.models]

        def chat_one(name: str) -> str:
            return chat("Hi", provider=name, model=MODEL, stream=True, store=store).text

        one_verify = timed(lambda: store.verify(names[0]), args.repeat)
        fan_verify = timed(lambda: command.run(["verify"]), args.repeat)
        seq_verify = timed(lambda: [store.verify(n) for n in names])
        if not all(p.last_verification is not None and p.last_verification.ok for p in store):
            raise AssertionError("a provider failed to verify")
        compare = Compare(store, compared)
        try:
            one_chat = timed(lambda: chat_one(compared[0]), args.repeat)
            fan_chat = timed(compare, args.repeat)
            seq_chat = timed(lambda: [chat_one(n) for n in compared])
        finally:
            compare.close()
    finally:
        for srv in servers:
            srv.stop()

    print(f"each server answers after {args.delay:g} s; one request and fan-out: median of {args.repeat} runs")
    header = f"{'case':44} {'one request s':>14} {'fan-out s':>10} {'one by one s':>13} {'vs one':>7} {'vs sum':>7}"
    print(header)
    cases = (
        (f"%providers verify ({args.providers} providers)", "verify", one_verify, fan_verify, seq_verify),
        (f"%%chat --compare ({args.models} models)", "compare", one_chat, fan_chat, seq_chat),
    )
    for label, key, one, fan, seq in cases:
        results[key] = {"one": one, "fan_out": fan, "one_by_one": seq, "vs_one": fan / one, "vs_sum": fan / seq}
        print(f"{label:44} {one:14.3f} {fan:10.3f} {seq:13.3f} {fan / one:6.2f}x {fan / seq:6.2f}x")
    print()
    for label, key, *_ in cases:
        r = results[key]
        verdict = "meets" if r["vs_one"] <= 1.5 else "MISSES"
        print(f"{label}: {r['vs_one']:.2f}x one request, {r['vs_sum']:.2f}x the sum "
              f"({verdict} the 'close to one request' target, read as <= 1.5x)")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
