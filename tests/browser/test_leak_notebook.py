"""No key leaks, anywhere: a notebook in a real kernel and a real browser, every error kind, then grep.

Four keys reach the kernel the four ways a person gives one: typed into the panel's password field
(through Chromium), passed to ``store.add(api_key=...)`` from Python (read from a file, as nobody
types a key into a notebook they share), and two environment variables of the kernel (an SDK's
``GEMINI_API_KEY`` and a custom ``api_key_env``). The notebook then drives every fault of the fake
servers (running in this process, reached on 127.0.0.1) through ``verify``, ``chat()``, streaming,
``%%chat``, ``--compare``, the chat widget and ``%providers``, with httpx/httpcore debug logging on,
and is saved with its widget state. Then every file JupyterLab and the kernel wrote, the server's log
(the kernel's stderr goes there too), the kernel's debug log, the browser console and this process's
output are searched for each key: no hit. The key file (mode 0600) is the one place a key may be,
and the fake servers must have received each key (so the keys were really used).
"""

from __future__ import annotations

import json
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jupyter_providers.local import free_port

from ..fakes import FakeServer
from .conftest import SHOTS, running_lab, save, shot, start_once, wait_kernel_idle, write_notebook

KEY_PANEL = "sk-panel-leakcanary-7Qx2Wd"  # typed into the panel
KEY_PY = "sk-ant-py-leakcanary-9Lm4Zr"  # store.add(api_key=...) in a cell
KEY_ENV = "AIza-env-leakcanary-3Vb8Kt"  # GEMINI_API_KEY of the kernel
KEY_ENV2 = "az-env-leakcanary-5Tr1Ny"  # LEAK_AZURE_KEY of the kernel, via api_key_env
KEYS = {"panel": KEY_PANEL, "python": KEY_PY, "env": KEY_ENV, "api_key_env": KEY_ENV2}
FAULTS = [
    "auth", "rate_limit", "quota", "server_error", "overloaded", "bad_gateway", "html_200", "not_json",
    "midstream_error", "cut_stream", "llamacpp_error", "stall", "hang", "huge",
]  # fmt: skip
EVERY_KIND = {
    "ok", "auth", "rate_limited", "server_error", "bad_url", "bad_response", "timeout", "unreachable",
    "model_not_found", "no_model", "disabled",
}  # fmt: skip


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeServer]]:
    keys = {"openai": KEY_PANEL, "anthropic": KEY_PY, "gemini": KEY_ENV, "azure": KEY_ENV2}
    servers = {p: FakeServer(p, api_key=k, models=["model-a", "model-b"]).start() for p, k in keys.items()}
    for s in servers.values():
        s.retry_after, s.stall_seconds = "0.1", 3.0
    try:
        yield servers
    finally:
        for s in servers.values():
            s.stop()


