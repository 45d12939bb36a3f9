"""The map's Stop button in a real kernel: a click reaches a map run off the main thread, and keeps what is done.

ipykernel reads no widget message while a plain cell runs; while an async cell awaits it does. So a notebook
stops ``await asyncio.to_thread(chat_map, ...)`` with the bar's Stop button (a plain cell: with the interrupt).
"""

from __future__ import annotations

import threading
import time
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
MAP = (
    "out = await asyncio.to_thread(chat_map, [f'p{i}' for i in range(400)], provider='F', concurrency=2, store=st)\n"
    "print(sum(r.ok for r in out), sorted({r.error for r in out if r.error}))"
)


def test_the_stop_button_stops_a_map_awaited_in_a_cell() -> None:
    manager = pytest.importorskip("jupyter_client.manager")
    km, kc = manager.start_new_kernel(kernel_name="python3")
    try:

        def run(code: str, on: Any = None) -> list[str]:
            mid, out = kc.execute(code), []
            while True:
                m = kc.get_iopub_msg(timeout=60)
                if m["parent_header"].get("msg_id") != mid:
                    continue
                if on is not None:
                    on(m)
                if m["msg_type"] == "stream":
                    out.append(m["content"]["text"])
                assert m["msg_type"] != "error", m["content"]
                if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                    return out

        run(SETUP)
        buttons: list[str] = []
        clicked: list[float] = []

        def on(m: dict[str, Any]) -> None:
            if m["msg_type"] == "comm_open" and m["content"]["data"]["state"].get("_model_name") == "ButtonModel":
                buttons.append(m["content"]["comm_id"])

        def click_soon() -> None:  # as the front end sends a click, a second after the bar appeared
            deadline = time.monotonic() + 30
            while not buttons and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(1.0)
            if buttons:
                content = {"comm_id": buttons[0], "data": {"method": "custom", "content": {"event": "click"}}}
                kc.shell_channel.send(kc.session.msg("comm_msg", content))
                clicked.append(time.monotonic())

        threading.Thread(target=click_soon, daemon=True).start()
        started = time.monotonic()
        printed = "".join(run(MAP, on))
        took = time.monotonic() - started
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert clicked, "no Stop button was shown"
    answered = int(printed.split()[0])
    assert 0 < answered < 400 and "['not run (stopped)']" in printed, printed
    assert took < 400 * 0.05 / 2  # it ended at the click, not after every row
