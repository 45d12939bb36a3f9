"""The only module that talks to servers (httpx): chat, stream, list models, verify.

It turns every httpx failure and every error answer into the package's error tree,
retries what is worth retrying (429/5xx/529 with backoff, honouring ``retry-after``,
never ``insufficient_quota``), rotates through several keys, and scrubs keys out of
every message it builds: each public function passes its errors and verdicts through
one redactor (:mod:`._secret`), and keys travel as :class:`~._secret.Secret` values.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

import httpx

from . import _bounded as bounded
from ._answers import (
    classify,
    deadline_error,
    deadline_for,
    error_body,
    json_of,
    retry_delay,
    short_list,
    stream_failure,
    text_of,
)
from ._bounded import Deadline, DeadlineExceeded, LimitExceeded
from ._checks import unsendable
from ._secret import Secret, cut_frames, redactor_for, scrub_error, scrub_verdict, watch
from ._settings import Settings, settings
from ._sse import SSEDecoder, SSEEvent
from ._types import KeyVerdict, Message, ModelIds, Verification
from .adapters import ADAPTERS
from .adapters._base import (
    ChatParams,
    Delta,
    ErrorInfo,
    HTTPRequest,
    ProtocolError,
    StreamErrorEvent,
    model_context_lengths,
)
from .errors import (
    AuthenticationError,
    BadResponseError,
    BadURLError,
    ModelNotFoundError,
    ProviderConfigError,
    ProviderConnectionError,
    ProviderError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
)
from .reply import Reply

if TYPE_CHECKING:
    from .store import Provider

__all__ = ["Settings", "chat_provider", "list_models", "settings", "verify"]

log = logging.getLogger("jupyter_providers")


_ERRORS: dict[str, type[ProviderError]] = {
    "auth": AuthenticationError,
    "model_not_found": ModelNotFoundError,
    "bad_url": BadURLError,
    "rate_limited": RateLimitError,
    "server_error": ServerError,
    "timeout": ProviderTimeoutError,
    "bad_response": BadResponseError,
    "unreachable": ProviderConnectionError,
}
_RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

_clients: dict[bool, httpx.Client] = {}
_clients_lock = threading.Lock()
_key_turns: dict[str, itertools.count[int]] = {}


def http_client(verify_tls: bool = True) -> httpx.Client:
    """The shared connection pool (one per TLS-verification setting)."""
    with _clients_lock:
        client = _clients.get(verify_tls)
        if client is None:
            timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
            transport = bounded.with_deadlines(httpx.HTTPTransport(verify=verify_tls))
            client = httpx.Client(verify=verify_tls, transport=transport, follow_redirects=False, timeout=timeout)
            _clients[verify_tls] = client
        return client


def _read_failed(p: Provider, exc: Exception, url: str, dl: Deadline) -> ProviderError:
    """A failure while reading an answer, as the package's error: the deadline, a limit, or the transport."""
    if dl.caused(exc):
        return deadline_error(p.name, url, dl)
    if isinstance(exc, httpx.HTTPError):
        return _transport_error(p, exc, url, dl.last)
    if isinstance(exc, LimitExceeded):
        return BadResponseError(f"the answer from {url} is over {exc.limit} - {exc.hint()}", provider=p.name)
    return BadResponseError(f"the answer from {url} cannot be read: {exc}", provider=p.name)


_P = ParamSpec("_P")
_T = TypeVar("_T")