def cells(urls: dict[str, str], refused: int) -> list[str]:
    setup = f"""\
%load_ext jupyter_providers
import logging
from pathlib import Path
# everything the kernel logs, httpx, httpcore and comm included, at DEBUG
logging.basicConfig(filename="kernel-debug.log", level=logging.DEBUG, force=True,
                    format="%(asctime)s %(name)s %(levelname)s %(message)s")
for kernel_log in [get_ipython().kernel.log]:  # and ipykernel's own log (every message), to its stderr
    kernel_log.setLevel(logging.DEBUG)
    for handler in kernel_log.handlers:
        handler.setLevel(logging.DEBUG)
import jupyter_providers as jp
from jupyter_providers import ProviderError, chat, client, get_store
client.settings.read_timeout = client.settings.verify_timeout = client.settings.connect_timeout = 1.0
client.settings.max_retries, client.settings.backoff = 1, 0.05
URLS = {urls!r}
store = get_store()
store.add("PanelKey", type="openai", base_url=URLS["openai"], models=["model-a"])  # its key: typed in the panel
store.add("PyKey", type="anthropic", base_url=URLS["anthropic"], models=["model-a"],
          api_key=Path("py-key.txt").read_text().strip())  # a key from Python (kept in a file, not in the notebook)
store.add("EnvKey", type="gemini", base_url=URLS["gemini"], models=["model-a"],
          api_key_env="GEMINI_API_KEY")  # named: the SDK variable alone only goes to Google's own address
store.add("AzKey", type="azure", base_url=URLS["azure"], models=["model-a"], api_key_env="LEAK_AZURE_KEY")
store"""
    places = f"""\
NAMES = ["PanelKey", "PyKey", "EnvKey", "AzKey"]
FAULTS = {FAULTS!r}
BASE = {{n: store[n].base_url for n in NAMES}}
kinds = set()

def places(name, skip=()):
    base = BASE[name]
    yield "ok", base, "model-a"
    for fault in FAULTS:
        if fault not in skip:
            yield fault, f"{{base}}/_fault/{{fault}}/", "model-a"
    yield "model_404", base, "gpt-5"
    yield "path_404", base + "/nothing/here#", "model-a"
    yield "refused", "http://127.0.0.1:{refused}/", "model-a"
    yield "tls", base.replace("http://", "https://"), "model-a"

def show(*row):
    print(" | ".join(str(x) for x in row))

for name in NAMES:
    for fault, url, model in places(name):
        store.update(name, base_url=url)
        v = store.verify(name, model=model)
        kinds.add(v.kind)
        show(name, fault, "verify", repr(v), v, v.keys)
        for stream in (False, True):
            try:
                reply = chat("Say hello", provider=name, model=model, store=store, stream=stream)
                show(name, fault, stream, repr(reply), reply.text[:80], reply.usage)
            except ProviderError as e:
                kinds.add(e.kind)
                show(name, fault, stream, repr(e), e, e.server_message, e.partial_text[:80], vars(e))
    store.update(name, base_url=BASE[name])
store.update("PyKey", enabled=False)
kinds.add(store.verify("PyKey").kind)
try:
    chat("hi", provider="PyKey", store=store)
except ProviderError as e:
    kinds.add(e.kind)
    show(repr(e))
store.update("PyKey", enabled=True)
store.remove_model("EnvKey", "model-a")
v = store.verify("EnvKey")
kinds.add(v.kind)
show(repr(v))
store.add_models("EnvKey", "model-a")
print(sorted(kinds))"""
    magic = """\
ip = get_ipython()
for name in NAMES:
    for fault, url, model in places(name, skip=("hang", "huge")):
        store.update(name, base_url=url)
        ip.run_cell_magic("chat", f"-p {name} -m {model} --new", "Say hello")
    store.update(name, base_url=BASE[name])"""
    widgets = """\
chats = {n: jp.chat_widget(provider=n) for n in NAMES}
for w in chats.values():
    display(w)"""
    drive = """\
for name, w in chats.items():
    for fault, url, model in places(name, skip=("hang", "huge")):
        if model != "model-a":
            continue
        store.update(name, base_url=url)
        w.send("Say hello")
        assert w.wait(30)
    store.update(name, base_url=BASE[name])
print(len(chats), "widgets driven")"""
    return [
        setup,
        "jp.panel(selected='PanelKey')",
        places,
        magic,
        "%%chat -p PanelKey\nHello from the panel's key",
        "%%chat --compare PanelKey:model-a,PyKey:model-a,EnvKey:model-a,AzKey:model-a\nSay hello",
        widgets,
        drive,
        "%providers verify",
        "%providers",
        "print(store, list(store), store['PyKey'], store['PanelKey'].key_source)\nstore['EnvKey']",
        "print('LEAK-TEST-DONE', sorted(kinds))",
    ]


