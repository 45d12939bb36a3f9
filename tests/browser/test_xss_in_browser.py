"""The XSS corpus, sent by fake servers, shown through every surface in a real JupyterLab and Notebook 7.

Protocol-faithful fake servers (tests/fakes) answer with the corpus (tests/data/xss, 1,295 public
vectors), each server with every vector wrapped in one Markdown context (plain, code spans with
unequal backtick runs, a fence in a list item, link destinations, reference definitions, table
cells), many vectors per reply. The notebook shows them through ``%%chat`` (markdown, code and text
formats, the footer, an error line), ``--compare``, a ``Reply``'s own display, the chat widget, the
panel (model ids a server lists, a verdict quoting the server) and ``%providers``.

A hook installed in the page before any of its scripts (Playwright ``add_init_script``) records:
``alert``/``confirm``/``prompt``/``print``, ``eval``, ``Function``, string ``setTimeout`` /
``setInterval``, calls of ``window.__xss(id)`` (what the plain batch's vectors call instead of
``alert``); a MutationObserver flags any ``<script>``, ``<iframe>``, ``<object>``, ``<embed>``,
``<img>``, ``<svg>``, ``<form>``, ``<base>``, ``<meta>``, ``<link>`` element, any ``on*`` attribute
and any ``href`` outside http/https/mailto/# added to an output area; and the test records every
request the page makes that is not to the Jupyter server's own API and static paths, and every
navigation. All must be 0, and the vectors' text must be visible (the test is not vacuous).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from jupyter_providers.widgets._common import CSS

from ..fakes import FakeServer
from ..fakes.server import json_response
from ..xss_corpus import CONTEXTS, load_vectors
from .conftest import FRONTENDS, SHOTS, Lab, run_all_cells, running_lab, wait_kernel_idle, write_notebook

VECTORS = [v["vector"] for v in load_vectors()]
#: one fake server per context: its reply is every vector in that context
BATCHES = ["plain", "span-1-2", "span-2-1", "fence-in-list", "link-dest", "ref-def", "table-cell"]
#: short vectors without spaces: what a server could list as model ids
MODEL_IDS = [v for v in VECTORS if len(v) < 80 and not re.search(r"\s", v) and re.search(r"on\w+=|javascript:", v)][:40]
ERROR_MESSAGE = (
    "bad key <img src=x onerror=__xss('verdict')> `<script>__xss('verdict2')</script>`` [x](javascript:__xss(3))"
)

HOOK = r"""
(() => {
  // each hit goes to the test at once (an exposed binding outlives a page a vector rewrote or navigated);
  // the stack says whose code asked: the front end's bundles and Playwright's own evaluations are not output
  const report = window.__xssReport;
  const hit = (kind, detail) => {
    try { report({ kind, detail: String(detail).slice(0, 160), stack: String(new Error().stack) }); } catch (e) {}
  };
  window.__xss = (id) => hit("__xss", id);
  for (const name of ["alert", "confirm", "prompt", "print"]) {
    window[name] = function (msg) { hit(name, msg); };
  }
  const realEval = window.eval;
  window.eval = function (src) { hit("eval", src); return realEval(src); };
  const RealFunction = window.Function;
  const seen = (args) => hit("Function", args.join(","));
  window.Function = new Proxy(RealFunction, {
    apply(t, self, args) { seen(args); return Reflect.apply(t, self, args); },
    construct(t, args) { seen(args); return Reflect.construct(t, args); },
  });
  for (const name of ["setTimeout", "setInterval"]) {
    const real = window[name];
    window[name] = function (fn, ...rest) {
      if (typeof fn === "string") hit(name, fn);
      return real.call(this, fn, ...rest);
    };
  }
  const OUR_CSS = __OUR_CSS__;
  const BAD_TAGS = new Set(["SCRIPT", "IFRAME", "FRAME", "OBJECT", "EMBED", "IMG", "IMAGE", "SVG", "FORM", "BASE",
    "META", "LINK", "VIDEO", "AUDIO", "SOURCE", "INPUT", "BUTTON", "MATH", "STYLE"]);
  const inOutput = (el) => el.closest && el.closest(".jp-OutputArea-output");
  const ours = (el) => el.closest(".jp-providers-root, .widget-button, .widget-dropdown, .widget-checkbox, " +
    ".widget-text, .widget-textarea, .widget-slider, .widget-hslider, .widget-inline-hbox, .widget-toggle-button");
  const check = (el) => {
    if (!(el instanceof Element) || !inOutput(el)) return;
    const tag = el.tagName.toUpperCase();
    // ipywidgets' own controls (buttons, inputs, our style sheet) are not output of a server
    const widgetOwn = ["INPUT", "BUTTON", "TEXTAREA", "SELECT", "OPTION", "STYLE", "I", "SVG", "PATH"].includes(tag)
      && ours(el) && !el.closest(".widget-html-content, .jp-providers-live, .jp-RenderedHTMLCommon");
    const where = (el.closest("[data-mime-type]") || el).getAttribute("data-mime-type") || el.className;
    const ourSheet = tag === "STYLE" && el.textContent === OUR_CSS;  // the widgets' own style sheet
    if (BAD_TAGS.has(tag) && !widgetOwn && !ourSheet) hit("element", where + " " + el.outerHTML);
    for (const a of el.attributes) {
      const n = a.name.toLowerCase();
      if (n.startsWith("on")) hit("attribute", tag + " " + n + "=" + a.value);
      const urlAttr = ["href", "src", "action", "formaction", "xlink:href", "srcdoc", "poster", "background"];
      if (urlAttr.includes(n) && !/^(https?:|mailto:|#)/i.test(a.value.trim()) && !widgetOwn) {
        hit("url", where + " " + tag + " " + n + "=" + a.value);
      }
    }
  };
  const observe = () => new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") check(r.target);
      for (const node of r.addedNodes) {
        if (node instanceof Element) { check(node); node.querySelectorAll("*").forEach(check); }
      }
    }
  }).observe(document.documentElement, { subtree: true, childList: true, attributes: true });
  if (document.documentElement) observe(); else document.addEventListener("DOMContentLoaded", observe);
})();
"""


def _batch(context: str) -> str:
    wrap = CONTEXTS[context]
    vectors = [v.replace("alert(", "__xss(") for v in VECTORS] if context == "plain" else VECTORS
    return "\n\n".join(wrap(v) for v in vectors)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, FakeServer]]:
    fakes = {f"b{i}": FakeServer("openai", models=["m"], reply=_batch(c)) for i, c in enumerate(BATCHES)}
    fakes["ids"] = FakeServer("openai", models=MODEL_IDS, reply=_batch("plain")[:20_000])
    fakes["bad"] = FakeServer("openai", models=["m"])
    fakes["bad"].canned = json_response(401, {"error": {"message": ERROR_MESSAGE, "type": "invalid_request_error"}})
    for s in fakes.values():
        s.start()
    try:
        yield fakes
    finally:
        for s in fakes.values():
            s.stop()


def _cells(servers: dict[str, FakeServer]) -> list[str]:
    urls = {name: s.base_url + "/" for name, s in servers.items()}
    setup = (
        "%load_ext jupyter_providers\nimport jupyter_providers as jp\nstore = jp.get_store()\n"
        f"for name, url in {urls!r}.items():\n"
        "    store.add(name, type='openai', base_url=url, api_key='', models=['m'])\n"
        "added = []\n"
        f"for mid in {MODEL_IDS!r}:\n"
        "    try:\n        store.add_models('ids', mid); added.append(mid)\n"
        "    except ValueError:\n        pass\n"
        "print(len(added), 'model ids accepted')"
    )
    chats = [f"%%chat -p b{i}\ngo" for i in range(len(BATCHES))]
    return [
        setup,
        *chats,
        "%%chat -p b3 --format code --new\ngo",
        "%%chat -p b1 --format text --new\ngo",
        "%%chat --compare b2:m,b4:m\ngo",
        "jp.chat('go', provider='b6', model='m')",
        "%%chat -p bad\ngo",
        "%providers verify bad",
        "cw = jp.chat_widget(provider='b0', model='m')\ncw",
        "cw.send('go')\nassert cw.wait(180)\ncw.send('again')\nassert cw.wait(180)",
        "panel = jp.panel()\npanel.select('ids')\npanel.detail.models.fetch()\npanel",
        "panel.select('bad')\npanel.wait(60)",
        "%providers",
        "print('ALL' + '-DONE')",
    ]


def _allowed(url: str, base: str, notebook_path: str) -> bool:
    """The Jupyter server's own API and static files, and the notebook's page; nothing else."""
    if url.startswith(("data:application/font", "data:font", "blob:")) or url == "about:blank":
        return True  # fonts inlined by the front end's CSS; anywidget's module
    if not url.startswith(base + "/"):
        return False
    path = urlsplit(url).path
    own = ("/api/", "/static/", "/lab/api/", "/lab/extensions/", "/lab/static/", "/lab/themes/", "/lsp/",
           "/nbextensions/", "/custom/", "/notebooks/static/", "/kernelspecs/", "/lab/workspaces/")  # fmt: skip
    return path.startswith(own) or path in (notebook_path, "/lab", "/tree", "/favicon.ico") or path.endswith(".woff2")


#: code made from a string: the front end's bundles do it (ajv compiles its schemas), so does Playwright's
#: page.evaluate; output's code would run from the page itself (an inline handler, a javascript: URL)
_STRING_CODE = {"eval", "Function", "setTimeout", "setInterval"}


def _caused_by_output(hit: dict[str, str], notebook_path: str) -> bool:
    if hit["kind"] not in _STRING_CODE:
        return True  # a dialog, __xss(), an element, an attribute or a URL in an output area: always output's
    frames = [line.strip() for line in hit["stack"].splitlines()[1:] if line.strip().startswith("at ")]
    return any(notebook_path in f or "javascript:" in f for f in frames)


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_corpus_is_inert_on_every_surface(
    frontend: str, servers: dict[str, FakeServer], tmp_path: Path, browser: Any
) -> None:
    settings = tmp_path / ".lab-settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)  # every cell in the DOM (no windowing): the observer sees every output
    (settings / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
    with running_lab(tmp_path, {}, SHOTS.parent / f"xss-{frontend}.log", frontend=frontend) as jp:
        nb = tmp_path / "xss.ipynb"
        write_notebook(nb, _cells(servers))
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(HOOK.replace("__OUR_CSS__", json.dumps(CSS)))
        recorded: list[dict[str, str]] = []
        context.expose_binding("__xssReport", lambda _source, h: recorded.append(h))
        page = context.new_page()
        requests: list[str] = []
        navigations: list[str] = []
        dialogs: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("framenavigated", lambda f: navigations.append(f.url))
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            unfinished = _run(page, jp)
            _check(page, jp, frontend, recorded, requests, navigations, dialogs)
            assert not unfinished, unfinished
            _check_visible(page)
        except Exception:
            with contextlib.suppress(Exception):
                page.screenshot(path=str(SHOTS / f"xss-{frontend}-FAILED.png"), timeout=10_000)
            raise
        finally:
            context.close()


def _run(page: Any, jp: Lab) -> str:
    """Run the notebook; what kept it from finishing (a page a vector broke), else ""."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page.goto(jp.notebook_url("xss.ipynb"))
    wait_kernel_idle(page)
    run_all_cells(page)
    try:
        page.locator(".jp-OutputArea-output", has_text="ALL-DONE").wait_for(timeout=150_000)
        wait_kernel_idle(page)
        page.locator(".jp-providers-verdict", has_text="onerror").wait_for(timeout=60_000)
    except PlaywrightTimeout as exc:
        return f"the notebook did not finish: {str(exc).splitlines()[0]}"
    finally:
        page.wait_for_timeout(1500)  # anything that would fire late (onload, timers, lazy fetches)
    return ""


