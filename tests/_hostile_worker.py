"""The process tests/test_hostile.py measures: it runs one (scenario, surface) cell per line of stdin.

Each line is a JSON object ``{"base", "type", "scenario", "surface", "deadline"}``; each answer one JSON line
with what the user would read, the time the call took and its peak extra memory. Memory is the
kernel's own count: the peak resident size is reset before each cell (``/proc/self/clear_refs``), so
``VmHWM - VmRSS`` is what the cell added at its worst, C allocations (zlib, sockets) included.
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import ProviderError, ProviderStore, chat
from jupyter_providers import client as client_module
from jupyter_providers.magics import ChatMagics

MODEL = "model-a"


def _status(field: str) -> int:
    """A ``/proc/self/status`` size, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise LookupError(field)


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _error(exc: ProviderError, partial: str = "") -> dict[str, Any]:
    return {"kind": exc.kind, "error": type(exc).__name__, "message": str(exc), "partial": len(partial)}


def run_chat(store: ProviderStore, deadline: float) -> dict[str, Any]:
    try:
        reply = chat("hi", provider="H", model=MODEL, store=store, timeout=deadline)
    except ProviderError as exc:
        return _error(exc)
    return {"kind": "ok", "text": reply.text[:200], "chars": len(reply.text)}


def run_stream(store: ProviderStore, deadline: float) -> dict[str, Any]:
    got = 0
    reply = None
    try:
        reply = chat("hi", provider="H", model=MODEL, store=store, timeout=deadline, stream=True)
        for piece in reply:
            got += len(piece)
    except ProviderError as exc:
        kept = reply.text_so_far if reply is not None else ""
        assert len(kept) == got and exc.partial_text == kept, "the partial reply is kept, on the error too"
        return _error(exc, kept)
    return {"kind": "ok", "text": reply.text[:200], "chars": len(reply.text)}


def run_verify(store: ProviderStore, deadline: float) -> dict[str, Any]:
    v = store.verify("H")
    return {"kind": v.kind, "message": v.message}


def run_models(store: ProviderStore, deadline: float) -> dict[str, Any]:
    try:
        ids = store.fetch_models("H")
    except ProviderError as exc:
        return _error(exc)
    return {"kind": "ok", "count": len(ids), "cut": bool(getattr(ids, "cut", False)), "text": "; ".join(ids[:3])}


def run_providers(store: ProviderStore, deadline: float, scenario: str) -> dict[str, Any]:
    shell = InteractiveShell.instance()
    shell.register_magics(ChatMagics(shell, store=store))
    line = "models H --fetch" if scenario == "many_models" else "verify"
    with capture_output() as cap:
        shell.run_line_magic("providers", line)
    said = cap.stdout + cap.stderr
    assert "Traceback" not in said, said
    if scenario == "many_models":
        return {"kind": "ok", "message": said.strip().splitlines()[0][:300], "lines": len(said.splitlines())}
    verdicts = {name: store[name].last_verification for name in store.names()}
    assert all(v is not None for v in verdicts.values()), "every provider has a verdict: none aborted the check"
    ok = verdicts["OK"]
    assert ok is not None and ok.ok, f"the good server is still verified: {ok}"
    h = verdicts["H"]
    assert h is not None
    kinds = {name: v.kind for name, v in verdicts.items() if v is not None}
    return {"kind": h.kind, "message": h.message, "kinds": kinds}


def make_store(base: str, type_: str, scenario: str, surface: str) -> ProviderStore:
    """Providers of ``type_`` at the hostile address; the type's rules add its version segment (``/v1``)."""
    store = ProviderStore(Path(tempfile.mkdtemp()) / "store", admin_paths=[])
    models = [] if scenario == "many_models" else [MODEL]
    url = f"{base}/_hostile/{scenario}"
    store.add("H", type=type_, base_url=url, api_key="k", models=models)
    if surface == "providers" and scenario != "many_models":  # several bad servers and a good one, at once
        for i in range(2, 4):
            store.add(f"H{i}", type=type_, base_url=url, api_key="k", models=models)
    if "OK" not in store and ((surface == "providers" and scenario != "many_models") or scenario == "drip_headers"):
        store.add("OK", type=type_, base_url=base, api_key="k", models=[MODEL])
    return store


def run(cell: dict[str, Any]) -> dict[str, Any]:
    s = client_module.settings
    deadline = float(cell["deadline"])
    s.verify_timeout = deadline
    s.call_timeout = deadline
    s.backoff = 0.05
    store = make_store(cell["base"], cell["type"], cell["scenario"], cell["surface"])
    surface = cell["surface"]
    if cell["scenario"] == "drip_headers":  # the server answered before: its connection waits in the pool
        chat("hi", provider="OK", model=MODEL, store=store)
    if cell["scenario"] == "many_models":  # the fake makes its 20,000 entries once, not on the cell's clock
        client_module.list_models(store["H"], timeout=60)
    gc.collect()
    reset_peak()
    before = _status("VmRSS")
    started = time.monotonic()
    if surface == "providers":
        out = run_providers(store, deadline, cell["scenario"])
    else:
        out = {"chat": run_chat, "stream": run_stream, "verify": run_verify, "models": run_models}[surface](
            store, deadline
        )
    out["seconds"] = time.monotonic() - started
    out["extra_mb"] = (_status("VmHWM") - before) / (1 << 20)
    return out


def main() -> None:
    try:
        reset_peak()
    except OSError as exc:
        print(json.dumps({"unsupported": f"/proc/self/clear_refs: {exc}"}), flush=True)
        return
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        cell = json.loads(line)
        try:
            out = run(cell)
        except Exception as exc:  # reported to the test, which fails the cell with it
            out = {"crash": f"{type(exc).__name__}: {exc}"[:2000]}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
