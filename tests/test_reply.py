"""``Reply.stats()``: the one line every surface (``%%chat``, ``--compare``, the chat widget) shows under a reply."""

from __future__ import annotations

from jupyter_providers import Usage
from jupyter_providers.adapters._base import Delta
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