def _redacting(fn: Callable[Concatenate[Provider, _P], _T]) -> Callable[Concatenate[Provider, _P], _T]:
    """The choke point: every error ``fn`` raises and every verdict it returns is scrubbed of the
    provider's keys and custom header values, whatever status or path built it. The error's traceback
    starts here: the frames below hold the server's answer and the request in their locals, which a
    ``%xmode Verbose`` traceback would print."""

    @functools.wraps(fn)
    def wrapper(p: Provider, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        red = watch(p)
        try:
            result = fn(p, *args, **kwargs)
        except ProviderError as exc:
            raise scrub_error(exc, red).with_traceback(None)  # noqa: B904 - the same error
        except BaseException as exc:  # Ctrl-C while a request waits, or a bug: no frame below prints its locals
            raise cut_frames(exc)  # noqa: B904 - the same error
        if isinstance(result, Verification):
            return scrub_verdict(result, red)  # type: ignore[return-value]
        return result

    return wrapper


def _redacted_stream(p: Provider, deltas: Iterator[Delta | str]) -> Iterator[Delta | str]:
    """A stream's errors through the same choke point (the text pieces are the model's and pass as they are)."""
    try:
        yield from deltas
    except ProviderError as exc:
        raise scrub_error(exc, redactor_for(p)).with_traceback(None)  # noqa: B904 - the same error
    except GeneratorExit:
        raise
    except BaseException as exc:
        raise cut_frames(exc)  # noqa: B904 - the same error
    finally:
        deltas.close()  # type: ignore[attr-defined]


def _unsendable(p: Provider, key: Secret) -> ProviderConfigError:
    """A key or header value HTTP cannot carry (a key read from a variable is not checked by the store)."""
    why = unsendable(key.reveal(), spaces=False)
    where = f"the key ({p.key_source})"
    if why is None:
        where, why = next(
            ((f"the custom header {k!r}", w) for k, v in p.headers.items() if (w := unsendable(v, spaces=True))),
            ("a header", "a character HTTP headers cannot carry"),
        )
    return ProviderConfigError(f"{where} cannot be sent: it has {why} - enter it again as plain ASCII", provider=p.name)


def _next_key(p: Provider) -> Secret:
    keys = p.keys
    if len(keys) <= 1:
        return keys[0] if keys else Secret("")
    turn = _key_turns.setdefault(p.name, itertools.count())
    return keys[next(turn) % len(keys)]


# -- errors ----------------------------------------------------------------------------------------
def _error_from_info(
    p: Provider, info: ErrorInfo, status: int | None, url: str, model: str, key: Secret
) -> ProviderError:
    msg = info.message  # scrubbed where it leaves the client (_redacting)
    where = f"{status}: {msg}" if status else msg
    kind = info.kind
    if kind == "auth":
        text = f"the server rejected the key ({where}) - " + (
            "no key was sent; " + p.key_hint() if not key else "check the key"
        )
    elif kind == "model_not_found":
        text = f"model {model!r} not found ({where}) - pick another model or fetch the server's list"
    elif kind == "bad_url":
        text = f"nothing answers at {url} ({status}) - check the API address"
    elif kind == "rate_limited" and info.quota:
        return QuotaExceededError(
            f"out of quota ({where}) - check the account's plan and billing",
            provider=p.name,
            status=status,
            server_message=msg,
        )
    elif kind == "rate_limited":
        after = f"; retry in {info.retry_after:g} s" if info.retry_after is not None else ""
        text = f"rate limited ({where}){after}"
    elif kind == "server_error":
        text = f"server error ({where}) - try again later"
    elif kind == "timeout":
        text = f"the server timed out ({where}) - try again later"
    else:
        kind = "bad_response"
        text = f"the server refused the request ({where})"
    cls = _ERRORS.get(kind, BadResponseError)
    return cls(text, provider=p.name, status=status, server_message=msg, retry_after=info.retry_after)


def _transport_error(p: Provider, exc: httpx.HTTPError, url: str, timeout: httpx.Timeout) -> ProviderError:
    """Translate an httpx failure into one actionable line."""
    req_url = httpx.URL(url)
    host = req_url.host
    base = p.resolved_base
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderTimeoutError(
            f"no connection to {host} within {timeout.connect:g} s - check the address and your network",
            provider=p.name,
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderTimeoutError(
            f"no answer from {host} within {timeout.read:g} s - the server is slow or stuck; "
            "try again or raise jupyter_providers.client.settings.read_timeout",
            provider=p.name,
        )
    text = str(exc)
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError):
        from .local import death_notice  # lazy and stdlib-only: the embedded server, if this is its address, died

        if notice := death_notice(base):
            return ProviderConnectionError(notice, provider=p.name)  # scrubbed where it leaves (_redacting)
    if isinstance(exc, httpx.ConnectError):
        low = text.lower()
        if isinstance(cause, ssl.SSLError) or "ssl" in low or "certificate" in low:
            reason = cause.args[1] if isinstance(cause, ssl.SSLError) and len(cause.args) > 1 else text
            return ProviderConnectionError(
                f"TLS error talking to {host} ({reason}) - check the address (http vs https) or the certificate",
                provider=p.name,
            )
        if any(
            s in low
            for s in (
                "name or service not known",
                "nodename nor servname",
                "getaddrinfo",
                "name resolution",
                "no address associated",
                "temporary failure in name",
            )
        ):
            return ProviderConnectionError(f"cannot resolve host {host!r} - check the API address", provider=p.name)
        return ProviderConnectionError(f"connection refused at {base} - is the server running?", provider=p.name)
    if isinstance(exc, httpx.LocalProtocolError):  # h11 refused what we would send (it quotes it: scrubbed)
        return ProviderConfigError(
            f"the request to {host} cannot be sent ({text}) - a key or custom header holds a character "
            "HTTP does not allow; enter it again",
            provider=p.name,
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return BadResponseError(f"the server closed the connection mid-reply ({text}) - try again", provider=p.name)
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.NetworkError)):
        return ProviderConnectionError(f"the connection to {host} failed ({text}) - try again", provider=p.name)
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ProviderConfigError(f"the address {url} cannot be used ({text})", provider=p.name)
    return ProviderConnectionError(f"request to {host} failed ({text})", provider=p.name)


