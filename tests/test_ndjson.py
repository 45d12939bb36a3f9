"""The incremental NDJSON decoder: the same lines whatever the byte split, and bounded lines."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_providers._ndjson import NDJSONDecoder, NDJSONLimitError, NDJSONLine
from jupyter_providers._sse import SSELimitError


def decode(*chunks: bytes, limit: int | None = None) -> list[str]:
    """Feed ``chunks`` in order, then close: every line's data."""
    dec = NDJSONDecoder(limit)
    lines: list[NDJSONLine] = []
    for chunk in chunks:
        lines.extend(dec.feed(chunk))
    lines.extend(dec.close())
    assert all(ln.event is None for ln in lines)
    return [ln.data for ln in lines]


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


# An Ollama stream as server/routes.go writes it, with multi-byte characters (2, 3 and 4 bytes), a raw
# U+2028 (not a line break), a CRLF line, blank lines between and a last line without its break.
STREAM = (
    '{"model":"llama3.2","message":{"role":"assistant","content":"Hé"},"done":false}\n'
    '{"model":"llama3.2","message":{"role":"assistant","content":"llo \u2028 w😀rld"},"done":false}\r\n'
    "\n  \n"
    '{"model":"llama3.2","message":{"role":"assistant","content":"€"},"done":true,"done_reason":"stop"}'
).encode()
LINES = [ln.removesuffix("\r") for ln in STREAM.decode().split("\n") if ln.strip()]


def test_whole_stream() -> None:
    assert decode(STREAM) == LINES
    assert [json.loads(x)["message"]["content"] for x in LINES] == ["Hé", "llo \u2028 w😀rld", "€"]


def test_one_byte_at_a_time_and_every_single_cut() -> None:
    assert decode(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == LINES
    for cut in range(len(STREAM) + 1):  # inside CRLF, inside each multi-byte character, at every line end
        assert decode(STREAM[:cut], STREAM[cut:]) == LINES, cut


def test_lines_come_out_as_soon_as_their_break_arrives() -> None:
    dec = NDJSONDecoder()
    assert dec.feed(b'{"a":1}\n{"b"') == [NDJSONLine('{"a":1}')]
    assert dec.feed(b":2") == [] and dec.feed(b"") == []
    assert dec.feed(b"}\r") == []  # a CR alone is not a break
    assert dec.feed(b"\n") == [NDJSONLine('{"b":2}')]
    assert dec.close() == []


def test_a_bare_cr_inside_a_line_is_kept_and_only_json_whitespace_is_blank() -> None:
    assert decode(b'{"a":\r1}\n') == ['{"a":\r1}']
    assert decode(b" \t\r\n\n\xe2\x80\xa8\n\x0c\n") == ["\u2028", "\x0c"]  # the parser rejects these


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode(b'{"a":"\xff\xfe"}\n') == ['{"a":"\ufffd\ufffd"}']
    assert decode(b'{"a":"\xe2\x82"}') == ['{"a":"\ufffd"}']  # a character cut by the end of the stream


@pytest.mark.parametrize("how", ["one read", "many reads", "tail", "closed"])
def test_a_line_longer_than_the_limit_raises(how: str) -> None:
    dec = NDJSONDecoder(100)
    long = b'{"a":"' + b"x" * 100 + b'"}'
    with pytest.raises(NDJSONLimitError) as info:
        if how == "one read":
            dec.feed(b'{"ok":1}\n' + long + b"\n")
        elif how == "many reads":
            for i in range(0, len(long), 7):
                dec.feed(long[i : i + 7])
        elif how == "tail":
            dec.feed(b'{"ok":1}\n' + long)
        else:
            dec.feed(long[:50])
            dec.feed(long[50:] + b"\n")
    assert isinstance(info.value, SSELimitError) and (info.value.what, info.value.limit) == ("line", 100)
    assert "100 bytes" in str(info.value)
    assert dec.feed(b'{"after":1}\n') == [NDJSONLine('{"after":1}')]  # the decoder was reset


def test_a_line_of_exactly_the_limit_passes() -> None:
    line = b'{"a":"' + b"x" * 92 + b'"}'
    assert len(line) == 100
    assert decode(line[:40], line[40:] + b"\n" + line, limit=100) == [line.decode()] * 2
    assert decode(b"\n".join([line] * 50) + b"\n", limit=100) == [line.decode()] * 50  # a read far over it


def test_a_long_line_in_many_reads_is_linear() -> None:
    """200 MB without a break costs what reading it costs: reads are kept, joined once at the end."""
    dec, piece = NDJSONDecoder(), b"x" * 65536
    for _ in range(3200):
        assert dec.feed(piece) == []
    (line,) = dec.feed(b"\n")
    assert len(line.data) == 3200 * 65536


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_split_gives_the_same_lines(data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(STREAM)), max_size=12))
    assert decode(*split_at(STREAM, cuts)) == LINES


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(st.characters(blacklist_characters="\n", blacklist_categories=("Cs",)), max_size=30), max_size=8),
    st.sampled_from(["\n", "\r\n"]),
    st.data(),
)
def test_any_lines_any_split(texts: list[str], newline: str, data: st.DataObject) -> None:
    stream = "".join(t + newline for t in texts).encode()
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    expected = [t.removesuffix("\r") if newline == "\n" else t for t in texts]
    assert decode(*split_at(stream, cuts)) == [t for t in expected if t.strip(" \t\r")]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.data())
def test_arbitrary_bytes_split_anywhere_decode_the_same(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=10))
    whole = decode(stream)
    assert decode(*split_at(stream, cuts)) == whole
    assert all("\n" not in ln for ln in whole)
