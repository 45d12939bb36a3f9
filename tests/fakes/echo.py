"""A fake server that quotes back the credentials it was sent, as careless proxies and gateways do.

:class:`EchoServer` speaks one protocol (the same four as :class:`~tests.fakes.FakeServer`, whose
routes, completions and streams it reuses) and puts every credential header it received (the key's
header, any ``X-*`` custom header), also URL-encoded and base64-encoded, in one place ``where``:

* ``ok_model``: a good answer (and stream) whose ``model`` field is the echo;
* ``200_error``: a 200 answer whose body is the protocol's error object quoting it;
* ``200_shape``: a 200 answer of the wrong shape, the echo where the reply should be;
* ``4xx`` / ``5xx``: the protocol's own error body (401 or Gemini's 400 ``API_KEY_INVALID``; 500);
* ``midstream``: a stream that sends two pieces of text, then the protocol's error event quoting it
  (a request that does not stream gets the 500);
* ``headers``: a 401 whose ``www-authenticate`` and ``x-echo`` headers quote it (the body does not).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

from .server import FakeServer, RecordedRequest, Response, Route, json_response, sse

WHERE = ("ok_model", "200_error", "200_shape", "4xx", "5xx", "midstream", "headers")
_CREDENTIALS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")


def echo_of(req: RecordedRequest) -> str:
    """Every credential of ``req`` quoted three ways; the bare key too when it came as ``Bearer KEY``."""
    values = [v for k, v in req.headers.items() if k in _CREDENTIALS or k.startswith("x-proxy")]
    values += [v[7:] for v in values if v.lower().startswith("bearer ")]
    quoted = [f"{v} (url: {quote(v, safe='')}, b64: {base64.b64encode(v.encode()).decode()})" for v in values]
    return "the gateway saw " + "; ".join(quoted)


def error_body(protocol: str, status: int, message: str) -> dict[str, Any]:
    """The protocol's error object (PROTOCOLS.md) carrying ``message``."""
    if protocol == "anthropic":
        kind = "authentication_error" if status < 500 else "api_error"
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_echo"}
    if protocol == "gemini":
        if status < 500:
            details = [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]
            return {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": details}}
        return {"error": {"code": status, "message": message, "status": "INTERNAL"}}
    if protocol == "azure":
        return {"error": {"code": str(status), "message": message}}
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def stream_error_event(protocol: str, message: str) -> bytes:
    if protocol == "anthropic":
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": message}}, "error")
    if protocol == "gemini":
        return sse({"error": {"code": 500, "message": message, "status": "INTERNAL"}}, nl="\r\n")
    return sse({"error": {"message": message, "type": "server_error", "param": None, "code": None}})


def wrong_shape(protocol: str, message: str) -> dict[str, Any]:
    if protocol == "anthropic":
        return {"id": "msg_echo", "type": "message", "role": "assistant", "content": message}
    if protocol == "gemini":
        return {"candidates": [message]}
    return {"id": "chatcmpl-echo", "object": "chat.completion", "choices": [message]}


class EchoServer(FakeServer):
    """A :class:`FakeServer` that quotes the credentials it receives in one place (see the module docs)."""

    def __init__(self, protocol: str, where: str, **kw: Any) -> None:
        if where not in WHERE:
            raise ValueError(f"unknown place {where!r}; one of {WHERE}")
        super().__init__(protocol, **kw)
        self.where = where

    def _respond(self, h: Any, req: RecordedRequest, forced: str | None = None) -> None:
        route = self._proto.route(req)
        if not isinstance(route, Route) or route.kind != "chat":
            return super()._respond(h, req, forced)
        echo, proto, where = echo_of(req), self.protocol, self.where
        if where in ("4xx", "5xx") or (where == "midstream" and not route.stream):
            status = 500 if where != "4xx" else 400 if proto == "gemini" else 401
            return self._send(h, json_response(status, error_body(proto, status, echo)))
        if where == "200_error":
            return self._send(h, json_response(200, error_body(proto, 401, echo)))
        if where == "200_shape":
            return self._send(h, json_response(200, wrong_shape(proto, echo)))
        if where == "headers":
            headers = {"www-authenticate": f'Bearer error="invalid_token", error_description="{echo}"', "x-echo": echo}
            return self._send(h, Response(401, b'{"error": "Unauthorized"}', headers=headers))
        reply = self._make_reply(req.body or {}, False)
        if not route.stream:  # ok_model
            answer = self._proto.completion(req, route, reply)
            answer["modelVersion" if proto == "gemini" else "model"] = echo
            return self._send(h, Response(200, json.dumps(answer).encode()))
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        model = json.dumps(echo)[1:-1].encode()
        pieces = 0
        for is_text, event in self._proto.stream_events(req, route, reply):
            if where == "midstream" and pieces >= 2:
                self._chunk(h, stream_error_event(proto, echo))
                h.close_connection = True
                return self._chunk(h, b"")
            event = event.replace(f'"model":"{route.model}"'.encode(), b'"model":"' + model + b'"')
            self._chunk(h, event.replace(b'"modelVersion":"', b'"modelVersion":"' + model + b" "))
            pieces += is_text
        self._chunk(h, b"")
