"""Sending one request and reading its answer, within the call's deadline and the size limits.

The client's machinery under :mod:`.client`: the shared connection pools, retries with backoff,
key rotation, bounded bodies, and a stream read event by event (SSE or NDJSON, as the type says).
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from . import _bounded as bounded
from ._answers import classify, deadline_error, error_body, json_of, retry_delay, stream_failure, text_of
from ._bounded import Deadline, DeadlineExceeded, LimitExceeded
from ._failures import check_variable_key, error_from_info, read_failed, transport_error, unsendable_error
from ._secret import Secret
from ._settings import settings
from ._sse import SSEDecoder, SSEEvent
from .adapters import adapter_for
from .adapters._base import Delta, HTTPRequest, ProtocolError, StreamErrorEvent
from .errors import BadResponseError, ProviderConfigError, ProviderError, ProviderTimeoutError

if TYPE_CHECKING:
    from .store import Provider

__all__ = [
    "ThreadClients", "http_client", "json_body", "new_client", "next_key", "parse_completion", "resolve", "send",
    "stream_deltas",
]  # fmt: skip

log = logging.getLogger("jupyter_providers")

_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

#: the shared pool's connections, all kept alive between requests (httpx keeps 20 by default): what --compare, a
#: verify of every provider and threads of the user's own share (chat_map's workers have clients of their own)
POOL = httpx.Limits(max_connections=128, max_keepalive_connections=128)

_clients: dict[bool, httpx.Client] = {}
_clients_lock = threading.Lock()
_key_turns: dict[str, itertools.count[int]] = {}


@functools.cache
def _tls(verify_tls: bool) -> ssl.SSLContext | bool:
    """One TLS context for every client (loading the CA certificates costs milliseconds each time)."""
    return httpx.create_ssl_context(verify=True) if verify_tls else False


def new_client(verify_tls: bool = True, limits: httpx.Limits = POOL) -> httpx.Client:
    """A client with the package's transport (deadlines, bounded reads), no redirects, the settings' timeouts."""
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    tls = _tls(verify_tls)
    transport = bounded.with_deadlines(httpx.HTTPTransport(verify=tls, limits=limits))
    return httpx.Client(verify=tls, transport=transport, follow_redirects=False, timeout=timeout)


class ThreadClients:
    """One small client per thread, for ``chat_map``'s workers: each worker sends one request at a time, so its
    own connection is always free, where a shared pool of many connections makes every request scan them all
    (httpcore assigns requests to connections in a loop over both). ``close()`` closes them all."""

    def __init__(self, verify_tls: bool) -> None:
        self._verify = verify_tls
        self._local = threading.local()
        self._all: list[httpx.Client] = []
        self._lock = threading.Lock()

    def get(self) -> httpx.Client:
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = new_client(self._verify, httpx.Limits(max_connections=2))
            with self._lock:
                self._all.append(client)
        return client

    def close(self) -> None:
        with self._lock:
            clients, self._all = self._all, []
        for client in clients:
            client.close()


def http_client(verify_tls: bool = True) -> httpx.Client:
    """The shared connection pool (one per TLS-verification setting)."""
    with _clients_lock:
        client = _clients.get(verify_tls)
        if client is None:
            client = _clients[verify_tls] = new_client(verify_tls)
        return client


def next_key(p: Provider) -> Secret:
    keys = p.keys
    if len(keys) <= 1:
        return keys[0] if keys else Secret("")
    turn = _key_turns.setdefault(p.name, itertools.count())
    return keys[next(turn) % len(keys)]


def send(
    p: Provider,
    req: HTTPRequest,
    *,
    model: str,
    key: Secret,
    http: httpx.Client | None,
    deadline: Deadline,
    retries: int,
) -> httpx.Response:
    """Send with retries within the deadline; return a streaming response with a 2xx/3xx status, or raise."""
    check_variable_key(p, key)
    client = http or http_client(p.verify_tls)
    adapter = adapter_for(p.type)
    headers = {"accept-encoding": bounded.ACCEPT_ENCODING, **req.headers}  # only what _bounded decodes
    attempt = 0
    while True:
        timeout = deadline.timeout(settings.connect_timeout, settings.read_timeout)
        try:
            request = client.build_request(req.method, req.url, headers=headers, json=req.json, timeout=timeout)
            request.extensions["trace"] = deadline.trace
            with bounded.sending(deadline):
                resp = client.send(request, stream=True)
        except UnicodeEncodeError:
            raise unsendable_error(p, key) from None
        except httpx.HTTPError as exc:
            raise read_failed(p, exc, req.url, deadline) from None
        if resp.status_code < 400:
            deadline.watch(resp)
            return resp
        try:
            body, text = error_body(resp, deadline)
        except (httpx.HTTPError, DeadlineExceeded, ValueError) as exc:
            raise read_failed(p, exc, req.url, deadline) from None
        finally:
            resp.close()
        info = classify(adapter, resp, body, text)
        should = resp.headers.get("x-should-retry", "").lower()
        # an answer the adapter reads as a refusal of the request itself (bad_response) fails the same way again
        retryable = should == "true" or (
            should != "false" and resp.status_code in _RETRY_STATUSES and not info.quota and info.kind != "bad_response"
        )
        delay = retry_delay(attempt, info, deadline) if retryable and attempt < retries else None
        if delay is None:
            raise error_from_info(p, info, resp.status_code, req.url, model, key)
        log.info("jupyter-providers: %s answered %s; retry %d in %.1f s", p.name, resp.status_code, attempt + 1, delay)
        time.sleep(delay)
        attempt += 1


def json_body(p: Provider, resp: httpx.Response, url: str, dl: Deadline) -> Any:
    """The answer's JSON, read within the deadline and ``max_response_bytes``."""
    return json_of(p.name, resp, whole_text(p, resp, url, dl), url)


