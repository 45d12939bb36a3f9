"""Hostile answers for the fake servers: bombs, endless and dripping bodies, odd headers.

``{base_url}/_hostile/NAME/...`` answers the request under ``...`` (the protocol's own route) with the
hostile behaviour NAME, so a kernel or a worker process picks a scenario by address while the server
runs in the test process. Bodies are made lazily, as they are sent: a 1 GB bomb is 1 MB of compressed
bytes built from one repeated block, and a 200 MB line is the same 64 kB written again and again, so the
test process never holds what it sends.
"""

from __future__ import annotations

import contextlib
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from functools import cache

from .server import FakeServer, RecordedRequest, Route, _Handler, word_pieces

HOSTILE_PREFIX = re.compile(r"^/_hostile/([a-z0-9_]+)(/.*)$")
GIB = 1 << 30
NEST = 100_000  # the depth of the nesting bombs
BAD_UTF8 = b"caf\xe9 \xff\xfe ok"  # Latin-1 e-acute and two bytes that are never UTF-8
MANY_MODELS = 20_000
RETRY_AFTER = {
    "retry_nan": "nan",
    "retry_inf": "inf",
    "retry_negative": "-5",
    "retry_huge": "1e12",
    "retry_past": "Wed, 21 Oct 2015 07:28:00 GMT",
    "retry_garbage": "soon-ish",
}
SCENARIOS = frozenset(
    {
        "gzip_bomb", "deflate_bomb", "long_line", "endless", "drip", "nest_200", "nest_500", "nest_stream",
        "huge_error", "many_models", "bad_utf8", "drip_headers", *RETRY_AFTER,
    }
)  # fmt: skip

#: what a non-streamed chat answer, a stream and a model list start with, before the endless part
CHAT_HEAD = b'{"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"'
STREAM_HEAD = b'data: {"choices":[{"index":0,"delta":{"content":"'
MODELS_HEAD = b'{"object":"list","data":[{"id":"'


@cache
def _block() -> bytes:
    """1 MB of spaces, compressed after a full flush: the same bytes decode the same way wherever they
    follow another full flush, so a bomb is its start and then this block again and again."""
    c = zlib.compressobj(9)
    c.compress(b"")
    c.flush(zlib.Z_FULL_FLUSH)
    return c.compress(b" " * (1 << 20)) + c.flush(zlib.Z_FULL_FLUSH)


