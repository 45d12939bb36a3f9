"""notebooks/quickstart.ipynb and vllm.ipynb as a new user runs them, in JupyterLab and in Notebook 7.

Each runs in a fresh Jupyter (its own config dir: no provider yet) through Run > Run All Cells, its kernel
starting the local model itself as the notebook says. Then, in the page: no error output, the panel's and the
chat widget's views rendered and working (Verify in the panel, a message sent in the chat widget), the
``%%chat`` replies rendered with their footers; and the saved notebook holds no error and no stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from jupyter_providers.local import _pid_is_server

from .conftest import (
    FRONTENDS,
    SHOTS,
    Lab,
    fill,
    run_all_cells,
    running_lab,
    save,
    shot,
    wait_kernel_idle,
    wait_until,
)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"

#: true once every code cell has run (a number in its prompt, none pending) and the kernel is idle,
#: or (with STOP_AT_ERROR) as soon as an error shows: Run All stops there, the test reports it, not a timeout
_ALL_RAN_JS = """async () => {
  const error = document.querySelector(ERRORS);
  if (error) { window.__errors = (window.__errors || []).concat([error.textContent]); if (STOP_AT_ERROR) return true; }
  const prompts = [...document.querySelectorAll(".jp-Notebook .jp-CodeCell .jp-InputPrompt")];
  if (!prompts.length || !prompts.every((p) => /\\[[0-9]+\\]/.test(p.textContent))) return false;
  const path = decodeURIComponent(location.pathname.replace(/^.*?\\/(lab\\/tree|notebooks)\\//, ""));
  const r = await fetch("/api/sessions", { credentials: "same-origin" });
  const s = r.ok ? (await r.json()).find((x) => x.path === path) : null;
  return !!(s && s.kernel && s.kernel.execution_state === "idle");
}"""
#: notes when the panel's verdict says "Verifying ..." (a new verification started)
_WATCH_VERDICT_JS = """() => {
  window.__sawVerifying = false;
  const el = document.querySelector(".jp-providers-panel .jp-providers-verdict");
  new MutationObserver(() => { window.__sawVerifying ||= /Verifying/.test(el.textContent); })
    .observe(el, { subtree: true, childList: true, characterData: true });
}"""
#: error and stderr outputs, as both front ends render them
ERRORS = (
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
)


@pytest.fixture(params=FRONTENDS)
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lab]:
    """A fresh Jupyter (JupyterLab, then Notebook 7) serving ``tmp_path``; the kernel's local model ends with it."""
    frontend = request.param
    with running_lab(tmp_path, {}, SHOTS.parent / f"notebooks-{frontend}.log", frontend=frontend) as jp:
        try:
            yield jp
        finally:
            state = jp.config_dir / "local-server.json"
            pid = json.loads(state.read_text()).get("pid") if state.exists() else None
            if isinstance(pid, int) and _pid_is_server(pid):  # the kernel's atexit normally did it
                os.kill(pid, signal.SIGTERM)


def run_notebook(page: Any, jp: Lab, name: str) -> Path:
    """Copy notebooks/NAME into the served folder, open it, Run All, wait until every cell ran without error."""
    path = jp.root / name
    shutil.copy(NOTEBOOKS / name, path)
    page.goto(jp.notebook_url(name))
    wait_kernel_idle(page)
    run_all_cells(page)
    js = _ALL_RAN_JS.replace("ERRORS", json.dumps(ERRORS))
    wait_until(page, js.replace("STOP_AT_ERROR", "true"), timeout=300_000, every=1000)
    errors = page.locator(ERRORS)
    if errors.count():
        shot(page, f"FAILED-{name}-{jp.frontend}")
        raise AssertionError(f"{name} in {jp.frontend}: {errors.first.text_content()}")
    wait_until(page, js.replace("STOP_AT_ERROR", "false"), timeout=300_000, every=1000)
    seen = page.evaluate("() => window.__errors || []")
    assert not seen, f"{name} in {jp.frontend} showed an error output for a while: {seen[:3]}"
    return path


def assert_saved_clean(page: Any, path: Path) -> None:
    """Saved: no error or stderr output; each %%chat cell holds its rendered reply and no leftover stream."""
    save(page)
    cells = json.loads(path.read_text())["cells"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    bad = [o for o in outputs if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert not bad, bad
    chats = [c for c in cells if "".join(c["source"]).startswith("%%chat")]
    assert chats
    for cell in chats:
        kinds = [o.get("output_type") for o in cell["outputs"]]
        assert "stream" not in kinds, cell  # the streamed text was replaced by the rendering
        html = "".join("".join(o.get("data", {}).get("text/html", "")) for o in cell["outputs"])
        assert ("jp-providers-compare" if "--compare" in "".join(cell["source"]) else "jp-providers-reply") in html
        assert not any("text/markdown" in o.get("data", {}) for o in cell["outputs"]), cell


def test_quickstart(fresh: Lab, page: Any) -> None:
    path = run_notebook(page, fresh, "quickstart.ipynb")
    tag = f"quickstart-{fresh.frontend}"
    page.locator(".jp-OutputArea-output", has_text="OK - smollm2 answered in").first.wait_for()  # store.verify

    # %%chat: two replies and the --compare cell, each rendered (by the package, as HTML) with its footer
    footers = page.locator(".jp-RenderedHTMLCommon .jp-providers-footer em", has_text="local · smollm2")
    expect(footers).to_have_count(2, timeout=30_000)
    for i in range(2):
        reply = footers.nth(i).locator("xpath=ancestor::*[contains(@class,'jp-RenderedHTMLCommon')][1]")
        # text_content, not inner_text: Notebook 7 skips laying out cells out of view (content-visibility)
        assert len((reply.text_content() or "").replace(footers.nth(i).text_content() or "", "").strip()) > 3
    compare = page.locator(".jp-RenderedHTMLCommon", has_text="local-terse")
    expect(compare.first).to_be_visible()
    columns = page.locator(".jp-providers-compare > div")
    expect(columns).to_have_count(2)
    for i in range(2):  # both answered (one server: the requests queue, neither cuts the other short)
        assert "first token ?" not in (columns.nth(i).text_content() or ""), columns.nth(i).text_content()
    footers.first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{tag}-1-chat-magic.png"))  # the viewport: the notebook scrolls inside it
    compare.first.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{tag}-2-compare.png"))

    # the panel: rendered, live (local-terse added after it was shown), and Verify answers
    panel = page.locator(".jp-providers-panel")
    expect(panel.locator(".jp-providers-row-name", has_text="local-terse")).to_have_count(1)
    expect(panel.locator(".jp-providers-detail-title")).to_contain_text("local")
    panel.locator(".jp-providers-verify").first.scroll_into_view_if_needed()
    page.evaluate(_WATCH_VERDICT_JS)  # it already shows store.verify's verdict: see this click's own one
    panel.locator(".jp-providers-verify").first.click()
    page.wait_for_function(
        "() => window.__sawVerifying && /OK - smollm2 answered in/.test("
        "document.querySelector('.jp-providers-panel .jp-providers-verdict').textContent)",
        timeout=60_000,
    )
    page.screenshot(path=str(SHOTS / f"{tag}-3-panel.png"))

    # the chat widget: a turn typed into it, answered by the kernel's local model
    chat = page.locator(".jp-providers-chat")
    chat.scroll_into_view_if_needed()
    before = chat.locator(".jp-providers-assistant").count()
    fill(page, ".jp-providers-chat-input", "Name one planet.", submit=False)
    chat.locator(".jp-providers-send").first.click()
    expect(chat.locator(".jp-providers-assistant")).to_have_count(before + 1, timeout=60_000)
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-providers-chat .jp-providers-status');"
        " const busy = document.querySelector('.jp-providers-chat .jp-providers-busy');"
        " return s && /total/.test(s.textContent) && !busy }",  # "first token 8.3 s · total 12.7 s · ..."
        timeout=120_000,
    )
    assert (chat.locator(".jp-providers-assistant").last.text_content() or "").strip()
    chat.locator(".jp-providers-status").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"{tag}-4-chat-widget.png"))
    table = page.locator("table.jp-providers-table")  # the last cell: %providers
    expect(table).to_have_count(1)
    assert "/v1/chat/completions" in (table.text_content() or "")
    assert page.locator(ERRORS).count() == 0
    assert_saved_clean(page, path)


def test_vllm_notebook(fresh: Lab, page: Any) -> None:
    path = run_notebook(page, fresh, "vllm.ipynb")
    page.locator(".jp-OutputArea-output", has_text="OK - smollm2 answered in").first.wait_for()
    footer = page.locator(".jp-RenderedHTMLCommon .jp-providers-footer em", has_text="vLLM · smollm2")
    expect(footer).to_have_count(1, timeout=30_000)
    footer.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / f"vllm-{fresh.frontend}.png"))
    assert_saved_clean(page, path)
