"""The incremental SSE decoder: the same events whatever the byte split."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_providers._sse import SSEDecoder, SSEEvent


def decode(*chunks: bytes) -> list[SSEEvent]:
    """Feed ``chunks`` in order, then close: every event the stream holds."""
    dec = SSEDecoder()
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(dec.feed(chunk))
    events.extend(dec.close())
    return events


def one_byte_at_a_time(stream: bytes) -> list[SSEEvent]:
    return decode(*(stream[i : i + 1] for i in range(len(stream))))


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    """``stream`` cut at the (sorted, possibly repeated) positions: repeats give empty chunks."""
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[a:b] for a, b in itertools.pairwise(bounds)]


def draw_cuts(data: st.DataObject, stream: bytes, max_size: int = 12) -> list[int]:
    """Cut positions, biased to just after a CR (where CRLF handling can go wrong); repeats allowed."""
    after_cr = [i + 1 for i, b in enumerate(stream) if b == 13]
    anywhere = st.integers(0, len(stream))
    pos = st.one_of(anywhere, st.sampled_from(after_cr)) if after_cr else anywhere
    return data.draw(st.lists(pos, max_size=max_size), label="cuts")


def ev(data: str, event: str = "message", id: str | None = None, retry: int | None = None) -> SSEEvent:
    return SSEEvent(event=event, data=data, id=id, retry=retry)


# -- a realistic stream, fed every way -------------------------------------------------------------------

OPENAI_LIKE = (
    b": keep-alive\n"
    b"\n"
    b'data: {"choices":[{"delta":{"content":"H\xc3\xa9llo \xe2\x80\xa8 w\xf0\x9f\x98\x80rld"}}]}\n'
    b"\n"
    b"event: message_stop\n"
    b'data: {"type":"message_stop"}\n'
    b"\n"
    b"data: [DONE]\n"
    b"\n"
)
OPENAI_LIKE_EVENTS = [
    ev('{"choices":[{"delta":{"content":"Héllo \u2028 w😀rld"}}]}'),
    ev('{"type":"message_stop"}', event="message_stop"),
    ev("[DONE]"),
]


def test_whole_stream_in_one_feed() -> None:
    assert decode(OPENAI_LIKE) == OPENAI_LIKE_EVENTS


def test_one_byte_at_a_time() -> None:
    assert one_byte_at_a_time(OPENAI_LIKE) == OPENAI_LIKE_EVENTS


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_every_single_cut_point_gives_the_same_events(eol: bytes) -> None:
    stream = OPENAI_LIKE.replace(b"\n", eol)
    for cut in range(len(stream) + 1):
        assert decode(stream[:cut], stream[cut:]) == OPENAI_LIKE_EVENTS, f"cut at byte {cut}"


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_one_byte_at_a_time_for_each_line_ending(eol: bytes) -> None:
    assert one_byte_at_a_time(OPENAI_LIKE.replace(b"\n", eol)) == OPENAI_LIKE_EVENTS


def test_feed_returns_events_as_soon_as_their_blank_line_arrives() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\n") == []
    assert dec.feed(b"\n") == [ev("a")]
    assert dec.feed(b"data: b\n\ndata: c\n\n") == [ev("b"), ev("c")]
    assert dec.feed(b"data: d") == []
    assert dec.close() == [ev("d")]


# -- field rules ---------------------------------------------------------------------------------------


def test_multi_line_data_is_joined_with_newlines() -> None:
    assert decode(b"data: first\ndata: second\ndata:\ndata: third\n\n") == [ev("first\nsecond\n\nthird")]


def test_event_field_names_the_event_and_is_reset_after_dispatch() -> None:
    events = decode(b"event: ping\ndata: 1\n\ndata: 2\n\n")
    assert events == [ev("1", event="ping"), ev("2")]


def test_event_name_without_data_does_not_leak_into_the_next_event() -> None:
    # A block with no data dispatches nothing, and its event name is forgotten.
    assert decode(b"event: orphan\n\ndata: x\n\n") == [ev("x")]


def test_comments_are_ignored() -> None:
    stream = b": this is a comment\ndata: a\n:another\n: data: not data\ndata: b\n\n:\n\n"
    assert decode(stream) == [ev("a\nb")]


def test_data_without_a_space_after_the_colon() -> None:
    assert decode(b"data:compact\n\n") == [ev("compact")]


def test_only_one_leading_space_is_removed() -> None:
    assert decode(b"data:  two spaces\n\n") == [ev(" two spaces")]
    assert decode(b"data: trailing space \n\n") == [ev("trailing space ")]


def test_a_value_may_contain_colons() -> None:
    assert decode(b'data: {"a": "b:c"}\n\n') == [ev('{"a": "b:c"}')]


def test_field_name_without_colon() -> None:
    # "data" alone is the data field with an empty value; an unknown bare name is ignored.
    assert decode(b"data\n\n") == [ev("")]
    assert decode(b"data\ndata\n\n") == [ev("\n")]
    assert decode(b"bogus\ndata: x\n\n") == [ev("x")]


def test_unknown_fields_are_ignored() -> None:
    assert decode(b"foo: bar\nDATA: no\ndata: yes\n\n") == [ev("yes")]


def test_id_and_retry_fields() -> None:
    events = decode(b"id: 7\nretry: 3000\ndata: a\n\ndata: b\n\nid: 8\ndata: c\n\n")
    # The last event id and retry persist across events (WHATWG: they are stream state).
    assert events == [ev("a", id="7", retry=3000), ev("b", id="7", retry=3000), ev("c", id="8", retry=3000)]


def test_id_with_nul_is_ignored() -> None:
    assert decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n") == [ev("a", id="1"), ev("b", id="1")]


@pytest.mark.parametrize("value", [b"abc", b"-5", b"1.5", b"", b"\xc2\xb2", b"\xd9\xa3"], ids=repr)
def test_retry_that_is_not_ascii_digits_is_ignored(value: bytes) -> None:
    # "²" and "٣" are str.isdigit() but not ASCII digits; neither must raise.
    assert decode(b"retry: " + value + b"\ndata: x\n\n") == [ev("x")]


def test_empty_data_buffer_at_blank_line_dispatches_nothing() -> None:
    assert decode(b"\n\n\n") == []
    assert decode(b"id: 1\n\nretry: 5\n\n: comment\n\n") == []
    assert decode(b"\r\n\r\n") == []


def test_data_field_with_empty_value_does_dispatch() -> None:
    assert decode(b"data:\n\n") == [ev("")]


def test_llama_cpp_error_line_becomes_an_error_event() -> None:
    body = '{"code":500,"message":"context overflow","type":"server_error"}'
    events = decode(b'data: {"choices":[]}\n\nerror: ' + body.encode() + b"\n\n")
    assert events == [ev('{"choices":[]}'), ev(body, event="error")]
    assert json.loads(events[1].data)["message"] == "context overflow"


def test_llama_cpp_error_line_without_blank_line_is_still_delivered_on_close() -> None:
    events = decode(b'error: {"message":"boom"}\n')
    assert [e.event for e in events] == ["error"]
    assert json.loads(events[0].data) == {"message": "boom"}


# -- line endings --------------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_each_line_ending(eol: bytes) -> None:
    stream = eol.join([b"event: e", b"data: 1", b"data: 2", b"", b"data: 3", b"", b""])
    assert decode(stream) == [ev("1\n2", event="e"), ev("3")]


def test_mixed_line_endings() -> None:
    assert decode(b"data: a\rdata: b\r\ndata: c\n\r\ndata: d\r\r") == [ev("a\nb\nc"), ev("d")]


def test_crlf_split_across_two_feeds_is_one_line_break() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    # The LF completes the CRLF: it is not a blank line, so nothing is dispatched yet.
    assert dec.feed(b"\ndata: b\r") == []
    assert dec.feed(b"\n") == []
    assert dec.feed(b"\r") == [ev("a\nb")]
    assert dec.feed(b"\n") == []
    assert dec.close() == []


def test_empty_feed_between_cr_and_lf_changes_nothing() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: a\r") == []
    assert dec.feed(b"") == []
    assert dec.feed(b"\n") == []  # still the second half of the CRLF, not a blank line
    assert dec.feed(b"data: b\n\n") == [ev("a\nb")]


def test_cr_line_then_partial_line_then_lf() -> None:
    # The CR ended "data: a"; the LF in the next feed ends "data: b" and must not be swallowed.
    dec = SSEDecoder()
    assert dec.feed(b"data: a\rdata: b") == []
    assert dec.feed(b"\n\n") == [ev("a\nb")]


def test_cr_as_blank_line_after_lf() -> None:
    assert decode(b"data: x\n", b"\r", b"data: y\n\n") == [ev("x"), ev("y")]


# -- characters ------------------------------------------------------------------------------------------


def test_multibyte_character_split_across_feeds() -> None:
    text = "é€😀"
    stream = f"data: {text}\n\n".encode()
    for cut in range(len(stream) + 1):
        assert decode(stream[:cut], stream[cut:]) == [ev(text)]
    assert one_byte_at_a_time(stream) == [ev(text)]


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85"], ids=repr)
def test_unicode_line_separators_inside_json_are_not_line_breaks(sep: str) -> None:
    payload = json.dumps({"text": f"one{sep}two"}, ensure_ascii=False)
    assert sep in payload  # sent raw, as servers do
    stream = f"data: {payload}\n\n".encode()
    for events in (decode(stream), one_byte_at_a_time(stream)):
        assert len(events) == 1
        assert json.loads(events[0].data) == {"text": f"one{sep}two"}


def test_only_cr_and_lf_break_lines() -> None:
    # str.splitlines() would break at all of these; the event-stream format does not.
    others = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    stream = f"data: a{others}b\n\n".encode()
    assert decode(stream) == [ev(f"a{others}b")]
    assert one_byte_at_a_time(stream) == [ev(f"a{others}b")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode(b"data: a\xffb\n\n") == [ev("a\ufffdb")]


# -- close() -------------------------------------------------------------------------------------------


def test_close_delivers_a_final_event_without_its_blank_line() -> None:
    assert decode(b"data: last") == [ev("last")]
    assert decode(b"data: last\n") == [ev("last")]
    assert decode(b"data: last\r") == [ev("last")]
    assert decode(b"data: a\ndata: b") == [ev("a\nb")]


def test_close_with_nothing_pending_returns_nothing() -> None:
    dec = SSEDecoder()
    assert dec.feed(b"data: x\n\n") == [ev("x")]
    assert dec.close() == []
    assert SSEDecoder().close() == []


def test_close_does_not_deliver_a_trailing_comment_or_event_name() -> None:
    assert decode(b"data: x\n\n: bye") == [ev("x")]
    assert decode(b"data: x\n\nevent: y") == [ev("x")]


# -- properties ------------------------------------------------------------------------------------------

_LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n"),
    max_size=12,
)


@dataclass
class _Block:
    """One event block: what is written, and what the decoder should give for it."""

    lines: list[str]
    expected_data: list[str]
    event: str


@st.composite
def _blocks(draw: st.DrawFn) -> _Block:
    lines: list[str] = []
    data: list[str] = []
    event = ""
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["data", "data_nospace", "event", "comment", "unknown"]))
        text = draw(_LINE_TEXT)
        if kind == "data":
            lines.append(f"data: {text}")
            data.append(text)
        elif kind == "data_nospace" and not text.startswith(" "):
            lines.append(f"data:{text}")
            data.append(text)
        elif kind == "event":
            lines.append(f"event: {text}")
            event = text
        elif kind == "comment":
            lines.append(f":{text}")
        elif kind == "unknown":
            lines.append(f"x-{text.replace(':', '')}: {text}")
    return _Block(lines, data, event)


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    """A stream with varied line endings and the events it holds."""
    blocks = draw(st.lists(_blocks(), max_size=5))
    out: list[str] = []
    prev_eol = ""
    expected: list[SSEEvent] = []
    for block in blocks:
        for line in [*block.lines, ""]:
            choices = ["\n", "\r", "\r\n"]
            if prev_eol == "\r" and line == "":
                choices = ["\r", "\r\n"]  # CR then a bare LF would read as one CRLF
            eol = draw(st.sampled_from(choices))
            out.append(line + eol)
            prev_eol = eol
        if block.expected_data:
            expected.append(ev("\n".join(block.expected_data), event=block.event or "message"))
    return "".join(out).encode(), expected


@given(_streams(), st.data())
@settings(max_examples=300)
def test_any_split_gives_the_expected_events(sample: tuple[bytes, list[SSEEvent]], data: st.DataObject) -> None:
    stream, expected = sample
    cuts = draw_cuts(data, stream)
    assert decode(stream) == expected
    assert decode(*split_at(stream, cuts)) == expected


@given(_streams())
@settings(max_examples=50)
def test_any_stream_one_byte_at_a_time(sample: tuple[bytes, list[SSEEvent]]) -> None:
    stream, expected = sample
    assert one_byte_at_a_time(stream) == expected


_INTERESTING = st.sampled_from(
    [
        *[b"data:", b"data: ", b"event:", b"id:", b"retry:", b"error:", b":", b" ", b"\r", b"\n", b"\r\n"],
        *[b"1", b"x", b"\x00", b"\xff", b"\xc2\xb2", b"\xe2\x80\xa8", b"\xf0\x9f", b"\x98\x80", b"\xef\xbb\xbf"],
    ]
)


@given(st.one_of(st.binary(max_size=300), st.lists(_INTERESTING, max_size=60).map(b"".join)), st.data())
@settings(max_examples=400)
def test_arbitrary_bytes_never_raise_and_do_not_depend_on_the_split(stream: bytes, data: st.DataObject) -> None:
    whole = decode(stream)
    assert all(isinstance(e, SSEEvent) for e in whole)
    assert all(isinstance(e.data, str) and isinstance(e.event, str) and e.event for e in whole)
    cuts = draw_cuts(data, stream, max_size=10)
    assert decode(*split_at(stream, cuts)) == whole


@given(st.one_of(st.binary(max_size=300), st.lists(_INTERESTING, max_size=60).map(b"".join)))
@settings(max_examples=400)
def test_the_regex_path_gives_what_the_line_by_line_path_gives(stream: bytes) -> None:
    """Fed whole, runs of simple events go through one regex; fed a byte at a time, every line goes
    through the line-by-line path (a feed then completes at most one line): the events are the same."""
    assert decode(stream) == one_byte_at_a_time(stream)


@pytest.mark.parametrize(
    "stream",
    [
        b"data: a\n\ndata: b\n\n",
        b"event: x\ndata: a\n\nevent:y\ndata:b\n\n",
        b"data: a\n\n\n\ndata: b\n\n",  # extra blank lines between events
        b"data: a\ndata: b\n\ndata: c\n\n",  # a two-line event between simple ones
        b"event: x\n\ndata: a\n\n",  # an event name with no data is forgotten
        b"id: 7\ndata: a\n\ndata: b\n\n",  # the id stays for the events after it
        b": comment\ndata: a\n\nretry: 5\ndata: b\n\n",
        b"event:  two spaces\ndata:  two\n\n",  # one leading space is removed, not two
        b"data: a\n\nevent: half",  # a tail without its line break waits
    ],
)
def test_simple_events_mixed_with_everything_else(stream: bytes) -> None:
    assert decode(stream) == one_byte_at_a_time(stream)
    assert decode(*split_at(stream, [len(stream) // 2])) == one_byte_at_a_time(stream)


# -- bounded and linear ---------------------------------------------------------------------------------------
def _feed_line(total: int, piece: bytes, dec: SSEDecoder) -> float:
    """Feed ``total`` bytes of one line without a break, in network-sized reads; the seconds it took."""
    import time

    started = time.perf_counter()
    for _ in range(total // len(piece)):
        assert dec.feed(piece) == []
    return time.perf_counter() - started


def test_a_long_line_costs_what_reading_it_costs() -> None:
    """A 200 MB line without a break, in 64 kB reads: linear (it was rebuilt at each read, 131 s)."""
    piece = b"a" * 65536  # the same object each time: the test holds 64 kB, the decoder only references
    small = min(_feed_line(2 << 20, piece, SSEDecoder()) for _ in range(3))
    big = _feed_line(200 << 20, piece, SSEDecoder())
    # linear: 100 times the bytes, about 100 times the time; quadratic would be 10,000 times
    assert big < max(small, 1e-4) * 100 * 5, (small, big)


def test_a_long_line_is_still_one_line_when_it_ends() -> None:
    piece = b"x" * 1000
    dec = SSEDecoder()
    events = [*dec.feed(b"data: "), *(e for _ in range(500) for e in dec.feed(piece)), *dec.feed(b"\r\n\r\n")]
    assert events == [SSEEvent("message", "x" * 500_000)]


@pytest.mark.parametrize("split", [1, 7, 4096, 1 << 20])
def test_a_line_over_the_limit_raises_whatever_the_reads(split: int) -> None:
    from jupyter_providers._sse import SSELimitError

    stream = b"data: ok\n\n" + b"data: " + b"y" * 5000 + b"\n\n"
    dec = SSEDecoder(max_event_bytes=4096)
    got: list[SSEEvent] = []
    with pytest.raises(SSELimitError, match="line is longer than 4,096 bytes"):
        for i in range(0, len(stream), split):
            got.extend(dec.feed(stream[i : i + split]))
    # what came in earlier reads was delivered (a read holding both is one the network never makes: 64 kB)
    assert got == ([SSEEvent("message", "ok")] if split < len(stream) else [])


def test_an_event_of_many_lines_over_the_limit_raises() -> None:
    from jupyter_providers._sse import SSELimitError

    dec = SSEDecoder(max_event_bytes=10_000)
    with pytest.raises(SSELimitError, match="event is longer than 10,000 bytes"):
        for _ in range(200):
            dec.feed(b"data: " + b"z" * 100 + b"\n")  # never a blank line: one event growing


def test_within_the_limit_nothing_changes() -> None:
    stream = b"event: e\ndata: " + b"q" * 4000 + b"\ndata: two\n\n"
    assert SSEDecoder(max_event_bytes=4096).feed(stream) == decode(stream)
