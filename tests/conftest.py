"""Shared fixtures: an isolated store per test, and the real local model server for the session.

``make pytest`` runs the suite on two pytest-xdist workers (``-n 2``): see :func:`group` for what runs
together.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

from jupyter_providers import ProviderStore
from jupyter_providers import store as store_module
from jupyter_providers.local import LocalServer, free_port, launch

if TYPE_CHECKING:
    from jupyter_providers.magics import ChatMagics

#: the key the session's llama.cpp server demands (a wrong one must give kind "auth")
LOCAL_KEY = "sk-local-test-5f2a9c71e0"
ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = ROOT / "test-output"
#: the directories whose tests share servers that are slow to start (real vLLM, the LiteLLM proxy, llama-server,
#: JupyterLab and Chromium): each runs whole on one worker, so those start once, and they are handed out first
HEAVY_DIRS = ("tests/vllm", "tests/browser", "tests/litellm", "tests/llamacpp")
#: this process's name under pytest-xdist ("gw0", "gw1"), "" without it: in the names of the logs it writes
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def group(nodeid: str) -> str:
    """What runs whole on one worker: one of :data:`HEAVY_DIRS`, else the test's module (or notebook). The
    matrices that write docs/faults.md, docs/hostile.md and docs/bad-input.md need every cell of their module in
    one process."""
    path = nodeid.split("::", 1)[0]
    return next((d for d in HEAVY_DIRS if path.startswith(d + "/")), path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The order the groups are handed out in (pytest-xdist keeps it, see :func:`pytest_xdist_make_scheduler`):
    the heavy directories first, then the other modules from the largest, so that nothing long starts last while
    the other worker has nothing left to do. Without xdist this only reorders modules."""
    size: dict[str, int] = {}
    for item in items:
        size[group(item.nodeid)] = size.get(group(item.nodeid), 0) + 1
    rank = {d: i for i, d in enumerate(HEAVY_DIRS)}
    items.sort(key=lambda item: (rank.get(group(item.nodeid), len(rank)), -size[group(item.nodeid)]))  # stable


_RERUNS: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember why a test was run again (tests/browser/conftest.py retries a failed browser test once)."""
    if report.outcome == "rerun":  # type: ignore[comparison-overlap]  # pytest-rerunfailures' own outcome
        crash = getattr(report.longrepr, "reprcrash", None)
        _RERUNS.append(f"{report.nodeid}: {crash.message if crash else str(report.longrepr)[-500:]}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print why each rerun test failed the first time: a retry that passed must not hide what went wrong."""
    for line in _RERUNS:
        terminalreporter.write_line(f"RERUN (its first try failed): {line.splitlines()[0][:600]}")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The whole run's files searched for every test key (tests/_key_sweep.py); once, by the process that owns
    the base temporary directory (the xdist controller, or pytest alone), after every test has written."""
    from ._key_sweep import defined_keys, sweep

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or hasattr(session.config, "workerinput") or session.testscollected == 0:
        return
    hits = sweep(factory.getbasetemp(), defined_keys())
    if hits:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line("a test key was found where no key may be:\n  " + "\n  ".join(hits), red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``make pytest`` runs ``-n 2``: tests are handed to the workers a :func:`group` at a time, in collection
    order. (pytest-xdist's own ``--dist loadgroup`` cannot be used: it renames items through a private attribute
    that pytest 9 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group(nodeid)

    config.option.loadscopereorder = False  # keep the order pytest_collection_modifyitems chose
    return GroupScheduling(config, log)


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads or writes the real Jupyter config, keyring or cloud keys."""
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JUPYTER_PROVIDERS_KEYRING", "0")
    for var in (
        "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "AZURE_OPENAI_API_KEY",
        "AZURE_OPENAI_ENDPOINT", "OPENAI_API_VERSION", "OPENAI_BASE_URL",
    ):  # fmt: skip
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(store_module, "_store", None)
    yield


@pytest.fixture
def store(tmp_path: Path) -> ProviderStore:
    """A persisted store in a temporary folder, with no admin providers."""
    return ProviderStore(tmp_path / "store", admin_paths=[])


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LocalServer]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2, on a free 127.0.0.1 port."""
    OUTPUT_DIR.mkdir(exist_ok=True)
    server = launch(
        free_port(), api_key=LOCAL_KEY, threads=1, log_path=OUTPUT_DIR / f"llama-server{WORKER and '-' + WORKER}.log"
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def local_store(store: ProviderStore, llama_server: LocalServer) -> ProviderStore:
    """The store holding one provider, ``vLLM``, pointing at the real local server as a user would type it."""
    store.add("vLLM", type="openai", base_url=llama_server.base_url + "/", api_key=LOCAL_KEY, models=["smollm2"])
    return store


@pytest.fixture
def records(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, str, str]]:
    """Each time a reply records its turn in a conversation: (the turn, its status, its text) then.

    A surface that recorded a turn itself, besides the reply doing it, would show here twice.
    """
    from jupyter_providers.conversation import Conversation

    seen: list[tuple[Any, str, str]] = []
    original = Conversation._record

    def spy(turn: Any, reply: Any) -> None:
        original(turn, reply)
        seen.append((turn, turn.status, turn.reply))

    monkeypatch.setattr(Conversation, "_record", staticmethod(spy))
    return seen


@pytest.fixture
def shell() -> InteractiveShell:
    """IPython's shell (one per process); modules that need it set up otherwise define their own."""
    return InteractiveShell.instance()


@pytest.fixture
def magics(shell: InteractiveShell, store: ProviderStore) -> Iterator[ChatMagics]:
    """``%%chat`` and ``%providers`` on ``store``, with no conversation left over from another test."""
    from jupyter_providers.conversation import reset_conversations
    from jupyter_providers.magics import ChatMagics

    m = ChatMagics(shell, store=store)
    shell.register_magics(m)
    reset_conversations()
    yield m
    reset_conversations()
