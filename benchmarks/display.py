"""Display cost: what one streamed reply sends to the front end, through ``%%chat`` and the chat widget.

    python benchmarks/display.py [--chunks 20000] [--seconds 4]

A loopback server streams an N-chunk OpenAI-format reply spread evenly over S seconds (a fast
model). The reply is asked for with ``%%chat``, then with the ChatWidget, each inside an
in-process ipykernel (``ipykernel.inprocess``: the real output streams, display publisher and
comms of a kernel, delivered to a client in this process), and every iopub message the kernel
sends while the cell runs is counted with its bytes (header, parent header, metadata and content
as JSON). The baseline is the size of the reply's final text. Targets: at most ~20 front-end
updates a second, and total bytes within 3x of the final text (no quadratic re-sending).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loopback import MODEL, LoopbackServer, openai_events, piece

from jupyter_providers import ProviderStore

#: iopub messages that change what the front end shows
OUTPUT_TYPES = frozenset(
    {"stream", "display_data", "update_display_data", "clear_output", "execute_result", "comm_open", "comm_msg"}
)


@dataclass
class Sent:
    """What one cell sent to the front end."""

    seconds: float
    counts: Counter[str] = field(default_factory=Counter)
    bytes: Counter[str] = field(default_factory=Counter)

    @property
    def updates(self) -> int:
        return sum(n for t, n in self.counts.items() if t in OUTPUT_TYPES)

    @property
    def total_bytes(self) -> int:
        return sum(n for t, n in self.bytes.items() if t in OUTPUT_TYPES)


class Kernel:
    """An in-process ipykernel and its client; :meth:`run` executes a cell and returns what it sent."""

    def __init__(self) -> None:
        os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")  # ipykernel imports debugpy, which warns
        from ipykernel.inprocess.ipkernel import InProcessKernel
        from ipykernel.inprocess.manager import InProcessKernelManager

        self.manager = InProcessKernelManager()
        # Made as the singleton, as a real kernel application makes it, so that comms find it
        # (``InProcessKernelManager.start_kernel`` does not, and widget messages would be dropped).
        self.manager.kernel = self.kernel = InProcessKernel.instance(parent=self.manager, session=self.manager.session)
        self.client = self.manager.client()
        self.client.start_channels()
        self.shell: Any = self.kernel.shell

    def run(self, code: str, timeout: float = 120) -> Sent:
        self.client.iopub_channel.get_msgs()  # forget what earlier cells sent
        start = time.perf_counter()
        msg_id = self.client.execute(code)
        sent = Sent(0.0)
        deadline = start + timeout
        while time.perf_counter() < deadline:
            for msg in self.client.iopub_channel.get_msgs():
                kind = msg["msg_type"]
                if kind == "status" and msg["content"]["execution_state"] == "idle":
                    if msg["parent_header"].get("msg_id") == msg_id:
                        sent.seconds = time.perf_counter() - start
                        return sent
                    continue
                if kind == "error":
                    raise RuntimeError("\n".join(msg["content"]["traceback"]))
                sent.counts[kind] += 1
                sent.bytes[kind] += self._size(msg)
            time.sleep(0.01)
        raise TimeoutError(f"the cell did not finish within {timeout} s")

    def _size(self, msg: dict[str, Any]) -> int:
        """The message's bytes on the wire: its four JSON parts as the kernel's session packs them, and buffers."""
        session = self.kernel.session
        assert session is not None
        pack = session.pack
        parts = sum(len(pack(msg[k])) for k in ("header", "parent_header", "metadata", "content"))
        return parts + sum(len(b) for b in msg.get("buffers") or [])

    def close(self) -> None:
        from ipykernel.inprocess.ipkernel import InProcessInteractiveShell, InProcessKernel

        self.client.stop_channels()
        self.kernel.iopub_thread.stop()
        InProcessKernel.clear_instance()
        InProcessInteractiveShell.clear_instance()


SETUP = """
from jupyter_providers.magics import ChatMagics
from jupyter_providers.widgets import ChatWidget
get_ipython().register_magics(ChatMagics(get_ipython(), store=_bench_store))
"""
CHAT_CELL = f"%%chat --new -p bench -m {MODEL}\nHi"
WIDGET_SETUP = "_bench_widget = ChatWidget(provider='bench', store=_bench_store)\ndisplay(_bench_widget)"
WIDGET_TURN = "assert _bench_widget.send('Hi') and _bench_widget.wait(120) and _bench_widget.last_reply.error is None"


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=20_000, help="text chunks in the reply")
    parser.add_argument("--seconds", type=float, default=4.0, help="how long the server takes to stream them")
    args = parser.parse_args(argv)
    text_bytes = len("".join(piece(i) for i in range(args.chunks)).encode())
    results: dict[str, dict[str, float]] = {}
    sent: dict[str, Sent] = {}
    routes = {"/v1/chat/completions": openai_events(args.chunks)}
    with LoopbackServer(routes, seconds=args.seconds) as srv:
        store = ProviderStore(persist=False, admin_paths=[])
        store.add("bench", type="openai", base_url=f"{srv.base_url}/v1", api_key="", models=[MODEL])
        kernel = Kernel()
        try:
            kernel.shell.user_ns["_bench_store"] = store
            kernel.run(SETUP)
            sent["%%chat"] = kernel.run(CHAT_CELL)
            kernel.run(WIDGET_SETUP)
            sent["ChatWidget"] = kernel.run(WIDGET_TURN)
        finally:
            kernel.close()

    print(f"a {args.chunks:,}-chunk reply streamed over {args.seconds:g} s; its final text is {text_bytes:,} bytes")
    print(f"{'path':12} {'cell s':>7} {'messages':>9} {'updates/s':>10} {'bytes':>12} {'bytes / text':>13}  by type")
    for path, s in sent.items():
        per_s = s.updates / s.seconds
        ratio = s.total_bytes / text_bytes
        kinds = ", ".join(f"{t} {n} ({s.bytes[t]:,} B)" for t, n in sorted(s.counts.items()) if t in OUTPUT_TYPES)
        print(f"{path:12} {s.seconds:7.2f} {s.updates:9} {per_s:10.1f} {s.total_bytes:12,} {ratio:12.2f}x  {kinds}")
        results[path] = {"seconds": s.seconds, "updates": s.updates, "updates_per_s": per_s,
                         "bytes": s.total_bytes, "bytes_per_text_byte": ratio}  # fmt: skip
    print()
    for path, r in results.items():
        rate = "meets" if r["updates_per_s"] <= 20 else "MISSES"
        size = "meets" if r["bytes_per_text_byte"] <= 3 else "MISSES"
        print(f"{path}: {r['updates_per_s']:.1f} updates/s ({rate} the <= ~20/s target), "
              f"{r['bytes_per_text_byte']:.2f}x the final text ({size} the <= 3x target)")  # fmt: skip
    return results


if __name__ == "__main__":
    main()
