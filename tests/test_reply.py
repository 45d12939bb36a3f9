"""``Reply``: the stats line every surface shows, and how a reply ends - once, however it ends."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from jupyter_providers import Usage
from jupyter_providers.adapters._base import Delta
from jupyter_providers.errors import ProviderError
from jupyter_providers.reply import Reply


def finished(first: float | None, total: float | None, usage: Usage) -> Reply:
    reply = Reply("P", "m", iter([Delta("hi", usage=usage)]), started=0.0)
    reply.wait()
    reply.first_token_s, reply.latency_s = first, total
    return reply


def test_stats_with_usage() -> None:
    r = finished(0.12, 1.432, Usage(12, 48))
    assert r.stats() == "first token 120 ms · total 1.43 s · 12 in / 48 out tokens"


def test_stats_without_usage_says_so() -> None:
    r = finished(0.0004, 0.9996, Usage())
    assert r.stats() == "first token 0 ms · total 1000 ms · token usage not reported by the server"


def test_stats_with_output_tokens_only() -> None:
    assert finished(None, 2.0, Usage(None, 5)).stats() == "first token ? · total 2.00 s · ? in / 5 out tokens"


def test_stats_while_streaming_counts_the_time_so_far() -> None:
    reply = Reply("P", "m", iter([Delta("a"), Delta("b")]))
    pieces = iter(reply)
    assert next(pieces) == "a"
    stats = reply.stats()
    assert stats.startswith("first token ") and " · total " in stats and reply.latency_s is None
    assert list(pieces) == ["b"]


def test_a_reply_shows_as_safe_html_never_markdown() -> None:
    """A front end renders text/markdown as trusted (raw HTML on): a Reply offers HTML made by the safe path."""
    reply = Reply("P\x1b]52;c;AA\x07", "m", iter([Delta("``<script>alert(1)</script>` **b** [x](javascript:1)")]))
    assert not hasattr(reply, "_repr_markdown_")
    html = reply._repr_html_()
    assert "<script" not in html and "&lt;script&gt;" in html and "<strong>b</strong>" in html and "href" not in html
    assert "\x1b" not in repr(reply) and "\x07" not in repr(reply)


# -- the end of a reply: on_end runs once, with the reply as it ended ------------------------------------
class Ends:
    """An on_end callback that notes what the reply was when it ended."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, bool, ProviderError | None, float | None]] = []

    def __call__(self, r: Reply) -> None:
        self.seen.append((threading.current_thread().name, r.text_so_far, r.cancelled, r.error, r.latency_s))

    @property
    def one(self) -> tuple[str, bool, ProviderError | None, float | None]:
        assert len(self.seen) == 1, self.seen
        return self.seen[0][1:]


def ends(reply: Reply) -> Ends:
    cb = Ends()
    reply.on_end(cb)
    return cb


def test_a_finished_stream_ends_once_with_its_text_usage_and_latency() -> None:
    reply = Reply("P", "m", iter([Delta("a"), Delta("b", usage=Usage(3, 2), finish_reason="stop")]))
    end = ends(reply)
    assert end.seen == []  # not before the stream has run out
    assert list(reply) == ["a", "b"]
    text, cancelled, error, latency = end.one
    assert (text, cancelled, error) == ("ab", False, None) and latency is not None and latency == reply.latency_s
    assert reply.usage == Usage(3, 2) and list(reply) == ["a", "b"]  # read again: the same pieces, no second end
    reply.cancel()  # an ended reply stays as it ended
    assert len(end.seen) == 1 and not reply.cancelled


def test_a_reply_that_is_no_stream_has_ended_already() -> None:
    reply = Reply("P", "m")
    reply._apply(Delta("whole", usage=Usage(1, 1)))
    end = ends(reply)
    assert end.one[:3] == ("whole", False, None)
    late = ends(reply)  # added after the end: called at once, too
    assert late.one[0] == "whole" and len(end.seen) == 1


def test_an_error_mid_stream_ends_it_with_the_partial_text_and_the_error() -> None:
    def deltas() -> Iterator[Delta]:
        yield Delta("part ")
        raise ProviderError("P: the stream broke", provider="P")

    reply = Reply("P", "m", deltas())
    end = ends(reply)
    with pytest.raises(ProviderError) as info:
        reply.wait()
    text, cancelled, error, _ = end.one
    assert (text, cancelled) == ("part ", False) and error is info.value and info.value.partial_text == "part "


