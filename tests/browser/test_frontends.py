"""The browser fixtures drive both front ends: a notebook runs through the menu in JupyterLab and in Notebook 7."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import FRONTENDS, SHOTS, run_all_cells, running_lab, save, shot, wait_kernel_idle, write_notebook


@pytest.mark.parametrize("frontend", FRONTENDS)
def test_a_notebook_runs_and_saves_in_each_front_end(frontend: str, tmp_path: Path, page: Any) -> None:
    with running_lab(tmp_path, {}, SHOTS.parent / f"frontends-{frontend}.log", frontend=frontend) as jp:
        nb = tmp_path / "hello.ipynb"
        write_notebook(nb, ["print(6 * 7)", "from IPython.display import HTML\nHTML('<b class=answer>done</b>')"])
        page.goto(jp.notebook_url(nb.name))
        wait_kernel_idle(page)
        run_all_cells(page)
        page.locator(".jp-OutputArea-output", has_text="42").first.wait_for(timeout=60_000)
        page.locator(".jp-OutputArea-output b.answer", has_text="done").wait_for(timeout=60_000)
        shot(page, f"frontends-{frontend}")
        save(page)
        assert '"42\\n"' in nb.read_text()  # the outputs were saved with the notebook
