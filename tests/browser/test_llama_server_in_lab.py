"""A person, in a real JupyterLab (Chromium), uses the panel and the chat widget against llama.cpp's own C++
``llama-server`` (tests/llamacpp/conftest.py: SmolLM2 as ``smollm2``, behind a key).

The provider is added from Python with the key read from a file (nobody types a key into a notebook they share);
the panel's **Verify** gives its verdict and shows the exact address called; the chat widget answers, then an
image picked with **Attach** is refused by the text-only model in one line, with the conversation before it kept;
the saved notebook (widget state included) and the page hold the key nowhere.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from ..llamacpp.conftest import ALIAS, START_TIMEOUT, LlamaServer
from ..llamacpp.conftest import llama_cpp_server as llama_cpp_server  # the session fixture, skipped where unbuilt
from .conftest import (
    SHOTS,
    Lab,
    fill,
    forget_providers,
    run_all_cells,
    running_lab,
    save,
    shot,
    wait_kernel_idle,
    write_notebook,
)

pytestmark = pytest.mark.timeout(START_TIMEOUT + 420)
NAME = "llama-server"
SECRET_FILE = "llama-key.txt"


@pytest.fixture(scope="module")
def lab_ls(tmp_path_factory: pytest.TempPathFactory, llama_cpp_server: LlamaServer) -> Iterator[Lab]:
    """A JupyterLab of its own (an empty store); the key sits in a 0600 file beside the notebook, nowhere else."""
    root = tmp_path_factory.mktemp("llama-server-lab")
    key_file = root / SECRET_FILE
    key_file.write_text(llama_cpp_server.key + "\n")
    key_file.chmod(0o600)
    with running_lab(root, {}, SHOTS.parent / "jupyterlab-llama-server.log") as lab:
        yield lab


def _png(path: Path) -> Path:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (255, 0, 0)).save(buf, "PNG")
    path.write_bytes(buf.getvalue())
    return path


def _wait_reply_done(page: Any) -> None:
    """The chat widget is idle again: no busy status, Send enabled."""
    page.wait_for_function(
        "() => { const c = document.querySelector('.jp-providers-chat');"
        " const send = c && c.querySelector('.jp-providers-send');"
        " return send && !send.disabled && !c.querySelector('.jp-providers-status .jp-providers-busy') }",
        timeout=120_000,
    )


def test_panel_verify_chat_and_a_refused_image(
    lab_ls: Lab, llama_cpp_server: LlamaServer, page: Any, tmp_path: Path
) -> None:
    server, key = llama_cpp_server, llama_cpp_server.key
    forget_providers(lab_ls)  # a rerun adds the provider again to an empty store
    nb = lab_ls.root / "llama-server.ipynb"
    setup = (
        "import jupyter_providers as jp\nfrom pathlib import Path\n"
        f"jp.get_store().add({NAME!r}, type='openai', base_url={server.url!r}, models=[{ALIAS!r}],\n"
        f"                   api_key=Path({SECRET_FILE!r}).read_text().strip())  # the key is in a file\n"
        "jp.panel()"
    )
    write_notebook(nb, [setup, f"jp.chat_widget(provider={NAME!r})"])
    page.goto(lab_ls.notebook_url(nb.name))
    wait_kernel_idle(page)
    run_all_cells(page)

    # 1. the panel: the provider added from Python is selected; Verify; the exact address called
    panel = page.locator(".jp-providers-panel")
    panel.wait_for(timeout=60_000)
    page.locator(".jp-providers-detail-title", has_text=NAME).wait_for(timeout=30_000)
    panel.locator(".jp-providers-verify").first.click()
    verdict = panel.locator(".jp-providers-verdict")
    expect(verdict).to_contain_text(f"OK - {ALIAS} answered in", timeout=120_000)
    expect(panel.locator(".jp-providers-preview code")).to_have_text(f"{server.url}/v1/chat/completions")
    verdict.scroll_into_view_if_needed()
    shot(page, "llama-server-1-verified")

    # 2. the chat widget: a question and its reply
    chat = page.locator(".jp-providers-chat")
    chat.wait_for(timeout=60_000)
    fill(page, ".jp-providers-chat-input", "What is a Jupyter notebook? One sentence.", submit=False)
    chat.locator(".jp-providers-send").first.click()
    reply = chat.locator(".jp-providers-assistant")
    reply.first.wait_for(timeout=60_000)
    expect(chat.locator(".jp-providers-status")).to_contain_text("total", timeout=120_000)
    _wait_reply_done(page)
    first_reply = reply.last.inner_text().strip()
    assert first_reply and first_reply != "…"
    chat.locator(".jp-providers-status").scroll_into_view_if_needed()
    shot(page, "llama-server-2-chat")

    # an image picked with Attach, then Send: the text-only model refuses it. The FileUpload's file input is never
    # in the page (ipywidgets keeps it detached): the file dialog its click opens is where the file is picked
    with page.expect_file_chooser(timeout=30_000) as dialog:
        chat.locator(".jp-providers-attach").first.click()
    dialog.value.set_files(str(_png(tmp_path / "red.png")))
    expect(chat.locator(".jp-providers-attach")).to_contain_text("(1)", timeout=30_000)
    fill(page, ".jp-providers-chat-input", "What colour is this picture?", submit=False)
    chat.locator(".jp-providers-send").first.click()
    status = chat.locator(".jp-providers-status")
    expect(status).to_contain_text("image input is not supported", timeout=120_000)
    _wait_reply_done(page)
    chat.locator(".jp-providers-status").scroll_into_view_if_needed()
    shot(page, "llama-server-3-image-refused")
    error = status.locator(".jp-providers-error")
    expect(error).to_have_count(1)
    line = error.inner_text()
    assert "image input is not supported" in line and "\n" not in line.strip(), line
    assert "try again" not in line, line  # a refusal, not a server fault
    assert status.locator("br, pre").count() == 0
    output = "\n".join(page.locator(".jp-OutputArea").all_inner_texts())
    assert "Traceback" not in output and "ProviderError" not in output, output
    # nothing lost: the first question and its reply are still shown, the refused question stays typed (nothing
    # was sent: its bubble went), and the image refused is no longer picked (so Send now sends the text alone)
    expect(chat.locator(".jp-providers-user")).to_have_count(1)
    expect(chat.locator(".jp-providers-user")).to_contain_text("What is a Jupyter notebook? One sentence.")
    expect(reply).to_have_count(1)
    assert reply.first.inner_text().strip() == first_reply
    expect(chat.locator(".jp-providers-chat-input textarea")).to_have_value("What colour is this picture?")
    expect(chat.locator(".jp-providers-attach")).to_have_text(re.compile(r"^\s*Attach( \(0\))?\s*$"))

    # 3. saved with its widget state: the key is in no file of the notebook and not in the page
    save(page)
    text = nb.read_text()
    assert json.loads(text)["metadata"].get("widgets"), "the widget state was saved with the notebook"
    assert key not in text
    assert key not in page.content()
    assert "What is a Jupyter notebook? One sentence." in text  # the chat's state was saved: the check means it
