"""A server that speaks no protocol: the same answer to every request, on every path and method - what the
detect and capability tests put in front of the client as a server that lies (a web page at 200, an empty
200, JSON of the wrong shape, a 404 on chat), and :data:`HOLLOW`: each type's answer with its top-level fields
but no answer in them."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

#: per provider type, 200 answers that have the type's top-level fields but are no answer of that protocol (a
#: choice without a message, a content block or an output item without a type, a candidate with nothing in it,
#: a message without content): what a liar sends to pass for the type (openai-python ``ChatCompletion``,
#: anthropic-sdk ``Message``, Gemini's ``GenerateContentResponse``, openai-python ``Response``, Ollama's
#: api/types.go ``ChatResponse``)
HOLLOW: dict[str, tuple[dict[str, Any], ...]] = {
    "openai": (
        {"choices": [{}]},
        {"choices": [{"message": {}}]},
        {"choices": [{"finish_reason": "stop"}]},
        {"choices": [{"message": {"content": None, "role": "assistant"}}]},
        {"choices": [{"message": {"content": "hi"}, "finish_reason": 5}]},
    ),
    "anthropic": (
        {"content": []},
        {"content": [{}]},
        {"type": "error", "content": [{"type": "text", "text": "hi"}]},
    ),
    "gemini": ({"candidates": [{}]}, {"usageMetadata": {"promptTokenCount": 1}}, {"candidates": [{"index": 0}]}),
    "openai-responses": (
        {"output": []},
        {"output": [{}]},
        {"output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}]},
    ),
    "ollama": ({"message": {}}, {"message": {"role": "assistant"}, "done": True}),
}
HOLLOW["azure"] = HOLLOW["openai"]


@contextlib.contextmanager
def answering(status: int, body: bytes, ctype: str, *, delay: float = 0.0, listing: str | None = None) -> Iterator[str]:
    """The server's base URL. Every request waits ``delay`` seconds, then gets ``status``/``body`` as ``ctype``;
    with ``listing`` (a real fake's base URL) a GET is answered by that fake instead (200 on ``/models`` but the
    same lie on chat)."""

    class Handler(BaseHTTPRequestHandler):
        disable_nagle_algorithm = True  # as tests/fakes/server.py: no 40 ms wait for a delayed ACK

        def _answer(self) -> None:
            if delay:
                time.sleep(delay)
            if listing is not None and self.command == "GET":
                r = httpx.get(listing + self.path, headers={k: v for k, v in self.headers.items() if k != "Host"})
                out, code, kind = r.content, r.status_code, r.headers.get("content-type", "application/json")
            else:
                out, code, kind = body, status, ctype
            self.send_response(code)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = _answer

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
