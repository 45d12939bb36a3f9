"""The real vLLM servers, once for this directory (every module here shares them; tests/conftest.py runs the
directory whole on one worker): one without a key and one with a key, started at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from . import launch

#: the key the keyed server demands
VLLM_KEY = "sk-vllm-real-6b0e2f94d1"


@dataclass(frozen=True)
class Servers:
    open: launch.VLLMServer  # no key, as the seed's recipe starts it
    keyed: launch.VLLMServer  # --api-key VLLM_KEY


@pytest.fixture(scope="package")
def vllm() -> Iterator[Servers]:
    """Both servers on free ports, logs in test-output/; skipped (with the reason) where vLLM cannot be
    installed, a failure when ``JP_REQUIRE_VLLM=1`` (the Makefile sets it once vLLM is installed)."""
    reason = launch.unavailable()
    if reason:
        if launch.required():
            pytest.fail(f"JP_REQUIRE_VLLM=1 but {reason}")
        pytest.skip(reason)
    with launch.running(("vllm-open", ""), ("vllm-keyed", VLLM_KEY)) as (open_, keyed):
        yield Servers(open_, keyed)
