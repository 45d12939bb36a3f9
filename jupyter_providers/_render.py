"""Make untrusted model output safe to hand to a Markdown renderer.

Model text is data, not page content: raw HTML in it (``<script>``, ``<img onerror>``) is
escaped so it shows as text, and links with a script scheme (``javascript:``, ``vbscript:``,
``data:``) lose their target. Code blocks and code spans are left alone: a renderer
already shows them literally.
"""

from __future__ import annotations

import re

__all__ = ["safe_markdown"]

_FENCE_RE = re.compile(r"^( {0,3})(`{3,}|~{3,})")
_CODE_SPAN_RE = re.compile(r"(`+)(.+?)\1", re.S)
_BAD_LINK_RE = re.compile(r"\]\(\s*<?\s*(?:javascript|vbscript|data|file)\s*:[^)]*\)", re.I)
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
