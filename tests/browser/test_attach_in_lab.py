"""``%%chat --attach`` in a real kernel and JupyterLab in Chromium: the thumbnail under the reply is the image sent,
decoded by the browser from our own ``data:`` URI (a fake OpenAI server in the kernel takes the image; the local
model reads text only)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .conftest import Lab, run_all_cells, save, shot, write_notebook

REPO = Path(__file__).resolve().parents[2]


def test_attach_shows_the_thumbnail_of_what_was_sent(lab: Lab, page: Any) -> None:
    nb = lab.root / "attach.ipynb"
    write_notebook(
        nb,
        [
            f"import sys\nsys.path.insert(0, {str(REPO)!r})\n%load_ext jupyter_providers",
            "import hashlib, io\nfrom PIL import Image\nfrom tests.fakes import FakeServer\n"
            "from jupyter_providers import get_store\n"
            "srv = FakeServer('openai', models=['vision'], reply='A red square.').start()\n"
            "get_store().add('Fake', type='openai', base_url=srv.base_url, api_key='', models=['vision'])\n"
            "buf = io.BytesIO(); Image.new('RGB', (37, 23), (255, 0, 0)).save(buf, 'PNG'); pic = buf.getvalue()",
            "%%chat -p Fake --attach pic\nWhat is this?",
            "sent = srv.requests[-1].body['messages'][-1]['content'][1]['image_url']['url']; srv.stop()\n"
            "hashlib.sha256(sent.encode()).hexdigest()",
        ],
    )
    page.goto(lab.notebook_url("attach.ipynb"))
    run_all_cells(page)
    img = page.locator(".jp-OutputArea .jp-providers-attachments img").first
    try:
        img.wait_for(timeout=120_000)
        page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=img.element_handle(), timeout=30_000)
    except Exception:
        shot(page, "attach-FAILED")
        raise
    size = img.evaluate("el => [el.naturalWidth, el.naturalHeight, el.getAttribute('src').slice(0, 22)]")
    assert size == [37, 23, "data:image/png;base64,"]  # the browser decoded the very PNG made in the kernel
    assert "pic: PNG 37x23" in page.locator(".jp-providers-attachments").first.inner_text()
    page.locator(".jp-OutputArea-output", has_text="A red square.").first.wait_for(timeout=30_000)
    shot(page, "attach-thumbnail")
    save(page)
    cells = json.loads(nb.read_text())["cells"]
    shown = "".join("".join(o.get("data", {}).get("text/html", "")) for o in cells[2].get("outputs", []))
    sent = img.get_attribute("src")
    assert sent and sent in shown  # saved in the notebook as shown
    digest = "".join("".join(o.get("data", {}).get("text/plain", "")) for o in cells[3].get("outputs", []))
    assert digest.strip("'\n ") == hashlib.sha256(sent.encode()).hexdigest()  # the request's image is the one shown
