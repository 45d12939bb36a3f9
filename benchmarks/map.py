"""Mapping: ``chat_map`` over 1,000 prompts at concurrency 32, against ``openai.AsyncOpenAI`` + ``asyncio.gather``.

    python benchmarks/map.py [--rows 1000] [--concurrency 32] [--delay 0.2] [--no-sdk]

The server is a child process (so the client's CPU time is the client's alone): an asyncio HTTP/1.1 server
that keeps connections alive and answers every chat completion after ``--delay`` seconds with one small
JSON body. The ideal wall time is rows / concurrency x delay (6.25 s by default). Measured in the same run:
wall time (against the ideal), client CPU per request (``time.process_time``: every thread of this process),
and the memory per request in flight (``tracemalloc``'s peak during a map, over the rows in flight, in a
separate shorter run since tracing slows everything down). Goals (issue 16): wall <= 1.1x the ideal, CPU per
request <= 1/5 of the SDK's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from jupyter_providers import ProviderStore, chat_map

MODEL = "bench-model"

SERVER = r"""
import asyncio, sys
DELAY = float(sys.argv[1])
BODY = (b'{"id":"chatcmpl-BENCH","object":"chat.completion","created":1700000000,"model":"bench-model",'
        b'"choices":[{"index":0,"message":{"role":"assistant","content":"positive","refusal":null},'
        b'"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":1,'
        b'"total_tokens":13},"system_fingerprint":null}')
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(BODY))

async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            await asyncio.sleep(DELAY)
            writer.write(HEAD + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
        pass  # the client hung up, or the server stops
    finally:
        writer.close()

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=1024)
    print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes stdin

asyncio.run(main())
"""


@contextlib.contextmanager
def server(delay: float) -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(delay)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
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


def prompts(n: int) -> list[dict[str, str]]:
    return [{"text": f"review number {i}: the battery lasts two days"} for i in range(n)]


def run_ours(store: ProviderStore, n: int, concurrency: int) -> Callable[[], int]:
    def work() -> int:
        out = chat_map(
            prompts(n), "Classify this review: {text}", provider="bench", concurrency=concurrency, max_tokens=5,
            progress=False, store=store,
        )  # fmt: skip
        bad = [r.error for r in out if not r.ok]
        if bad:
            raise AssertionError(f"{len(bad)} rows failed, the first: {bad[0]}")
        return len(out)

    return work


def run_sdk(base: str, n: int, concurrency: int) -> Callable[[], int]:
    import openai

    def work() -> int:
        async def go() -> int:
            client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key="sk-bench", max_retries=0)
            gate = asyncio.Semaphore(concurrency)

            async def one(row: dict[str, str]) -> str:
                async with gate:
                    r = await client.chat.completions.create(
                        model=MODEL, max_tokens=5,
                        messages=[{"role": "user", "content": f"Classify this review: {row['text']}"}],
                    )  # fmt: skip
                    return r.choices[0].message.content or ""

            try:
                out = await asyncio.gather(*(one(row) for row in prompts(n)))
            finally:
                await client.close()
            return len(out)

        return asyncio.run(go())

    return work


def run_floor(base: str, n: int, concurrency: int) -> Callable[[], int]:
    """The floor of a sync client: one shared ``httpx.Client`` posting from ``concurrency`` threads, nothing else
    (no deadline, no limits, no error handling)."""
    import json
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    client = httpx.Client(limits=httpx.Limits(max_connections=128, max_keepalive_connections=128))
    url, headers = f"{base}/v1/chat/completions", {"authorization": "Bearer sk-bench"}

    def one(row: dict[str, str]) -> str:
        body = {"model": MODEL, "max_tokens": 5,
                "messages": [{"role": "user", "content": f"Classify this review: {row['text']}"}]}  # fmt: skip
        answer = json.loads(client.post(url, json=body, headers=headers).content)
        return str(answer["choices"][0]["message"]["content"])

    def work() -> int:
        with ThreadPoolExecutor(concurrency) as pool:
            return len(list(pool.map(one, prompts(n))))

    return work


def measure(work: Callable[[], int]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one run."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def peak_per_flight(work: Callable[[], int], in_flight: int) -> float:
    """Bytes allocated at the peak of ``work()`` above what was in use before, per request in flight."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        work()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return (peak - before) / in_flight


def _sdk_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("openai")
    except Exception:
        return None


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the server takes to answer")
    parser.add_argument("--memory-rows", type=int, default=256, help="rows of the (traced, slower) memory run")
    parser.add_argument("--no-sdk", action="store_true", help="skip the openai SDK even if installed")
    args = parser.parse_args(argv)
    n, c = args.rows, args.concurrency
    ideal = n / c * args.delay  # the ideal; the last round (n % c rows) still takes a whole delay
    sdk = None if args.no_sdk else _sdk_version()
    results: dict[str, dict[str, float]] = {}
    with server(args.delay) as base:
        store = ProviderStore(persist=False, admin_paths=[])
        store.add("bench", type="openai", base_url=f"{base}/v1", api_key="sk-bench", models=[MODEL])
        runs: list[tuple[str, Callable[[], int], Callable[[int], Callable[[], int]]]] = [
            ("jupyter_providers chat_map", run_ours(store, n, c), lambda k: run_ours(store, k, c)),
        ]
        runs.append(("floor: httpx.Client in threads", run_floor(base, n, c), lambda k: run_floor(base, k, c)))
        if sdk:
            runs.append((f"openai {sdk} AsyncOpenAI + gather", run_sdk(base, n, c), lambda k: run_sdk(base, k, c)))
        for name, work, small in runs:
            small(c)()  # warm: imports, connections
            wall, cpu = measure(work)
            mem = peak_per_flight(small(args.memory_rows), c)
            results[name] = {"wall_s": wall, "ratio_to_ideal": wall / ideal, "cpu_ms_per_request": cpu / n * 1000,
                             "bytes_per_request_in_flight": mem}  # fmt: skip
    print(f"{n:,} prompts, concurrency {c}, server answers in {args.delay * 1000:.0f} ms: ideal {ideal:.2f} s")
    print(f"{'client':<42} {'wall':>8} {'/ideal':>7} {'CPU/request':>12} {'memory/in flight':>17}")
    for name, r in results.items():
        print(
            f"{name:<42} {r['wall_s']:>7.2f}s {r['ratio_to_ideal']:>6.2f}x {r['cpu_ms_per_request']:>10.2f}ms "
            f"{r['bytes_per_request_in_flight'] / 1024:>14.1f} KB"
        )
    if len(results) == 3:
        ours, _, theirs = results.values()
        print(f"CPU per request: ours is {ours['cpu_ms_per_request'] / theirs['cpu_ms_per_request']:.2f} of the SDK's")
    else:
        print("openai SDK: skipped (not installed, or --no-sdk; `make bench` installs it)")
    return results


if __name__ == "__main__":
    main()
