"""The provider panel and the chat widget in a real JupyterLab, driven through Chromium as a person would:
add a provider with the form, type its address and key, add a model, verify, chat, save - and no key anywhere."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect

from ..conftest import LOCAL_KEY
from .conftest import SHOTS, Lab, fill, run_all_cells, save, shot, wait_kernel_idle, write_notebook


def test_panel_and_chat_widget(lab: Lab, page: Any) -> None:
    nb = lab.root / "widgets.ipynb"
    write_notebook(nb, ["import jupyter_providers as jp\njp.panel()", "jp.chat_widget()"])
    page.goto(lab.notebook_url("widgets.ipynb"))
    wait_kernel_idle(page)
    run_all_cells(page)
    panel = page.locator(".jp-providers-panel")
    panel.wait_for(timeout=60_000)
    shot(page, "widgets-0-empty")

    # + Add: the form refuses an empty name, then adds "vLLM" of type OpenAI
    panel.locator(".jp-providers-add button, button.jp-providers-add").first.click()
    panel.locator(".jp-providers-add-confirm").first.click()
    panel.locator(".jp-providers-add-error", has_text="name:").wait_for(timeout=30_000)  # the kernel answers
    fill(page, ".jp-providers-add-name", "vLLM", submit=False)
    panel.locator(".jp-providers-add-confirm").first.click()
    page.locator(".jp-providers-detail-title", has_text="vLLM").wait_for(timeout=30_000)

    # address with its live preview, the key (password field, cleared once stored), a model
    fill(page, ".jp-providers-address", lab.model_url)
    page.locator(".jp-providers-preview", has_text="/v1/chat/completions").wait_for(timeout=30_000)
    fill(page, ".jp-providers-key", LOCAL_KEY)
    page.locator(".jp-providers-key-status", has_text="entered").wait_for(timeout=30_000)
    expect(page.locator(".jp-providers-key input")).to_have_value("", timeout=30_000)  # cleared once stored
    fill(page, ".jp-providers-model-input", "smollm2", submit=False)
    panel.locator(".jp-providers-model-add").first.click()
    panel.locator(".jp-providers-model-row", has_text="smollm2").wait_for(timeout=30_000)

    # Verify: a precise verdict with the latency
    panel.locator(".jp-providers-verify").first.click()
    verdict = panel.locator(".jp-providers-verdict", has_text="OK - smollm2 answered in")
    verdict.wait_for(timeout=60_000)
    shot(page, "widgets-1-verified")

    # the chat widget, displayed before the provider existed, now offers it; chat with the local model
    chat = page.locator(".jp-providers-chat")
    chat.locator(".jp-providers-chat-provider select").select_option("vLLM")
    fill(page, ".jp-providers-chat-input", "What is a Jupyter notebook? One sentence.", submit=False)
    chat.locator(".jp-providers-send").first.click()
    reply = chat.locator(".jp-providers-assistant")
    reply.first.wait_for(timeout=60_000)
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-providers-chat .jp-providers-status');"
        " const busy = document.querySelector('.jp-providers-chat .jp-providers-busy');"
        " return s && /total/.test(s.textContent) && !busy }",  # "first token 8.3 s · total 12.7 s · ..."
        timeout=120_000,
    )
    assert reply.last.inner_text().strip()
    page.locator(".jp-providers-chat .jp-providers-status").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "widgets-2-chat.png"))  # the viewport: the chat, scrolled into view

    save(page)
    text = nb.read_text()
    assert LOCAL_KEY not in text
    meta = json.loads(text)["metadata"]
    assert meta.get("widgets"), "the widget state was saved with the notebook"
    assert LOCAL_KEY not in json.dumps(meta)


def test_chat_widget_shows_the_reply_while_it_streams_and_stops(lab: Lab, page: Any) -> None:
    """The live text (an anywidget the front end appends to) shows the pieces as they come; Stop keeps them."""
    from ..fakes import FakeServer

    with FakeServer("openai", models=["m"], reply="😀😀 <b>fine</b> and more") as srv:
        srv.stall_seconds = 60  # the first two pieces, then nothing until Stop
        nb = lab.root / "live.ipynb"
        setup = (
            "import jupyter_providers as jp\n"
            f"jp.get_store().add('Slow', type='openai', base_url='{srv.base_url}/_fault/stall/', api_key='',"
            " models=['m'])\n"
            "jp.chat_widget(provider='Slow')"
        )
        write_notebook(nb, [setup])
        page.goto(lab.notebook_url("live.ipynb"))
        wait_kernel_idle(page)
        run_all_cells(page)
        chat = page.locator(".jp-providers-chat")
        chat.wait_for(timeout=60_000)
        fill(page, ".jp-providers-chat-input", "Say hello", submit=False)
        chat.locator(".jp-providers-send").first.click()
        live = chat.locator(".jp-providers-live")
        # the two pieces sent before the stall, appended in order; the second shows although nothing follows it
        # (and after two 4-byte characters: offsets count characters, not UTF-16 units); model text as text
        expect(live).to_have_text("😀😀 <b>fine</b> ", timeout=60_000)
        expect(live.locator("b")).to_have_count(0)
        shot(page, "widgets-3-live")
        chat.locator(".jp-providers-stop").first.click()
        bubble = chat.locator(".jp-providers-assistant").last
        expect(bubble).to_contain_text("(stopped)", timeout=30_000)
        expect(bubble).to_contain_text("😀😀 <b>fine</b>")  # the final rendering escapes it too
        expect(chat.locator(".jp-providers-live")).to_have_count(0)  # replaced by the rendered reply
