"""An incremental Server-Sent Events decoder: bytes in, events out. No I/O.

Follows the WHATWG event-stream rules: lines end with CR, LF or CRLF (and nothing
else: U+2028 inside JSON is not a line break), ``data:`` lines are joined with
``\\n``, a blank line dispatches, a line starting with ``:`` is a comment. Bytes
may be split anywhere, including inside a CRLF pair or a multi-byte character.

llama.cpp may send a non-standard ``error: {...}`` field; it becomes an event
named ``error`` so it is never dropped silently.

This is the innermost loop of every streamed reply (one pass per chunk of a model's
answer), so :meth:`SSEDecoder.feed` works on whole blocks of complete lines: one
``decode`` per network read rather than per line; runs of the events nearly every stream is
made of (``data:``, or ``event:`` then ``data:``, then a blank line) are read by one regex pass,
and anything else line by line. ``benchmarks/streaming.py`` measures it.

It is linear in its input: the tail of a line still open is kept as a list of the reads it came in,
only each new read is searched for a line break, and the pieces are joined once, when the line ends
(a 200 MB line without a break costs what reading 200 MB costs). ``max_event_bytes`` bounds a line
and an event (its ``data`` lines together): past it, :meth:`SSEDecoder.feed` raises :class:`SSELimitError`.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["SSEDecoder", "SSEEvent", "SSELimitError"]


class SSEEvent(NamedTuple):
    """One event. Immutable; a named tuple rather than a frozen dataclass because one is made
    per streamed chunk and a frozen dataclass costs twice as much to build (0.33 vs 0.15 µs)."""

    event: str  # "message" unless an ``event:`` field named it
    data: str
    id: str | None = None
    retry: int | None = None


#: The events nearly every stream is made of, whole: ``data: VALUE`` (OpenAI, Gemini), optionally after
#: ``event: NAME`` (Anthropic), then a blank line. :meth:`SSEDecoder.feed` reads runs of them in one
#: pass of the regex engine wherever nothing is pending, and anything else line by line: the same
#: events either way (tests/test_sse.py holds the two paths to each other).
_SIMPLE = r"(?:event: ?([^\n]*)\n)?data: ?([^\n]*)\n\n"  # one leading space is not part of a value
_SIMPLE_RUN = re.compile(f"(?:{_SIMPLE})+").match  # anchored: never scans ahead past what it reads
_SIMPLE_EVENTS = re.compile(_SIMPLE).findall


class SSELimitError(ValueError):
    """A line or an event (``what``) is longer than the decoder's ``max_event_bytes`` (``limit``)."""

    def __init__(self, what: str, limit: int) -> None:
        self.what, self.limit = what, limit
        super().__init__(f"an event-stream {what} is longer than {limit:,} bytes")


class LineBuffer:
    """What a line-based stream decoder keeps between reads (:class:`SSEDecoder`, the NDJSON decoder): the
    tail after the last line break, and the reads since then that had none, counted against the limit."""

    __slots__ = ("_buf", "_max", "_open", "_open_len")

    def __init__(self, max_event_bytes: int | None) -> None:
        self._max = max_event_bytes if max_event_bytes is not None else 1 << 62
        self._buf = b""  # the tail after the last line break of the last read with one
        self._open: list[bytes] = []  # the reads since then, none with a line break (joined when one comes)
        self._open_len = 0

    def _hold(self, chunk: bytes) -> None:
        """A read without a line break: kept as it is, its bytes counted against the limit."""
        if not self._buf and not self._open:
            self._buf = chunk
        else:
            self._open.append(chunk)
            self._open_len += len(chunk)
        if len(self._buf) + self._open_len > self._max:
            self._too_long("line")

    def _too_long(self, what: str) -> None:
        self._buf, self._open, self._open_len = b"", [], 0
        raise SSELimitError(what, self._max)


