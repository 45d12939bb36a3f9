"""Two kernels, one config dir: 200 changes each at the same time, and files that go bad.

The kernels are two real processes running a small script against the same ``JUPYTER_PROVIDERS_DIR``
(the file lock and the atomic writes are what is tested, not threads sharing one store). While they
write, this process keeps reading the files, as a third kernel would. Afterwards nothing is lost, the
JSON is valid at every moment, and the key file is still readable by its owner only.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from jupyter_providers import ProviderStore
from jupyter_providers._persist import StoreFileError
from jupyter_providers.magics import ChatMagics

PER_PROCESS = 40  # providers each process handles, 5 operations each: 200 operations per process

WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from jupyter_providers import ProviderStore

    tag, go = sys.argv[1], Path(sys.argv[2])
    store = ProviderStore(admin_paths=[])  # JUPYTER_PROVIDERS_DIR, as a kernel would
    deadline = time.monotonic() + 60
    while not go.exists():  # start together
        if time.monotonic() > deadline:
            sys.exit("never told to start")
        time.sleep(0.001)
    done, started = 0, time.monotonic()
    for j in range(int(sys.argv[3])):
        name = f"w{tag}-{j}"
        store.add(name, api_key=f"key-{tag}-{j}-0", models=[f"m{j}"])
        store.update(name, api_key=f"key-{tag}-{j}-1", base_url=f"http://127.0.0.1:{1000 + j}/")
        store.add_models(name, f"extra-{j}")
        store.add_models("shared", f"s{tag}-{j}")  # both processes change this one provider
        if j % 2:
            store.remove_model(name, f"m{j}")
        else:
            store.remove(name)
        done += 5
    print(done, started, time.monotonic())
    """
)


def expected(tag: str) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (key, base_url, models) that one worker leaves behind."""
    return {
        f"w{tag}-{j}": (f"key-{tag}-{j}-1", f"http://127.0.0.1:{1000 + j}/", [f"extra-{j}"])
        for j in range(PER_PROCESS)
        if j % 2
    }


def test_two_processes_200_operations_each_lose_nothing(tmp_path: Path) -> None:
    cfg = tmp_path / "shared-config"
    ProviderStore(cfg, admin_paths=[]).add("shared", api_key="shared-key", models=["base"])
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    go = tmp_path / "go"
    env = {**os.environ, "JUPYTER_PROVIDERS_DIR": str(cfg), "JUPYTER_PROVIDERS_KEYRING": "0"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), tag, str(go), str(PER_PROCESS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for tag in ("a", "b")
    ]
    # a third reader: every version of the files it sees must be whole, valid JSON, the key file 0600
    reads, problems = [0], list[str]()
    stop = threading.Event()

    def read_all_the_time() -> None:
        while not stop.is_set():
            for name in ("providers.json", "keys.json"):
                path = cfg / name
                try:
                    text = path.read_text(encoding="utf-8")
                    mode = stat.S_IMODE(path.stat().st_mode)
                except FileNotFoundError:  # the name points at the old or the new file; never at nothing
                    problems.append(f"{name} missing")
                    continue
                try:
                    json.loads(text)
                except ValueError as exc:
                    problems.append(f"{name}: {exc}")
                if name == "keys.json" and mode != 0o600:
                    problems.append(f"keys.json mode {mode:o}")
                reads[0] += 1

    reader = threading.Thread(target=read_all_the_time, daemon=True)
    reader.start()
    time.sleep(0.5)  # both are importing; then they start at once
    go.touch()
    try:
        outs = [p.communicate(timeout=240) for p in procs]
    finally:
        stop.set()
        reader.join(10)
        for p in procs:
            if p.poll() is None:
                p.kill()
    spans = []
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        done, started, ended = out.split()
        assert int(done) == 5 * PER_PROCESS  # 200 operations each
        spans.append((float(started), float(ended)))
    assert max(s for s, _ in spans) < min(e for _, e in spans), f"the two did not run at the same time: {spans}"
    assert problems == [] and reads[0] > 50, (problems[:5], reads[0])

    data = json.loads((cfg / "providers.json").read_text(encoding="utf-8"))
    keys = json.loads((cfg / "keys.json").read_text(encoding="utf-8"))
    assert stat.S_IMODE((cfg / "keys.json").stat().st_mode) == 0o600
    final = ProviderStore(cfg, admin_paths=[])
    want = {**expected("a"), **expected("b")}
    assert sorted(final.names()) == sorted(["shared", *want])
    for name, (key, url, models) in want.items():
        got = final[name]
        assert (got.api_key, got.base_url, got.model_ids) == (key, url, models), name
    shared = final["shared"]
    assert shared.api_key == "shared-key"
    assert sorted(shared.model_ids) == sorted(["base", *(f"s{t}-{j}" for t in "ab" for j in range(PER_PROCESS))])
    assert keys == {"shared": "shared-key", **{n: k for n, (k, _, _) in want.items()}}  # no stale key either
    assert len(data["providers"]) == len(want) + 1
    assert sorted(p.name for p in cfg.iterdir()) == [".providers.lock", "keys.json", "providers.json"]


# -- files that go bad -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "why"),
    [
        ('{"version": 1, "providers": {"name": "p"}}', "'providers' is not a list"),
        ('{"version": 1, "providers": "p"}', "'providers' is not a list"),
    ],
    ids=["providers-is-an-object", "providers-is-a-string"],
)
def test_a_file_of_the_wrong_shape_is_an_error_not_an_empty_store(tmp_path: Path, content: str, why: str) -> None:
    """Valid JSON of the wrong shape used to read as "no providers", and the next change overwrote it."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "providers.json").write_text(content, encoding="utf-8")
    store = ProviderStore(cfg, admin_paths=[])
    assert isinstance(store.load_error, StoreFileError) and why in str(store.load_error)
    with pytest.raises(StoreFileError, match="a copy is kept at"):
        store.add("q")
    assert (cfg / "providers.json").read_text(encoding="utf-8") == content
    [backup] = cfg.glob("providers.json.corrupt-*")
    assert backup.read_text(encoding="utf-8") == content


