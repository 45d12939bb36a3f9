"""A server that speaks no protocol: the same answer to every request, on every path and method - what the
detect and capability tests put in front of the client as a server that lies (a web page at 200, an empty
200, JSON of the wrong shape, a 404 on chat)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


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