# -- sending ---------------------------------------------------------------------------------------
def _send(
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
    client = http or http_client(p.verify_tls)
    adapter = ADAPTERS[p.type]
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
            raise _unsendable(p, key) from None
        except httpx.HTTPError as exc:
            raise _read_failed(p, exc, req.url, deadline) from None
        if resp.status_code < 400:
            deadline.watch(resp)
            return resp
        try:
            body, text = error_body(resp, deadline)
        except (httpx.HTTPError, DeadlineExceeded, ValueError) as exc:
            raise _read_failed(p, exc, req.url, deadline) from None
        finally:
            resp.close()
        info = classify(adapter, resp, body, text)
        should = resp.headers.get("x-should-retry", "").lower()
        retryable = should == "true" or (should != "false" and resp.status_code in _RETRY_STATUSES and not info.quota)
        delay = retry_delay(attempt, info, deadline) if retryable and attempt < retries else None
        if delay is None:
            raise _error_from_info(p, info, resp.status_code, req.url, model, key)
        log.info("jupyter-providers: %s answered %s; retry %d in %.1f s", p.name, resp.status_code, attempt + 1, delay)
        time.sleep(delay)
        attempt += 1


def _json_body(p: Provider, resp: httpx.Response, url: str, dl: Deadline) -> Any:
    """The answer's JSON, read within the deadline and ``max_response_bytes``."""
    limit = settings.max_response_bytes
    try:
        raw = bounded.read_body(resp, limit, dl, what="the answer", setting="max_response_bytes")
    except (httpx.HTTPError, DeadlineExceeded, LimitExceeded, ValueError) as exc:
        raise _read_failed(p, exc, url, dl) from None
    finally:
        resp.close()
    return json_of(p.name, resp, text_of(resp, raw), url)


def _resolve(p: Provider) -> None:
    if not p.enabled:
        raise ProviderConfigError(
            f"provider {p.name!r} is disabled - enable it first", provider=p.name, kind="disabled"
        )
    if not p.address and p.type == "azure":
        raise ProviderConfigError(
            "Azure needs the address of your resource (https://RESOURCE.openai.azure.com) - "
            "set it in the panel or AZURE_OPENAI_ENDPOINT",
            provider=p.name,
        )


def _stream_deltas(
    p: Provider, resp: httpx.Response, url: str, dl: Deadline, cancelled: threading.Event
) -> Iterator[Delta | str]:
    adapter = ADAPTERS[p.type]
    try:
        ctype = resp.headers.get("content-type", "")
        if "event-stream" not in ctype:
            # Some servers ignore "stream": true and answer with one JSON document.
            c = _parse_completion(p, _json_body(p, resp, url, dl), url)
            yield Delta(c.text, c.reasoning, c.finish_reason, c.usage)
            return
        parser = adapter.stream_parser()
        decoder = SSEDecoder(settings.max_event_bytes)
        limit, end, clock = settings.max_reply_chars, dl.end, time.monotonic

        def batches() -> Iterator[list[SSEEvent]]:
            """The events of each network read; the decoder's leftover only if the stream ran to its end."""
            for chunk in bounded.decoded_chunks(resp):
                if clock() >= end:
                    raise DeadlineExceeded
                yield decoder.feed(chunk)
                if parser.complete:  # checked after the batch was parsed
                    return
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
        if not (parser.complete or finished):
            raise BadResponseError(
                "the stream ended before the reply was complete - the partial reply is kept; try again",
                provider=p.name,
            )
    except StreamErrorEvent as exc:
        info = dataclasses.replace(exc.info, message=bounded.one_line(exc.info.message))
        raise _error_from_info(p, info, None, url, "", Secret("")) from None
    except (ValueError, RecursionError, LimitExceeded) as exc:  # ProtocolError and SSELimitError are ValueErrors
        raise stream_failure(p.name, exc) from None
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
        raise _transport_error(p, exc, url, dl.last) from None
    finally:
        dl.cancel()
        resp.close()


def _parse_completion(p: Provider, data: Any, url: str) -> Any:
    try:
        return ADAPTERS[p.type].parse_completion(data)
    except ProtocolError as exc:
        raise BadResponseError(f"unexpected answer from {url}: {exc}", provider=p.name) from None


@_redacting
def chat_provider(
    p: Provider,
    messages: list[Message],
    model: str,
    *,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = False,
    timeout: float | None = None,
    retries: int | None = None,
    http: httpx.Client | None = None,
) -> Reply:
    """Send a conversation to one provider; the request goes out now, a stream is read on iteration."""
    _resolve(p)
    adapter = ADAPTERS[p.type]
    if temperature is not None and temperature > adapter.max_temperature:
        raise ProviderConfigError(
            f"temperature: {temperature:g} is out of range ({p.type} takes 0 to {adapter.max_temperature:g}); "
            "use a lower one",
            provider=p.name,
        )
    key = _next_key(p)
    params = ChatParams(model, messages, system, temperature, max_tokens)
    req = adapter.chat_request(p, key, params, stream)
    dl = deadline_for(timeout, "call_timeout")
    started = time.perf_counter()
    try:
        retries = settings.max_retries if retries is None else retries
        resp = _send(p, req, model=model, key=key, http=http, deadline=dl, retries=retries)
        if not stream:
            c = _parse_completion(p, _json_body(p, resp, req.url, dl), req.url)
            reply = Reply(p.name, model, started=started)
            reply._apply(Delta(c.text, c.reasoning, c.finish_reason, c.usage))
            reply.latency_s = time.perf_counter() - started
            return reply
    finally:
        if not stream:
            dl.cancel()
    cancelled = threading.Event()

    def cancel() -> None:
        cancelled.set()
        bounded.shutdown(resp)  # wakes a thread blocked reading a stalled socket, which close() does not
        resp.close()

    deltas = _redacted_stream(p, _stream_deltas(p, resp, req.url, dl, cancelled))
    return Reply(p.name, model, deltas, on_cancel=cancel, started=started)


# -- models and verify ------------------------------------------------------------------------------
@_redacting
def list_models(
    p: Provider,
    *,
    timeout: float | None = None,
    http: httpx.Client | None = None,
    context_lengths: dict[str, int] | None = None,
    deadline: Deadline | None = None,
) -> ModelIds:
    """The model ids the server lists, all pages followed, within the deadline: at most
    ``settings.max_models`` of them (``.cut`` says the server listed more). ``context_lengths`` (if given)
    receives the context window of each model whose entry states one (:func:`~.adapters._base.context_lengths`)."""
    if not p.address and p.type == "azure":
        _resolve(p)
    adapter = ADAPTERS[p.type]
    key = _next_key(p)
    dl = deadline or deadline_for(timeout, "verify_timeout")
    ids: dict[str, None] = {}
    page: str | None = None
    cut, most = False, settings.max_models
    try:
        for _ in range(100):
            req = adapter.models_request(p, key, page)
            resp = _send(p, req, model="", key=key, http=http, deadline=dl, retries=0)
            try:
                data = _json_body(p, resp, req.url, dl)
                found, page = adapter.parse_models(data)
            except (ProtocolError, RecursionError) as exc:
                raise BadResponseError(f"unexpected model list from {req.url}: {exc}", provider=p.name) from None
            ids.update(dict.fromkeys(m for m in found if len(m) <= 512))
            if context_lengths is not None:
                context_lengths.update(model_context_lengths(data))
            if len(ids) >= most:
                cut = len(ids) > most or bool(page)
                break
            if not page:
                break
    finally:
        if deadline is None:
            dl.cancel()
    return ModelIds(list(ids)[:most], cut=cut)


def _verdict_from_error(exc: ProviderError, model: str | None, p: Provider) -> Verification:
    kind = exc.kind if exc.kind in _ERRORS else "bad_response"
    if exc.kind in ("disabled", "no_model"):
        kind = exc.kind
    message = exc.message
    return Verification(False, kind, message, None, model, p.name, exc.status)  # type: ignore[arg-type]


def _verify_key(p: Provider, key: Secret, model: str, deadline: Deadline, http: httpx.Client | None) -> Verification:
    adapter = ADAPTERS[p.type]
    params = ChatParams(model, [{"role": "user", "content": "Hi"}], max_tokens=settings.verify_max_tokens)
    req = adapter.chat_request(p, key, params, stream=False)
    dl = deadline.copy()  # one watchdog per request: the keys are tried in parallel
    started = time.perf_counter()
    try:
        resp = _send(p, req, model=model, key=key, http=http, deadline=dl, retries=0)
        _parse_completion(p, _json_body(p, resp, req.url, dl), req.url)
    except ProviderError as exc:
        return _verdict_from_error(exc, model, p)
    finally:
        dl.cancel()
    latency = time.perf_counter() - started
    return Verification(True, "ok", f"{model} answered in {latency * 1000:.0f} ms", latency, model, p.name, 200)


@_redacting
def verify(
    p: Provider, model: str | None = None, *, timeout: float | None = None, http: httpx.Client | None = None
) -> Verification:
    """Send the smallest chat the protocol allows and classify the outcome (never raises for the server),
    all within one deadline: ``timeout`` or ``settings.verify_timeout``."""
    dl = deadline_for(timeout, "verify_timeout")
    try:
        return _verify(p, model, dl, http)
    except Exception as exc:  # the contract: a verdict, whatever the server did
        log.warning("jupyter-providers: verify %s failed unexpectedly", p.name, exc_info=True)
        text = f"the answer could not be read ({type(exc).__name__}) - is this the right API type and address?"
        return Verification(False, "bad_response", text, provider=p.name)


def _verify(p: Provider, model: str | None, dl: Deadline, http: httpx.Client | None) -> Verification:
    try:
        _resolve(p)
    except ProviderConfigError as exc:
        kind = "disabled" if exc.kind == "disabled" else "bad_url"
        return Verification(False, kind, exc.message, provider=p.name)  # type: ignore[arg-type]
    model = model or (p.model_ids[0] if p.models else None)
    if not model:
        try:
            offered = list_models(p, http=http, deadline=dl.copy())
        except ProviderError as exc:
            return _verdict_from_error(exc, None, p)
        listing = f" (the server offers: {short_list(offered)})" if offered else ""
        return Verification(
            False,
            "no_model",
            f"the server answered, but {p.name!r} has no model to test - add one or fetch the list{listing}",
            provider=p.name,
        )
    keys = p.keys or [Secret("")]
    if len(keys) == 1:
        result = _verify_key(p, keys[0], model, dl, http)
    else:
        with ThreadPoolExecutor(max_workers=min(len(keys), 8)) as pool:
            results = list(pool.map(lambda k: _verify_key(p, k, model, dl, http), keys))
        verdicts = tuple(KeyVerdict(i + 1, r.ok, r.kind, r.message) for i, r in enumerate(results))
        bad = [v for v in verdicts if not v.ok]
        first = results[0] if not bad else results[bad[0].index - 1]
        n = len(keys)
        if bad:
            which = ", ".join(str(v.index) for v in bad)
            message = f"key {which} of {n} failed: {first.message}"
        else:
            message = f"all {n} keys work; {first.message}"
        result = Verification(not bad, first.kind, message, first.latency_s, model, p.name, first.status, verdicts)
    if result.kind == "model_not_found":
        try:
            offered = list_models(p, http=http, deadline=dl.copy())
        except ProviderError:
            offered = ModelIds()
        if offered:
            result = Verification(
                False,
                "model_not_found",
                f"model {model!r} not found; the server offers: {short_list(offered)}",
                None,
                model,
                p.name,
                result.status,
                result.keys,
            )
    return result
