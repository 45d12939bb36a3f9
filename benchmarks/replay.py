"""Replay cost: a ``%%chat --cache`` cell answered from the answer cache vs the same cell sent to a server.

    python benchmarks/replay.py [--cells 200] [--chunks 200]

A loopback server streams an N-chunk OpenAI-format reply (counting the requests it gets). Each cell runs
through IPython's ``run_cell_magic`` with its output captured as a notebook's would be (the reply rendered
from Markdown, the footer). The real cell asks the server every time (``--new``, no cache); the replayed
cell is the same question after one recording, so it is answered from the SQLite file in a temporary folder.
A replayed cell's time is all our own (no network, no server): the goal is <= 5 ms per cell, and 0 requests.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loopback import MODEL, LoopbackServer, openai_events

from jupyter_providers import ProviderStore

GOAL_MS = 5.0


def _cells(shell: Any, line: str, n: int) -> tuple[list[float], float]:
    """Wall time of each of ``n`` cells (ms) and the CPU time of all of them (ms)."""
    from IPython.utils.capture import capture_output

    walls = []
    cpu = time.process_time()
    for _ in range(n):
        start = time.perf_counter()
        with capture_output():
            shell.run_cell_magic("chat", line, "Summarise the quick brown fox in one paragraph.")
        walls.append((time.perf_counter() - start) * 1000)
    return walls, (time.process_time() - cpu) * 1000


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=200, help="cells of each kind (default 200)")
    parser.add_argument("--chunks", type=int, default=200, help="chunks of the streamed reply (default 200)")
    args = parser.parse_args(argv)

    from IPython.core.interactiveshell import InteractiveShell

    from jupyter_providers import _cache
    from jupyter_providers.conversation import reset_conversations
    from jupyter_providers.magics import ChatMagics

    results: dict[str, Any] = {}
    with (
        tempfile.TemporaryDirectory() as tmp,
        LoopbackServer({"/v1/chat/completions": openai_events(args.chunks)}, max_requests=args.cells + 10) as srv,
    ):
        os.environ[_cache.ENV] = tmp
        store = ProviderStore(persist=False, admin_paths=[])
        store.add("bench", base_url=srv.base_url, api_key="", models=[MODEL])
        shell = InteractiveShell.instance()
        magics = ChatMagics(shell, store=store)
        magics.update_interval = 0.05
        shell.register_magics(magics)
        reset_conversations()
        _cells(shell, "-p bench --new --cache", 1)  # records the answer (and warms every import up)
        _cells(shell, "-p bench --new", 1)
        real, real_cpu = _cells(shell, "-p bench --new", args.cells)
        before = srv.requests
        replayed, replay_cpu = _cells(shell, "-p bench --new --cache", args.cells)
        sent = srv.requests - before
        shown = magics.last_stats
        reset_conversations()
        _cache.forget_open()
        del os.environ[_cache.ENV]

    results["real cell ms (median)"] = statistics.median(real)
    results["replayed cell ms (median)"] = statistics.median(replayed)
    results["replayed cell ms (p95)"] = sorted(replayed)[int(len(replayed) * 0.95) - 1]
    results["replayed cell CPU ms (mean)"] = replay_cpu / args.cells
    results["real cell CPU ms (mean)"] = real_cpu / args.cells
    results["requests while replaying"] = sent
    results["replayed pieces streamed (last cell)"] = shown.pieces
    width = max(map(len, results))
    print(f"replay: {args.cells} cells of each kind, a {args.chunks}-chunk reply, loopback server")
    for name, value in results.items():
        print(f"  {name:<{width}}  {value:.2f}" if isinstance(value, float) else f"  {name:<{width}}  {value}")
    ratio = results["real cell ms (median)"] / max(results["replayed cell ms (median)"], 1e-9)
    verdict = "within" if results["replayed cell ms (median)"] <= GOAL_MS else "OVER"
    print(f"  a replayed cell takes 1/{ratio:.1f} of a real one; {verdict} the {GOAL_MS:g} ms goal; {sent} requests")
    return results


if __name__ == "__main__":
    main()
