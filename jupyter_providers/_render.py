"""The one way text from a server reaches a screen.

Everything a server sends (replies, error text, model ids, verdicts) is data, not page content.

- :func:`markdown_html`: Markdown (a reply) to HTML. CommonMark + GFM tables and strikethrough
  through markdown-it-py with raw HTML off (``<script>`` shows as text); links keep their target only
  for ``http``, ``https``, ``mailto`` and in-page ``#`` addresses; an image shows as its alt text,
  never as ``<img>`` (the browser would fetch it at once: a way to send data anywhere). The HTML
  then goes through nh3 (the ammonia sanitizer) with an allowlist of the tags Markdown makes, no
  ``style`` or ``on*`` attribute, and links with ``rel="noopener noreferrer nofollow"``.
- :func:`text_html`: plain text (a name, a model id, a verdict, an error line) for HTML: escaped,
  then the same sanitizer.
- :func:`code_html` / :func:`code_of`: the first code block of a reply, found by the same parser.
- :func:`terminal_text`: text for a terminal, stdout or ``text/plain``: escape sequences (CSI, OSC
  including OSC 52, which writes the clipboard, DCS...) are removed and other control characters
  (C0 but tab and newline, DEL, C1) become U+FFFD. Front ends make links of such text (JupyterLab
  links any ``scheme://`` and ``data:``): a word joiner (U+2060, invisible) beside the colon keeps
  anything but ``http(s)://`` from becoming a ``javascript://`` or ``data:`` link.

The HTML is wrapped in :data:`HTML_CLASSES` (``mathjax_ignore``): a front end does not typeset
TeX in server text (MathJax's ``\\href`` and ``\\class`` are a way to make links and styled boxes).
"""

from __future__ import annotations

import functools
import html as _html
import re
from typing import TYPE_CHECKING, Any

from ._attach import sniff

if TYPE_CHECKING:
    from collections.abc import Sequence

    import nh3
    from markdown_it import MarkdownIt

    from ._attach import Attachment

__all__ = ["HTML_CLASSES", "attachments_html", "code_html", "code_of", "markdown_html", "terminal_text", "text_html"]

#: the classes every block of server HTML is wrapped in: MathJax (JupyterLab, Notebook) leaves it alone
HTML_CLASSES = "mathjax_ignore tex2jax_ignore"

_PRE_STYLE = (
    "overflow-x:auto;white-space:pre;font-family:var(--jp-code-font-family,monospace);"
    "font-size:var(--jp-code-font-size,12px);line-height:1.4;padding:6px 8px;border-radius:4px;"
    "background:var(--jp-cell-editor-background,#f5f5f5);border:1px solid var(--jp-border-color2,#e0e0e0)"
)
_PRE = f'<pre class="jp-providers-code" style="{_PRE_STYLE}">'
_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME_RE = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
#: what Markdown makes and nothing else (no img, no raw HTML element, no form, no style)
_TAGS = frozenset(
    {"a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "del", "code", "pre",
     "blockquote", "ul", "ol", "li", "table", "thead", "tbody", "tr", "th", "td", "span"}
)  # fmt: skip


def safe_url(url: str) -> bool:
    """Only ``http``, ``https``, ``mailto`` and in-page ``#...`` addresses may be a link's target.

    A relative address (``/api/kernels``, ``//evil.example``) would point into the Jupyter server or
    anywhere: it is refused too. Whitespace or control characters before the scheme refuse it.
    """
    if url.startswith("#"):
        return True
    m = _SCHEME_RE.match(url)
    return m is not None and m.group(1).lower() in _SAFE_SCHEMES


def _attribute(tag: str, attr: str, value: str) -> str | None:
    if attr == "href":
        return value if safe_url(value) else None
    return value


@functools.cache
def _cleaner() -> nh3.Cleaner:
    import nh3

    return nh3.Cleaner(
        tags=set(_TAGS),
        clean_content_tags={"script", "style", "iframe", "object", "embed", "svg", "math", "template", "noscript"},
        attributes={"a": {"href", "title"}, "ol": {"start"}},
        allowed_classes={"span": {"jp-providers-image"}},
        tag_attribute_values={
            "th": {"align": {"left", "center", "right"}},
            "td": {"align": {"left", "center", "right"}},
        },
        set_tag_attribute_values={"a": {"target": "_blank"}},
        attribute_filter=_attribute,
        link_rel="noopener noreferrer nofollow",
        url_schemes=set(_SAFE_SCHEMES),
        strip_comments=True,
    )


def sanitize(html: str) -> str:
    """nh3 with the allowlist above: what a Markdown renderer may make, nothing a script could use."""
    out: str = _cleaner().clean(html)
    return out


