"""Reading within bounds (jupyter_providers/_bounded.py): decompression in bounded pieces, a running
count, nesting bombs, deadlines, and the server's ``retry-after`` read sanely."""

from __future__ import annotations

import gzip
import math
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import httpx
import pytest

from jupyter_providers import BadResponseError, ProviderStore, ProviderTimeoutError, ServerError, chat
from jupyter_providers import client as client_module
from jupyter_providers._bounded import (
    PIECE,
    Deadline,
    DeadlineExceeded,
    LimitExceeded,
    NestingError,
    decoded_chunks,
    human_bytes,
    one_line,
    parse_json,
    read_body,
)
from jupyter_providers.adapters import TYPES
from jupyter_providers.adapters._base import MAX_RETRY_AFTER, ProtocolError, as_int, load_json, retry_after
from jupyter_providers.client import verify

from .fakes import FakeServer
from .fakes.hostile import bomb
from .fakes.server import protocol_class


def streamed(chunks: Iterator[bytes] | list[bytes], encoding: str | None = None) -> httpx.Response:
    """A response whose body arrives as ``chunks`` (raw, as a socket gives them), not yet read."""
    headers = {"content-type": "application/json"}
    if encoding:
        headers["content-encoding"] = encoding
    return httpx.Response(200, headers=headers, content=iter(chunks))


def far() -> Deadline:
    return Deadline(60, "test")


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_bomb_is_decoded_in_bounded_pieces_and_stopped_at_the_limit(encoding: str) -> None:
    resp = streamed(bomb(encoding, b"{", 1 << 30), encoding)  # 1 GB of spaces in ~1 MB
    sizes: list[int] = []
    for piece in decoded_chunks(resp):
        sizes.append(len(piece))
        if sum(sizes) > 40 << 20:
            break
    assert max(sizes) <= PIECE
    with pytest.raises(LimitExceeded, match="the answer is over 32 MB") as info:
        read_body(streamed(bomb(encoding, b"{"), encoding), 32 << 20, far(), what="the answer", setting="x")
    assert info.value.setting == "x" and "settings.x" in info.value.hint()


def test_stacked_encodings_are_each_bounded() -> None:
    """``gzip, gzip``: each step hands on at most PIECE bytes, so a bomb in a bomb never expands whole."""
    inner = b"".join(bomb("gzip", b"", 256 << 20))  # 256 MB of spaces in 256 kB
    outer = gzip.compress(inner)
    resp = streamed([outer[i : i + 65536] for i in range(0, len(outer), 65536)], "gzip, gzip")
    total = 0
    for piece in decoded_chunks(resp):
        assert len(piece) <= PIECE
        total += len(piece)
    assert total == 256 << 20  # all of it, in small pieces


def test_plain_gzip_deflate_and_raw_deflate_decode_exactly() -> None:
    body = b'{"a": "' + bytes(range(256)) * 4000 + b'"}'
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    cases = {
        "gzip": gzip.compress(body),
        "deflate": zlib.compress(body),
        "identity": body,
    }
    for encoding, data in cases.items():
        chunks = [data[i : i + 333] for i in range(0, len(data), 333)]
        assert read_body(streamed(chunks, encoding), 10 << 20, far(), what="w", setting="s") == body, encoding
    raw_data = raw.compress(body) + raw.flush()
    assert read_body(streamed([raw_data], "deflate"), 10 << 20, far(), what="w", setting="s") == body
    assert read_body(streamed([body], "br"), 10 << 20, far(), what="w", setting="s") == body  # passed as it is


def test_a_broken_gzip_body_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="does not decompress"):
        read_body(streamed([b"\x1f\x8b\x08\x00garbage" * 10], "gzip"), 1 << 20, far(), what="w", setting="s")


def test_without_what_the_body_is_cut_at_the_limit() -> None:
    assert read_body(streamed([b"x" * 1000] * 10), 2500, far()) == b"x" * 2500


def test_reading_stops_at_the_deadline() -> None:
    def slow() -> Iterator[bytes]:
        while True:
            time.sleep(0.05)
            yield b"x"

    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        read_body(streamed(slow()), 1 << 20, Deadline(0.3, "test"))
    assert time.monotonic() - started < 1