def test_cancel_before_reading_ends_it_and_closes_the_stream() -> None:
    closed: list[bool] = []

    def deltas() -> Iterator[Delta]:
        try:
            yield Delta("never read")
        finally:
            closed.append(True)

    gen = deltas()
    next(gen, None)  # started, so that closing it runs its finally
    reply = Reply("P", "m", gen, on_cancel=lambda: closed.append(False))
    end = ends(reply)
    reply.cancel()
    assert end.one[:3] == ("", True, None) and closed == [False, True]
    reply.cancel()
    assert list(reply) == [] and len(end.seen) == 1


@pytest.mark.parametrize("how", ["close", "break", "ctrl-c"])
def test_a_stream_left_early_ends_as_stopped_with_what_arrived(how: str) -> None:
    def deltas() -> Iterator[Delta]:
        yield Delta("one ")
        if how == "ctrl-c":
            raise KeyboardInterrupt
        yield from (Delta("more ") for _ in range(1000))

    reply = Reply("P", "m", deltas())
    end = ends(reply)
    if how == "close":  # the consumer abandons the iterator
        pieces = iter(reply)
        assert next(pieces) == "one "
        pieces.close()
    elif how == "break":
        for _piece in reply:
            break
    else:
        with pytest.raises(KeyboardInterrupt):
            reply.wait()
    assert end.one[:3] == ("one ", True, None) and reply.done


def test_cancel_from_another_thread_ends_a_stalled_stream_once() -> None:
    """As the widget's Stop does: the reading thread is blocked on the network, cancel() wakes it."""
    wake = threading.Event()

    def deltas() -> Iterator[Delta]:
        yield Delta("one ")
        yield Delta("two ")
        wake.wait(30)  # a stalled socket; on_cancel shuts it down
        raise ProviderError("P: connection closed", provider="P")

    reply = Reply("P", "m", deltas(), on_cancel=wake.set)
    end = ends(reply)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(reply), name="reader")
    reader.start()
    while reply.text_so_far != "one two ":
        reader.join(0.005)
    reply.cancel()
    assert end.one[:3] == ("one two ", True, None)  # ended when cancel() returned
    reader.join(10)
    assert not reader.is_alive() and got == ["one ", "two "] and reply.error is None and len(end.seen) == 1


def test_cancel_racing_the_reading_thread_ends_once_and_nothing_comes_after() -> None:
    """Stop pressed while pieces pour in, or just as the stream runs out: one end, in whichever thread gets
    there first (both do, over the runs), and the reply as it was then is the reply from then on."""

    def pieces() -> Iterator[Delta]:
        for _ in range(20):
            time.sleep(0)  # let the other thread in between two pieces
            yield Delta("x")

    for i in range(300):
        reply = Reply("P", "m", pieces())
        end = ends(reply)
        reader = threading.Thread(target=reply.wait, name="reader")
        reader.start()
        while len(reply.text_so_far) < i % 21 and not reply.done:
            time.sleep(0)
        reply.cancel()
        assert len(end.seen) == 1  # cancel() returns after the end, even when the reader ran it
        reader.join(10)
        assert not reader.is_alive() and len(end.seen) == 1
        text, cancelled, error, latency = end.one
        assert (text, cancelled, error, latency) == (reply.text_so_far, reply.cancelled, None, reply.latency_s)


def test_printing_a_reply_writes_no_escape_sequence_and_text_stays_raw() -> None:
    """``print(reply)`` in a terminal: an OSC 52 clipboard write or a colour from a hostile server is not passed
    on; ``reply.text`` keeps what the server sent, as data."""
    hostile = "ok\x1b]52;c;cm0gLXJmIH4=\x07 \x1b[31mred\x1b[0m\x08!"
    reply = Reply("P", "m", iter([Delta(hostile)]))
    reply.wait()
    assert reply.text == hostile
    shown = str(reply)
    assert "\x1b" not in shown and "\x07" not in shown and "\x08" not in shown
    assert shown.startswith("ok") and "red" in shown and "52;c" not in shown