class SSEDecoder(LineBuffer):
    """Feed bytes with :meth:`feed`; each call returns the events completed by them.

    ``max_event_bytes`` (``None``: no limit) bounds the length of one line and of one event's data.
    """

    __slots__ = ("_data", "_data_len", "_event", "_id", "_retry", "_skip_lf")

    def __init__(self, max_event_bytes: int | None = None) -> None:
        super().__init__(max_event_bytes)
        self._skip_lf = False  # the last chunk ended with CR: a leading LF belongs to it
        self._data: list[str] = []
        self._data_len = 0  # the length of the data lines in ``_data`` (with the slow path's lines)
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
        # Only complete lines are processed; the tail after the last line break waits. Only the new
        # read is searched: the tail before it has no line break.
        cut = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if cut < 0:
            self._hold(chunk)
            return []
        if self._open:
            buf = b"".join([self._buf, *self._open, chunk])
            self._open, self._open_len = [], 0
        else:
            buf = self._buf + chunk if self._buf else chunk
        end = len(buf) - len(chunk) + cut
        self._buf = buf[end + 1 :]
        if end >= self._max and max(map(len, buf[: end + 1].replace(b"\r", b"\n").split(b"\n"))) > self._max:
            self._too_long("line")  # a read longer than the limit (the usual ones are 64 kB) held such a line
        if buf[end] == 13 and not self._buf:  # CR at the very end: a following LF must not count as a blank line
            self._skip_lf = True
        # Decoding the block at once gives the same text as decoding line by line: CR and LF
        # are ASCII, so they always end an invalid UTF-8 sequence and never belong to one.
        # Splitting the decoded text on "\n" alone (not str.splitlines) keeps U+2028 and
        # friends inside a line; the block ends with a line break, hence the last "" dropped.
        text = buf[: end + 1].decode("utf-8", "replace")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        events: list[SSEEvent] = []
        pos, end = 0, len(text)
        while pos < end:
            if not (self._data or self._event):
                # nothing pending: a run of whole simple events, read by the regex engine
                run = _SIMPLE_RUN(text, pos)
                if run is not None:
                    ident, retry, run_end = self._id, self._retry, run.end()
                    for name, value in _SIMPLE_EVENTS(text, pos, run_end):  # the run's events, in order
                        events.append(SSEEvent(name or "message", value, ident, retry))
                    pos = run_end
                    if pos >= end:
                        break
            # anything else, line by line, up to and with the next blank line (or the end of the block)
            stop = text.find("\n\n", pos)
            stop = end if stop < 0 else stop + 2
            lines = text[pos:stop].split("\n")
            lines.pop()  # the piece ends with a line break
            self._lines(lines, events)
            pos = stop
        return events

    def allow(self, max_event_bytes: int) -> None:
        """From now on, lines and events up to ``max_event_bytes`` (a stream whose events grow with the reply)."""
        self._max = max_event_bytes

    def _too_long(self, what: str) -> None:
        self._data, self._data_len = [], 0
        super()._too_long(what)

    def _lines(self, lines: list[str], events: list[SSEEvent]) -> None:
        """Complete lines, one at a time: any field, comment or blank line."""
        data = self._data
        for line in lines:
            if not line:
                if data:
                    events.append(self._dispatch())
                    data = self._data
                else:
                    self._event = ""
            elif line.startswith("data:"):
                data.append(line[6:] if line[5:6] == " " else line[5:])
                self._data_len += len(line)
                if self._data_len > self._max:
                    self._too_long("event")
            elif line.startswith("event:"):
                self._event = line[7:] if line[6:7] == " " else line[6:]
            else:
                self._field(line)

    def close(self) -> list[SSEEvent]:
        """End of stream: a last event without its blank line is still delivered."""
        if self._open:
            self._buf = b"".join([self._buf, *self._open])
            self._open, self._open_len = [], 0
        if self._buf:
            self._field(self._buf.decode("utf-8", "replace"))
            self._buf = b""
        if not self._data:
            self._event = ""
            return []
        return [self._dispatch()]

    def _field(self, line: str) -> None:
        """Any non-blank line: a comment, or a field (``data`` here too, for :meth:`close`)."""
        if line[0] == ":":
            return
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._data_len += len(value)
        elif name == "event":
            self._event = value
        elif name == "error":  # llama.cpp's non-standard field
            self._event = "error"
            self._data.append(value)
            self._data_len += len(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)

    def _dispatch(self) -> SSEEvent:
        """The event the data lines so far make (there is at least one)."""
        ev = SSEEvent(self._event or "message", "\n".join(self._data), self._id, self._retry)
        self._data = []
        self._data_len = 0
        self._event = ""
        return ev
