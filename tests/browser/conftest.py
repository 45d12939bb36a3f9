"""A real JupyterLab or Jupyter Notebook 7 on 127.0.0.1 and Debian's Chromium driven by Playwright.

``lab`` is JupyterLab with the local model; ``jupyter`` is the same for each front end in turn
(``FRONTENDS``: JupyterLab, then Notebook 7), so one test proves both. ``running_lab(...,
frontend="notebook")`` starts Notebook 7 for a test that brings its own servers. The helpers
(``run_all_cells``, ``wait_kernel_idle``, ``save``) work in both front ends.

These tests are skipped (with the reason) when /usr/bin/chromium is missing; `make test`
installs it, so CI always runs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from jupyter_providers.local import LocalServer, free_port

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
#: the front ends a notebook opens in: JupyterLab (``/lab/tree/NAME``) and Notebook 7 (``/notebooks/NAME``)
FRONTENDS = ("lab", "notebook")

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):  # `make test` installs it: in CI a missing browser is a failure, not a skip
        raise RuntimeError(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    pytest.skip("Debian's chromium is not installed (make test installs it)", allow_module_level=True)


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    config_dir: Path  # the kernel's JUPYTER_PROVIDERS_DIR
    model_url: str  # the local llama.cpp server, as a person would type it
    frontend: str = "lab"  # one of FRONTENDS

    def notebook_url(self, name: str) -> str:
        """The address that opens notebook ``name`` (relative to ``root``) in this front end."""
        if self.frontend == "notebook":
            return f"{self.url}/notebooks/{name}?token={self.token}"
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"


def forget_providers(lab: Lab) -> None:
    """Empty the store the lab's next kernel reads (the local server's record stays)."""
    for name in ("providers.json", "keys.json"):
        (lab.config_dir / name).unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _fresh_store(request: pytest.FixtureRequest) -> None:
    """A JupyterLab is shared by every test of the session, so each test starts with an empty store: what a
    notebook run before added (vllm.ipynb and test_magic_in_lab both add "vLLM") must not decide what the
    next test's ``store.add`` or Add form meets."""
    for name in ("lab", "jupyter"):
        if name in request.fixturenames:
            forget_providers(request.getfixturevalue(name))


def write_notebook(path: Path, sources: list[str]) -> None:
    cells = [
        {"cell_type": "code", "metadata": {}, "source": s, "outputs": [], "execution_count": None} for s in sources
    ]
    nb = {
        "cells": cells,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1))


def _with_local_model(
    tmp_path_factory: pytest.TempPathFactory, llama_server: LocalServer, frontend: str
) -> Iterator[Lab]:
    env = {
        "LOCAL_MODEL_URL": llama_server.base_url,
        "LOCAL_MODEL_KEY": llama_server.api_key,  # notebooks read it from the environment, never hold it
    }
    log = SHOTS.parent / ("jupyterlab.log" if frontend == "lab" else f"jupyter-{frontend}.log")
    with running_lab(tmp_path_factory.mktemp(frontend), env, log, frontend=frontend) as lab:
        yield dataclasses.replace(lab, model_url=llama_server.base_url + "/")


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory, llama_server: LocalServer) -> Iterator[Lab]:
    """JupyterLab whose kernels know the local model (``LOCAL_MODEL_URL``, ``LOCAL_MODEL_KEY``)."""
    yield from _with_local_model(tmp_path_factory, llama_server, "lab")


@pytest.fixture(scope="session", params=FRONTENDS)
def jupyter(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, llama_server: LocalServer
) -> Iterator[Lab]:
    """As ``lab``, once in JupyterLab and once in Notebook 7: a test taking it runs in both."""
    if request.param == "lab":  # the same server as ``lab``: one JupyterLab per session
        yield request.getfixturevalue("lab")
    else:
        yield from _with_local_model(tmp_path_factory, llama_server, request.param)


