"""Record / replay end to end: a notebook run twice in a real kernel, a map whose process is killed and re-run,
two processes writing one cache at once. Each against a fake that counts the requests it gets."""

from __future__ import annotations

import difflib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from jupyter_providers import ProviderStore, chat_map
from jupyter_providers import _cache as cache_module
from jupyter_providers._cache import FILENAME, AnswerCache

from .fakes import FakeServer

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-worker-key-5c3e9a1f7b2d"


def _answer(body: dict[str, Any]) -> str:
    if "response_format" in body:  # structured output asked for
        return '{"name": "Paris", "people": 2100000}'
    return f"answer to {body['messages'][-1]['content']}"


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with FakeServer("openai", api_key=KEY, models=["m", "n"]) as srv:
        srv.reply_for = _answer
        yield srv


@pytest.fixture(autouse=True)
def _cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv(cache_module.ENV, str(tmp_path / "answers"))
    cache_module.forget_open()
    yield tmp_path / "answers"
    cache_module.forget_open()


def _chats(fake: FakeServer) -> int:
    return sum(1 for r in fake.requests if r.path.endswith("/chat/completions"))


def _worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "tests._cache_worker", *args]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- a notebook run twice ---------------------------------------------------------------------------------
CELLS = [
    "%load_ext jupyter_providers\n%config ChatMagics.cache = True\nfrom jupyter_providers import get_store, chat\n"
    "store = get_store()\nstore.add('P', base_url=BASE, api_key_env='CACHE_TEST_KEY', models=['m', 'n'])\n"
    "store.set_price('P', 'm', input=0.15, output=0.60)",  # the footers show a cost: a replay's is the same
    "%%chat -p P\nWhat is the capital of **France**?",
    "%%chat -p P\nAnd of Spain?",  # the next turn: its history is part of its key
    "%%chat -p P --no-stream --new\nA whole reply, not streamed.",
    "%%chat -p P --format text --new\nPlain text, please.",
    "%%chat -p P --new --schema City --out city\nA city as JSON.",
    "city",
    "rows = [{'w': 'one'}, {'w': 'two'}, {'w': 'three'}]",
    "%%chat -p P --map rows --out mapped\nSay {w}.",
    "[(r.text, r.usage) for r in mapped]",
    "print(chat('From Python.', provider='P', cache=True, stream=True).text)",
    "%%chat --compare P:m,P:n\nTwo models at once.",
]


def _run(nb: Any, tmp_path: Path, machine: str) -> Any:
    """Run ``nb`` in a fresh kernel with its own config dir (another machine); the cache stays where it is."""
    import nbclient

    os.environ["JUPYTER_PROVIDERS_DIR"] = str(tmp_path / machine)

    # the streamed pieces of one output joined, as JupyterLab saves them (how many there were is timing)
    client = nbclient.NotebookClient(nb, timeout=60, kernel_name="python3", coalesce_streams=True)
    client.execute(cwd=str(tmp_path))
    return nb


def _diff(a: str, b: str) -> str:
    return "\n".join(difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=1))


def _outputs(nb: Any) -> str:
    """The saved outputs and execution counts, exactly (only the cells' execution timings are left out)."""
    cells = [{"outputs": c.get("outputs", []), "execution_count": c.get("execution_count")} for c in nb.cells]
    return json.dumps(cells, sort_keys=True, indent=1, ensure_ascii=False)


def test_a_notebook_run_again_sends_nothing_and_saves_the_same_outputs(
    fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run on another machine (a fresh config dir) with the cache beside it: no request, and the saved outputs
    are the recording run's byte for byte - the footers (tokens, timings, cost at the prices set) and the map's
    output included (its live bar is replaced by a summary of counts when it ends)."""
    monkeypatch.setenv("CACHE_TEST_KEY", KEY)
    monkeypatch.setenv("JUPYTER_PROVIDERS_DIR", str(tmp_path / "config"))  # put back after the test
    setup = "City = {'type': 'object', 'properties': {'name': {'type': 'string'}, 'people': {'type': 'integer'}}}\n"
    sources = [CELLS[0].replace("BASE", repr(fake.base_url)) + "\n" + setup, *CELLS[1:]]

    def notebook() -> Any:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        return nb

    first = _run(notebook(), tmp_path, "here")
    asked = _chats(fake)
    assert asked == 11, [r.body for r in fake.requests]  # 5 cells, 3 rows, 1 from Python, 2 compared
    a = _outputs(first)
    assert not any(o.get("name") == "stderr" for c in first.cells for o in c.get("outputs", [])), a
    assert "$0." in a and "chat_map: 3 rows \u00b7 3 answered" in a and "widget-view" not in a, a
    second = _run(notebook(), tmp_path, "colleague")
    sent = [(r.body["model"], r.body["messages"][-1]) for r in fake.requests[asked:]]
    assert _chats(fake) == asked, sent  # the second run sent nothing
    b = _outputs(second)
    assert b == a, _diff(a, b)
    answers = Path(os.environ[cache_module.ENV])
    saved = nbformat.writes(second) + "".join(f.read_bytes().decode("latin-1") for f in answers.iterdir())
    assert KEY not in saved and KEY[:16] not in saved


# -- a map whose kernel dies, run again -----------------------------------------------------------------------
def test_a_map_rerun_after_its_process_is_killed_sends_only_the_missing_rows(
    fake: FakeServer, _cache_env: Path
) -> None:
    n = 30
    fake.delay = 0.03
    proc = _worker("map", fake.base_url, str(n))
    deadline = time.monotonic() + 30
    while _chats(fake) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)  # a kernel restart: no clean-up, no last write
    proc.wait(10)
    before = _chats(fake)
    kept = AnswerCache(_cache_env / FILENAME).stats()[0]
    assert 10 <= kept < n and kept <= before
    fake.delay = 0.0
    store = ProviderStore(persist=False, admin_paths=[])
    store.add("P", base_url=fake.base_url, api_key=KEY, models=["m"])
    results = chat_map([f"row {i}" for i in range(n)], store=store, cache=True, progress=False)
    assert [r.text for r in results] == [f"answer to row {i}" for i in range(n)]
    assert _chats(fake) - before == n - kept  # only the rows not answered before the kill
    assert sorted(r.attempts for r in results) == [0] * kept + [1] * (n - kept)  # requests sent per row
    again = chat_map([f"row {i}" for i in range(n)], store=store, cache=True, progress=False)
    assert [r.text for r in again] == [r.text for r in results] and _chats(fake) - before == n - kept


# -- two processes at once ---------------------------------------------------------------------------------
def test_two_processes_writing_at_once_lose_nothing(fake: FakeServer, _cache_env: Path) -> None:
    procs = [_worker("chat", fake.base_url, prefix, "200") for prefix in ("a", "b")]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0 and out.strip() == "done", err
    path = _cache_env / FILENAME
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    db.close()
    cache = AnswerCache(path)
    assert cache.stats()[0] == 400 and _chats(fake) == 400
    store = ProviderStore(persist=False, admin_paths=[])
    store.add("P", base_url=fake.base_url, api_key=KEY, models=["m"])
    prompts = [f"{prefix} {i}" for prefix in ("a", "b") for i in ("first", *range(1, 200))]
    results = chat_map(prompts, store=store, cache=True, concurrency=8, progress=False)
    assert [r.text for r in results] == [f"answer to {q}" for q in prompts]
    assert {r.attempts for r in results} == {0} and _chats(fake) == 400  # every one replayed
    blob = b"".join(f.read_bytes() for f in _cache_env.iterdir())
    assert KEY.encode() not in blob
