"""Hostile answers for the fake servers: bombs, endless and dripping bodies, odd headers.

``{base_url}/_hostile/NAME/...`` answers the request under ``...`` (the protocol's own route) with the
hostile behaviour NAME, so a kernel or a worker process picks a scenario by address while the server
runs in the test process. Bodies are made lazily, as they are sent: a 1 GB bomb is 1 MB of compressed
bytes built from one repeated block, and a 200 MB line is the same 64 kB written again and again, so the
test process never holds what it sends.

Every scenario speaks the server's own protocol: the start of a hostile answer is the protocol's own
completion, stream (its SSE events or NDJSON lines), model list or error, cut where the reply text, the
model id or the message would be (:data:`MARK`), so a new fake gets the scenarios with no code here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from functools import cache
from typing import Any

from .echo import with_message
from .server import FakeServer, RecordedRequest, Reply, Response, Route, _Handler, word_pieces

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

#: the reply text (or model id) that marks where a protocol's answer is cut to make the hostile part
MARK = "QQhostileQQ"


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

    def __init__(self, protocol: str, **kw: Any) -> None:
        super().__init__(protocol, **kw)
        self._listings: dict[tuple[object, ...], Response] = {}

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
        h.send_header("Connection", "close")  # as it does: a pooled connection would race the hang-up
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

    # -- the protocol's own answers, cut where the text goes -------------------------------------------------
    def _reply(self, req: RecordedRequest, pieces: list[str]) -> Reply:
        reply = self._make_reply(req.body or {}, False)
        return dataclasses.replace(reply, text="".join(pieces), pieces=pieces, truncated=False, reasoning="",
                                   reasoning_pieces=[])  # fmt: skip

    def _listing(self, req: RecordedRequest, route: Route, models: list[str]) -> Response:
        """The protocol's answer to a listing (or to Ollama's ``/api/show``) by a server offering ``models``:
        made once per page (20,000 entries take the fake longer than a deadline on a busy machine)."""
        key = (route.variant, route.model, tuple(sorted(req.query.items())), len(models), models[0])
        with self._lock:
            known = self._listings.get(key)
        if known is None:
            known = FakeServer(self.protocol, models=models)._proto.list_models(req, route)
            with self._lock:
                self._listings[key] = known
        return known

    def _events(self, req: RecordedRequest, route: Route, pieces: list[str]) -> list[tuple[bool, bytes]]:
        return list(self._proto.stream_events(req, route, self._reply(req, pieces)))

    def _text_event(self, req: RecordedRequest, route: Route, text: str) -> bytes:
        return next(e for is_text, e in self._events(req, route, [text]) if is_text)

    def _preamble(self, req: RecordedRequest, route: Route) -> bytes:
        """The events a stream sends before its first piece of text (``response.created``, ``message_start``)."""
        return b"".join(e for e in _until_text(self._events(req, route, [MARK])))

    def _parts(self, req: RecordedRequest, route: Route) -> tuple[bytes, bytes, str]:
        """The answer to this request with the text (or the first model id) cut out: start, end, content type."""
        if route.kind == "models":
            body = self._listing(req, route, [MARK, "model-a"]).body
            ctype = "application/json"
        elif route.stream:
            body = self._preamble(req, route) + self._text_event(req, route, MARK)
            ctype = self._proto.stream_content_type
        else:
            body, ctype = _json(self._proto.completion(req, route, self._reply(req, [MARK]))), "application/json"
        head, _, tail = body.partition(MARK.encode())
        assert tail or head != body, f"{self.protocol}: no {MARK!r} in {body[:300]!r}"
        return head, tail, ctype

    def _error(self, kind: str, req: RecordedRequest, route: Route, message: str) -> bytes:
        body = _json(with_message(_loads(self._proto.error(kind, req, route).body), message))
        assert message.encode() in body, f"{self.protocol}'s {kind} error has no message: {body!r}"
        return body

    # -- the scenarios ---------------------------------------------------------------------------------------
    def _hostile(self, h: _Handler, req: RecordedRequest, route: Route, name: str) -> None:
        if name == "many_models":
            if route.kind == "models":  # the list, in the protocol's pages; Ollama's /api/show of each
                listing = self._listing(req, route, [f"model-{i:05d}" for i in range(MANY_MODELS)])
                return self._whole(h, listing.status, listing.body)
            return self._normal(h, req, route)
        if name == "bad_utf8":
            return self._bad_utf8(h, req, route)
        if name in RETRY_AFTER:
            # the protocol's plain error object at 429: its rate-limit error may carry a hint of its own
            # (Gemini's RetryInfo), and the header must be the only one
            error = self._error("server_error", req, route, "Rate limit reached")
            return self._whole(h, 429, error, retry_after=RETRY_AFTER[name])
        if name == "nest_500":
            return self._whole(h, 500, b'{"error": ' + nesting() + b"}")
        if name == "huge_error":  # 300 MB of error message
            self._start(h, 500, "application/json")
            start = self._error("server_error", req, route, MARK).partition(MARK.encode())[0]
            return self._body(h, repeat(start, b"overloaded " * 6000, 300 << 20))
        if name == "drip_headers":  # the status line, then a header one byte at a time, never ended
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Drip: ")
            h.wfile.flush()
            while not self._stop.wait(self.drip_interval):
                h.wfile.write(b"a")
                h.wfile.flush()
            return None
        if name == "nest_200" or (name == "nest_stream" and not route.stream):
            return self._whole(h, 200, nesting())
        if name == "nest_stream":  # two pieces of text, then an event (or line) whose JSON is 100,000 deep
            self._start(h, 200, self._proto.stream_content_type)
            # the last piece may end the reply (Gemini's finishReason rides on it): only the first two are sent
            events = self._events(req, route, word_pieces("Hello there, friend!"))
            text = [e for is_text, e in events if is_text][:2]
            bomb_event = text[0][: text[0].index(b"{")] + nesting() + text[0][text[0].rindex(b"}") + 1 :]
            return self._body(h, [*_until_text(events), *text, bomb_event])
        head, _, ctype = self._parts(req, route)
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
                event = self._text_event(req, route, "x" * 1000)
                return self._body(h, repeat(self._preamble(req, route), event * 16, None))
            return self._body(h, repeat(head, b"x" * 65536, None))
        if name == "drip":  # one byte at a time, never finished
            self._start(h, 200, ctype)
            if route.stream:  # the protocol's events are longer than a deadline's worth of drops: the start
                event = self._text_event(req, route, "drip ")  # and a first piece of text come at once
                dripped = (bytes([b]) for b in repeat(b"", event, None) for b in b)
                return self._body(h, itertools.chain([self._preamble(req, route) + event], dripped), self.drip_interval)
            return self._body(h, (bytes([b]) for b in repeat(head, b"x", None) for b in b), self.drip_interval)
        raise AssertionError(name)

    def _normal(self, h: _Handler, req: RecordedRequest, route: Route) -> None:
        self._chat(h, req, route, None)

    def _bad_utf8(self, h: _Handler, req: RecordedRequest, route: Route) -> None:
        mark = MARK.encode()
        if route.kind == "models":
            return self._whole(h, 200, self._listing(req, route, [MARK, "model-a"]).body.replace(mark, BAD_UTF8))
        if not route.stream:
            body = _json(self._proto.completion(req, route, self._reply(req, [MARK])))
            return self._whole(h, 200, body.replace(mark, BAD_UTF8))
        self._start(h, 200, self._proto.stream_content_type)
        pieces: list[bytes] = []
        for is_text, event in self._events(req, route, [MARK]):
            if is_text:  # the bad bytes split across two chunks
                head, _, tail = event.partition(mark)
                pieces += [head + BAD_UTF8[:5], BAD_UTF8[5:] + tail]
            else:
                pieces.append(event.replace(mark, BAD_UTF8))
        return self._body(h, pieces)


def _until_text(events: list[tuple[bool, bytes]]) -> list[bytes]:
    """The events before the first piece of text."""
    out = []
    for is_text, event in events:
        if is_text:
            break
        out.append(event)
    return out


def _json(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _loads(body: bytes) -> object:
    return json.loads(body)
