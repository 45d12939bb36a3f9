"""What a person reads in the outputs of a cell: the text of their ``text/html`` (the package never sends
``text/markdown``: a front end renders that as trusted Markdown)."""

from __future__ import annotations

from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(html: str) -> str:
    """The text of an HTML fragment, as a browser shows it (entities decoded, tags gone)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def shown_html(outputs: Iterable[Any]) -> str:
    """The ``text/html`` of every output; fails if any carries ``text/markdown``."""
    outputs = list(outputs)
    assert not any("text/markdown" in o.data for o in outputs), "model output must never be sent as text/markdown"
    return "".join(o.data.get("text/html", "") for o in outputs)


def shown_text(outputs: Iterable[Any]) -> str:
    return html_text(shown_html(outputs))
