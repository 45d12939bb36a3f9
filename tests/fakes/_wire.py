"""What the fake servers are made of: the recorded request, a response, a route, a reply, the canned pages
and faults, and the SSE writer. (``server.py`` re-exports all of it; the protocols import it from there.)"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

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
