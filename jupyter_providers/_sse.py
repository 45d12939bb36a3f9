"""An incremental Server-Sent Events decoder: bytes in, events out. No I/O.

Follows the WHATWG event-stream rules: lines end with CR, LF or CRLF (and nothing
else: U+2028 inside JSON is not a line break), ``data:`` lines are joined with
``\\n``, a blank line dispatches, a line starting with ``:`` is a comment. Bytes
may be split anywhere, including inside a CRLF pair or a multi-byte character.

llama.cpp may send a non-standard ``error: {...}`` field; it becomes an event
named ``error`` so it is never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEDecoder", "SSEEvent"]


@dataclass(frozen=True, slots=True)
class SSEEvent:
    event: str  # "message" unless an ``event:`` field named it
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed bytes with :meth:`feed`; each call returns the events completed by them."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_retry", "_skip_lf")

    def __init__(self) -> None:
        self._buf = b""
        self._skip_lf = False  # the last chunk ended with CR: a leading LF belongs to it
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        if not chunk:  # an empty chunk must not forget a pending CR
            return []
        if self._skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_lf = False
        if not chunk:
            return []
        buf = self._buf + chunk if self._buf else chunk
        # Only complete lines are processed; the tail after the last line break waits.
        end = max(buf.rfind(b"\n"), buf.rfind(b"\r"))
        if end < 0:
            self._buf = buf
            return []
        self._buf = buf[end + 1 :]
        if buf[end] == 13 and not self._buf:  # CR at the very end: a following LF must not count as a blank line
            self._skip_lf = True
        events: list[SSEEvent] = []
        for raw in buf[: end + 1].splitlines():
            ev = self._line(raw)
            if ev is not None:
                events.append(ev)
        return events

    def close(self) -> list[SSEEvent]:
        """End of stream: a last event without its blank line is still delivered."""
        events: list[SSEEvent] = []
        if self._buf:
            ev = self._line(self._buf)
            self._buf = b""
            if ev is not None:
                events.append(ev)
        ev = self._line(b"")
        if ev is not None:
            events.append(ev)
        return events

    def _line(self, raw: bytes) -> SSEEvent | None:
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", "replace")
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "error":  # llama.cpp's non-standard field
            self._event = "error"
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = ""
            return None
        ev = SSEEvent(self._event or "message", "\n".join(self._data), self._id, self._retry)
        self._data = []
        self._event = ""
        return ev
