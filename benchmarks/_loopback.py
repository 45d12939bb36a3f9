"""Shared by the benchmarks: a minimal loopback HTTP server and pre-built provider streams.

The server answers every request with a body built once in advance (no JSON encoding per
request, no per-chunk flush), written with ``Connection: close``, so it costs the client
almost nothing and the client's own parsing is what gets measured. It listens on 127.0.0.1
only, serves at most ``max_requests`` requests and stops with :meth:`LoopbackServer.stop`.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["MODEL", "WORDS", "LoopbackServer", "anthropic_events", "openai_events", "piece", "serve_until_stdin_closes"]

#: the pieces a stream is made of: short words, as models send them
WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".", " Ok", " é", " 😀")
MODEL = "bench-model"


def piece(i: int) -> str:
    return WORDS[i % len(WORDS)]


def _sse(data: dict[str, Any], event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def openai_events(n: int, *, piece_of: Callable[[int], str] = piece) -> list[bytes]:
    """An OpenAI Chat Completions stream of ``n`` text chunks, as api.openai.com writes them."""

    def chunk(choices: list[dict[str, Any]], usage: Any = None) -> bytes:
        return _sse({
            "id": "chatcmpl-BENCH0123456789abcdef", "object": "chat.completion.chunk", "created": 1_700_000_000,
            "model": MODEL, "service_tier": "default", "system_fingerprint": "fp_0123456789",
            "choices": choices, "usage": usage,
        })  # fmt: skip

    def choice(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

    events = [chunk([choice({"role": "assistant", "content": "", "refusal": None})])]
    events += [chunk([choice({"content": piece_of(i)})]) for i in range(n)]
    events.append(chunk([choice({}, "stop")]))
    events.append(chunk([], {"prompt_tokens": 9, "completion_tokens": n, "total_tokens": n + 9}))
    events.append(b"data: [DONE]\n\n")
    return events


def anthropic_events(n: int, *, piece_of: Callable[[int], str] = piece) -> list[bytes]:
    """An Anthropic Messages stream of ``n`` text deltas, as api.anthropic.com writes them."""
    message: dict[str, Any] = {
        "id": "msg_BENCH0123456789", "type": "message", "role": "assistant", "model": MODEL, "content": [],
        "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 1},
    }  # fmt: skip
    events = [
        _sse({"type": "message_start", "message": message}, "message_start"),
        _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
             "content_block_start"),
        _sse({"type": "ping"}, "ping"),
    ]  # fmt: skip
    events += [
        _sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece_of(i)}},
             "content_block_delta")
        for i in range(n)
    ]  # fmt: skip
    events.append(_sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    delta = {"stop_reason": "end_turn", "stop_sequence": None}
    events.append(_sse({"type": "message_delta", "delta": delta, "usage": {"output_tokens": n}}, "message_delta"))
    events.append(_sse({"type": "message_stop"}, "message_stop"))
    return events


_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
    b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
)


class LoopbackServer:
    """Serves ``routes[path]`` (a list of SSE events) to any request on that path, on 127.0.0.1.

    ``seconds=0`` writes the whole body at once, as fast as the socket takes it; ``seconds>0``
    spreads it evenly over that time (in batches every 10 ms), like a model generating at a
    steady rate. ``with LoopbackServer(...) as srv: srv.base_url``.
    """

    def __init__(self, routes: dict[str, list[bytes]], *, seconds: float = 0.0, max_requests: int = 10_000) -> None:
        self.routes = routes
        self.seconds = seconds
        self.max_requests = max_requests
        self.requests = 0
        self._bodies = {path: b"".join(events) for path, events in routes.items()}
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self.base_url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, name="loopback server", daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set() and self.requests < self.max_requests:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.requests += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            try:
                path = self._read_request(conn)
                if path not in self._bodies:
                    conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                conn.sendall(_HEAD)
                if self.seconds <= 0:
                    conn.sendall(self._bodies[path])
                else:
                    self._paced(conn, self.routes[path])
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the client went away

    def _paced(self, conn: socket.socket, events: list[bytes]) -> None:
        batches = max(1, min(len(events), int(self.seconds / 0.01)))
        step = len(events) / batches
        start = time.perf_counter()
        for b in range(batches):
            if self._stop.is_set():
                return
            conn.sendall(b"".join(events[round(b * step) : round((b + 1) * step)]))
            delay = start + (b + 1) * self.seconds / batches - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    @staticmethod
    def _read_request(conn: socket.socket) -> str:
        """Read one request (headers, then a Content-Length body); return its path."""
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 1 << 20:
            got = conn.recv(65536)
            if not got:
                raise OSError("no request")
            data += got
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(body) < min(length, 1 << 26):
            got = conn.recv(65536)
            if not got:
                break
            body += got
        path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
        return path.split("?")[0]


def serve_until_stdin_closes(server: Any, max_seconds: float = 3600) -> None:
    """For a server run in a child process: print its address, serve until the parent closes stdin.

    ``server`` has ``base_url`` and ``stop()``, and an optional ``requests`` list that is emptied
    as it goes (a recording fake server would otherwise keep every request it ever got).
    """
    print(server.base_url, flush=True)
    closed = threading.Event()

    def wait_for_eof() -> None:
        sys.stdin.read()
        closed.set()

    threading.Thread(target=wait_for_eof, daemon=True).start()
    deadline = time.monotonic() + max_seconds
    while not closed.wait(0.05) and time.monotonic() < deadline:
        if isinstance(getattr(server, "requests", None), list):
            server.requests.clear()
    server.stop()


if __name__ == "__main__":  # python _loopback.py openai PIECES PIECE_CHARS: one OpenAI stream of big pieces
    _, protocol, pieces, chars = sys.argv
    big = ("lorem ipsum dolor sit amet " * (int(chars) // 27 + 1))[: int(chars)]
    events = openai_events(int(pieces), piece_of=lambda i: big)
    with LoopbackServer({"/v1/chat/completions": events}) as srv:
        serve_until_stdin_closes(srv)
