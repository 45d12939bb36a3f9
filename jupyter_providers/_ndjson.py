"""An incremental NDJSON decoder (one JSON document per line): bytes in, lines out. No I/O.

Ollama streams its answers this way (``application/x-ndjson``): each object is written whole and
followed by ``\\n`` (Go's ``json.Encoder``). A line ends with LF; a CR before it is dropped, so
CRLF works too. A bare CR or U+2028 inside a line is not a break (JSON allows neither raw inside a
string, and outside one a CR is whitespace). Lines of JSON whitespace alone are skipped. Bytes may be split anywhere,
inside a CRLF pair or inside a multi-byte character: bytes are split into lines first and each block
of complete lines is decoded once, and LF never occurs inside a UTF-8 sequence.

Each line comes out as an :class:`NDJSONLine` whose ``.data`` is the line and ``.event`` is ``None``,
so a stream parser's ``feed(event)`` reads it as it reads an SSE event's data.

Like :class:`~jupyter_providers._sse.SSEDecoder` it is linear in its input: the tail of a line still
open is kept as the list of reads it came in (each new read alone is searched for a break) and joined
once, when its line ends. ``max_event_bytes`` bounds a line; past it :meth:`NDJSONDecoder.feed` raises
:class:`NDJSONLimitError`, an :class:`~jupyter_providers._sse.SSELimitError` (``what == "line"``), so
whoever reports a too-long SSE line reports this one the same way.
"""

from __future__ import annotations

from typing import NamedTuple

from ._sse import LineBuffer, SSELimitError

__all__ = ["NDJSONDecoder", "NDJSONLimitError", "NDJSONLine"]

_BLANK = " \t\r"  # JSON's whitespace (with LF, the break): a line of only these is skipped


class NDJSONLine(NamedTuple):
    """One line of the stream (without its line break). ``event`` is always ``None``: NDJSON has no
    event names, and parsers that also read SSE check ``event.event`` for an SSE ``error`` event."""

    data: str
    event: None = None


class NDJSONLimitError(SSELimitError):
    """A line longer than the decoder's ``max_event_bytes`` (``limit``)."""

    def __init__(self, limit: int) -> None:
        self.what, self.limit = "line", limit
        ValueError.__init__(self, f"an NDJSON line is longer than {limit:,} bytes")


class NDJSONDecoder(LineBuffer):
    """Feed bytes with :meth:`feed`; each call returns the lines completed by them; :meth:`close` at
    the end of the stream returns a last line that had no line break.

    ``max_event_bytes`` (``None``: no limit) bounds the length of one line in bytes.
    """

    __slots__ = ()

    def __init__(self, max_event_bytes: int | None = None) -> None:
        super().__init__(max_event_bytes)

    def feed(self, chunk: bytes) -> list[NDJSONLine]:
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if chunk:
                self._hold(chunk)
            return []
        if self._open:
            block = b"".join([self._buf, *self._open, chunk[:cut]])
            self._open, self._open_len = [], 0
        else:
            block = self._buf + chunk[:cut] if self._buf else chunk[:cut]
        self._buf = chunk[cut + 1 :]
        # The block is complete lines without the last break. Only a block longer than the limit can
        # hold a line longer than it (the usual reads are 64 kB and the limit 8 MB): checked only then.
        if len(block) > self._max and max(map(len, block.split(b"\n"))) > self._max:
            self._too_long("line")
        if len(self._buf) > self._max:
            self._too_long("line")
        lines = block.decode("utf-8", "replace").split("\n")
        return [NDJSONLine(line.removesuffix("\r")) for line in lines if line.strip(_BLANK)]

    def close(self) -> list[NDJSONLine]:
        """End of stream: a last line without its line break is still delivered (if not blank)."""
        tail = b"".join([self._buf, *self._open]) if self._open else self._buf
        self._buf, self._open, self._open_len = b"", [], 0
        line = tail.decode("utf-8", "replace").removesuffix("\r")
        return [NDJSONLine(line)] if line.strip(_BLANK) else []

    def allow(self, max_event_bytes: int) -> None:
        """From now on, lines up to ``max_event_bytes``."""
        self._max = max_event_bytes

    def _too_long(self, what: str = "line") -> None:
        self._buf, self._open, self._open_len = b"", [], 0
        raise NDJSONLimitError(self._max)
