"""Streaming overhead: the cost of each streamed chunk, ours vs a bare httpx loop vs the official SDKs.

    python benchmarks/streaming.py [--chunks 100000] [--repeat 3]

A loopback server (127.0.0.1, in this process) writes a pre-built body of N OpenAI-format
``data:`` chunks, or N Anthropic-format ``content_block_delta`` events, as fast as the socket
takes it. Each client reads the whole stream and keeps every text piece; the median wall
time of ``--repeat`` runs, divided by N, is its cost per chunk. The floor is the least any
Python client can do: httpx ``iter_lines()`` + ``json.loads`` + picking out the text.
Targets: ours within 1.5x of the floor; the SDKs at least 10x slower than ours. SDKs that
are not installed are reported as such (``pip install openai anthropic``, or ``make bench``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loopback import MODEL, LoopbackServer, anthropic_events, openai_events, piece

from jupyter_providers import ProviderStore, chat

PROMPT = [{"role": "user", "content": "Hi"}]
FLOOR = "floor: httpx iter_lines + json.loads"
OURS = "jupyter_providers chat(stream=True)"


# Each client is built once per server, outside the timing (as a notebook keeps its client); a call
# reads the whole stream and returns the text pieces. Every client opens a fresh connection per read
# (the server closes it), so the timings differ only by what each client does with the bytes.
class Reader:
    def __init__(self, base: str) -> None:
        self.base = base

    def __call__(self) -> list[str]:
        raise NotImplementedError


# -- the floor: a bare httpx loop -------------------------------------------------------------------
class FloorOpenAI(Reader):
    def __init__(self, base: str) -> None:
        super().__init__(base)
        self.client = httpx.Client(timeout=60)

    def __call__(self) -> list[str]:
        pieces: list[str] = []
        body = {"model": MODEL, "messages": PROMPT, "stream": True}
        with self.client.stream("POST", f"{self.base}/v1/chat/completions", json=body) as r:
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                choices = json.loads(data)["choices"]
                if choices:
                    text = choices[0]["delta"].get("content")
                    if text:
                        pieces.append(text)
        return pieces


class FloorAnthropic(FloorOpenAI):
    def __call__(self) -> list[str]:
        pieces: list[str] = []
        body = {"model": MODEL, "messages": PROMPT, "max_tokens": 1024, "stream": True}
        with self.client.stream("POST", f"{self.base}/v1/messages", json=body) as r:
            for line in r.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if event["type"] == "content_block_delta" and event["delta"]["type"] == "text_delta":
                    pieces.append(event["delta"]["text"])
                elif event["type"] == "message_stop":
                    break
        return pieces


# -- ours ---------------------------------------------------------------------------------------------
STORE = ProviderStore(persist=False, admin_paths=[])


class OursOpenAI(Reader):
    """``chat(..., stream=True)`` through an in-memory store holding the server as a provider."""

    protocol = "openai"

    def __init__(self, base: str) -> None:
        super().__init__(base)
        self.name = f"{self.protocol} {base}"
        if self.name not in STORE:
            url = f"{base}/v1" if self.protocol == "openai" else base
            STORE.add(self.name, type=self.protocol, base_url=url, api_key="", models=[MODEL])

    def __call__(self) -> list[str]:
        return list(chat("Hi", provider=self.name, model=MODEL, stream=True, store=STORE))


class OursAnthropic(OursOpenAI):
    protocol = "anthropic"


# -- the official SDKs ----------------------------------------------------------------------------------
class SDKOpenAI(Reader):
    def __init__(self, base: str) -> None:
        import openai

        super().__init__(base)
        self.client: Any = openai.OpenAI(base_url=f"{base}/v1", api_key="sk-bench", max_retries=0)

    def __call__(self) -> list[str]:
        pieces: list[str] = []
        for chunk in self.client.chat.completions.create(model=MODEL, messages=PROMPT, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
        return pieces


class SDKAnthropic(Reader):
    def __init__(self, base: str) -> None:
        import anthropic

        super().__init__(base)
        self.client: Any = anthropic.Anthropic(base_url=base, api_key="sk-bench", max_retries=0)

    def __call__(self) -> list[str]:
        pieces: list[str] = []
        events = self.client.messages.create(model=MODEL, max_tokens=1024, messages=PROMPT, stream=True)
        for event in events:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                pieces.append(event.delta.text)
        return pieces


class SDKAnthropicHelper(SDKAnthropic):
    """``messages.stream()``, the helper Anthropic's documentation shows (it also builds the message)."""

    def __call__(self) -> list[str]:
        with self.client.messages.stream(model=MODEL, max_tokens=1024, messages=PROMPT) as stream:
            return list(stream.text_stream)


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    return importlib.metadata.version(module)


