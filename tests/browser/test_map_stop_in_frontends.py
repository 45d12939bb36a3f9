"""``chat_map`` run by a plain cell in JupyterLab and in Notebook 7 (Chromium): a person clicks the bar's Stop button
while the cell runs; the map ends there, keeps the rows done, and the next cell of the Run All runs after it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .conftest import Lab, run_all_cells, shot, write_notebook

REPO = Path(__file__).resolve().parents[2]
ROWS = 300  # 0.1 s each, two at a time: 15 s when nobody stops it


def test_the_stop_button_stops_a_map_run_by_a_plain_cell(jupyter: Lab, page: Any) -> None:
    write_notebook(
        jupyter.root / "map_stop.ipynb",
        [
            f"import sys\nsys.path.insert(0, {str(REPO)!r})\n"
            "from tests.fakes import FakeServer\nfrom jupyter_providers import chat_map, get_store\n"
            "srv = FakeServer('openai', models=['m']).start(); srv.delay = 0.1\n"
            "get_store().add('F', type='openai', base_url=srv.base_url, api_key='', models=['m'])",
            f"out = chat_map([f'p{{i}}' for i in range({ROWS})], provider='F', concurrency=2)\n"
            "print('answered', sum(r.ok for r in out), 'of', len(out))",
            "print('next cell ran after', len(out), 'rows'); srv.stop()",
        ],
    )
    page.goto(jupyter.notebook_url("map_stop.ipynb"))
    run_all_cells(page)
    stop = page.locator(".jp-providers-map button", has_text="Stop").first
    try:
        stop.wait_for(state="visible", timeout=120_000)
        page.wait_for_function(  # some rows done first: the bar's label counts them
            "() => /^[1-9][0-9]*\\//.test(document.querySelector('.jp-providers-map')?.textContent.trim() ?? '')",
            timeout=30_000,
        )
        shot(page, f"map-stop-running-{jupyter.frontend}")
        stop.click()
        done = page.locator(".jp-providers-map-done").first
        done.wait_for(timeout=30_000)
        page.locator(".jp-OutputArea-output", has_text="next cell ran after").first.wait_for(timeout=30_000)
    except Exception:
        shot(page, f"map-stop-FAILED-{jupyter.frontend}")
        raise
    shot(page, f"map-stop-stopped-{jupyter.frontend}")
    summary = done.inner_text()
    assert summary.startswith(f"chat_map: {ROWS} rows") and "not answered (stopped)" in summary, summary
    text = page.locator(".jp-Notebook").inner_text()
    found = re.search(r"answered (\d+) of (\d+)", text)  # what the cell printed: the rows done are kept
    assert found and 0 < int(found[1]) < ROWS and int(found[2]) == ROWS, text
    assert f"next cell ran after {ROWS} rows" in text