@contextlib.contextmanager
def running_lab(
    root: Path, extra_env: dict[str, str], log_path: Path, *args: str, frontend: str = "lab"
) -> Iterator[Lab]:
    """JupyterLab (or Notebook 7: ``frontend="notebook"``) on 127.0.0.1 serving ``root``; its kernels get
    ``extra_env``, its output goes to ``log_path``."""
    if frontend not in FRONTENDS:
        raise ValueError(f"frontend: {frontend!r} is not one of {FRONTENDS}")
    config_dir = root / ".providers"
    token = secrets.token_hex(16)
    port = free_port()
    env = dict(os.environ)
    env.update(
        JUPYTER_PROVIDERS_DIR=str(config_dir),
        JUPYTER_PROVIDERS_KEYRING="0",
        JUPYTER_CONFIG_DIR=str(root / ".jupyter-config"),
        JUPYTER_RUNTIME_DIR=str(root / ".jupyter-runtime"),
        **extra_env,
    )
    settings = root / ".lab-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false", "checkForUpdates": false}')
    # save widget state into the notebook, so the test can prove no key is in it
    widgets = root / ".lab-settings" / "@jupyter-widgets" / "jupyterlab-manager"
    widgets.mkdir(parents=True)
    (widgets / "plugin.jupyterlab-settings").write_text('{"saveState": true}')
    env["JUPYTERLAB_SETTINGS_DIR"] = str(root / ".lab-settings")
    SHOTS.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")  # noqa: SIM115 - closed below; appended: a rerun keeps the failed try's log
    log.write(f"\n==== {time.strftime('%H:%M:%S')} a new Jupyter ({frontend}) serving {root}\n".encode())
    log.flush()
    app = (
        ["jupyterlab", "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        if frontend == "lab"
        else ["notebook"]  # Notebook 7 reads the same settings directory; it has no news feed
    )
    cmd = [
        sys.executable, "-m", *app, "--no-browser", "--allow-root",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--ServerApp.disable_check_xsrf=False", *args,
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(f"Jupyter ({frontend}) exited: see {log.name}")
            try:
                if httpx.get(f"{url}/api/status?token={token}", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"Jupyter ({frontend}) did not start in 90 s: see {log.name}")
            time.sleep(0.3)
        yield Lab(url, token, root, config_dir, "", frontend)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A browser test that fails is run once more (pytest-rerunfailures; the summary says ``rerun``): a real
    front end under a loaded CI machine sometimes drops the first key or click of a test, and one such drop
    must not hide a whole green run. The first failure's screenshot is kept (``FAILED-*.png``). A failure that
    repeats fails the run; only this directory is retried, never a unit test."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.flaky(reruns=1, reruns_delay=2))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_FAILED] = report.failed
    return report


_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    try:
        yield pg
    finally:
        if request.node.stash.get(_FAILED, False):  # what the page showed when the test failed
            pg.screenshot(path=str(SHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
        context.close()


_RUN_ALL = re.compile(r"^Run All Cells$")
#: a prompt once its cell was sent to the kernel: ``[*]`` (queued or running), then ``[N]``
_STARTED = re.compile(r"\[[0-9*]+\]")


def start_once(page: Any, prompt: Any, run: Callable[[], object], what: str) -> None:
    """``run()`` until the cell whose input prompt is ``prompt`` (a locator: queried again each time, since the
    notebook may draw the cell anew) has started, and never again once it has: a try is repeated only while the
    prompt still shows no number (a notebook still connecting ignores the first keys or clicks). Repeating after
    a slow start ran a notebook's cells twice."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    for _ in range(3):
        with contextlib.suppress(PlaywrightError):  # e.g. a menu item still disabled (the notebook not active)
            run()
        try:
            expect(prompt).to_have_text(_STARTED, timeout=20_000)
            return
        except AssertionError:
            try:
                if _STARTED.search(prompt.inner_text(timeout=5_000)):
                    return
            except Exception:  # Playwright's TimeoutError: the cell is not drawn
                pass
            page.keyboard.press("Escape")
    raise AssertionError(f"{what} did not start")


def run_all_cells(page: Any) -> None:
    """Run > Run All Cells, through the menu as a person would, once the notebook is active
    (JupyterLab and Notebook 7 have the same menu).

    The menu item is disabled until the notebook panel has focus, so click a cell first and
    check that the first code cell really ran (its prompt gets a number); try again if it did not.
    """
    first_prompt = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").first  # a Markdown cell has none

    def run() -> None:
        page.locator(".jp-Notebook .jp-Cell").first.click(timeout=10_000)
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click(timeout=10_000)
        # the whole label: "Restart Kernel and Run All Cells…" contains it too
        item = page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel", has_text=_RUN_ALL)
        item.first.click(timeout=10_000)  # disabled until the notebook is active: start_once tries again

    start_once(page, first_prompt, run, "Run All Cells")


#: true once the kernel of the notebook open in the page is idle, as the server sees it (both front ends)
_KERNEL_IDLE_JS = """async () => {
  const path = decodeURIComponent(location.pathname.replace(/^.*?\\/(lab\\/tree|notebooks)\\//, ""));
  const r = await fetch("/api/sessions", { credentials: "same-origin" });
  if (!r.ok) return false;
  const s = (await r.json()).find((x) => x.path === path);
  return !!(s && s.kernel && s.kernel.execution_state === "idle");
}"""


def wait_until(page: Any, js: str, timeout: float = 120_000, every: float = 500) -> Any:
    """Evaluate ``js`` in the page every ``every`` ms until it returns a truthy value (timeouts in ms, as Playwright's).

    For an async ``js``: ``page.wait_for_function`` does not await it, and takes the promise for a truthy value.
    """
    deadline = time.monotonic() + timeout / 1000
    while not (value := page.evaluate(js)):
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {timeout / 1000:g} s: {js[:300]}")
        page.wait_for_timeout(every)
    return value


def wait_kernel_idle(page: Any, timeout: float = 120_000) -> None:
    """The notebook is shown and its kernel started and idle (JupyterLab: its execution indicator says so)."""
    page.wait_for_selector(".jp-Notebook", timeout=timeout)
    if "/lab/" in page.url:
        page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for(timeout=timeout)
    else:  # Notebook 7 shows no such indicator: ask the server
        wait_until(page, _KERNEL_IDLE_JS, timeout)


def fill(page: Any, css: str, text: str, *, submit: bool = True) -> None:
    """Type ``text`` into the input (or textarea) inside ``css``, as a person would; Tab commits it."""
    box = page.locator(f"{css} input, {css} textarea").first
    box.click()
    box.fill(text)
    if submit:
        box.press("Tab")


def save(page: Any) -> None:
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)


def shot(page: Any, name: str) -> Path:
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