def timed(read: Reader, expected: str, repeat: int) -> float:
    """Median seconds of ``repeat`` complete reads; each read must give exactly the expected text."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        pieces = read()
        times.append(time.perf_counter() - start)
        if "".join(pieces) != expected:
            raise AssertionError(f"a client read {len(''.join(pieces))} characters, expected {len(expected)}")
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, float | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="text chunks per stream")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per client (the median is kept)")
    parser.add_argument("--no-sdk", action="store_true", help="skip the official SDKs even if installed")
    args = parser.parse_args(argv)
    n, warm_n = args.chunks, 50
    expected = "".join(piece(i) for i in range(n))
    routes = {"/v1/chat/completions": openai_events(n), "/v1/messages": anthropic_events(n)}
    warm_routes = {"/v1/chat/completions": openai_events(warm_n), "/v1/messages": anthropic_events(warm_n)}
    size = {"openai": len(b"".join(routes["/v1/chat/completions"])), "anthropic": len(b"".join(routes["/v1/messages"]))}
    cases: list[tuple[str, str, type[Reader]]] = [
        ("openai", FLOOR, FloorOpenAI),
        ("openai", OURS, OursOpenAI),
        ("openai", f"openai SDK {_version('openai')} create(stream=True)", SDKOpenAI),
        ("anthropic", FLOOR, FloorAnthropic),
        ("anthropic", OURS, OursAnthropic),
        ("anthropic", f"anthropic SDK {_version('anthropic')} messages.create(stream=True)", SDKAnthropic),
        ("anthropic", f"anthropic SDK {_version('anthropic')} messages.stream()", SDKAnthropicHelper),
    ]
    results: dict[str, float | None] = {}
    with LoopbackServer(routes) as srv, LoopbackServer(warm_routes) as warm:
        for protocol, case, read in cases:
            name = f"{protocol}: {case}"
            if "SDK" in case and (args.no_sdk or _version(protocol) is None):
                results[name] = None
                continue
            read(warm.base_url)()  # imports and lazy set-up are not what is measured
            results[name] = timed(read(srv.base_url), expected, args.repeat) / n * 1e6

    print(f"{n:,} chunks per stream (OpenAI body {size['openai'] / 1e6:.1f} MB, "
          f"Anthropic {size['anthropic'] / 1e6:.1f} MB), median of {args.repeat} runs")  # fmt: skip
    print(f"{'case':66} {'µs/chunk':>9} {'vs floor':>9} {'SDK / ours':>11}")
    for name, us in results.items():
        protocol = name.split(":")[0]
        floor, mine = results[f"{protocol}: {FLOOR}"], results[f"{protocol}: {OURS}"]
        if us is None:
            print(f"{name:66} {'skipped' if args.no_sdk else 'not installed':>9}")
            continue
        vs_floor = f"{us / floor:.2f}x" if floor else ""
        vs_ours = f"{us / mine:.1f}x" if "SDK" in name and mine else ""
        print(f"{name:66} {us:9.2f} {vs_floor:>9} {vs_ours:>11}")
    print()
    for protocol in ("openai", "anthropic"):
        floor, mine = results[f"{protocol}: {FLOOR}"], results[f"{protocol}: {OURS}"]
        assert floor and mine
        verdict = "meets" if mine / floor <= 1.5 else "MISSES"
        print(f"{protocol}: ours costs {mine / floor:.2f}x the floor ({verdict} the <= 1.5x target)")
        for name, us in results.items():
            if name.startswith(protocol) and "SDK" in name and us is not None:
                verdict = "meets" if us / mine >= 10 else "MISSES"
                print(f"  {name.split(': ', 1)[1]} costs {us / mine:.1f}x ours ({verdict} the >= 10x target)")
    return results


if __name__ == "__main__":
    main()
