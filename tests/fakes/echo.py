"""A fake server that quotes back the credentials it was sent, as careless proxies and gateways do.

:class:`EchoServer` speaks one protocol (any in :class:`~tests.fakes.FakeServer`'s table, whose routes,
errors, completions, listings and streams it reuses) and puts every credential header it received (the
key's header, any ``X-*`` custom header), also URL-encoded and base64-encoded, in one place ``where``
of the protocol's own answers, chats and model listings (Ollama's ``/api/tags`` and ``/api/show`` too):

* ``ok_model``: a good answer (and stream) whose model field is the echo; a listing with one more model
  per credential, named after it;
* ``200_error``: a 200 answer whose body is the protocol's error object quoting it;
* ``200_shape``: a 200 answer of the wrong shape, the echo where the reply (or the list) should be;
* ``4xx`` / ``5xx``: the protocol's own error body (its ``auth`` error: 401, Gemini's 400
  ``API_KEY_INVALID``; its ``server_error``: 500);
* ``midstream``: a stream that sends two pieces of text, then the protocol's error event (an SSE event or an
  NDJSON line) quoting it; a protocol with several (the Responses API's ``error`` and ``response.failed``,
  its fake's ``midstream`` knob) sends them in turn, one per streamed request. A request that does not
  stream gets the 500;
* ``headers``: the protocol's 401 whose ``www-authenticate`` and ``x-echo`` headers quote it (the body does not).

Nothing here names a protocol: the echo goes where the protocol's own JSON says (every ``message``, a string
``error``, every value naming the model), so a new fake is covered as soon as :class:`FakeServer` knows it.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
from typing import Any
from urllib.parse import quote

from .server import FakeServer, RecordedRequest, Response, Route

WHERE = ("ok_model", "200_error", "200_shape", "4xx", "5xx", "midstream", "headers")
_CREDENTIALS = ("authorization", "x-api-key", "api-key", "x-goog-api-key")
#: the values of a fake's ``midstream`` knob (tests/fakes/responses.py): each way its stream can fail
MIDSTREAM_KNOB = ("error", "failed")


def credentials(req: RecordedRequest) -> list[str]:
    """Every credential of ``req``; the bare key too when it came as ``Bearer KEY``."""
    values = [v for k, v in req.headers.items() if k in _CREDENTIALS or k.startswith("x-proxy")]
    return values + [v[7:] for v in values if v.lower().startswith("bearer ")]


def echo_of(req: RecordedRequest) -> str:
    """Every credential of ``req`` quoted three ways."""
    quoted = [f"{v} (url: {quote(v, safe='')}, b64: {base64.b64encode(v.encode()).decode()})" for v in credentials(req)]
    return "the gateway saw " + "; ".join(quoted)


def with_message(obj: Any, echo: str) -> Any:
    """``obj`` with each of its messages (a ``message`` string, a string ``error``) replaced by ``echo``."""
    if isinstance(obj, dict):
        return {
            k: echo if k in ("message", "error") and isinstance(v, str) else with_message(v, echo)
            for k, v in obj.items()
        }
    return [with_message(v, echo) for v in obj] if isinstance(obj, list) else obj


def with_model(obj: Any, model: str, echo: str) -> Any:
    """``obj`` with each string naming ``model`` (``m``, ``models/m``) naming ``echo`` instead."""
    if isinstance(obj, str):
        return obj[: -len(model)] + echo if model and (obj == model or obj.endswith("/" + model)) else obj
    if isinstance(obj, dict):
        return {k: with_model(v, model, echo) for k, v in obj.items()}
    return [with_model(v, model, echo) for v in obj] if isinstance(obj, list) else obj


def with_more_models(obj: Any, model: str, names: list[str]) -> Any:
    """A listing with, after each entry naming ``model``, one copy per name in ``names``."""
    if isinstance(obj, dict):
        return {k: with_more_models(v, model, names) for k, v in obj.items()}
    if not isinstance(obj, list):
        return obj
    out: list[Any] = []
    for item in obj:
        out.append(with_more_models(item, model, names))
        if with_model(item, model, "\0") != item:
            out += [with_model(copy.deepcopy(item), model, n) for n in names]
    return out


def shape_broken(obj: Any, holds: Any, echo: str) -> Any:
    """``obj`` with its top-level members that ``holds`` (the reply, the list) replaced by ``echo``: all of
    them when none does (the details of a model)."""
    assert isinstance(obj, dict), obj
    held = {k for k, v in obj.items() if holds(v)} or set(obj)
    # the echo as a string where an object or a list should be; where the text itself is (a delta), an object
    return {k: v if k not in held else {"text": echo} if isinstance(v, str) else echo for k, v in obj.items()}


def text_in(text: str) -> Any:
    return lambda v: text in json.dumps(v, ensure_ascii=False)


def naming(model: str) -> Any:
    return lambda v: with_model(v, model, "\0") != v


def rewrite(raw: bytes, change: Any) -> bytes:
    """Each JSON document of ``raw`` (a whole body, ``data:`` lines, NDJSON lines) passed through ``change``."""
    try:  # one document (an NDJSON line keeps its line break)
        return json.dumps(change(json.loads(raw)), separators=(",", ":")).encode() + raw[len(raw.rstrip()) :]
    except ValueError:
        pass
    out = []
    for line in raw.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        prefix = b"data: " if body.startswith(b"data: ") else b""
        try:
            doc = json.loads(body[len(prefix) :]) if body.strip() else None
        except ValueError:
            doc = None
        if isinstance(doc, (dict, list)):
            line = prefix + json.dumps(change(doc), separators=(",", ":")).encode() + line[len(body) :]
        out.append(line)
    return b"".join(out)


class EchoServer(FakeServer):
    """A :class:`FakeServer` that quotes the credentials it receives in one place (see the module docs)."""

    def __init__(self, protocol: str, where: str, **kw: Any) -> None:
        if where not in WHERE:
            raise ValueError(f"unknown place {where!r}; one of {WHERE}")
        super().__init__(protocol, **kw)
        self.where = where
        self._knob = itertools.cycle(MIDSTREAM_KNOB if hasattr(self._proto, "midstream") else (None,))

    def _echoing(self, resp: Response, echo: str, status: int | None = None) -> Response:
        body = rewrite(resp.body, lambda d: with_message(d, echo))
        assert echo.encode() in body, f"{self.protocol}'s error {resp.body!r} has no message to quote the echo in"
        return Response(status or resp.status, body, resp.content_type, resp.headers)

    def _respond(self, h: Any, req: RecordedRequest, forced: str | None = None) -> None:
        route = self._proto.route(req)
        if not isinstance(route, Route):
            return super()._respond(h, req, forced)
        echo, where = echo_of(req), self.where
        error = self._proto.error
        if where in ("4xx", "5xx") or (where == "midstream" and not route.stream):
            resp = error("auth" if where == "4xx" else "server_error", req, route)
            assert (resp.status < 500) == (where == "4xx"), resp
            return self._send(h, self._echoing(resp, echo))
        if where == "200_error":
            return self._send(h, self._echoing(error("auth", req, route), echo, 200))
        if where == "headers":
            headers = {"www-authenticate": f'Bearer error="invalid_token", error_description="{echo}"', "x-echo": echo}
            return self._send(h, Response(401, error("auth", req, route).body, headers=headers))
        model = route.model or self.models[0]
        if route.kind == "models":
            listing = self._proto.list_models(req, route)
            if route.variant == "show":  # the details of one model (Ollama's /api/show)
                change = (lambda d: with_model(d, model, echo)) if where == "ok_model" else None
            elif where == "ok_model":
                change = lambda d: with_more_models(d, model, credentials(req))  # noqa: E731
            else:
                change = None
            if where == "200_shape":
                change = lambda d: shape_broken(d, naming(model), echo)  # noqa: E731
            body = rewrite(listing.body, change) if change else listing.body
            return self._send(h, Response(listing.status, body, listing.content_type, listing.headers))
        reply = self._make_reply(req.body or {}, False)
        if not route.stream:
            answer = self._proto.completion(req, route, reply)
            if where == "200_shape":
                answer = shape_broken(answer, text_in(reply.text), echo)
            answer = with_model(answer, model, echo)
            return self._send(h, Response(200, json.dumps(answer).encode()))
        knob = next(self._knob)
        if knob is not None:
            self._proto.midstream = knob  # type: ignore[attr-defined]
        h.send_response(200)
        h.send_header("Content-Type", self._proto.stream_content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        pieces = 0
        for is_text, event in self._proto.stream_events(req, route, reply):
            if where == "midstream" and pieces >= 2:
                self._chunk(h, rewrite(self._proto.stream_error(), lambda d: with_message(d, echo)))
                h.close_connection = True
                return self._chunk(h, b"")
            if where == "200_shape" and is_text:
                piece = text_in(reply.pieces[pieces])
                event = rewrite(event, lambda d: shape_broken(d, piece, echo))  # noqa: B023 - used at once
            self._chunk(h, rewrite(event, lambda d: with_model(d, model, echo)))
            pieces += is_text
        self._chunk(h, b"")
