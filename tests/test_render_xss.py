"""Every vector of the public XSS corpus, in every Markdown context, through the one rendering path:
the HTML a browser would build from the output holds nothing that runs, fetches or navigates."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import html5lib
import pytest

from jupyter_providers._chat_view import reply_bundle
from jupyter_providers._render import code_html, markdown_html, text_html

from .xss_corpus import CONTEXTS, load_vectors

VECTORS = load_vectors()
#: elements that run script, load something, or change where the page or a form goes
FORBIDDEN = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "img", "image", "svg", "math", "style",
    "link", "meta", "base", "form", "input", "button", "textarea", "select", "video", "audio", "source", "track",
    "picture", "template", "noscript", "xmp", "portal", "marquee", "isindex", "body", "html", "head",
}  # fmt: skip
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "srcset", "poster", "background", "data", "ping"}
#: the only attributes the path makes (style: the one fixed style of our own <pre>)
ALLOWED_ATTRS = {"href", "title", "target", "rel", "align", "start", "class", "style"}
SAFE_URL = re.compile(r"^(https?:|mailto:|#)", re.I)


def _elements(html: str) -> list[Any]:
    """The elements of ``html`` parsed as a browser parses a fragment (WHATWG, html5lib)."""
    fragment = html5lib.parseFragment(html, treebuilder="etree", namespaceHTMLElements=False)
    return [el for el in fragment.iter() if isinstance(el.tag, str)]


def problems(html: str) -> list[str]:
    found = []
    pre_style = markdown_html("```\nx\n```").split('style="', 1)[1].split('"', 1)[0]
    for el in _elements(html):
        tag = el.tag.split("}")[-1].lower()
        if tag in FORBIDDEN:
            found.append(f"<{tag}>")
        for name, value in el.attrib.items():
            n = name.split("}")[-1].lower()
            if n.startswith("on"):
                found.append(f"{tag} {n}=")
            elif n in URL_ATTRS and not SAFE_URL.match(value.strip()):
                found.append(f"{tag} {n}={value[:40]!r}")
            elif n == "style" and not (tag == "pre" and value == pre_style):
                found.append(f"{tag} style={value[:40]!r}")
            elif n not in ALLOWED_ATTRS:
                found.append(f"{tag} {n}=")
    return found


def text_of(html: str) -> str:
    fragment = html5lib.parseFragment(html, treebuilder="etree", namespaceHTMLElements=False)
    return "".join(fragment.itertext())


def test_the_corpus_is_large_and_from_every_public_list() -> None:
    sources = Counter(v["source"].split(" (")[0].split(" example")[0].split(",")[0] for v in VECTORS)
    assert len(VECTORS) >= 300
    for name in ("OWASP XSS Filter Evasion Cheat Sheet", "PortSwigger XSS cheat sheet", "html5sec.org",
                 "CommonMark spec", "PayloadsAllTheThings", "CommonMark spec rules"):  # fmt: skip
        assert sources[name] >= 50, (name, sources)
    assert len({v["vector"] for v in VECTORS}) == len(VECTORS)


def test_the_checker_sees_an_attack() -> None:
    """Not vacuous: the same checks flag the vectors when they reach a page as HTML."""
    assert problems('<img src=x onerror="alert(1)">') == ["<img>", "img src='x'", "img onerror="]
    assert problems('<a href="javascript:alert(1)">x</a>') == ["a href='javascript:alert(1)'"]
    flagged = sum(1 for v in VECTORS if problems(v["vector"]))
    assert flagged > len(VECTORS) // 3  # the raw corpus is hostile HTML


@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_every_vector_is_inert_through_markdown_html(context: str) -> None:
    wrap = CONTEXTS[context]
    bad = {}
    for v in VECTORS:
        found = problems(markdown_html(wrap(v["vector"])))
        if found:
            bad[v["id"]] = found
    assert not bad, f"{len(bad)} vectors: {dict(list(bad.items())[:5])}"


def test_every_vector_is_inert_as_text_code_and_a_reply_bundle() -> None:
    bad = {}
    for v in VECTORS:
        s = v["vector"]
        for html in (text_html(s), code_html(s, s[:20]), reply_bundle(s, "code", s[:30], False)["text/html"]):
            if problems(html):
                bad[v["id"]] = problems(html)
        bundle = reply_bundle(s, "markdown", f"model {s[:40]}", True)
        assert set(bundle) == {"text/html", "text/plain"}  # never text/markdown
        if problems(bundle["text/html"]):
            bad[v["id"]] = problems(bundle["text/html"])
    assert not bad, f"{len(bad)} vectors: {dict(list(bad.items())[:5])}"


def test_the_vectors_stay_visible_as_text() -> None:
    """What a reply says is shown, not swallowed: a vector with an event handler shows it as text."""
    with_handler = [v for v in VECTORS if re.search(r"\bonerror\s*=", v["vector"])]
    assert len(with_handler) >= 30
    for v in with_handler:
        assert "onerror" in text_of(text_html(v["vector"]))
    shown = [v for v in with_handler if "onerror" in text_of(markdown_html(v["vector"]))]
    assert len(shown) >= 0.95 * len(with_handler)


@pytest.mark.parametrize(
    "reply", ["`<img src=x onerror=alert(1)>``", "``<script>alert(1)</script>`"], ids=["span-1-2", "span-2-1"]
)
def test_the_issues_replies_show_their_markup(reply: str) -> None:
    html = markdown_html(reply)
    assert not problems(html)
    assert text_of(html).strip() == reply  # every character shown as written