def run_from(page: Any, index: int, run: Callable[[], object]) -> None:
    """Select cell ``index`` and ``run()``; again only while the cell has not started (a notebook still
    connecting to its kernel ignores the first keys or menu clicks).

    The cell is selected by its prompt, in command mode, never by a click in its editor: a Shift+Enter the
    notebook ignores then goes to the editor, which inserts a newline where the click landed (in CI it split a
    line of the set-up cell, whose retry then failed, so the panel never came)."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)

    def select_and_run() -> None:
        page.keyboard.press("Escape")  # command mode: keys go to the notebook, not to an editor
        cell.locator(".jp-InputPrompt").click()
        run()

    start_once(page, cell.locator(".jp-InputPrompt"), select_and_run, f"cell {index}")


def _cells_text(page: Any, count: int) -> str:
    """The source, prompt and output text of the first ``count`` cells, for a failure message."""
    parts = []
    for index in range(count):
        cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
        try:
            parts.append(repr(cell.inner_text(timeout=5_000))[:3000])
        except Exception as e:  # Playwright's TimeoutError: the cell is not drawn
            parts.append(f"<cell {index} not drawn: {type(e).__name__}>")
    return " / ".join(parts)


def _fill(page: Any, css: str, text: str) -> None:
    box = page.locator(f"{css} input").first
    box.click()
    box.fill(text)
    box.press("Tab")


def test_no_key_anywhere_after_every_error_kind(
    browser: Any, fakes: dict[str, FakeServer], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from playwright.sync_api import expect

    root = tmp_path / "lab"
    root.mkdir()
    (root / "py-key.txt").write_text(KEY_PY)
    urls = {p: s.base_url for p, s in fakes.items()}
    nb = root / "leak.ipynb"
    write_notebook(nb, cells(urls, free_port()))
    log_path = SHOTS.parent / "jupyterlab-leak.log"
    env = {"GEMINI_API_KEY": KEY_ENV, "LEAK_AZURE_KEY": KEY_ENV2}
    console: list[str] = []
    with running_lab(root, env, log_path, "--ServerApp.log_level=DEBUG") as lab:
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.on("console", lambda msg: console.append(msg.text))
        try:
            page.goto(lab.notebook_url(nb.name))
            wait_kernel_idle(page)
            # the set-up cell and the panel, as a person runs them: Shift+Enter, twice
            for index in (0, 1):
                run_from(page, index, lambda: page.keyboard.press("Shift+Enter"))
            panel = page.locator(".jp-providers-panel")
            try:
                panel.wait_for(timeout=60_000)
            except Exception as e:  # say why: what the first two cells hold and printed
                raise AssertionError(f"no panel after the first two cells: {_cells_text(page, 2)}") from e
            page.locator(".jp-providers-detail-title", has_text="PanelKey").wait_for(timeout=30_000)
            # the key goes into the password field, and out of it as soon as the kernel has it
            _fill(page, ".jp-providers-key", KEY_PANEL)
            page.locator(".jp-providers-key-status", has_text="entered").wait_for(timeout=30_000)
            expect(page.locator(".jp-providers-key input")).to_have_value("", timeout=30_000)
            panel.locator(".jp-providers-verify").first.click()
            panel.locator(".jp-providers-verdict", has_text="OK - model-a answered in").wait_for(timeout=60_000)

            # then the rest: Run > Run Selected Cell and All Below, from the third cell
            def run_below() -> None:
                page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
                page.locator(".lm-Menu-itemLabel", has_text="Run Selected Cell and All Below").first.click()

            run_from(page, 2, run_below)
            page.locator(".jp-OutputArea-output", has_text="LEAK-TEST-DONE").wait_for(timeout=420_000)
            wait_kernel_idle(page)
            shot(page, "leak-notebook")
            save(page)
            saved = json.loads(nb.read_text(encoding="utf-8"))
            assert saved["metadata"].get("widgets"), "the widget state was saved with the notebook"
        except Exception:
            shot(page, "FAILED-leak-notebook")
            raise
        finally:
            context.close()
    # -- the keys were really used (else no hit would prove nothing) -------------------------------------------------
    sent = {
        "openai": ("authorization", f"Bearer {KEY_PANEL}"),
        "anthropic": ("x-api-key", KEY_PY),
        "gemini": ("x-goog-api-key", KEY_ENV),
        "azure": ("api-key", KEY_ENV2),
    }
    for protocol, (header, value) in sent.items():
        assert any(r.headers.get(header) == value for r in fakes[protocol].requests), protocol
    outputs = "".join(
        json.dumps(o) for c in saved["cells"] for o in c.get("outputs", [])
    )  # the saved outputs: every kind was triggered
    done = next(line for line in outputs.split("\\n") if "LEAK-TEST-DONE" in line)
    assert all(f"'{k}'" in done for k in EVERY_KIND), done
    for surface in ("verify", "rejected the key", "interrupted by an error", "jp-providers-compare"):
        assert surface in outputs, surface
    keys_file = lab.config_dir / "keys.json"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert json.loads(keys_file.read_text()) == {"PanelKey": KEY_PANEL, "PyKey": KEY_PY}
    # -- and found nowhere else -----------------------------------------------------------------------------------
    allowed = {root / "py-key.txt", keys_file}
    searched = [p for p in sorted(root.rglob("*")) if p.is_file() and p not in allowed]
    assert (
        nb in searched and (root / "kernel-debug.log") in searched and (lab.config_dir / "providers.json") in searched
    )
    assert (root / "kernel-debug.log").stat().st_size > 10_000, "httpx and httpcore logged at DEBUG"
    searched.append(log_path)
    captured = capfd.readouterr()
    hits = [f"{where}: {path}" for path in searched for where, key in KEYS.items() if key.encode() in path.read_bytes()]
    hits += [f"{where}: browser console" for where, key in KEYS.items() if any(key in m for m in console)]
    hits += [f"{where}: test output" for where, key in KEYS.items() if key in captured.out + captured.err]
    assert hits == [], hits
    assert len(searched) > 5 and log_path.stat().st_size > 10_000
