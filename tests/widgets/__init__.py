"""Widget tests, driven without a browser: ``.click()``, setting ``.value``, ``wait()``."""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from typing import Any

from ipywidgets.widgets.widget import _instances  # type: ignore[import-untyped]

from jupyter_providers.widgets._common import descendants


def states_of(widget: Any) -> str:
    """The synced state of ``widget`` and everything inside it, as the front end (and a saved notebook) gets it."""
    return json.dumps([x.get_state() for x in descendants(widget)], default=str)


def all_widget_states() -> str:
    """The state of every widget alive in this process (layouts and styles included)."""
    return json.dumps([x.get_state() for x in list(_instances.values())], default=str)


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Bounded polling for what another thread does."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)


def text(value: str) -> str:
    """What an HTML widget's value reads as: tags dropped (``<br>`` is a new line), entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", "", value.replace("<br>", "\n")))
