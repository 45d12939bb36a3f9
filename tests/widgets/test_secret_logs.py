"""A key typed in the panel stays out of the kernel's logs, even at DEBUG (``comm`` and ipykernel log every message)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from jupyter_providers import ProviderStore
from jupyter_providers.widgets import ProvidersPanel

KEY = "sk-typed-into-the-panel-4Rw9"


@pytest.fixture
def debug_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged, at DEBUG, formatted as a log file would have it."""
    with caplog.at_level(logging.DEBUG):
        yield caplog


def front_end_sends(widget: object, state: dict[str, str]) -> None:
    """What the kernel receives when the front end changes a field: a comm message, through ``comm``."""
    comm = widget.comm  # type: ignore[attr-defined]
    msg = {
        "content": {"comm_id": comm.comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}},
        "buffers": [],
    }
    logging.getLogger("IPKernelApp").debug("   Content: %s\n   --->\n   ", msg["content"])  # as ipykernel does
    logging.getLogger("IPKernelApp").debug("%s: %s", "comm_msg", msg)
    comm.handle_msg(msg)  # logs it at DEBUG, then hands it to the widget


def test_a_typed_key_is_not_logged(store: ProviderStore, debug_log: pytest.LogCaptureFixture) -> None:
    store.add("P", base_url="http://127.0.0.1:9", models=["m"])
    panel = ProvidersPanel(store=store, selected="P")
    try:
        front_end_sends(panel.detail.key, {"value": KEY})
        front_end_sends(panel.detail.headers, {"value": f"X-Secret: {KEY}"})
        front_end_sends(panel.detail.address, {"value": "http://127.0.0.1:8/"})  # an ordinary field: logged as is
    finally:
        panel.close()
    assert store["P"].api_key == KEY and store["P"].headers == {"X-Secret": KEY}  # the messages did arrive
    text = "\n".join(r.getMessage() for r in debug_log.records)
    assert KEY not in text
    assert text.count("a message of a secret field: not logged") == 6  # comm's and ipykernel's, for both fields
    assert "http://127.0.0.1:8/" in text
