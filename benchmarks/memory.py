"""Memory: peak memory of a long conversation and of a huge streamed reply, at several sizes.

    python benchmarks/memory.py [--turns 1000] [--megabytes 10]

The servers run in child processes, so ``tracemalloc`` sees only the client: a conversation of
N turns (``Conversation`` with a loopback fake server, every reply streamed and recorded, the
whole history sent each turn) at N/4, N/2 and N turns; and one streamed reply of M/4, M/2 and
M megabytes (the fake server's ``huge`` fault for the largest, ~10 MB). Growth is linear when
the bytes per turn (per reply byte) stay flat as the size doubles, i.e. the peak doubles too.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import subprocess
import sys
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loopback import MODEL

from jupyter_providers import ProviderStore, chat
from jupyter_providers.conversation import Conversation
from jupyter_providers.reply import Reply

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent

REPLY = " ".join(["Jupyter kernels run code and keep state between cells, so the history grows."] * 4)
PROMPT = "Tell me once more how a kernel keeps its state, turn {i}."

FAKE = """
import sys
sys.path[:0] = [{bench!r}, {root!r}]
from _loopback import serve_until_stdin_closes
from tests.fakes import FakeServer
srv = FakeServer("openai", models=[{model!r}], reply={reply!r}).start()
srv.fault = {fault!r}
serve_until_stdin_closes(srv)
"""


@contextlib.contextmanager
def child_server(argv: list[str]) -> Iterator[str]:
    """Run a server in a child process (it prints its address first); stop it on exit."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        base = proc.stdout.readline().strip()
        if not base.startswith("http://127.0.0.1:"):
            raise RuntimeError(f"the server did not start (it printed {base!r})")
        yield base
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def fake(fault: str | None = None) -> list[str]:
    code = FAKE.format(bench=str(BENCH), root=str(ROOT), model=MODEL, reply=REPLY, fault=fault)
    return [sys.executable, "-c", code]


def peak_of(work: Callable[[], Any]) -> tuple[int, int, Any]:
    """(peak, retained) bytes allocated by ``work()`` above what was in use before, and its result."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = work()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before, current - before, result


def conversation(store: ProviderStore, turns: int) -> Conversation:
    conv = Conversation("fake", MODEL, store=store)
    for i in range(turns):
        text = "".join(conv.stream(PROMPT.format(i=i)))
        if text != REPLY:
            raise AssertionError(f"turn {i} got {text[:40]!r}...")
    return conv


def streamed(store: ProviderStore, provider: str) -> Reply:
    """A reply read piece by piece, as ``%%chat`` reads it, then kept (as ``reply = chat(...)`` keeps it)."""
    reply = chat("Hi", provider=provider, model=MODEL, stream=True, store=store)
    for _ in reply:
        pass
    assert reply.text and reply.error is None
    return reply


def table(title: str, unit: str, rows: list[tuple[str, int, int, int]]) -> list[dict[str, float]]:
    """Print rows of (label, size in units, peak, retained); return them with bytes per unit and growth."""
    print(title)
    per_peak, per_kept = f"peak B/{unit}", f"kept B/{unit}"
    print(f"{'size':>22} {'peak MB':>9} {'kept MB':>9} {per_peak:>13} {per_kept:>13} {'peak growth':>12}")
    out: list[dict[str, float]] = []
    for i, (label, size, peak, kept) in enumerate(rows):
        prev = rows[i - 1] if i else None
        growth = (peak / prev[2]) / (size / prev[1]) if prev else 1.0
        out.append({"size": size, "peak": peak, "retained": kept, "peak_per_unit": peak / size,
                    "retained_per_unit": kept / size, "growth": growth})  # fmt: skip
        g = f"{growth:11.2f}x" if prev else ""
        print(f"{label:>22} {peak / 1e6:9.2f} {kept / 1e6:9.2f} {peak / size:13.1f} {kept / size:13.1f} {g:>12}")
    return out


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, float]]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=1000, help="turns of the longest conversation")
    parser.add_argument("--megabytes", type=float, default=10.0, help="size of the largest streamed reply")
    parser.add_argument("--no-huge", action="store_true", help="skip the fake server's ~10 MB 'huge' reply")
    args = parser.parse_args(argv)
    store = ProviderStore(persist=False, admin_paths=[])
    results: dict[str, list[dict[str, float]]] = {}

    rows: list[tuple[str, int, int, int]] = []
    with child_server(fake()) as base:
        store.add("fake", type="openai", base_url=base, api_key="", models=[MODEL])
        conversation(store, 3)  # warm: imports and the connection are not what is measured
        for turns in (max(args.turns // 4, 1), max(args.turns // 2, 2), args.turns):
            peak, kept, conv = peak_of(functools.partial(conversation, store, turns))
            rows.append((f"{turns:,} turns", turns, peak, kept))
            del conv
    results["conversation"] = table(
        f"Conversation: {len(REPLY)}-character replies, the whole history sent each turn", "turn", rows
    )
    print()

    rows = []
    piece = 27_000
    for mb in (args.megabytes / 4, args.megabytes / 2, args.megabytes):
        pieces = max(int(mb * 1e6 / piece), 1)
        name = f"loopback {pieces}"
        with child_server([sys.executable, str(BENCH / "_loopback.py"), "openai", str(pieces), str(piece)]) as base:
            store.add(name, type="openai", base_url=f"{base}/v1", api_key="", models=[MODEL])
            streamed(store, name)  # warm
            peak, kept, reply = peak_of(functools.partial(streamed, store, name))
        rows.append((f"{len(reply.text) / 1e6:.1f} MB reply", len(reply.text), peak, kept))
        del reply
    if not args.no_huge:
        with child_server(fake("huge")) as base:
            store.add("huge", type="openai", base_url=base, api_key="", models=[MODEL])
            peak, kept, reply = peak_of(lambda: streamed(store, "huge"))
        rows.append((f"{len(reply.text) / 1e6:.1f} MB (fake 'huge')", len(reply.text), peak, kept))
        del reply
    results["reply"] = table("One streamed reply, in 27 kB pieces, kept as a Reply", "byte", rows)
    print()
    for what in ("conversation", "reply"):
        worst = max(r["growth"] for r in results[what][1:])
        verdict = "linear" if worst <= 1.25 else "MORE THAN LINEAR"
        print(f"{what}: peak grows {worst:.2f}x as fast as the size at worst ({verdict}; 1.00x is exactly linear)")
    return results


if __name__ == "__main__":
    main()
