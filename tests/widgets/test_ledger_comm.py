"""Recording a reply's origin outside a kernel leaves comm alone: widgets made before can still close.

(ipykernel.connect.get_connection_file imports ipykernel.kernelapp, whose ipkernel swaps comm's manager; a widget
registered with the old one then raised KeyError on close, in the chat widget's thread at each reply's end.)"""

from __future__ import annotations

import os
import sys

import ipywidgets as w  # type: ignore[import-untyped]
import pytest

from jupyter_providers import _ledger


def test_finding_the_origin_outside_a_kernel_keeps_widgets_closable() -> None:
    if "ipykernel.kernelapp" in sys.modules:
        pytest.skip("ipykernel.kernelapp was already imported by another test in this process")
    bubble = w.HTML("x")
    assert _ledger._find_origin(os.getpid())[1] == f"pid {os.getpid()}"
    assert "ipykernel.kernelapp" not in sys.modules
    bubble.close()  # raised KeyError when the origin lookup had swapped comm's manager