def whole_text(p: Provider, resp: httpx.Response, url: str, dl: Deadline) -> str:
    """The answer's text, read within the deadline and ``max_response_bytes``."""
    limit = settings.max_response_bytes
    try:
        raw = bounded.read_body(resp, limit, dl, what="the answer", setting="max_response_bytes")
    except (httpx.HTTPError, DeadlineExceeded, LimitExceeded, ValueError) as exc:
        raise read_failed(p, exc, url, dl) from None
    finally:
        resp.close()
    return text_of(resp, raw)


def resolve(p: Provider) -> None:
    if not p.enabled:
        raise ProviderConfigError(
            f"provider {p.name!r} is disabled - enable it first", provider=p.name, kind="disabled"
        )
    s = p.spec
    if s.needs_address and not p.address:
        env = f" or ${s.env_address}" if s.env_address else ""
        example = f" ({s.placeholder})" if s.placeholder else ""
        raise ProviderConfigError(
            f"{s.label} needs an API address{example} - set it in the panel{env}", provider=p.name
        )


def _line_decoder() -> Any:
    """The decoder of a stream of JSON lines (Ollama's NDJSON), loaded only for such a type."""
    from ._ndjson import NDJSONDecoder

    return NDJSONDecoder(settings.max_event_bytes)


def _json_lines(p: Provider, resp: httpx.Response, url: str, dl: Deadline) -> tuple[Any, list[Any]]:
    """An answer to a JSON-lines stream request that does not say it is one (not ``x-ndjson``): read whole, it is
    (the completion, []) for one JSON answer, (None, its lines) for JSON lines under another name; a web page
    or anything else is the error a whole answer gets ("answered with a web page", "is not JSON")."""
    from ._ndjson import NDJSONLine

    text = whole_text(p, resp, url, dl)
    try:
        return parse_completion(p, json_of(p.name, resp, text, url), url), []
    except BadResponseError as whole:
        lines = [line for line in text.split("\n") if line.strip()]
        try:
            bounded.parse_json(lines[0] if lines else "")
        except ValueError:
            raise whole from None  # the whole answer's error, not the first line's
        return None, [NDJSONLine(line) for line in lines]


def event_error(p: Provider, exc: StreamErrorEvent, url: str, key: Secret, model: str = "") -> ProviderError:
    """The error for one the server reported inside a 200 answer: an event mid-stream, or a whole answer
    that says it failed (a Responses ``status: "failed"``), classified alike (auth, rate limit, server)."""
    info = dataclasses.replace(exc.info, message=bounded.one_line(exc.info.message))
    return error_from_info(p, info, None, url, model, key)