def test_deadline_timeouts_never_outlast_it() -> None:
    dl = Deadline(2.0, "test")
    t = dl.timeout(10.0, 120.0)
    assert t.read is not None and t.read <= 2.0 and t.connect is not None and t.connect <= 2.0 and dl.cut
    t = Deadline(60.0, "test").timeout(10.0, 30.0)
    assert (t.connect, t.read) == (10.0, 30.0)
    same = Deadline(0.5, "test")  # a timeout equal to the deadline is kept as set (errors say "0.5 s")
    assert same.timeout(0.5, 0.5).read == 0.5 and not same.cut
    twin = dl.copy()
    assert twin.end == dl.end and twin is not dl


def test_parse_json_fails_only_with_value_errors() -> None:
    with pytest.raises(NestingError):
        parse_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(NestingError):
        parse_json('{"a":' * 100_000 + "1" + "}" * 100_000)
    with pytest.raises(ValueError):
        parse_json("1" * 5000)  # more digits than Python converts
    assert parse_json("1e999") == math.inf  # a huge float is inf, not an error
    assert parse_json("[" * 200 + "]" * 200) is not None


def test_a_nesting_bomb_in_a_stream_event_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="nested too deeply"):
        load_json("[" * 100_000 + "]" * 100_000)


def test_counts_from_a_server_are_sane() -> None:
    assert as_int(12) == 12
    assert as_int(10**400) is None and as_int(-3) is None and as_int(True) is None and as_int(1.5) is None


def test_one_line_and_human_bytes() -> None:
    assert one_line("a\n\n b\r\n\tc") == "a b c"
    assert one_line("x" * 5000, 100) == "x" * 99 + "…"
    assert human_bytes(32 << 20) == "32 MB" and human_bytes(64 << 10) == "64 kB" and human_bytes(12) == "12 bytes"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nan", None),
        ("NaN", None),
        ("inf", MAX_RETRY_AFTER),
        ("-inf", 0.0),
        ("-5", 0.0),
        ("1e12", MAX_RETRY_AFTER),
        ("1e400", MAX_RETRY_AFTER),
        ("soon-ish", None),
        ("", None),
        ("  7 ", 7.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: now
        ("Wed, 21 Oct 9999 07:28:00 GMT", MAX_RETRY_AFTER),
        ("Mon, 99 Foo 2015 99:99:99 GMT", None),
    ],
)
def test_odd_retry_after_values_are_clamped_or_ignored(value: str, expected: float | None) -> None:
    got = retry_after({"retry-after": value})
    assert got == expected, (value, got)
    assert got is None or (0 <= got <= MAX_RETRY_AFTER and not math.isnan(got))


def test_retry_after_in_a_while_and_in_milliseconds() -> None:
    soon = format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    got = retry_after({"retry-after": soon})
    assert got is not None and 25 < got <= 30
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    assert retry_after({"retry-after-ms": "nan", "retry-after": "4"}) == 4.0  # an unusable hint falls through
    assert retry_after({"retry-after-ms": "-1"}) == 0.0


# -- through the client, for every type: a nesting bomb is a BadResponseError, never a RecursionError -------------
PROTOCOLS = tuple(TYPES)
BOMB = b"[" * 100_000 + b"]" * 100_000


def _store() -> ProviderStore:
    store = ProviderStore(persist=False, admin_paths=[])
    for t in PROTOCOLS:
        extra = protocol_class(t).store_kwargs()
        store.add(t, type=t, base_url="http://127.0.0.1:9", api_key="", models=["model-a"], **extra)
    return store


