"""Make untrusted model output safe to hand to a Markdown renderer.

Model text is data, not page content: raw HTML in it (``<script>``, ``<img onerror>``) is
escaped so it shows as text, and links with a script scheme (``javascript:``, ``vbscript:``,
``data:``) lose their target. Code blocks and code spans are left alone: a renderer
already shows them literally.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["markdown_html", "safe_markdown"]

_FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})")
_CODE_SPAN_RE = re.compile(r"(`+)(.+?)\1", re.S)
_BAD_LINK_RE = re.compile(r"\]\(\s*<?\s*(?:javascript|vbscript|data|file)\s*:(?:[^()]|\([^()]*\))*\)", re.I)
_BAD_AUTOLINK_RE = re.compile(r"\b(?:javascript|vbscript)\s*:", re.I)


def _escape_prose(text: str) -> str:
    out = []
    pos = 0
    for m in _CODE_SPAN_RE.finditer(text):
        out.append(_escape_html(text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_escape_html(text[pos:]))
    return "".join(out)


def _escape_html(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # Markdown quotes start with '>': keep them as quotes.
    text = re.sub(r"(?m)^( {0,3})&gt;", r"\1>", text)
    text = _BAD_LINK_RE.sub("](#blocked-link)", text)
    # An image would be fetched by the browser at once (a way to send data anywhere): show it as text.
    text = text.replace("![", "!\\[")
    return _BAD_AUTOLINK_RE.sub("blocked:", text)


def safe_markdown(text: str) -> str:
    """Markdown with every piece of raw HTML escaped and script links disabled."""
    lines = text.split("\n")
    out: list[str] = []
    prose: list[str] = []
    fence: str | None = None
    for line in lines:
        m = _FENCE_RE.match(line)
        if fence is None:
            if m:
                if prose:
                    out.append(_escape_prose("\n".join(prose)))
                prose = []
                fence = m.group(2)[0] * len(m.group(2))
                out.append(line)
            else:
                prose.append(line)
        else:
            out.append(line)
            if m and m.group(2).startswith(fence) and line.strip() == m.group(2):
                fence = None
    if prose:
        out.append(_escape_prose("\n".join(prose)))
    return "\n".join(out)


_PRE_STYLE = (
    "overflow-x:auto;white-space:pre;font-family:var(--jp-code-font-family,monospace);"
    "font-size:var(--jp-code-font-size,12px);line-height:1.4;padding:6px 8px;border-radius:4px;"
    "background:var(--jp-cell-editor-background,#f5f5f5);border:1px solid var(--jp-border-color2,#e0e0e0)"
)
_SCHEME_RE = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})


def _validate_link(url: str) -> bool:
    """Only web and mail links (or links without a scheme) keep their target."""
    m = _SCHEME_RE.match(url.strip().lower())
    return m is None or m.group(1) in _SAFE_SCHEMES


def _styled_pre(html: str) -> str:
    return html.replace("<pre>", f'<pre class="jp-providers-code" style="{_PRE_STYLE}">', 1)


@functools.cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt
    from markdown_it.renderer import RendererHTML

    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    # An image the model writes would be fetched by the browser at once (a way to leak data to any
    # address): images are left as their Markdown text.
    md.disable("image")
    md.validateLink = _validate_link  # type: ignore[method-assign]

    def fence(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return _styled_pre(RendererHTML.fence(self, tokens, idx, options, env))

    def code_block(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        return _styled_pre(RendererHTML.code_block(self, tokens, idx, options, env))

    def link_open(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("target", "_blank")
        tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
        out: str = self.renderToken(tokens, idx, options, env)
        return out

    md.add_render_rule("fence", fence)
    md.add_render_rule("code_block", code_block)
    md.add_render_rule("link_open", link_open)
    return md


def markdown_html(text: str) -> str:
    """Render untrusted Markdown (a model's reply) to HTML that is safe to show.

    Raw HTML is escaped and shows as text; only ``http``, ``https`` and ``mailto`` links keep
    their target (``javascript:``, ``data:``, ``file:``... become plain text); images stay as
    text; tables and fenced code render, code in a monospace block that scrolls sideways.
    """
    html: str = _markdown().render(text)
    return html
