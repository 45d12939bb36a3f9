"""HTTP machinery shared by the fake provider servers: recording, routing, faults and SSE writing."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

LISTING_FAULTS = frozenset(
    {"auth", "rate_limit", "server_error", "overloaded", "bad_gateway", "html_200", "not_json", "hang"}
)
EARLY_FAULTS = LISTING_FAULTS | {"quota"}  # answered before the request is even checked
STREAM_FAULTS = frozenset({"midstream_error", "cut_stream", "stall", "llamacpp_error"})
FAULTS = EARLY_FAULTS | STREAM_FAULTS | {"huge"}

HTML_404 = (
    "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1>"
    "</center>\r\n<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)
HTML_502 = HTML_404.replace("404 Not Found", "502 Bad Gateway")
HTML_200 = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><h1>Corporate network login</h1>"
    '<form method="post" action="/login"><input name="user"><input type="password" name="pw"></form>'
    "</body></html>\n"
)
GARBAGE = b'{"id": "chatcmpl-1", "choices": [{<<< upstream returned garbage >>>\x00\xff'
LLAMACPP_ERROR = {"code": 500, "message": "llama_decode failed: out of memory", "type": "server_error"}
HUGE_PIECE = "lorem ipsum dolor sit amet " * 1000  # 27 kB, 5000 words; 380 of them make ~10 MB
#: ``{base_url}/_fault/NAME/...`` answers as the normal path with fault NAME, whatever ``fault`` is set to:
#: another process (a kernel) picks a fault by address while the server runs in the test process
FAULT_PREFIX = re.compile(r"^/_fault/([a-z_]+)(/.*)$")


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any] | None
    raw_body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Route:
    kind: str  # "chat" or "models"
    model: str = ""
    stream: bool = False
    variant: str = ""  # protocol specific (azure "classic" or "v1")


@dataclass
class Reply:
    text: str
    pieces: list[str]
    reasoning: str
    reasoning_pieces: list[str]
    truncated: bool
    prompt_tokens: int
    output_tokens: int
    reasoning_tokens: int


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode(), headers=dict(headers or {}))


def html_response(status: int, html: str) -> Response:
    return Response(status, html.encode(), "text/html; charset=utf-8")


def sse(data: Any, event: str | None = None, nl: str = "\n") -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    return f"{f'event: {event}{nl}' if event else ''}data: {payload}{nl}{nl}".encode()


def word_pieces(text: str) -> list[str]:
    """Split text into word-sized pieces that join back to exactly `text`."""
    pieces: list[str] = re.findall(r"\S+\s*", text)
    lead = text[: len(text) - len(text.lstrip())]
    if pieces:
        pieces[0] = lead + pieces[0]
    return pieces or ([lead] if lead else [])


class Protocol:
    """One wire protocol. Subclasses build routes, bodies and events; FakeServer does the rest.

    check() returns an error Response (auth, required headers/fields, unknown model) or None; error() kinds
    are auth, no_key, rate_limit, quota, server_error, overloaded, not_found; inputs() returns (all input
    texts including the system prompt, requested max output tokens); stream_events() yields
    (is_text_piece, raw SSE event or NDJSON line) sent as ``stream_content_type``; stream_error() is the
    mid-stream error event, runner_error() the ``llamacpp_error`` fault's (llama.cpp's ``error:`` field).
    """

    stream_content_type = "text/event-stream; charset=utf-8"

    def __init__(self, fake: FakeServer) -> None:
        self.fake = fake

    def key_ok(self, given: str | None) -> bool:
        return not self.fake.api_key or given == self.fake.api_key

    def route(self, req: RecordedRequest) -> Route | Response | None: ...
    def check(self, req: RecordedRequest, route: Route) -> Response | None: ...
    def error(self, kind: str, req: RecordedRequest, route: Route) -> Response: ...
    def list_models(self, req: RecordedRequest, route: Route) -> Response: ...
    def inputs(self, body: dict[str, Any]) -> tuple[list[str], int | None]: ...
    def completion(self, req: RecordedRequest, route: Route, reply: Reply) -> Any: ...
    def stream_events(self, req: RecordedRequest, route: Route, reply: Reply) -> Iterator[tuple[bool, bytes]]: ...
    def stream_error(self) -> bytes: ...

    def runner_error(self) -> bytes:
        return f"error: {json.dumps(LLAMACPP_ERROR)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.fake._conns.add(self.connection)

    def finish(self) -> None:
        self.server.fake._conns.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        self.server.fake._handle(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up on us are expected in fault tests


class FakeServer:
    """A loopback server speaking one provider protocol (a name in its table: "openai", "ollama", ...).

    ``ssl_context`` serves HTTPS instead of HTTP. ``canned`` answers every API request with that
    response (a status the protocol's own faults do not cover); ``retry_after`` is the header sent
    with the ``rate_limit`` fault.
    """

    def __init__(
        self,
        protocol: str,
        *,
        api_key: str | None = None,
        models: list[str] | None = None,
        reply: str = "Hello there, friend!",
        reasoning: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        from . import anthropic, azure, gemini, ollama, openai, responses

        classes: dict[str, type[Protocol]] = {
            "openai": openai.OpenAI, "azure": azure.Azure, "vllm": openai.VLLM, "ollama": ollama.Ollama,
            "anthropic": anthropic.Anthropic, "gemini": gemini.Gemini, "openai-responses": responses.Responses,
        }  # fmt: skip
        if protocol not in classes:
            raise ValueError(f"unknown protocol {protocol!r}")
        self.protocol = protocol
        self.api_key = api_key
        self.models = list(models) if models else ["model-a", "model-b", "model-c"]
        self.reply = reply
        self.reasoning = reasoning
        self.requests: list[RecordedRequest] = []
        self.fault_count: int | None = None
        self.delay = 0.0
        self.page_size: int | None = None
        self.stall_seconds = 30.0
        self.retry_after = "1"
        self.canned: Response | None = None
        self.ssl_context = ssl_context
        self._fault: str | None = None
        self._proto = classes[protocol](self)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self.base_url = ""

    @property
    def fault(self) -> str | None:
        return self._fault

    @fault.setter
    def fault(self, value: str | None) -> None:
        if value is not None and value not in FAULTS:
            raise ValueError(f"unknown fault {value!r}; one of {sorted(FAULTS)}")
        self._fault = value

    def start(self) -> FakeServer:
        self._httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self
        if self.ssl_context is not None:  # the handshake happens in the handler thread, on first read
            wrapped = self.ssl_context.wrap_socket(self._httpd.socket, server_side=True, do_handshake_on_connect=False)
            self._httpd.socket = wrapped
        scheme = "https" if self.ssl_context is not None else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for conn in list(self._conns):
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling -------------------------------------------------------------------------------
    def _handle(self, h: _Handler) -> None:
        length = int(h.headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        url = urlsplit(h.path)
        path, forced = url.path, None
        match = FAULT_PREFIX.match(path)
        if match is not None and match.group(1) in FAULTS:
            forced, path = match.group(1), match.group(2)
        req = RecordedRequest(
            h.command, path, dict(parse_qsl(url.query, keep_blank_values=True)),
            {k.lower(): v for k, v in h.headers.items()}, body if isinstance(body, dict) else None, raw,
        )  # fmt: skip
        with self._lock:
            self.requests.append(req)
        try:
            self._respond(h, req, forced)
        except OSError:  # client went away, or we shut the socket down on stop()
            h.close_connection = True

    def _take_fault(self, applicable: frozenset[str], forced: str | None = None) -> str | None:
        if forced is not None:
            return forced if forced in applicable else None
        with self._lock:
            fault, count = self._fault, self.fault_count
            if fault is None or fault not in applicable:
                return None
            if count is not None:
                self.fault_count = count - 1
                if count <= 1:  # this was the last faulty request (or fault_count was already 0)
                    self._fault = self.fault_count = None
            return fault if count is None or count > 0 else None

    def _respond(self, h: _Handler, req: RecordedRequest, forced: str | None = None) -> None:
        if self.delay and self._stop.wait(self.delay):
            h.close_connection = True
            return
        route = self._proto.route(req)
        if route is None:
            route = html_response(404, HTML_404)
        if isinstance(route, Response):
            return self._send(h, route)
        if self.canned is not None:
            return self._send(h, self.canned)
        fault = self._take_fault(EARLY_FAULTS if route.kind == "chat" else LISTING_FAULTS, forced)
        if fault:
            return self._early_fault(h, req, route, fault)
        error = self._proto.check(req, route)
        if error is not None:
            return self._send(h, error)
        if route.kind == "models":
            return self._send(h, self._proto.list_models(req, route))
        self._chat(h, req, route, self._take_fault(STREAM_FAULTS | {"huge"}, forced))

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
        for name, value in resp.headers.items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(resp.body)

    def _make_reply(self, body: dict[str, Any], huge: bool) -> Reply:
        texts, max_tokens = self._proto.inputs(body)
        text, pieces = self.reply, word_pieces(self.reply)
        truncated = False
        if huge:
            text, pieces = HUGE_PIECE * 380, [HUGE_PIECE] * 380
        elif max_tokens is not None and 0 <= max_tokens < len(text.split()):
            text, truncated = "".join(pieces[:max_tokens]).rstrip(), True
            pieces = word_pieces(text)
        reasoning = self.reasoning or ""
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