def test_a_key_file_of_the_wrong_shape_is_an_error(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg"
    ProviderStore(cfg, admin_paths=[]).add("p", api_key="sk-kept-secret-1234")
    bad = '{"p": "sk-kept-secret-1234", "q": 12345}'
    (cfg / "keys.json").write_text(bad, encoding="utf-8")
    store = ProviderStore(cfg, admin_paths=[])
    assert isinstance(store.load_error, StoreFileError) and "the key of 'q' is not a string" in str(store.load_error)
    assert "sk-kept-secret-1234" not in str(store.load_error)
    with pytest.raises(StoreFileError):
        store.update("p", enabled=False)
    assert (cfg / "keys.json").read_text(encoding="utf-8") == bad


def test_entries_this_version_cannot_read_survive_a_write(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Another version's provider (or a hand-edited one) is shown nowhere, but is never dropped from the file."""
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    future: dict[str, Any] = {"name": "Bedrock", "type": "bedrock", "region": "eu-west-1"}
    entries = [{"name": "good", "type": "openai"}, future, "a stray string"]
    (cfg / "providers.json").write_text(json.dumps({"version": 1, "providers": entries}), encoding="utf-8")
    store = ProviderStore(cfg, admin_paths=[])
    assert store.names() == ["good"] and "'bedrock' is not a provider type" in caplog.text
    store.add("new")
    store.update("good", enabled=False)
    saved = json.loads((cfg / "providers.json").read_text(encoding="utf-8"))["providers"]
    assert future in saved and "a stray string" in saved
    assert [e["name"] for e in saved if isinstance(e, dict)] == ["good", "new", "Bedrock"]
    with pytest.raises(ValueError, match="name: a provider named 'Bedrock' already exists"):
        store.add("bedrock")  # its name stays taken: adding would silently replace it


def test_a_bad_file_gives_one_line_in_the_magic_and_the_panel_and_stays(tmp_path: Path) -> None:
    from jupyter_providers.widgets import ProvidersPanel

    from .widgets import text

    cfg = tmp_path / "cfg"
    store = ProviderStore(cfg, admin_paths=[])
    store.add("p")
    path = cfg / "providers.json"
    broken = path.read_text(encoding="utf-8")[:30]
    path.write_text(broken, encoding="utf-8")
    shell = InteractiveShell.instance()
    shell.register_magics(ChatMagics(shell, store=store))
    with capture_output() as cap:
        shell.run_line_magic("providers", "add q --no-key")
    assert cap.stderr.count("\n") == 1 and "Traceback" not in cap.stderr
    assert cap.stderr.startswith(f"providers file {path} is not valid") and "a copy is kept at" in cap.stderr
    with capture_output() as cap:
        shell.run_line_magic("providers", "")  # the table still shows the last good state
    assert "p" in cap.outputs[0].data["text/plain"]
    panel = ProvidersPanel(store=store)
    try:
        panel.add_name.value = "q"
        panel.add()
        assert text(panel.add_error.value).startswith(f"providers file {path} is not valid")
    finally:
        panel.close()
    assert path.read_text(encoding="utf-8") == broken and store.names() == ["p"]