def parse_completion(p: Provider, data: Any, url: str, key: Secret | None = None, model: str = "") -> Any:
    """A whole answer's :class:`~.adapters._base.Completion`; one that reports its own failure raises the
    error of that kind, one of the wrong shape :class:`BadResponseError`."""
    try:
        return adapter_for(p.type).parse_completion(data)
    except ProtocolError as exc:
        raise BadResponseError(f"unexpected answer from {url}: {exc}", provider=p.name) from None
    except StreamErrorEvent as exc:
        raise event_error(p, exc, url, Secret("") if key is None else key, model) from None


def stream_deltas(
    p: Provider, resp: httpx.Response, url: str, dl: Deadline, cancelled: threading.Event, key: Secret, model: str
) -> Iterator[Delta | str]:
    """The stream's increments, read within the deadline and the limits. ``key`` is the key the request
    carried (an error event then says whether one was sent) and ``model`` the model asked for."""
    adapter = adapter_for(p.type)
    try:
        ctype = resp.headers.get("content-type", "")
        sse = p.spec.stream_format == "sse"
        if sse and "event-stream" not in ctype:
            # Some servers ignore "stream": true and answer with one JSON document.
            c = parse_completion(p, json_body(p, resp, url, dl), url, key, model)
            yield Delta(c.text, c.reasoning, c.finish_reason, c.usage)
            return
        lines: list[Any] = []
        if not sse and "ndjson" not in ctype:  # a web page, one JSON answer, garbage, or JSON lines by another name
            c, lines = _json_lines(p, resp, url, dl)
            if c is not None:
                yield Delta(c.text, c.reasoning, c.finish_reason, c.usage)
                return
        parser = adapter.stream_parser()
        decoder = SSEDecoder(settings.max_event_bytes) if sse else _line_decoder()
        limit, end, clock = settings.max_reply_chars, dl.end, time.monotonic
        repeats = p.spec.events_repeat_reply

        def batches() -> Iterator[list[SSEEvent]]:
            """The events of each network read; the decoder's leftover only if the stream ran to its end."""
            if lines:  # read already
                yield lines
                return
            for chunk in bounded.decoded_chunks(resp):
                if clock() >= end:
                    raise DeadlineExceeded
                yield decoder.feed(chunk)
                if parser.complete:  # checked after the batch was parsed
                    return
            if dl.fired:  # the watchdog shut the socket: a stream framed by the connection's end just stops
                raise DeadlineExceeded
            yield decoder.close()

        finished = False
        chars = 0  # the reply's text and reasoning so far, checked against the limit after each read
        for events in batches():
            for ev in events:
                d = parser.feed(ev)
                if d is not None:
                    if isinstance(d, str):  # text only (StreamParser.feed)
                        chars += len(d)
                    else:
                        finished = finished or bool(d.finish_reason)
                        chars += len(d.text) + len(d.reasoning)
                    yield d
            if chars > limit:
                raise LimitExceeded("the reply", f"{limit:,} characters", "max_reply_chars")
            if repeats:  # the next event may repeat the reply so far, JSON-escaped: 12 bytes a character at most
                decoder.allow(settings.max_event_bytes + 12 * chars)
        if not (parser.complete or finished):
            raise BadResponseError(
                "the stream ended before the reply was complete - the partial reply is kept; try again",
                provider=p.name,
            )
    except StreamErrorEvent as exc:
        raise event_error(p, exc, url, key, model) from None
    except (ValueError, RecursionError, LimitExceeded) as exc:  # ProtocolError and SSELimitError are ValueErrors
        raise stream_failure(p.name, exc) from None
    except httpx.StreamClosed:  # cancel() from another thread closed the answer before this one began reading it
        if not cancelled.is_set():
            raise
    except (httpx.HTTPError, DeadlineExceeded) as exc:
        if cancelled.is_set():
            return
        if not isinstance(exc, httpx.HTTPError) or dl.caused(exc):
            raise deadline_error(p.name, url, dl, partial=True) from None
        if isinstance(exc, httpx.ReadTimeout):
            raise ProviderTimeoutError(
                f"the stream stalled: nothing for {dl.last.read:g} s - the partial reply is kept",
                provider=p.name,
            ) from None
        raise transport_error(p, exc, url, dl.last) from None
    finally:
        dl.cancel()
        resp.close()
