"""The fake provider servers' HTTP machinery: recording and routing requests, and the protocol table.

What a server is made of (requests, responses, the canned faults, the SSE writer) is in ``_wire.py``, how
it answers a chat and serves its faults in ``_faults.py``; both are re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ._faults import FaultServing
from ._wire import (
    EARLY_FAULTS,
    FAULT_PREFIX,
    FAULTS,
    GARBAGE,
    HTML_200,
    HTML_404,
    HTML_502,
    HUGE_PIECE,
    LISTING_FAULTS,
    LLAMACPP_ERROR,
    STREAM_FAULTS,
    RecordedRequest,
    Reply,
    Response,
    Route,
    html_response,
    json_response,
    sse,
    word_pieces,
)

__all__ = [
    "EARLY_FAULTS", "FAULTS", "GARBAGE", "HTML_200", "HTML_404", "HTML_502", "HUGE_PIECE", "LISTING_FAULTS",
    "LLAMACPP_ERROR", "STREAM_FAULTS", "FakeServer", "Protocol", "RecordedRequest", "Reply", "Response", "Route",
    "html_response", "json_response", "protocol_class", "sse", "word_pieces",
]  # fmt: skip

#: (path with query, headers, JSON body) of a request
Call = tuple[str, dict[str, str], dict[str, Any]]


class Protocol:
    """One wire protocol. Subclasses build routes, bodies and events; FakeServer does the rest.

    check() returns an error Response (auth, required headers/fields, unknown model) or None; error() kinds
    are auth, no_key, rate_limit, quota, server_error, overloaded, not_found; inputs() returns (all input
    texts including the system prompt, requested max output tokens); stream_events() yields
    (is_text_piece, raw SSE event or NDJSON line) sent as ``stream_content_type``; stream_error() is the
    mid-stream error event, runner_error() the ``llamacpp_error`` fault's (llama.cpp's ``error:`` field).
    """

    stream_content_type = "text/event-stream; charset=utf-8"

    # -- the type's facts, declared: tests read ``fake.facts.NAME`` instead of asking for a type by name ----------
    #: the finish reason the package reports for a whole reply, and for one cut short by max_tokens
    stop_reason = "stop"
    length_reason = "length"
    #: statuses: a wrong key, no key, the ``quota`` fault (out of credit) and the ``overloaded`` fault
    bad_key_status = 401
    no_key_status = 401
    quota_status = 429
    overloaded_status = 503
    #: words of the answer to a wrong key, and to an unknown model named "nope"
    bad_key_says = "invalid_api_key"
    no_model_says = "model_not_found"
    #: the server sends the model's reasoning text apart from the answer (Azure OpenAI sends none)
    sends_reasoning = True
    #: the output token count includes the reasoning's (the Responses API's ``output_tokens``, Ollama's ``eval_count``)
    output_counts_reasoning = False
    #: a key lists what a chat may name (Azure's deployments cannot be listed with a key)
    lists_models = True
    #: the model list comes in pages of ``page_size`` (and the client follows them)
    pages_models = False
    #: a finished stream has a last event the parser marks (``complete``); a Gemini stream simply ends
    marks_stream_end = True
    #: only a finished stream has these bytes
    stream_end = rb"\[DONE\]"
    #: the name of the event a text piece comes in (SSE ``event:``), None when the stream names none
    text_event: str | None = None
    models_path = "/v1/models"

    @classmethod
    def store_kwargs(cls) -> dict[str, Any]:
        """What ``store.add`` needs besides the name, type, address, key and models."""
        return {}

    def finish_words(self) -> tuple[str, str]:
        """The finish reasons as the server says them (stop, length); the package mostly passes them on."""
        return self.stop_reason, self.length_reason

    @classmethod
    def stream_event(cls, data: bytes) -> bytes:
        """One stream event carrying ``data`` where a text piece goes (framed as this protocol frames events)."""
        head = f"event: {cls.text_event}\n".encode() if cls.text_event else b""
        return head + b"data: " + data + b"\n\n"

    def status_error(self, status: int, message: str) -> Response:
        """An error answer of any ``status`` (403, 503, 529, ...) in this protocol's error format."""
        typ = {403: "request_forbidden"}.get(status, "server_error")
        return json_response(status, {"error": {"message": message, "type": typ, "param": None, "code": None}})

    # -- a client of this protocol, for the fakes' own tests (raw httpx) -----------------------------------------------
    def sample_chat(self, model: str, key: str | None, stream: bool, max_tokens: int | None) -> Call:
        """(path, headers, JSON body) of a chat "Say hi please" with the system prompt "Be brief.",
        as the official client sends it."""
        raise NotImplementedError

    def reply_text(self, body: Any, thought: bool = False) -> str:
        """The answer's text (or its reasoning) in a whole JSON answer."""
        raise NotImplementedError

    def stream_text(self, events: list[tuple[str | None, str]], thought: bool = False) -> str:
        """The text (or reasoning) of a stream's events, each (event name or None, data)."""
        raise NotImplementedError

    def usage_finish(self, body: Any) -> tuple[int, int, str]:
        """(input tokens, output tokens, the finish reason as sent) of a whole answer."""
        raise NotImplementedError

    def listed(self, body: Any) -> list[str]:
        """The chat models a model list names."""
        raise NotImplementedError

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

    def asked_schema(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The JSON Schema a chat request asks the reply to follow (structured output), in this protocol's form."""
        return None


def protocol_class(name: str) -> type[Protocol]:
    """The fake of provider type ``name`` (a name in ``jupyter_providers.adapters.TYPES``, or ``"vllm"``).

    A registry type without a fake fails here, with what to do: the test matrices loop over the registry.
    """
    from . import anthropic, azure, gemini, ollama, openai, responses

    classes: dict[str, type[Protocol]] = {
        "openai": openai.OpenAI, "azure": azure.Azure, "vllm": openai.VLLM, "ollama": ollama.Ollama,
        "anthropic": anthropic.Anthropic, "gemini": gemini.Gemini, "openai-responses": responses.Responses,
    }  # fmt: skip
    if name not in classes:
        raise LookupError(
            f"no fake server for provider type {name!r}: write tests/fakes/<module>.py (a Protocol subclass that "
            "declares the type's facts) and add it to protocol_class() in tests/fakes/server.py - every test "
            "matrix loops over jupyter_providers.adapters.TYPES (docs/architecture.md, Adding a type)"
        )
    return classes[name]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: the headers and the body are two writes; with Nagle on, the body waited for the client's
    # delayed ACK of the headers, 40 ms per request (48 ms against 2.8 ms measured), on every test using a fake
    disable_nagle_algorithm = True
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


class FakeServer(FaultServing):
    """A loopback server speaking one provider protocol (a name in its table: "openai", "ollama", ...).

    ``ssl_context`` serves HTTPS instead of HTTP. ``canned`` answers every API request with that
    response (a status the protocol's own faults do not cover); ``retry_after`` is the header sent
    with the ``rate_limit`` fault. ``fault_for(request)`` picks each request's fault (a name in FAULTS, or
    None), in the request's own thread before it is answered; ``reply_for(body)`` gives each chat its reply text.
    A fake sees the images it is sent: asked their colour, it names it (``tests/fakes/_vision.py``);
    ``sees_images=False`` is a blind model, which answers its ``reply`` whatever the image. ``thinks_first``
    spends ``max_tokens`` on the ``reasoning`` before the answer, as a reasoning model does: a budget the
    reasoning fills leaves no text, cut (``length``). ``any_model`` answers a chat naming any model, as
    llama-cpp-python's server and llama.cpp's llama-server do (the answer names the model asked, as theirs do;
    the list still names only ``models``). ``headers`` go with every answer but a stream (a proxy's own: LiteLLM's).
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
        sees_images: bool = True,
        thinks_first: bool = False,
    ) -> None:
        proto = protocol_class(protocol)
        self.protocol = protocol
        self.api_key = api_key
        self.models = list(models) if models else ["model-a", "model-b", "model-c"]
        self.reply = reply
        self.reasoning = reasoning
        self.sees_images = sees_images
        self.thinks_first = thinks_first
        self.requests: list[RecordedRequest] = []
        self.fault_count: int | None = None
        self.delay = 0.0
        self.page_size: int | None = None
        self.stall_seconds = 30.0
        self.retry_after = "1"
        self.canned: Response | None = None
        self.fault_for: Callable[[RecordedRequest], str | None] | None = None
        self.reply_for: Callable[[dict[str, Any]], str] | None = None
        #: the text of a structured reply (a schema asked for): None answers a value built from the schema
        self.schema_reply: str | None = None
        self.any_model = False
        #: prompt tokens a server read from its prompt cache (Anthropic reports them apart from ``input_tokens``)
        self.cached_tokens = 0
        self.headers: dict[str, str] = {}
        self.ssl_context = ssl_context
        self._fault: str | None = None
        self._proto = proto(self)
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

    @property
    def facts(self) -> Protocol:
        """The protocol's declared facts (``stop_reason``, ``bad_key_status``, ...): what a test reads instead of
        asking for a type by name."""
        return self._proto

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
        if forced is None and self.fault_for is not None:
            forced = self.fault_for(req)
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
        if self.any_model and route.kind == "chat":  # checked as the model it serves; answered as the one asked
            error = self._proto.check(req, dataclasses.replace(route, model=self.models[0]))
        else:
            error = self._proto.check(req, route)
        if error is not None:
            return self._send(h, error)
        if route.kind == "models":
            return self._send(h, self._proto.list_models(req, route))
        self._chat(h, req, route, self._take_fault(STREAM_FAULTS | {"huge"}, forced))