def _http(status: int, ctype: str, chunks: list[bytes]) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, headers={"content-type": ctype}, content=iter(chunks))

    return httpx.Client(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_nesting_bombs_are_bad_responses_for_every_type(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.settings, "max_retries", 0)
    store, facts = _store(), protocol_class(protocol)
    with pytest.raises(BadResponseError, match="nested too deeply"):
        chat("hi", provider=protocol, store=store, http=_http(200, "application/json", [BOMB]))
    with pytest.raises(ServerError, match=r"server error \(500: \[\[\["):
        chat("hi", provider=protocol, store=store, http=_http(500, "application/json", [BOMB]))
    reply = chat("hi", provider=protocol, store=store, stream=True,
                 http=_http(200, facts.stream_content_type, [facts.stream_event(BOMB)]))  # fmt: skip
    with pytest.raises(BadResponseError, match="nested too deeply") as info:
        reply.wait()
    assert "\n" not in str(info.value)
    v = verify(store[protocol], http=_http(200, "application/json", [BOMB]))
    assert (v.kind, v.ok) == ("bad_response", False) and "nested too deeply" in v.message
    v = verify(store[protocol], http=_http(200, "application/json", [b'{"a": ' + b"9" * 5000 + b"}"]))
    assert v.kind == "bad_response"  # more digits than Python converts: not JSON it can read


# -- a type whose closing events repeat the reply: allowed that much more per event, and no more ------------------
REPEATERS = [t for t, s in TYPES.items() if s.events_repeat_reply]


@pytest.mark.parametrize("protocol", REPEATERS)
def test_closing_events_may_repeat_the_reply(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Responses API sends the whole text again in four closing events (``*.done``, ``response.completed``):
    a reply longer than ``max_event_bytes`` must still arrive whole (it failed with "a line of the stream is over
    8 MB" once all of its text had come)."""
    monkeypatch.setattr(client_module.settings, "max_retries", 0)
    monkeypatch.setattr(client_module.settings, "max_event_bytes", 4096)
    text = "wörd " * 2000  # 10,000 characters, more than 4096 bytes in every closing event
    with FakeServer(protocol, models=["model-a"], reply=text) as srv:
        store = ProviderStore(persist=False, admin_paths=[])
        extra = srv.facts.store_kwargs()
        store.add("P", type=protocol, base_url=srv.base_url, api_key="", models=["model-a"], **extra)
        assert chat("hi", provider="P", store=store, stream=True).text == text


@pytest.mark.parametrize("protocol", REPEATERS)
def test_an_event_longer_than_the_reply_allows_is_refused(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.settings, "max_retries", 0)
    monkeypatch.setattr(client_module.settings, "max_event_bytes", 4096)
    facts = protocol_class(protocol)
    piece = facts.stream_event(b'{"type": "response.output_text.delta", "delta": "hi"}')
    huge = facts.stream_event(b'{"type": "response.output_text.done", "text": "' + b"x" * 4500 + b'"}')
    reply = chat("hi", provider=protocol, store=_store(), stream=True,
                 http=_http(200, facts.stream_content_type, [piece, huge]))  # fmt: skip
    with pytest.raises(BadResponseError, match=r"a line of the stream is over 4\.02 kB"):
        reply.wait()
    assert reply.text == "hi"


class CloseFramed:
    """A loopback server whose 200 answer has no length and no chunks (it ends when the connection does, as
    HTTP/1.0 allows): ``first`` at once, then a byte every 50 ms, never done."""

    def __init__(self, content_type: str, first: bytes = b"") -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._head = b"HTTP/1.0 200 OK\r\nContent-Type: %s\r\n\r\n%s" % (content_type.encode(), first)
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(self._head)
                while not self._stop.wait(0.05):
                    conn.sendall(b"\n")
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._sock.close()


def test_a_body_framed_by_the_connection_and_cut_by_the_deadline_is_a_timeout() -> None:
    """The watchdog's shutdown ends such a body as if it were whole: the deadline, not 'not JSON', is why."""
    server = CloseFramed("application/json", b"{")
    try:
        store = ProviderStore(persist=False, admin_paths=[])
        store.add("P", base_url=server.url, api_key="", models=["m"])
        started = time.monotonic()
        with pytest.raises(ProviderTimeoutError, match="within 1 s"):
            chat("hi", provider="P", store=store, timeout=1)
        assert time.monotonic() - started < 3
        verdict = verify(store["P"], timeout=1)
        assert verdict.kind == "timeout", verdict
    finally:
        server.close()
