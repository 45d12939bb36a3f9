"""What ``%%chat`` shows: the reply's output bundle and the ``--compare`` columns. No IPython here.

Every piece of server text goes through :mod:`._render`: the HTML is made by it (never
``text/markdown``, which a front end would render as trusted Markdown with raw HTML on), and the
``text/plain`` copy beside it is :func:`~._render.terminal_text`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ._render import HTML_CLASSES, code_html, code_of, markdown_html, terminal_text, text_html

if TYPE_CHECKING:
    from .reply import Reply

__all__ = ["PLAIN_CHARS", "Column", "compare_html", "plain_fallback", "reply_bundle"]

#: The ``text/plain`` copy a reply carries beside its ``text/html`` is cut at this many characters.
#: Every front end that shows HTML (JupyterLab, Notebook, VS Code, Colab, GitHub, nbconvert) ignores
#: it; a whole copy there would be a third copy of the reply sent to the front end (after the
#: streamed text and the HTML: benchmarks/display.py) and a second one in every saved notebook.
#: Consoles have already printed the streamed text.
PLAIN_CHARS = 2000


def plain_fallback(text: str, streamed: bool) -> str:
    """The ``text/plain`` of a reply: the whole text when short, else its head and how to get the rest."""
    if len(text) > PLAIN_CHARS:
        where = "printed above while it streamed" if streamed else "shown in full by --format text"
        text = f"{text[:PLAIN_CHARS]}\n… {len(text) - PLAIN_CHARS:,} more characters ({where}; --out VAR keeps it)"
    return terminal_text(text)


def footer_html(footer: str) -> str:
    return f'<p class="jp-providers-footer"><em>{text_html(footer)}</em></p>' if footer else ""


def reply_bundle(text: str, fmt: str, footer: str, streamed: bool) -> dict[str, str]:
    """The output of a reply in a notebook: ``text/html`` made by the one rendering path, and a plain copy.

    ``fmt`` is ``markdown`` (the reply rendered) or ``code`` (its first code block, shown as code).
    """
    if fmt == "code":
        lang, code = code_of(text)
        body, plain = code_html(code, lang), terminal_text(code)
    else:
        body, plain = markdown_html(text), plain_fallback(text, streamed)
    html = f'<div class="jp-providers-reply {HTML_CLASSES}">{body}{footer_html(footer)}</div>'
    return {"text/html": html, "text/plain": plain}


@dataclass
class Column:
    """One model of ``--compare``: its label, its reply (once the server answered) or error."""

    label: str
    reply: Reply | None = None
    error: str = ""
    started: float = field(default_factory=time.perf_counter)
    elapsed: float | None = None

    def meta(self) -> str:
        if self.reply is not None:
            return self.reply.stats() + (" · stopped" if self.reply.cancelled else "")
        return f"{self.elapsed:.2f} s" if self.elapsed is not None else "…"

    @property
    def text(self) -> str:
        return self.reply.text_so_far if self.reply is not None else ""

    def plain(self) -> str:
        return terminal_text(f"== {self.label} ({self.meta()})\n{self.text}{self.error}\n")


def compare_html(columns: list[Column], final: bool) -> str:
    """The replies side by side; while they stream, each as escaped text (rendered once, at the end)."""
    cells = []
    for c in columns:
        body = markdown_html(c.text) if final else f"<div style='white-space:pre-wrap'>{text_html(c.text)}</div>"
        err = f"<div style='color:#b00020'>{text_html(c.error)}</div>" if c.error else ""
        cells.append(
            "<div style='flex:1;min-width:0;border:1px solid #ddd;border-radius:6px;padding:8px'>"
            f"<div style='font-weight:600'>{text_html(c.label)}</div>"
            f"<div style='color:#666;font-size:90%'>{text_html(c.meta())}</div>{body}{err}</div>"
        )
    return f"<div class='jp-providers-compare {HTML_CLASSES}' style='display:flex;gap:8px'>{''.join(cells)}</div>"