def _image(self: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
    """An image shows as its alt text (escaped), never fetched."""
    alt = self.renderInlineAsText(tokens[idx].children or [], options, env)
    return f'<span class="jp-providers-image">[image: {_html.escape(alt)}]</span>'


def _align(state: Any) -> None:
    """Table alignment as ``align=`` (the sanitizer keeps no ``style``)."""
    for token in state.tokens:
        if token.type in ("th_open", "td_open"):
            style = token.attrGet("style")
            if isinstance(style, str) and style.startswith("text-align:"):
                token.attrs.pop("style", None)
                token.attrSet("align", style.removeprefix("text-align:"))


@functools.cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.validateLink = safe_url  # type: ignore[method-assign]
    md.add_render_rule("image", _image)
    md.core.ruler.push("jp_providers_align", _align)
    return md


def markdown_html(text: str) -> str:
    """Untrusted Markdown (a model's reply) as HTML that is safe to show.

    Raw HTML shows as text; only ``http``, ``https``, ``mailto`` and ``#`` links keep their target
    (others stay as their Markdown text); an image shows as ``[image: alt]``; tables and code render,
    code in a monospace block that scrolls sideways.
    """
    html = sanitize(_markdown().render(_inert(text)))
    # our own fixed style on the <pre> Markdown made (after sanitizing: raw HTML is off, so every <pre> is ours)
    return html.replace("<pre>", _PRE)


def text_html(text: str) -> str:
    """Plain text (a name, a model id, a verdict, an error) as HTML: every character shows as itself."""
    return sanitize(_html.escape(_inert(text), quote=False))


_THUMB_STYLE = (
    "max-width:160px;max-height:120px;border:1px solid var(--jp-border-color2,#e0e0e0);border-radius:3px;"
    "margin-right:6px;vertical-align:middle"
)


def attachments_html(attachments: Sequence[Attachment]) -> str:
    """Thumbnails of what was sent: an ``<img>`` of each image's own bytes (a ``data:`` URI we build from bytes
    checked to be PNG, JPEG or WebP, never an address from elsewhere), and a line naming each table."""
    items = []
    for a in attachments:
        label = text_html(a.describe())
        if a.is_image and sniff(a.data) == a.mime:
            src = f"data:{a.mime};base64,{a.base64}"
            alt = _html.escape(a.label, quote=True)
            items.append(f'<span title="{alt}"><img src="{src}" alt="{alt}" style="{_THUMB_STYLE}">{label}</span>')
        else:
            items.append(f"<span>{label}</span>")
    body = " ".join(items)
    return f'<div class="jp-providers-attachments {HTML_CLASSES}" style="font-size:12px;opacity:.8">sent: {body}</div>'


def code_of(text: str) -> tuple[str, str]:
    """The first fenced or indented code block of a reply (language, code), as CommonMark finds it;
    without one, the whole reply (as Python)."""
    for token in _markdown().parse(text):
        if token.type in ("fence", "code_block"):
            lang = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else "python"
            return lang, token.content.removesuffix("\n")
    return "python", text.strip()


def code_html(code: str, lang: str = "") -> str:
    """A code block: the code escaped in the styled ``<pre>``, its language as a caption."""
    caption = f'<span class="jp-providers-note">{text_html(lang)}</span>' if lang else ""
    return f"{caption}{_PRE}<code>{sanitize(_html.escape(_inert(code), quote=False))}</code></pre>"


_TERMINAL_SEQ = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI ... final byte
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # OSC (incl. OSC 52), DCS, SOS, PM, APC ... BEL or ST
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|[\x90\x9d\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"  # 8-bit OSC, DCS, SOS, PM, APC
    r"|\x1b(?:[!-/]*[0-~])?"  # any other escape (charset, keypad, RIS...), or a lone ESC
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
#: JupyterLab's text renderer links ``[a-zA-Z][a-zA-Z0-9+.-]{2,40}://...``, ``data:...`` and ``www.``
#: (webLinkRegex, @jupyterlab/rendermime): only a plain http(s) scheme keeps its ``://`` as it is
_LINK_SEP = re.compile(r"(?i)((?<![a-z0-9+.\-])https?)?(:)(?=//)|(?<=data)(:)")
_JOINER = "\u2060"


#: the control characters HTML text may not keep (tab, newline and carriage return are white space there)
_HTML_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _inert(text: str) -> str:
    """Server text before it becomes HTML: escape sequences removed, other control characters U+FFFD, as
    :func:`terminal_text` does - HTML copied to a terminal (``nbconvert --to markdown``, then ``cat``) writes no
    clipboard (OSC 52) and moves no cursor. Done on the text, before any tag exists, so no tag can be cut."""
    if _HTML_CONTROL.search(text) is None:
        return text
    return _HTML_CONTROL.sub("\ufffd", _TERMINAL_SEQ.sub("", text))


def _unlink(m: re.Match[str]) -> str:
    if m.group(3):  # data: -> data<joiner>:
        return _JOINER + ":"
    return m.group(0) if m.group(1) else ":" + _JOINER  # javascript:<joiner>//


def terminal_text(text: str) -> str:
    """Server text made safe to print: no escape sequence survives, no control character but tab and newline.

    A sequence is removed whole (an unterminated string sequence only loses its introducer, so the
    text after it stays); any other control character (carriage return, backspace, bell, C1)
    becomes U+FFFD, so what was there stays visible and nothing can move the cursor or rewrite a line.
    ``\\r\\n`` is a newline. ``javascript://``, ``data:`` (anything but ``http(s)://``) get an invisible word
    joiner beside the colon, so a front end that links URLs in text makes no link of them.
    """
    if _CONTROL.search(text) is not None:
        text = _CONTROL.sub("\ufffd", _TERMINAL_SEQ.sub("", text.replace("\r\n", "\n")))
    if ":" in text:
        text = _LINK_SEP.sub(_unlink, text)
    return text
