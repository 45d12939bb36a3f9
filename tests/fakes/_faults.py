"""How a fake server answers a chat request and serves its faults: whole answers, chunked SSE or NDJSON streams,
and every way they break. A mixin of :class:`~tests.fakes.server.FakeServer` (whose state it reads)."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from ._schema import sample_value
from ._vision import seen_answer
from ._wire import (
    GARBAGE,
    HTML_200,
    HTML_502,
    HUGE_PIECE,
    LLAMACPP_ERROR,
    STREAM_FAULTS,
    RecordedRequest,
    Reply,
    Response,
    Route,
    html_response,
    json_response,
    word_pieces,
)

if TYPE_CHECKING:
    from .server import Protocol, _Handler


class FaultServing:
    """Answers, streams and faults; the server supplies the protocol, the reply and the knobs."""

    _proto: Protocol
    _stop: threading.Event
    reply: str
    reasoning: str | None
    stall_seconds: float
    retry_after: str
    reply_for: Any
    schema_reply: str | None
    sees_images: bool
    thinks_first: bool
    headers: dict[str, str]

    def _early_fault(self, h: _Handler, req: RecordedRequest, route: Route, fault: str) -> None:
        if fault == "hang":
            self._stop.wait(self.stall_seconds)
            h.close_connection = True
            return
        canned = {"bad_gateway": html_response(502, HTML_502), "html_200": html_response(200, HTML_200),
                  "not_json": Response(200, GARBAGE)}  # fmt: skip
        resp = canned.get(fault) or self._proto.error(fault, req, route)
        if fault == "rate_limit":
            resp.headers.setdefault("retry-after", self.retry_after)
        self._send(h, resp)

    def _send(self, h: _Handler, resp: Response) -> None:
        h.send_response(resp.status)
        h.send_header("Content-Type", resp.content_type)
        h.send_header("Content-Length", str(len(resp.body)))
        for name, value in {**self.headers, **resp.headers}.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(resp.body)

    def _make_reply(self, body: dict[str, Any], huge: bool) -> Reply:
        texts, max_tokens = self._proto.inputs(body)
        text = self.reply if self.reply_for is None else self.reply_for(body)
        if self.reply_for is None and (schema := self._proto.asked_schema(body)) is not None:
            # structured output: JSON of the schema asked for
            text = self.schema_reply if self.schema_reply is not None else json.dumps(sample_value(schema))
        elif self.reply_for is None and self.sees_images and (seen := seen_answer(texts, body)) is not None:
            text = seen
        pieces = word_pieces(text)
        truncated = False
        reasoning = self.reasoning or ""
        if self.thinks_first and max_tokens is not None:  # the reasoning spends the budget first
            thought = word_pieces(reasoning)
            reasoning = "".join(thought[:max_tokens]).rstrip()
            max_tokens = max(0, max_tokens - len(thought))
            truncated = len(thought) > len(reasoning.split())
        if huge:
            text, pieces = HUGE_PIECE * 380, [HUGE_PIECE] * 380
        elif max_tokens is not None and 0 <= max_tokens < len(text.split()):
            text, truncated = "".join(pieces[:max_tokens]).rstrip(), True
            pieces = word_pieces(text)
        return Reply(
            text, pieces, reasoning, word_pieces(reasoning), truncated,
            sum(len(t.split()) for t in texts), len(text.split()), len(reasoning.split()),
        )  # fmt: skip

    def _chat(self, h: _Handler, req: RecordedRequest, route: Route, fault: str | None) -> None:
        reply = self._make_reply(req.body or {}, fault == "huge")
        if route.stream:
            return self._stream(h, req, route, reply, fault)
        if fault == "midstream_error":
            return self._send(h, self._proto.error("server_error", req, route))
        if fault == "llamacpp_error":
            return self._send(h, json_response(500, {"error": LLAMACPP_ERROR}))
        body = json.dumps(self._proto.completion(req, route, reply)).encode()
        if fault not in ("cut_stream", "stall"):
            return self._send(h, Response(200, body))
        h.send_response(200)  # announce the whole body, send half of it, then (stall and) hang up
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        if fault == "stall":
            self._stop.wait(self.stall_seconds)
        h.close_connection = True

    @staticmethod
    def _chunk(h: _Handler, data: bytes) -> None:
        """Write one HTTP/1.1 chunk (b"" writes the terminating chunk)."""
        h.wfile.write(b"%X\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n")
        h.wfile.flush()

    def _stream(self, h: _Handler, req: RecordedRequest, route: Route, reply: Reply, fault: str | None) -> None:
        h.send_response(200)
        h.send_header("Content-Type", self._proto.stream_content_type)
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        at, seen = min(2, len(reply.pieces)), 0
        for is_text, event in self._proto.stream_events(req, route, reply):
            if self._stop.is_set():
                h.close_connection = True
                return
            if fault in STREAM_FAULTS and seen >= at:
                return self._stream_fault(h, fault, event)
            self._chunk(h, event)
            seen += is_text
        if fault in STREAM_FAULTS:
            return self._stream_fault(h, fault, b"")
        self._chunk(h, b"")

    def _stream_fault(self, h: _Handler, fault: str | None, event: bytes) -> None:
        h.close_connection = True
        if fault == "midstream_error":
            self._chunk(h, self._proto.stream_error())
        elif fault == "llamacpp_error":
            self._chunk(h, self._proto.runner_error())
        elif fault == "cut_stream":
            start = max(event.find(b"{"), 0)  # cut early inside the event's JSON; never finish the body
            if event:
                self._chunk(h, event[: start + min(32, (len(event) - start) // 2)])
            return
        elif fault == "stall":
            self._stop.wait(self.stall_seconds)
            return
        self._chunk(h, b"")
