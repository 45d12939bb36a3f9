"""Reading what a server sends within bounds: size, decompression, nesting and time.

Nothing here trusts the server. A body is read piece by piece with a running count and dropped past
its limit; a compressed body (``gzip``, ``deflate``, stacked or not) is decompressed here, each step
giving at most :data:`PIECE` bytes at a time, because httpx's own decoders expand a network read
whole (a 64 kB read of a deflate bomb is 64 MB, and ``gzip, gzip`` multiplies that by a thousand).
A :class:`Deadline` bounds a whole call: each request's timeouts are at most the time left, every
read and write of the shared clients is capped by it (:func:`with_deadlines`, :func:`sending`: a
pooled connection dripping its headers), and a watchdog shuts the socket down when the time is up
(a body read in another thread, or through a client passed in), so a server that drips one byte a
second ends at the deadline, not at ``read_timeout`` per byte.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpcore
import httpx

__all__ = [
    "ACCEPT_ENCODING",
    "PIECE",
    "Deadline",
    "DeadlineExceeded",
    "DecodeError",
    "LimitExceeded",
    "NestingError",
    "decoded_chunks",
    "human_bytes",
    "one_line",
    "parse_json",
    "read_body",
    "sending",
    "shutdown",
    "with_deadlines",
]

#: the most a decompression step hands on at once
PIECE = 256 * 1024
#: the encodings :func:`decoded_chunks` reads, sent as ``accept-encoding``
ACCEPT_ENCODING = "gzip, deflate"
_WBITS = {"gzip": zlib.MAX_WBITS | 16, "x-gzip": zlib.MAX_WBITS | 16, "deflate": zlib.MAX_WBITS}


def human_bytes(n: int) -> str:
    """``32 MB``, ``64 kB``, ``512 bytes`` (binary multiples, as the settings are written)."""
    for unit, size in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"


class LimitExceeded(Exception):
    """A server sent more than a limit allows: ``what`` is over ``limit`` (a text), set by ``setting``."""

    def __init__(self, what: str, limit: str, setting: str) -> None:
        self.what, self.limit, self.setting = what, limit, setting
        super().__init__(f"{what} is over {limit}")

    def hint(self) -> str:
        return f"raise jupyter_providers.client.settings.{self.setting} to allow more"


class DeadlineExceeded(Exception):
    """The whole call took longer than its deadline."""


class NestingError(ValueError):
    """JSON nested deeper than the decoder can go (a nesting bomb)."""


class DecodeError(ValueError):
    """A compressed body that does not decompress."""


def one_line(text: str, limit: int = 1000) -> str:
    """A server's text as one line of at most ``limit`` characters (whitespace runs become one space)."""
    flat = " ".join(text[: limit * 4].split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def parse_json(text: str) -> Any:
    """``json.loads`` that fails only with ``ValueError``: a nesting bomb (``[[[[...``) raises
    ``RecursionError`` in the decoder, and a number of more than 4,300 digits ``ValueError``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise NestingError("the JSON is nested too deeply") from None


def shutdown(resp: httpx.Response | None, stream: Any = None) -> None:
    """Shut the socket under ``resp`` (or under ``stream``, a network stream) down: a thread blocked
    reading it wakes at once, which closing the response alone does not do."""
    if resp is not None:
        stream = resp.extensions.get("network_stream", stream)
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class Deadline:
    """The end of a whole call. ``setting`` names the setting (or argument) that sets its length."""

    def __init__(self, seconds: float, setting: str) -> None:
        self.seconds = seconds
        self.setting = setting
        self.end = time.monotonic() + seconds
        self.fired = False
        self.cut = False  # the last timeouts were shortened to the time left
        self.last = httpx.Timeout(seconds)
        self._stream: Any = None
        self._resp: httpx.Response | None = None
        self._armed = False  # on the watchdog's list
        self._lock = threading.Lock()

    def copy(self) -> Deadline:
        """A deadline with the same end, and a watchdog of its own (for a request in another thread)."""
        twin = Deadline(0.0, self.setting)
        twin.seconds, twin.end = self.seconds, self.end
        return twin

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def check(self) -> None:
        if self.fired or time.monotonic() >= self.end:
            raise DeadlineExceeded

    def timeout(self, connect: float, read: float) -> httpx.Timeout:
        """The timeouts of one request: none longer than the time left (a timeout that fits in it
        to within 5 % is kept as it is, so that an error names the timeout set, not 0.49998 s)."""
        left = max(self.remaining(), 0.001)
        c = connect if connect <= left * 1.05 else left
        r = read if read <= left * 1.05 else left
        self.cut = c < connect or r < read
        self.last = httpx.Timeout(connect=c, read=r, write=r, pool=c)
        return self.last

    def caused(self, exc: BaseException) -> bool:
        """Whether the deadline ended the call: it passed, or its watchdog shut the socket, or a timeout
        shortened to the time left ran out."""
        if isinstance(exc, DeadlineExceeded) or (isinstance(exc, httpx.HTTPError) and self.fired):
            return True
        return isinstance(exc, httpx.TimeoutException) and self.cut and self.remaining() <= 0.05

    def trace(self, event: str, info: dict[str, Any]) -> None:
        """httpcore's ``trace`` extension: note the socket of a new connection before any answer."""
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self._stream = info.get("return_value")
            self._arm()

    def watch(self, resp: httpx.Response) -> None:
        """Shut ``resp``'s socket down if the deadline passes while it is being read."""
        self._resp = resp
        self._arm()

    def _arm(self) -> None:
        with self._lock:
            if not self._armed and not self.fired:
                self._armed = True
                _WATCHDOG.add(self)

    def _fire(self) -> None:
        with self._lock:
            if not self._armed:  # cancelled meanwhile
                return
            self._armed = False
            self.fired = True
            resp, stream = self._resp, self._stream
        shutdown(resp, stream)

    def cancel(self) -> None:
        """The call is over: stop the watchdog."""
        with self._lock:
            armed, self._armed = self._armed, False
            self._resp = self._stream = None
        if armed:
            _WATCHDOG.dropped()


class _Watchdog:
    """One thread watches every deadline (a timer thread per request would cost more CPU than the request):
    a heap by end time; a cancelled deadline stays in it until it comes up or the heap is compacted."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._cancelled = 0
        self._thread: threading.Thread | None = None

    def add(self, dl: Deadline) -> None:
        with self._cond:
            if self._cancelled > 64 and self._cancelled * 2 > len(self._heap):
                self._heap = [e for e in self._heap if e[2]._armed]
                heapq.heapify(self._heap)
                self._cancelled = 0
            heapq.heappush(self._heap, (dl.end, next(self._seq), dl))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="jupyter-providers deadlines", daemon=True)
                self._thread.start()
            elif self._heap[0][2] is dl:
                self._cond.notify()

    def dropped(self) -> None:
        with self._cond:
            self._cancelled += 1

    def _due(self) -> Deadline:
        with self._cond:
            while True:
                while self._heap and not self._heap[0][2]._armed:
                    heapq.heappop(self._heap)
                    self._cancelled = max(self._cancelled - 1, 0)
                if not self._heap:
                    self._cond.wait()
                    continue
                end, _, dl = self._heap[0]
                wait = end - time.monotonic()
                if wait <= 0:
                    heapq.heappop(self._heap)
                    return dl
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            self._due()._fire()


_WATCHDOG = _Watchdog()


# -- every read of the shared clients capped by the deadline of the call in progress --------------------------------
_local = threading.local()


def _capped(timeout: float | None, error: type[Exception]) -> float | None:
    """``timeout``, shortened to the time left by the deadline this thread is sending under (if any)."""
    dl: Deadline | None = getattr(_local, "deadline", None)
    if dl is None:
        return timeout
    left = dl.remaining()
    if left <= 0:
        dl.fired = True
        raise error("the deadline of the call passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore.NetworkStream):
    """A connection whose every read and write waits no longer than the deadline allows: the watchdog
    cannot reach a pooled connection before its answer begins, this can (a server dripping its headers)."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _capped(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _capped(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, _capped(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:  # fmt: skip
        timeout = _capped(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        return _Stream(self._inner.connect_unix_socket(path, _capped(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def with_deadlines(transport: httpx.HTTPTransport) -> httpx.HTTPTransport:
    """``transport`` with its reads capped by :func:`sending`'s deadline. httpx has no public way to give a
    transport its network backend: this sets httpcore's, and leaves the transport as it is if that moved."""
    pool = getattr(transport, "_pool", None)
    if isinstance(pool, httpcore.ConnectionPool) and hasattr(pool, "_network_backend"):
        pool._network_backend = _Backend()
    return transport


@contextlib.contextmanager
def sending(dl: Deadline) -> Iterator[None]:
    """Every read and write of this thread on a :func:`with_deadlines` transport ends by ``dl``."""
    _local.deadline = dl
    try:
        yield
    finally:
        _local.deadline = None


def _inflate(chunks: Iterator[bytes], encoding: str) -> Iterator[bytes]:
    d = zlib.decompressobj(_WBITS[encoding])
    first = True
    for raw in chunks:
        data = raw
        while data:
            try:
                out = d.decompress(data, PIECE)
            except zlib.error as exc:
                if not (first and encoding == "deflate"):
                    raise DecodeError(f"the {encoding} answer does not decompress ({exc})") from None
                d = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, without its zlib header
                first = False
                continue
            first = False
            if out:
                yield out
            if d.eof:
                return
            data = d.unconsumed_tail
    with contextlib.suppress(zlib.error):
        tail = d.flush(PIECE)
        if tail:
            yield tail


def decoded_chunks(resp: httpx.Response) -> Iterator[bytes]:
    """The body of ``resp`` as it arrives, decompressed in pieces of at most :data:`PIECE` bytes.
    Encodings other than gzip and deflate pass through as they are (as httpx does)."""
    try:  # a body already in memory (a mock transport's bytes), which httpx decoded as it read it
        content = resp.content
    except httpx.ResponseNotRead:
        pass
    else:
        return iter([content[i : i + PIECE] for i in range(0, len(content), PIECE)])
    chunks: Iterator[bytes] = resp.iter_raw()
    encodings = [e.strip().lower() for e in resp.headers.get_list("content-encoding", split_commas=True)]
    for encoding in reversed(encodings):  # listed in the order they were applied
        if encoding in _WBITS:
            chunks = _inflate(chunks, encoding)
    return chunks


def read_body(resp: httpx.Response, limit: int, deadline: Deadline, *, what: str = "", setting: str = "") -> bytes:
    """The decoded body, read under ``limit`` bytes: past it, raise :class:`LimitExceeded` (``what`` says
    what was too big), or, without ``what``, return the first ``limit`` bytes and drop the rest."""
    parts: list[bytes] = []
    size = 0
    for piece in decoded_chunks(resp):
        size += len(piece)
        if size > limit:
            if what:
                raise LimitExceeded(what, human_bytes(limit), setting)
            parts.append(piece[: len(piece) - (size - limit)])
            break
        parts.append(piece)
        deadline.check()
    if deadline.fired:  # the watchdog shut the socket: a body that ends when the connection does just stops there
        raise DeadlineExceeded
    return b"".join(parts)
