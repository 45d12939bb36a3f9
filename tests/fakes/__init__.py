"""Protocol-faithful loopback fake servers for the provider adapters' tests."""

from __future__ import annotations

from .server import FAULTS, FakeServer, RecordedRequest

__all__ = ["FAULTS", "FakeServer", "RecordedRequest"]