def _check(
    page: Any, jp: Lab, frontend: str, recorded: list[dict[str, str]], requests: list[str], navigations: list[str],
    dialogs: list[str],
) -> None:  # fmt: skip
    notebook_path = urlsplit(jp.notebook_url("xss.ipynb")).path
    (SHOTS.parent / f"xss-{frontend}-hits.json").write_text(json.dumps(recorded, indent=1))
    hits = [f"{h['kind']}: {h['detail']}" for h in recorded if _caused_by_output(h, notebook_path)]
    stray = sorted({u for u in requests if not _allowed(u, jp.url, notebook_path)})
    moved = sorted({u for u in navigations if urlsplit(u).path not in (notebook_path, "/lab/tree/xss.ipynb")})
    report = {"hits": hits, "requests": stray, "navigations": moved, "dialogs": dialogs}
    (SHOTS.parent / f"xss-{frontend}-report.json").write_text(json.dumps(report, indent=1))
    try:
        page.screenshot(path=str(SHOTS / f"xss-{frontend}-end.png"), full_page=True, timeout=20_000)
    except Exception as exc:  # a page a vector hung: the report above says why
        report["hits"].append(f"the page no longer answers: {str(exc).splitlines()[0]}")
    assert report == {"hits": [], "requests": [], "navigations": [], "dialogs": []}, json.dumps(report)[:3000]


def _check_visible(page: Any) -> None:
    """Not vacuous: every surface shows the vectors, as text."""
    page.locator(".jp-providers-chat").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"xss-{'lab' if '/lab/' in page.url else 'notebook'}-chat.png"))
    outputs = page.locator(".jp-OutputArea-output")
    texts = outputs.all_inner_texts()
    assert sum("onerror" in t for t in texts) >= 10
    for css in (".jp-providers-reply", ".jp-providers-compare", ".jp-providers-assistant", "table.jp-providers-table"):
        assert "onerror" in page.locator(css).last.inner_text(), css
    assert "<script>" in page.locator(".jp-providers-reply").first.inner_text()
    verdict = page.locator(".jp-providers-verdict").last.inner_text()
    assert "onerror=__xss('verdict')" in verdict and "<script>" in verdict
    assert page.locator(".jp-providers-model-row, .jp-providers-fetch-box").count() > 0
    assert any("bad key <img src=x onerror" in t for t in texts)  # the %%chat error line
