"""%%chat in a real kernel, in a real JupyterLab, in a real browser, answered by the real local model."""

from __future__ import annotations

import json
from typing import Any

from ..conftest import LOCAL_KEY
from .conftest import Lab, run_all_cells, save, shot, wait_kernel_idle, write_notebook


def test_chat_magic_streams_and_renders(lab: Lab, page: Any) -> None:
    nb = lab.root / "magic.ipynb"
    write_notebook(
        nb,
        [
            "%load_ext jupyter_providers",
            "import os\nfrom jupyter_providers import get_store\nstore = get_store()\n"
            "store.add('vLLM', type='openai', base_url=os.environ['LOCAL_MODEL_URL'] + '/', "
            "api_key=os.environ['LOCAL_MODEL_KEY'], models=['smollm2'])",
            "%providers",
            "%%chat -p vLLM --max-tokens 24\nWhat is a Jupyter kernel? Answer in one sentence.",
            "%%chat -p vLLM --max-tokens 24\nAnd in French?",
        ],
    )
    page.goto(lab.notebook_url("magic.ipynb"))
    wait_kernel_idle(page)
    run_all_cells(page)
    footers = page.locator(".jp-RenderedHTMLCommon .jp-providers-footer em", has_text="vLLM · smollm2")
    try:
        footers.nth(1).wait_for(timeout=120_000)
    except Exception:
        shot(page, "magic-chat-FAILED")
        raise
    assert footers.count() == 2
    table = page.locator("table.jp-providers-table")
    assert table.count() == 1 and "/v1/chat/completions" in table.inner_text()
    shot(page, "magic-chat")
    save(page)
    text = nb.read_text()
    assert LOCAL_KEY not in text
    outputs = [o for c in json.loads(text)["cells"] for o in c.get("outputs", [])]
    assert any("jp-providers-reply" in "".join(o.get("data", {}).get("text/html", "")) for o in outputs)
    assert not any("text/markdown" in o.get("data", {}) for o in outputs)  # rendered by the package, not the front end
    # the streamed stdout was replaced by the rendered reply: no duplicate stream output remains
    assert not any(o.get("output_type") == "stream" and o.get("name") == "stdout" for o in outputs)
