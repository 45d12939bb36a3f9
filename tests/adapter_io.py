"""An adapter driven over HTTP with httpx alone: for tests that talk to a server (a fake, real vLLM, the
LiteLLM proxy) through one adapter without the store and the client.

The real client adds deadlines, limits, retries and error mapping; this does none of that. A non-2xx
answer raises :class:`HTTPFailure` with the adapter's classification of it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from jupyter_providers._sse import SSEDecoder
from jupyter_providers.adapters._base import Completion, Delta, ErrorInfo, HTTPRequest, as_delta
from jupyter_providers.adapters._spec import Endpoint, TypeSpec


class HTTPFailure(Exception):
    def __init__(self, status: int, info: ErrorInfo, text: str) -> None:
        super().__init__(f"{status} {info.kind}: {info.message}")
        self.status, self.info, self.text = status, info, text


@dataclass
class Streamed:
    """What a stream gave: the deltas, the raw bytes, and whether the protocol's end marker came."""

    deltas: list[Delta] = field(default_factory=list)
    raw: bytes = b""
    complete: bool = False

    @property
    def text(self) -> str:
        return "".join(d.text for d in self.deltas)

    @property
    def reasoning(self) -> str:
        return "".join(d.reasoning for d in self.deltas)

    @property
    def finish_reasons(self) -> list[str]:
        return [d.finish_reason for d in self.deltas if d.finish_reason]

    @property
    def usages(self) -> list[Any]:
        return [d.usage for d in self.deltas if d.usage is not None]


def endpoint(spec: TypeSpec, address: str, headers: dict[str, str] | None = None) -> Endpoint:
    """The endpoint a provider of this type with ``address`` (blank: the type's default) resolves to, as the
    store resolves it (:attr:`jupyter_providers.Provider.endpoint`)."""
    from jupyter_providers import Provider

    return Provider("io", spec.name, base_url=address, headers=dict(headers or {})).endpoint


def _check(spec: TypeSpec, resp: httpx.Response) -> None:
    if resp.status_code // 100 != 2:
        text = resp.text
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = None
        info = spec.adapter.classify_error(resp.status_code, body, text, resp.headers)
        raise HTTPFailure(resp.status_code, info, text)


def send(req: HTTPRequest, timeout: float) -> httpx.Response:
    return httpx.request(req.method, req.url, headers=req.headers, json=req.json, timeout=timeout)


def complete(spec: TypeSpec, e: Endpoint, key: str, params: Any, timeout: float = 120) -> Completion:
    resp = send(spec.adapter.chat_request(e, key, params, False), timeout)
    _check(spec, resp)
    return spec.adapter.parse_completion(resp.json())


def chunks(raw: bytes, size: int | None) -> Iterator[bytes]:
    if size is None:
        yield raw
        return
    for i in range(0, len(raw), size):
        yield raw[i : i + size]


def parse_stream(spec: TypeSpec, pieces: Iterator[bytes]) -> Streamed:
    """Bytes of an event stream, in the pieces given, through the SSE decoder and the type's parser."""
    parser, decoder, out = spec.adapter.stream_parser(), SSEDecoder(), Streamed()
    for piece in pieces:
        out.raw += piece
        for ev in decoder.feed(piece):
            d = parser.feed(ev)
            if d is not None:
                out.deltas.append(as_delta(d))
        if parser.complete:
            break
    else:
        for ev in decoder.close():
            d = parser.feed(ev)
            if d is not None:
                out.deltas.append(as_delta(d))
    out.complete = parser.complete
    return out


def stream(spec: TypeSpec, e: Endpoint, key: str, params: Any, timeout: float = 120) -> Streamed:
    req = spec.adapter.chat_request(e, key, params, True)
    with httpx.stream(req.method, req.url, headers=req.headers, json=req.json, timeout=timeout) as resp:
        if resp.status_code // 100 != 2:
            resp.read()
            _check(spec, resp)
        assert "event-stream" in resp.headers.get("content-type", ""), resp.headers
        return parse_stream(spec, resp.iter_raw())


def models(spec: TypeSpec, e: Endpoint, key: str, timeout: float = 30) -> list[str]:
    resp = send(spec.adapter.models_request(e, key, None), timeout)
    _check(spec, resp)
    ids, _next = spec.adapter.parse_models(resp.json())
    return ids
