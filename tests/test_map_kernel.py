"""The map's Stop button in a real kernel: a click stops a map run by a plain cell or awaited off the main thread,
and keeps what is done.

ipykernel reads the main shell's messages one at a time, so while a plain cell runs a click would wait for its
end: the bar has the Stop button's messages handled on a kernel subshell of its own (ipykernel 7.4). The cells
queued behind the map (Run All) still run after it, in order, and its output stays in its cell. While an async
cell awaits the kernel reads clicks anyway: ``await asyncio.to_thread(chat_map, ...)`` needs no subshell.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent

SETUP = f"""
import sys, tempfile, asyncio
sys.path.insert(0, {str(ROOT)!r})
from tests.fakes.server import FakeServer
from jupyter_providers import ProviderStore, chat_map
st = ProviderStore(tempfile.mkdtemp(), admin_paths=[])
srv = FakeServer('openai', models=['m']).start()
srv.delay = 0.05
st.add('F', type='openai', base_url=srv.base_url, api_key='sk-kernel-map-9', models=['m'])
"""
PROMPTS = "[f'p{i}' for i in range(400)]"
AWAITED = f"out = await asyncio.to_thread(chat_map, {PROMPTS}, provider='F', concurrency=2, store=st)\n"
PLAIN = f"out = chat_map({PROMPTS}, provider='F', concurrency=2, store=st)\n"
PRINT = "print(sum(r.ok for r in out), sorted({r.error for r in out if r.error}))"
#: what a map's click must not leave behind: the subshell that read it (ended just after the map)
SUBSHELLS = (
    "import time; time.sleep(0.5)\n"
    "print('subshells', get_ipython().kernel.shell_channel_thread.manager.list_subshell())"
)

Msg = dict[str, Any]


class Kernel:
    """A real ipykernel, driven as a front end does: execute requests queued at once, comm messages sent."""

    def __init__(self, km: Any, kc: Any) -> None:
        self.km, self.kc = km, kc

    def run(self, *cells: str, on: Callable[[Msg], None] | None = None) -> list[list[Msg]]:
        """Send every cell at once (as Run All does); each cell's messages, in the order the cells went idle."""
        ids = [self.kc.execute(code) for code in cells]
        seen: dict[str, list[Msg]] = {i: [] for i in ids}
        idle: list[str] = []
        while len(idle) < len(ids):
            m = self.kc.get_iopub_msg(timeout=60)
            mid = m["parent_header"].get("msg_id")
            if mid not in seen:
                continue
            if on is not None:
                on(m)
            seen[mid].append(m)
            assert m["msg_type"] != "error", m["content"]
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                idle.append(mid)
        assert idle == ids, "the cells ended out of order"
        return [seen[i] for i in ids]

    def click_soon(self, model: str = "ButtonModel", after_s: float = 1.0) -> tuple[Callable[[Msg], None], list[float]]:
        """What to pass as ``on``, and when the click went: a click on the first button shown, ``after_s`` later."""
        buttons: list[str] = []
        clicked: list[float] = []

        def on(m: Msg) -> None:
            if m["msg_type"] == "comm_open" and m["content"]["data"]["state"].get("_model_name") == model:
                buttons.append(m["content"]["comm_id"])

        def click() -> None:  # as the front end sends a click
            deadline = time.monotonic() + 30
            while not buttons and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(after_s)
            if buttons:
                content = {"comm_id": buttons[0], "data": {"method": "custom", "content": {"event": "click"}}}
                self.kc.shell_channel.send(self.kc.session.msg("comm_msg", content))
                clicked.append(time.monotonic())

        threading.Thread(target=click, daemon=True).start()
        return on, clicked


def text(msgs: list[Msg]) -> str:
    return "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")


@pytest.fixture(scope="module")
def kernel() -> Iterator[Kernel]:
    manager = pytest.importorskip("jupyter_client.manager")
    km, kc = manager.start_new_kernel(kernel_name="python3")
    try:
        k = Kernel(km, kc)
        k.run(SETUP)
        yield k
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def stopped_early(printed: str) -> None:
    """The map printed the rows answered (some, not all) and the others' error: not run."""
    answered = int(printed.split()[0])
    assert 0 < answered < 400 and "['not run (stopped)']" in printed, printed


def test_the_stop_button_stops_a_map_run_by_a_plain_cell(kernel: Kernel) -> None:
    """The click reaches the map while the cell runs; the next cells, queued already, run after it in order."""
    on, clicked = kernel.click_soon()
    started = time.monotonic()
    cell, after, subshells = kernel.run(PLAIN + PRINT, "print('next', len(out))", SUBSHELLS, on=on)
    took = time.monotonic() - started
    assert clicked, "no Stop button was shown"
    stopped_early(text(cell))
    assert took < 400 * 0.05 / 2  # it ended at the click, not after every row
    assert text(after) == "next 400\n"  # run after the map, with its result
    assert text(subshells) == "subshells []\n"
    # the bar lived and ended in its cell: shown, then replaced by the summary of the stop
    kinds = [m["msg_type"] for m in cell]
    assert "display_data" in kinds, kinds
    final = [m for m in cell if m["msg_type"] == "update_display_data"][-1]["content"]["data"]["text/plain"]
    assert final.startswith("chat_map: 400 rows") and "not answered (stopped)" in final, final
    [count] = [m["content"]["execution_count"] for m in cell if m["msg_type"] == "execute_input"]
    [then] = [m["content"]["execution_count"] for m in after if m["msg_type"] == "execute_input"]
    assert then == count + 1


def test_the_stop_button_stops_a_map_awaited_in_a_cell(kernel: Kernel) -> None:
    on, clicked = kernel.click_soon()
    started = time.monotonic()
    [cell] = kernel.run(AWAITED + PRINT, on=on)
    took = time.monotonic() - started
    assert clicked, "no Stop button was shown"
    stopped_early(text(cell))
    assert took < 400 * 0.05 / 2


def test_the_interrupt_still_stops_a_map_run_by_a_plain_cell(kernel: Kernel) -> None:
    """Ctrl-C (the notebook's interrupt) returns at once with what is done, the Stop button shown or not."""
    shown: list[float] = []

    def interrupt_soon(m: Msg) -> None:
        if m["msg_type"] == "display_data" and not shown:
            shown.append(time.monotonic())
            threading.Timer(1.0, kernel.km.interrupt_kernel).start()

    cell, subshells = kernel.run(PLAIN + PRINT, SUBSHELLS, on=interrupt_soon)
    assert shown and time.monotonic() - shown[0] < 400 * 0.05 / 2
    printed = text(cell)
    assert 0 < int(printed.split()[0]) < 400 and "'not run (stopped)'" in printed, printed
    assert text(subshells) == "subshells []\n"


def test_without_a_click_a_plain_cell_maps_every_row(kernel: Kernel) -> None:
    """The subshell changes nothing else: the map ends on its own, and so does the subshell."""
    cell, subshells = kernel.run("out = chat_map(['a', 'b', 'c'], provider='F', store=st)\n" + PRINT, SUBSHELLS)
    assert text(cell) == "3 []\n" and text(subshells) == "subshells []\n"