def bomb(encoding: str, head: bytes, size: int = GIB) -> Iterator[bytes]:
    """``head`` then ``size`` bytes of spaces, compressed (about 1 kB per MB), made as they are sent."""
    c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16 if encoding == "gzip" else zlib.MAX_WBITS)
    yield c.compress(head) + c.flush(zlib.Z_FULL_FLUSH)  # a self-contained start, then the repeated blocks
    run = _block() * 64
    for _ in range(size // (64 << 20)):
        yield run


def repeat(head: bytes, piece: bytes, size: int | None) -> Iterator[bytes]:
    """``head`` then ``piece`` again and again: ``size`` bytes, or without end."""
    yield head
    sent = 0
    while size is None or sent < size:
        yield piece
        sent += len(piece)


def nesting(depth: int = NEST) -> bytes:
    return b"[" * depth + b"]" * depth


class HostileServer(FakeServer):
    """A fake server that also answers ``/_hostile/NAME/...`` with hostile behaviour NAME."""

    drip_interval = 0.02  # seconds between two dripped bytes

    def _respond(self, h: _Handler, req: RecordedRequest, forced: str | None = None) -> None:
        match = HOSTILE_PREFIX.match(req.path)
        if match is None or match.group(1) not in SCENARIOS:
            return super()._respond(h, req, forced)
        req.path = match.group(2)
        route = self._proto.route(req)
        if not isinstance(route, Route):
            return super()._respond(h, req, forced)
        with contextlib.suppress(OSError):  # the client hung up: what a bounded client does
            self._hostile(h, req, route, match.group(1))
        h.close_connection = True

    # -- writing ---------------------------------------------------------------------------------------------
    def _start(self, h: _Handler, status: int, ctype: str, headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Transfer-Encoding", "chunked")
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()

    def _body(self, h: _Handler, pieces: Iterable[bytes], delay: float = 0.0) -> None:
        for piece in pieces:
            if self._stop.is_set():
                return
            if piece:
                h.wfile.write(b"%X\r\n%s\r\n" % (len(piece), piece))
                h.wfile.flush()
            if delay and self._stop.wait(delay):
                return
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    def _whole(self, h: _Handler, status: int, body: bytes, ctype: str = "application/json", **headers: str) -> None:
        self._start(h, status, ctype, {k.replace("_", "-"): v for k, v in headers.items()})
        self._body(h, [body])

    # -- the scenarios ---------------------------------------------------------------------------------------
    def _head(self, route: Route) -> tuple[bytes, str]:
        if route.kind == "models":
            return MODELS_HEAD, "application/json"
        if route.stream:
            return STREAM_HEAD, "text/event-stream"
        return CHAT_HEAD, "application/json"

    def _hostile(self, h: _Handler, req: RecordedRequest, route: Route, name: str) -> None:
        head, ctype = self._head(route)
        if name in ("gzip_bomb", "deflate_bomb"):
            encoding = name.split("_")[0]
            self._start(h, 200, ctype, {"Content-Encoding": encoding})
            return self._body(h, bomb(encoding, head))
        if name == "long_line":  # 200 MB on one line, never ended
            self._start(h, 200, ctype)
            return self._body(h, repeat(head, b"a" * 65536, 200 << 20))
        if name == "endless":
            self._start(h, 200, ctype)
            if route.stream:  # an endless reply: 1,000 characters per event, for ever
                event = b'data: {"choices":[{"index":0,"delta":{"content":"' + b"x" * 1000 + b'"}}]}\n\n'
                return self._body(h, repeat(b"", event * 16, None))
            return self._body(h, repeat(head, b"x" * 65536, None))
        if name == "drip":  # one byte at a time, never finished
            self._start(h, 200, ctype)
            if route.stream:
                event = b'data: {"choices":[{"index":0,"delta":{"content":"drip "}}]}\n\n'
                return self._body(h, (bytes([b]) for b in repeat(b"", event, None) for b in b), self.drip_interval)
            return self._body(h, (bytes([b]) for b in repeat(head, b"x", None) for b in b), self.drip_interval)
        if name == "drip_headers":  # the status line, then a header one byte at a time, never ended
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Drip: ")
            h.wfile.flush()
            while not self._stop.wait(self.drip_interval):
                h.wfile.write(b"a")
                h.wfile.flush()
            return None
        if name == "nest_200":
            return self._whole(h, 200, nesting())
        if name == "nest_500":
            return self._whole(h, 500, b'{"error": ' + nesting() + b"}")
        if name == "nest_stream":
            if not route.stream:
                return self._whole(h, 200, nesting())
            self._start(h, 200, "text/event-stream")
            events = [self._text_event(p) for p in word_pieces("Hello there, ")]
            return self._body(h, [*events, b"data: " + nesting() + b"\n\n"])
        if name == "huge_error":  # 300 MB of error message
            self._start(h, 500, "application/json")
            return self._body(h, repeat(b'{"error": {"message": "', b"overloaded " * 6000, 300 << 20))
        if name == "many_models":
            if route.kind == "models":
                data = {"object": "list", "data": [{"id": f"model-{i:05d}", "object": "model"} for i in range(20_000)]}
                return self._whole(h, 200, json.dumps(data).encode())
            return self._normal(h, req, route)
        if name == "bad_utf8":
            return self._bad_utf8(h, route)
        if name in RETRY_AFTER:
            error = b'{"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded", "code": null}}'
            return self._whole(h, 429, error, retry_after=RETRY_AFTER[name])
        raise AssertionError(name)

    def _normal(self, h: _Handler, req: RecordedRequest, route: Route) -> None:
        self._chat(h, req, route, None)

    @staticmethod
    def _text_event(text: str) -> bytes:
        return b"data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}).encode() + b"\n\n"

    def _bad_utf8(self, h: _Handler, route: Route) -> None:
        if route.kind == "models":
            return self._whole(h, 200, b'{"object":"list","data":[{"id":"' + BAD_UTF8 + b'"},{"id":"model-a"}]}')
        if route.stream:
            self._start(h, 200, "text/event-stream")
            done = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
            split = [b'data: {"choices":[{"index":0,"delta":{"content":"' + BAD_UTF8[:5], BAD_UTF8[5:] + b'"}}]}\n\n']
            return self._body(h, [*split, done])
        body = CHAT_HEAD + BAD_UTF8 + b'"},"finish_reason":"stop"}]}'
        return self._whole(h, 200, body)
